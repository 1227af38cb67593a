//! Authentication and authorisation for every route in the access table
//! (`agent5_api::access`): a per-person API token (`a5_...`), the server-to-server
//! `AUTH_TOKEN`, or a browser session cookie; then the permission the route needs.
//!
//! Several environment tokens may be valid at once so one can be rotated without
//! downtime. Every one is compared in constant time, and all of them always, so timing
//! tells nothing about which token or prefix matched. Per-person tokens and sessions
//! are looked up by SHA-256 digest (`agent5_api::accounts::Accounts`). Browsers cannot
//! set headers on a WebSocket, so upgrades may carry a token as a
//! `Sec-WebSocket-Protocol` entry `bearer.<token>` or as `?token=`. A cookie-
//! authenticated request that changes something, and every cookie-authenticated
//! upgrade, must carry this appliance's `Origin` (403 `csrf_origin_mismatch`).

use agent5_api::access::{self, Lookup, Need};
use agent5_api::accounts::principal::Principal;
use agent5_api::accounts::{cookie, secret, Denied};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::edge::respond;

pub const WS_PROTOCOL_PREFIX: &str = "bearer.";

/// Why a request was refused; also the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Malformed,
    Invalid,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Invalid => "invalid",
        }
    }
}

/// Where the request put its credential.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    pub authorization: Option<&'a [u8]>,
    /// `Sec-WebSocket-Protocol` header value (upgrades only).
    pub ws_protocols: Option<&'a str>,
    /// The `token` query parameter, percent-decoded (upgrades only).
    pub query_token: Option<&'a str>,
}

#[derive(Debug, Clone, Default)]
pub struct Tokens {
    tokens: Vec<Secret>,
}

impl Tokens {
    pub fn new(tokens: Vec<Secret>) -> Self {
        Self { tokens }
    }

    pub fn is_configured(&self) -> bool {
        !self.tokens.is_empty()
    }

    pub fn check(&self, presented: &Presented<'_>) -> Result<(), Refusal> {
        let candidate = credential(presented)?;
        if self.tokens.is_empty() {
            return Err(Refusal::Invalid);
        }
        let mut ok = subtle::Choice::from(0);
        for token in &self.tokens {
            ok |= token.expose().as_bytes().ct_eq(candidate);
        }
        if bool::from(ok) {
            Ok(())
        } else {
            Err(Refusal::Invalid)
        }
    }
}

fn credential<'a>(p: &Presented<'a>) -> Result<&'a [u8], Refusal> {
    if let Some(value) = p.authorization {
        let (scheme, rest) = split_once(value, b' ').ok_or(Refusal::Malformed)?;
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return Err(Refusal::Malformed);
        }
        let token = trim(rest);
        return if token.is_empty() {
            Err(Refusal::Malformed)
        } else {
            Ok(token)
        };
    }
    if let Some(protocols) = p.ws_protocols {
        if let Some(t) = protocols
            .split(',')
            .map(str::trim)
            .find_map(|proto| proto.strip_prefix(WS_PROTOCOL_PREFIX))
        {
            return Ok(t.as_bytes());
        }
    }
    match p.query_token {
        Some(t) if !t.is_empty() => Ok(t.as_bytes()),
        _ => Err(Refusal::Missing),
    }
}

fn split_once(v: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = v.iter().position(|b| *b == sep)?;
    Some((&v[..i], &v[i + 1..]))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// Where the credential of a request is: a bearer token (the `Authorization` header,
/// or on a WebSocket route's upgrade `Sec-WebSocket-Protocol: bearer.<token>` or
/// `?token=`, since browsers cannot set headers there), else the session cookie.
fn presented(
    head: &pingora::http::RequestHeader,
    upgrade: bool,
) -> (Presented<'_>, Option<String>) {
    let query_token = if upgrade {
        head.uri.query().and_then(|q| query_param(q, "token"))
    } else {
        None
    };
    let presented = Presented {
        authorization: head
            .headers
            .get(http::header::AUTHORIZATION)
            .map(http::HeaderValue::as_bytes),
        ws_protocols: if upgrade {
            head.headers
                .get(http::header::SEC_WEBSOCKET_PROTOCOL)
                .and_then(|v| v.to_str().ok())
        } else {
            None
        },
        query_token: None,
    };
    (presented, query_token)
}

/// Whether the request's `Authorization` bearer may see the appliance's internals
/// (`/readyz` details, `/metrics`): an environment token, or a person's token or
/// session with `system.view`.
pub async fn may_see_system(
    tokens: &Tokens,
    head: &pingora::http::RequestHeader,
    tls: bool,
    shared: &crate::edge::Shared,
) -> bool {
    let (presented, _) = presented(head, false);
    match credential(&presented) {
        Ok(t) if t.starts_with(secret::TOKEN_PREFIX.as_bytes()) => {
            let Ok(t) = std::str::from_utf8(t) else {
                return false;
            };
            shared
                .accounts
                .token(t)
                .await
                .is_ok_and(|p| p.can(agent5_api::accounts::permissions::Permission::SystemView))
        }
        Ok(_) => tokens.check(&presented).is_ok(),
        Err(_) => {
            match session_cookie(head, tls) {
                Some(v) => shared.accounts.session(v).await.is_ok_and(|p| {
                    p.can(agent5_api::accounts::permissions::Permission::SystemView)
                }),
                None => false,
            }
        }
    }
}

/// The value of one query parameter, percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// The session cookie's value, if the request carries one.
fn session_cookie(head: &pingora::http::RequestHeader, tls: bool) -> Option<&str> {
    head.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| cookie::find(v, tls))
}

/// Whether a cookie-authenticated request's `Origin` is this appliance: the origin the
/// request was sent to (its scheme and `Host`), or the configured public origin.
pub fn same_origin(
    head: &pingora::http::RequestHeader,
    tls: bool,
    public_origin: Option<&str>,
) -> bool {
    let Some(origin) = head
        .headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    if public_origin.is_some_and(|p| p.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let host = head
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| head.uri.authority().map(http::uri::Authority::as_str));
    let scheme = if tls { "https://" } else { "http://" };
    host.is_some_and(|h| {
        origin
            .strip_prefix(scheme)
            .is_some_and(|rest| rest.eq_ignore_ascii_case(h))
    })
}

/// Methods that change nothing (no Origin check for them).
fn is_safe(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    )
}

/// The filter: every route in the access table (`agent5_api::access`) gets what its
/// rule needs, and the principal is left in the context for the route.
pub struct Auth {
    tokens: std::sync::Arc<Tokens>,
    protect_recordings: bool,
    public_origin: Option<String>,
}

impl Auth {
    pub fn new(tokens: std::sync::Arc<Tokens>, config: &crate::config::Config) -> Self {
        Self {
            tokens,
            protect_recordings: config.protect_recordings,
            public_origin: config.accounts.public_origin.clone(),
        }
    }

    fn refuse(
        shared: &crate::edge::Shared,
        label: &str,
        res: http::Response<axum::body::Body>,
    ) -> super::Verdict {
        shared
            .metrics
            .auth_failures
            .with_label_values(&[label])
            .inc();
        super::Verdict::Answer(res)
    }

    /// The principal behind the request's credential, or the refusal to send.
    async fn authenticate(
        &self,
        head: &pingora::http::RequestHeader,
        ctx: &super::Ctx,
        shared: &crate::edge::Shared,
        upgrade: bool,
    ) -> Result<std::sync::Arc<Principal>, (&'static str, http::Response<axum::body::Body>)> {
        let unauthorized = |label| {
            (
                label,
                respond::unauthorized("sign in, or send a valid bearer token"),
            )
        };
        let (mut presented, query_token) = presented(head, upgrade);
        presented.query_token = query_token.as_deref();
        match credential(&presented) {
            Ok(token) => {
                let token = std::str::from_utf8(token).map_err(|_| unauthorized("malformed"))?;
                if token.starts_with(secret::TOKEN_PREFIX) {
                    return shared.accounts.token(token).await.map_err(|d| denied(&d));
                }
                match self.tokens.check(&presented) {
                    Ok(()) => Ok(Principal::env_token()),
                    Err(r) => Err(unauthorized(r.label())),
                }
            }
            Err(Refusal::Missing) => {
                let Some(value) = session_cookie(head, ctx.tls) else {
                    return Err(unauthorized("missing"));
                };
                let principal = shared
                    .accounts
                    .session(value)
                    .await
                    .map_err(|d| denied(&d))?;
                let changes = upgrade || !is_safe(&head.method);
                if changes && !same_origin(head, ctx.tls, self.public_origin.as_deref()) {
                    return Err(("csrf", csrf_refusal()));
                }
                Ok(principal)
            }
            Err(r) => Err(unauthorized(r.label())),
        }
    }
}

fn csrf_refusal() -> http::Response<axum::body::Body> {
    respond::error(
        http::StatusCode::FORBIDDEN,
        "csrf_origin_mismatch",
        "a signed-in browser request that changes something must come from this appliance's own pages (Origin)",
    )
}

/// The answer to a credential the accounts refused.
fn denied(d: &Denied) -> (&'static str, http::Response<axum::body::Body>) {
    match d {
        Denied::Unavailable(why) => {
            tracing::warn!(error = %why, "credential not checked: store unavailable");
            (
                "unavailable",
                respond::error(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database is unavailable; retry shortly",
                ),
            )
        }
        other => (
            other.label(),
            respond::unauthorized("sign in, or send a valid bearer token"),
        ),
    }
}

#[async_trait::async_trait]
impl super::RequestFilter for Auth {
    async fn request(
        &self,
        head: &pingora::http::RequestHeader,
        ctx: &mut super::Ctx,
        shared: &crate::edge::Shared,
    ) -> super::Verdict {
        use crate::router::Route;
        let websocket = matches!(ctx.route, Route::WebSocket(_));
        if !(websocket
            || matches!(
                ctx.route,
                Route::Api | Route::Upload | Route::Recording | Route::Webhook
            ))
        {
            return super::Verdict::Next;
        }
        let rule = match access::lookup(head.method.as_str(), head.uri.path(), head.uri.query()) {
            Lookup::Found(rule) => rule,
            Lookup::WrongMethod if !websocket => {
                return super::Verdict::Answer(respond::error(
                    http::StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    &format!("{} is not allowed on {}", head.method, head.uri.path()),
                ))
            }
            Lookup::WrongMethod | Lookup::NotFound => {
                return super::Verdict::Answer(respond::error(
                    http::StatusCode::NOT_FOUND,
                    "not_found",
                    &format!("no API route {}", head.uri.path()),
                ))
            }
        };
        let needed = match rule.need {
            Need::Signed => return super::Verdict::Next,
            Need::Public => {
                // Signing in from another site's page (login CSRF) is refused too.
                let foreign = head.headers.contains_key(http::header::ORIGIN)
                    && !same_origin(head, ctx.tls, self.public_origin.as_deref());
                if foreign && !is_safe(&head.method) {
                    return Self::refuse(shared, "csrf", csrf_refusal());
                }
                return super::Verdict::Next;
            }
            Need::Permission(p) if ctx.route == Route::Recording && !self.protect_recordings => {
                ctx.principal = Some(std::sync::Arc::new(Principal::anonymous(
                    [p].into_iter().collect(),
                )));
                return super::Verdict::Next;
            }
            Need::SignedIn => None,
            Need::Permission(p) => Some(p),
        };
        let upgrade = websocket && head.headers.contains_key(http::header::UPGRADE);
        let principal = match self.authenticate(head, ctx, shared, upgrade).await {
            Ok(p) => p,
            Err((label, res)) => return Self::refuse(shared, label, res),
        };
        if let Some(p) = needed {
            if !principal.can(p) {
                return Self::refuse(
                    shared,
                    "forbidden",
                    respond::error(
                        http::StatusCode::FORBIDDEN,
                        "forbidden",
                        &format!("this needs the permission {p}"),
                    ),
                );
            }
        }
        ctx.principal = Some(principal);
        super::Verdict::Next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_param_decodes() {
        assert_eq!(
            query_param("a=1&token=ab%2Fc&b=2", "token").as_deref(),
            Some("ab/c")
        );
        assert_eq!(query_param("tokenx=1", "token"), None);
    }

    const A: &str = "token-aaaaaaaaaaaaaaaa";
    const B: &str = "token-bbbbbbbbbbbbbbbb";

    fn tokens() -> Tokens {
        Tokens::new(vec![Secret::new(A), Secret::new(B)])
    }

    fn header(v: &str) -> Presented<'_> {
        Presented {
            authorization: Some(v.as_bytes()),
            ..Presented::default()
        }
    }

    #[test]
    fn accepts_each_configured_token() {
        assert_eq!(tokens().check(&header(&format!("Bearer {A}"))), Ok(()));
        assert_eq!(tokens().check(&header(&format!("bearer {B}"))), Ok(()));
    }

    #[test]
    fn refuses_with_a_reason() {
        let t = tokens();
        assert_eq!(t.check(&Presented::default()), Err(Refusal::Missing));
        assert_eq!(
            t.check(&header("Basic Zm9vOmJhcg==")),
            Err(Refusal::Malformed)
        );
        assert_eq!(t.check(&header("Bearer ")), Err(Refusal::Malformed));
        assert_eq!(
            t.check(&header(&format!("Bearer {A}x"))),
            Err(Refusal::Invalid)
        );
        assert_eq!(t.check(&header(&A[..10])), Err(Refusal::Malformed));
        assert_eq!(
            Tokens::default().check(&header(&format!("Bearer {A}"))),
            Err(Refusal::Invalid)
        );
    }

    #[test]
    fn websocket_credentials() {
        let protocols = format!("agent5, {WS_PROTOCOL_PREFIX}{B}");
        let via_protocol = Presented {
            ws_protocols: Some(&protocols),
            ..Presented::default()
        };
        assert_eq!(tokens().check(&via_protocol), Ok(()));
        let via_query = Presented {
            query_token: Some(A),
            ..Presented::default()
        };
        assert_eq!(tokens().check(&via_query), Ok(()));
        let wrong = Presented {
            ws_protocols: Some("agent5"),
            query_token: Some("nope"),
            ..Presented::default()
        };
        assert_eq!(tokens().check(&wrong), Err(Refusal::Invalid));
    }
}
