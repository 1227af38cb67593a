//! The access table: what every route and every WebSocket kind needs, in one place.
//!
//! The edge looks each request up here before it reaches a handler or a bridge
//! session: a path that is not in the table is a 404 whatever the router holds, so a
//! route added without an entry is unreachable and its own tests fail; and
//! `tests/tests/access_matrix.rs` walks the table for every built-in role.
//!
//! Patterns are paths whose `{name}` segments match any one segment; a `?key=value`
//! suffix matches only requests whose query has it (the first matching rule wins, so
//! such a rule comes before its plain path). `HEAD` is looked up as `GET`.

use crate::accounts::permissions::Permission;

/// What a request must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: the route answers anyone (signing in).
    Public,
    /// The request authenticates itself (a webhook signature, a media stream token).
    Signed,
    /// Any signed-in person or token (their own account, their own tokens).
    SignedIn,
    /// A person or token whose role has this permission.
    Permission(Permission),
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub method: &'static str,
    pub pattern: &'static str,
    pub need: Need,
    /// A WebSocket kind rather than an HTTP route.
    pub websocket: bool,
}

use Need::{Permission as P, Public, Signed, SignedIn};
use Permission as Perm;

const fn http(method: &'static str, pattern: &'static str, need: Need) -> Rule {
    Rule {
        method,
        pattern,
        need,
        websocket: false,
    }
}

const fn ws(pattern: &'static str, need: Need) -> Rule {
    Rule {
        method: "GET",
        pattern,
        need,
        websocket: true,
    }
}

/// Every route of the appliance but the probes (`/healthz`, `/readyz`, `/metrics`)
/// and the console's static files.
pub static RULES: &[Rule] = &[
    // Accounts.
    http("POST", "/api/auth/login", Public),
    http("POST", "/api/auth/logout", SignedIn),
    http("GET", "/api/auth/me", SignedIn),
    http("POST", "/api/auth/password", SignedIn),
    http("GET", "/api/tokens", SignedIn),
    http("POST", "/api/tokens", SignedIn),
    http("DELETE", "/api/tokens/{id}", SignedIn),
    http("GET", "/api/users", P(Perm::UsersManage)),
    http("POST", "/api/users", P(Perm::UsersManage)),
    http("PATCH", "/api/users/{id}", P(Perm::UsersManage)),
    http("POST", "/api/users/{id}/password", P(Perm::UsersManage)),
    http("GET", "/api/roles", SignedIn),
    http("POST", "/api/roles", P(Perm::UsersManage)),
    http("DELETE", "/api/roles/{name}", P(Perm::UsersManage)),
    // The appliance.
    http("GET", "/api/status", P(Perm::SystemView)),
    http("GET", "/api/audit", P(Perm::AuditView)),
    http("GET", "/api/audit/export.csv", P(Perm::AuditView)),
    // Prospects.
    http("GET", "/api/prospects", P(Perm::ProspectsView)),
    http("GET", "/api/prospects/template.csv", P(Perm::ProspectsView)),
    http(
        "GET",
        "/api/prospects/deliveries_template.csv",
        P(Perm::ProspectsView),
    ),
    http("GET", "/api/prospects/export.csv", P(Perm::ProspectsImport)),
    http("GET", "/api/prospects/field-defs", P(Perm::ProspectsView)),
    http("POST", "/api/prospects/field-defs", P(Perm::ProspectsEdit)),
    http(
        "PATCH",
        "/api/prospects/field-defs/{id}",
        P(Perm::ProspectsEdit),
    ),
    http(
        "DELETE",
        "/api/prospects/field-defs/{id}",
        P(Perm::ProspectsEdit),
    ),
    http("POST", "/api/prospects/upload", P(Perm::ProspectsImport)),
    http(
        "POST",
        "/api/prospects/upload_deliveries",
        P(Perm::ProspectsImport),
    ),
    http(
        "PATCH",
        "/api/prospects/phone/{e164}/opt-out",
        P(Perm::ProspectsEdit),
    ),
    http("GET", "/api/prospects/{id}", P(Perm::ProspectsView)),
    http(
        "PATCH",
        "/api/prospects/{id}/archive",
        P(Perm::ProspectsEdit),
    ),
    http(
        "PATCH",
        "/api/prospects/{id}/unarchive",
        P(Perm::ProspectsEdit),
    ),
    http(
        "PATCH",
        "/api/prospects/{id}/invoice",
        P(Perm::ProspectsEdit),
    ),
    http(
        "PATCH",
        "/api/prospects/{id}/delivery/{code}",
        P(Perm::ProspectsEdit),
    ),
    http("GET", "/api/prospects/{id}/logs", P(Perm::ProspectsView)),
    // Do not call.
    http("GET", "/api/dnc", P(Perm::ProspectsView)),
    http("GET", "/api/dnc/export.csv", P(Perm::DncEdit)),
    http("POST", "/api/dnc/import", P(Perm::DncEdit)),
    // Calls and agents.
    http("GET", "/api/calls", P(Perm::CallsView)),
    http("POST", "/api/calls", P(Perm::CallsPlace)),
    http("GET", "/api/calls/live", P(Perm::CallsView)),
    http("GET", "/api/calls/live/events", P(Perm::CallsView)),
    http("GET", "/api/calls/{id}", P(Perm::CallsView)),
    http("POST", "/api/calls/{id}/hangup", P(Perm::CallsPlace)),
    http(
        "GET",
        "/api/calls/{id}/recording",
        P(Perm::RecordingsListen),
    ),
    http("GET", "/recordings/{file}", P(Perm::RecordingsListen)),
    http("GET", "/api/agents", P(Perm::CallsView)),
    http("POST", "/api/agents", P(Perm::AgentsEdit)),
    http("GET", "/api/agents/{id}", P(Perm::CallsView)),
    http("PATCH", "/api/agents/{id}", P(Perm::AgentsEdit)),
    http("DELETE", "/api/agents/{id}", P(Perm::AgentsEdit)),
    // Campaigns.
    http("GET", "/api/campaigns", P(Perm::CampaignsView)),
    http("POST", "/api/campaigns", P(Perm::CampaignsEdit)),
    http("GET", "/api/campaigns/{id}", P(Perm::CampaignsView)),
    http("PATCH", "/api/campaigns/{id}", P(Perm::CampaignsEdit)),
    http("DELETE", "/api/campaigns/{id}", P(Perm::CampaignsEdit)),
    http("GET", "/api/campaigns/{id}/preview", P(Perm::CampaignsView)),
    http("GET", "/api/campaigns/{id}/stats", P(Perm::CampaignsView)),
    http("GET", "/api/campaigns/{id}/events", P(Perm::CampaignsView)),
    http(
        "GET",
        "/api/campaigns/{id}/attempts",
        P(Perm::CampaignsView),
    ),
    http(
        "GET",
        "/api/campaigns/{id}/attempts.csv",
        P(Perm::CampaignsView),
    ),
    // Consent ledger.
    http("GET", "/api/consents", P(Perm::ProspectsView)),
    http("POST", "/api/consents", P(Perm::DncEdit)),
    http("GET", "/api/consents/export.csv", P(Perm::DncEdit)),
    http("POST", "/api/consents/import", P(Perm::DncEdit)),
    http("GET", "/api/consents/{e164}", P(Perm::ProspectsView)),
    http("POST", "/api/consents/{e164}/revoke", P(Perm::DncEdit)),
    http(
        "POST",
        "/api/campaigns/{id}/start",
        P(Perm::CampaignsControl),
    ),
    http(
        "POST",
        "/api/campaigns/{id}/pause",
        P(Perm::CampaignsControl),
    ),
    http(
        "POST",
        "/api/campaigns/{id}/resume",
        P(Perm::CampaignsControl),
    ),
    http(
        "POST",
        "/api/campaigns/{id}/stop",
        P(Perm::CampaignsControl),
    ),
    // Integrations: the carriers sign what they send.
    http("POST", "/api/telnyx/events", Signed),
    http("POST", "/webhooks/telnyx", Signed),
    http("POST", "/api/livekit/webhook", Signed),
    http("GET", "/api/livekit/token", P(Perm::MonitorListen)),
    http("GET", "/api/livekit/rooms", P(Perm::CallsView)),
    http(
        "GET",
        "/api/livekit/rooms/{room}/participants",
        P(Perm::CallsView),
    ),
    http("DELETE", "/api/livekit/rooms/{room}", P(Perm::CallsPlace)),
    // WebSocket kinds.
    ws("/websocket", Signed),
    ws("/agent-stream", P(Perm::StudioUse)),
    ws("/monitor", P(Perm::MonitorListen)),
    ws("/operator-bridge?mode=whisper", P(Perm::MonitorWhisper)),
    ws("/operator-bridge", P(Perm::MonitorTakeover)),
];

/// What the table says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Found(&'static Rule),
    /// The path is in the table under other methods.
    WrongMethod,
    NotFound,
}

/// Most `/`-separated segments a rule has (counting the empty one before the first
/// `/`); longer paths match nothing.
const MAX_SEGMENTS: usize = 8;

/// A rule split once into segments (`None`: a `{name}` wildcard) and its query
/// condition, so a lookup compares bytes and allocates nothing.
struct Compiled {
    rule: &'static Rule,
    segments: Vec<Option<&'static [u8]>>,
    query: Option<&'static str>,
}

fn compiled() -> &'static [Compiled] {
    static TABLE: std::sync::OnceLock<Vec<Compiled>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        RULES
            .iter()
            .map(|rule| {
                let (path, query) = match rule.pattern.split_once('?') {
                    Some((p, q)) => (p, Some(q)),
                    None => (rule.pattern, None),
                };
                let segments = path
                    .split('/')
                    .map(|seg| {
                        (!(seg.starts_with('{') && seg.ends_with('}'))).then_some(seg.as_bytes())
                    })
                    .collect();
                Compiled {
                    rule,
                    segments,
                    query,
                }
            })
            .collect()
    })
}

/// The first rule matching `method`, `path` and `query`.
pub fn lookup(method: &str, path: &str, query: Option<&str>) -> Lookup {
    let method = if method == "HEAD" { "GET" } else { method };
    let mut segments: [&[u8]; MAX_SEGMENTS] = [&[]; MAX_SEGMENTS];
    let mut count = 0;
    for seg in path.as_bytes().split(|b| *b == b'/') {
        if count == MAX_SEGMENTS {
            return Lookup::NotFound;
        }
        segments[count] = seg;
        count += 1;
    }
    let segments = &segments[..count];
    let mut path_known = false;
    for c in compiled() {
        if !path_matches(&c.segments, segments) {
            continue;
        }
        if let Some(wanted) = c.query {
            if !query.unwrap_or_default().split('&').any(|kv| kv == wanted) {
                continue;
            }
        }
        if c.rule.method == method {
            return Lookup::Found(c.rule);
        }
        path_known = true;
    }
    if path_known {
        Lookup::WrongMethod
    } else {
        Lookup::NotFound
    }
}

/// Segment by segment; a wildcard matches one non-empty segment.
fn path_matches(want: &[Option<&[u8]>], got: &[&[u8]]) -> bool {
    want.len() == got.len()
        && want.iter().zip(got).all(|(w, g)| match w {
            Some(literal) => literal == g,
            None => !g.is_empty(),
        })
}

/// A request path as the table would write it, for tests: `{...}` segments replaced.
pub fn example_path(pattern: &str) -> String {
    let path = pattern.split('?').next().unwrap_or(pattern);
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "nosuchthing0"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let found = |m: &str, p: &str, q: Option<&str>| match lookup(m, p, q) {
            Lookup::Found(rule) => Some(rule.need),
            _ => None,
        };
        assert_eq!(
            found("GET", "/api/calls/abc", None),
            Some(P(Perm::CallsView))
        );
        assert_eq!(
            found("HEAD", "/api/calls/abc", None),
            Some(P(Perm::CallsView))
        );
        assert_eq!(
            found("GET", "/api/calls/live", None),
            Some(P(Perm::CallsView))
        );
        assert_eq!(lookup("PUT", "/api/calls/abc", None), Lookup::WrongMethod);
        assert_eq!(lookup("GET", "/api/calls/", None), Lookup::NotFound);
        assert_eq!(lookup("GET", "/api/calls/a/b/c", None), Lookup::NotFound);
        assert_eq!(lookup("GET", "/api/nothing", None), Lookup::NotFound);
        assert_eq!(
            found("GET", "/operator-bridge", Some("room=1&mode=whisper")),
            Some(P(Perm::MonitorWhisper))
        );
        assert_eq!(
            found("GET", "/operator-bridge", Some("room=1&mode=whispers")),
            Some(P(Perm::MonitorTakeover))
        );
        assert_eq!(found("POST", "/api/auth/login", None), Some(Public));
    }

    /// The matrix in `docs/accounts.md` for the routes that matter most, written out
    /// independently of the table: the lowest built-in role that may use each.
    #[test]
    fn sensitive_routes_need_the_documented_role() {
        use crate::accounts::permissions::BuiltinRole::{
            self, Admin, Operator, Supervisor, Viewer,
        };
        let cases: [(&str, &str, Option<&str>, BuiltinRole); 16] = [
            ("GET", "/api/users", None, Admin),
            ("GET", "/api/campaigns", None, Viewer),
            ("POST", "/api/campaigns", None, Supervisor),
            ("POST", "/api/campaigns/c1/start", None, Supervisor),
            ("GET", "/api/campaigns/c1/preview", None, Viewer),
            ("POST", "/api/roles", None, Admin),
            ("GET", "/operator-bridge", Some("room=c"), Supervisor),
            (
                "GET",
                "/operator-bridge",
                Some("room=c&mode=whisper"),
                Supervisor,
            ),
            ("GET", "/monitor", Some("call=c"), Operator),
            ("GET", "/api/audit", None, Supervisor),
            ("POST", "/api/calls", None, Operator),
            ("GET", "/api/calls/c1/recording", None, Operator),
            ("POST", "/api/dnc/import", None, Operator),
            ("GET", "/api/prospects/export.csv", None, Operator),
            ("PATCH", "/api/agents/a1", None, Supervisor),
            ("GET", "/api/calls", None, Viewer),
        ];
        for (method, path, query, lowest) in cases {
            let Lookup::Found(rule) = lookup(method, path, query) else {
                panic!("{method} {path} is not in the table");
            };
            let Need::Permission(p) = rule.need else {
                panic!("{method} {path} needs a permission");
            };
            for role in BuiltinRole::ALL {
                let expected = role as u8 >= lowest as u8;
                assert_eq!(
                    role.set().contains(p),
                    expected,
                    "{method} {path} as {}",
                    role.name()
                );
            }
        }
    }

    #[test]
    fn every_rule_is_reachable_by_its_example() {
        for rule in RULES {
            let query = rule.pattern.split_once('?').map(|(_, q)| q);
            match lookup(rule.method, &example_path(rule.pattern), query) {
                Lookup::Found(found) => assert!(
                    std::ptr::eq(found, rule),
                    "{} {} is shadowed by {}",
                    rule.method,
                    rule.pattern,
                    found.pattern
                ),
                other => panic!("{} {}: {other:?}", rule.method, rule.pattern),
            }
        }
    }
}
