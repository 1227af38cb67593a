//! The session cookie: `__Host-agent5_session` over TLS (`Secure`, no `Domain`,
//! `Path=/`: the browser then guarantees it came from this origin), `agent5_session`
//! on plain HTTP (a LAN or `make run` on localhost); always `HttpOnly` and
//! `SameSite=Strict`.

pub const NAME_TLS: &str = "__Host-agent5_session";
pub const NAME_PLAIN: &str = "agent5_session";

fn name(tls: bool) -> &'static str {
    if tls {
        NAME_TLS
    } else {
        NAME_PLAIN
    }
}

/// The `Set-Cookie` value that signs the browser in for `max_age_secs`.
pub fn set(value: &str, tls: bool, max_age_secs: u64) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}",
        name(tls)
    )
}

/// The `Set-Cookie` value that removes it.
pub fn clear(tls: bool) -> String {
    set("", tls, 0)
}

/// The session cookie's value in a `Cookie` header: over TLS only the `__Host-` one
/// (a plain-HTTP page on the same host could have set the other: cookie tossing).
pub fn find(cookie_header: &str, tls: bool) -> Option<&str> {
    let wanted = name(tls);
    cookie_header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == wanted)
            .then(|| v.trim_matches('"'))
            .filter(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_the_transport() {
        assert_eq!(
            set("abc", true, 60),
            "__Host-agent5_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        assert_eq!(
            set("abc", false, 60),
            "agent5_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        assert!(clear(true).contains("Max-Age=0"));
    }

    #[test]
    fn finds_the_value_among_others() {
        assert_eq!(find("a=1; agent5_session=xyz; b=2", false), Some("xyz"));
        assert_eq!(find("__Host-agent5_session=\"q\"", true), Some("q"));
        assert_eq!(find("agent5_session=xyz", true), None, "not over TLS");
        assert_eq!(find("__Host-agent5_session=q", false), None);
        assert_eq!(find("agent5_sessionx=1; other=2", false), None);
        assert_eq!(find("agent5_session=", false), None);
    }
}
