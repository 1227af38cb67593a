//! Bearer authentication for `/api/*` and the browser WebSockets.
//!
//! Several tokens may be valid at once so one can be rotated without downtime. Every
//! configured token is compared in constant time, and all of them always, so timing
//! tells nothing about which token or prefix matched. Browsers cannot set headers on a
//! WebSocket, so upgrades may carry the token as a `Sec-WebSocket-Protocol` entry
//! `bearer.<token>` or as `?token=`.

use subtle::ConstantTimeEq;

use crate::config::Secret;

pub const WS_PROTOCOL_PREFIX: &str = "bearer.";

/// Why a request was refused; also the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token configured at all: the API is closed, not open.
    NotConfigured,
    Missing,
    Malformed,
    Invalid,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
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
        if self.tokens.is_empty() {
            return Err(Refusal::NotConfigured);
        }
        let candidate = credential(presented)?;
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

/// What the request presented. A token in `?token=` or in `Sec-WebSocket-Protocol`
/// counts only on a WebSocket route's upgrade (browsers cannot set a header there);
/// every other route takes the `Authorization` header alone.
pub fn check_request(
    tokens: &Tokens,
    head: &pingora::http::RequestHeader,
    route: crate::router::Route,
) -> Result<(), Refusal> {
    let upgrade = matches!(route, crate::router::Route::WebSocket(_))
        && head.headers.contains_key(http::header::UPGRADE);
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
        query_token: query_token.as_deref(),
    };
    tokens.check(&presented)
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

/// The filter: routes that need a bearer token (and recordings, when
/// `protect_recordings`) are refused without a valid one.
pub struct Auth {
    tokens: std::sync::Arc<Tokens>,
    protect_recordings: bool,
}

impl Auth {
    pub fn new(tokens: std::sync::Arc<Tokens>, config: &crate::config::Config) -> Self {
        Self {
            tokens,
            protect_recordings: config.protect_recordings,
        }
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
        let protected =
            ctx.route.needs_bearer() || (ctx.route == Route::Recording && self.protect_recordings);
        if !protected {
            return super::Verdict::Next;
        }
        let Err(refusal) = check_request(&self.tokens, head, ctx.route) else {
            return super::Verdict::Next;
        };
        shared
            .metrics
            .auth_failures
            .with_label_values(&[refusal.label()])
            .inc();
        super::Verdict::Answer(match refusal {
            Refusal::NotConfigured => crate::edge::respond::error(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "auth_not_configured",
                "no API token is configured on this appliance (set AUTH_TOKEN)",
            ),
            _ => crate::edge::respond::unauthorized("a valid bearer token is required"),
        })
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
            Err(Refusal::NotConfigured)
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
