use std::collections::HashMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn from_toml(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let file = parse_toml(text).map_err(|e| ConfigError::new("toml", e))?;
    Config::from_sources(file, None, &Overrides::default(), &env(vars))
}

#[test]
fn example_config_parses_and_matches_defaults() {
    let text = include_str!("../../../conf/agent5.toml");
    let from_example = from_toml(text, &[]).expect("example config is valid");
    let defaults = from_toml("", &[]).expect("defaults are valid");
    assert_eq!(from_example.listen, defaults.listen);
    assert_eq!(
        from_example.listen,
        vec![ListenAddr::Tcp("127.0.0.1:3000".parse().expect("addr"))]
    );
    assert_eq!(from_example.metrics_listen, defaults.metrics_listen);
    assert_eq!(from_example.grace_period, defaults.grace_period);
    assert_eq!(from_example.background_nice, 10);
    assert_eq!(defaults.background_nice, 10);
    assert_eq!(from_example.rate_limits.api, defaults.rate_limits.api);
    assert_eq!(
        from_example.rate_limits.webhook,
        defaults.rate_limits.webhook
    );
    assert_eq!(
        from_example.rate_limits.websocket,
        defaults.rate_limits.websocket
    );
    assert_eq!(from_example.limits.json, defaults.limits.json);
    assert_eq!(from_example.limits.upload, 50 * 1024 * 1024);
    assert!(from_example.protect_recordings);
    assert!(from_example.integrations.telnyx_verify_signatures);
    assert_eq!(from_example.cluster.heartbeat_ttl_secs, 15);
    let named = from_toml(
        "[cluster]\nnode = \"node-a\"\npublic_url = \"https://a.example.com/\"",
        &[],
    )
    .expect("cluster");
    assert_eq!(
        (
            named.cluster.node.as_str(),
            named.cluster.public_url.as_str()
        ),
        ("node-a", "https://a.example.com"),
        "the trailing slash is dropped"
    );
    assert!(named.internal.is_none());
    let secret = "0123456789abcdef0123456789abcdef";
    let hop = from_toml(
        &format!("[cluster]\ninternal_listen = \"0.0.0.0:7070\"\ninternal_address = \"10.0.0.2:7070\"\nsecret = \"{secret}\""),
        &[],
    )
    .expect("internal hop")
    .internal
    .expect("configured");
    assert_eq!(
        (hop.listen.to_string().as_str(), hop.address.as_str()),
        ("0.0.0.0:7070", "10.0.0.2:7070")
    );
    assert_eq!(hop.secret.expose(), secret);
    let from_env = from_toml(
        "[cluster]\ninternal_listen = \"unix:internal.sock\"",
        &[("AGENT5_CLUSTER_SECRET", secret)],
    )
    .expect("secret from the environment");
    let hop = from_env.internal.clone().expect("configured");
    assert!(
        hop.address.starts_with("unix:/") && hop.address.ends_with("/internal.sock"),
        "a relative socket is registered by its absolute path: {}",
        hop.address
    );
    assert!(
        !format!("{from_env:?}").contains(secret),
        "the secret never reaches Debug output"
    );
}

#[test]
fn unknown_key_is_named() {
    let err = from_toml("[server]\nlsten = [\"127.0.0.1:1\"]\n", &[]).expect_err("unknown");
    assert!(err.problem.contains("lsten"), "{err}");
}

#[test]
fn bad_values_name_their_key() {
    let cases: &[(&str, &str)] = &[
        ("[server]\nlisten = [\"localhost\"]", "server.listen[0]"),
        ("[tls]\nlisten = [\"0.0.0.0:443\"]", "tls.certificates"),
        (
            "[tls]\nredirect_listen = [\"0.0.0.0:80\"]",
            "tls.redirect_listen",
        ),
        ("[auth]\ntokens = [\"short\"]", "auth.tokens[0]"),
        (
            "[cors]\norigins = [\"*\", \"https://a.example\"]",
            "cors.origins",
        ),
        (
            "[cors]\norigins = [\"https://a.example/path\"]",
            "cors.origins",
        ),
        ("[server]\ntrust_proxy = \"nonsense\"", "server.trust_proxy"),
        ("[server]\nbackground_nice = 20", "server.background_nice"),
        ("[server]\nbackground_nice = -1", "server.background_nice"),
        (
            "[rate_limit]\napi = { per_minute = 0, burst = 1 }",
            "rate_limit.api",
        ),
        ("[log]\nlevel = \"loud!!\"", "log.level"),
        ("[limits]\njson_body_bytes = 0", "limits.json_body_bytes"),
        ("[telnyx]\nstream_url = \"http://x\"", "telnyx.stream_url"),
        (
            "[telnyx]\npublic_key_pem = \"AAAA\"",
            "telnyx.public_key_pem",
        ),
        ("[telnyx]\ncodec = \"OPUS\"", "telnyx.codec"),
        ("[telnyx]\napi_base = \"ftp://x\"", "telnyx.api_base"),
        (
            "[telnyx]\nanswering_machine_detection = \"maybe\"",
            "telnyx.answering_machine_detection",
        ),
        (
            "[telnyx]\nmax_concurrent_calls = 0",
            "telnyx.max_concurrent_calls",
        ),
        ("[server]\nlisten = []", "server.listen"),
        ("[store]\nmongo_uri = \"postgres://x\"", "store.mongo_uri"),
        (
            "[prospects]\ndefault_region = \"XX\"",
            "prospects.default_region",
        ),
        ("[cluster]\nnode = \"a b\"", "cluster.node"),
        (
            "[cluster]\npublic_url = \"node-a.example\"",
            "cluster.public_url",
        ),
        (
            "[cluster]\npublic_url = \"https://a.example/path\"",
            "cluster.public_url",
        ),
        (
            "[cluster]\nheartbeat_ttl_secs = 1",
            "cluster.heartbeat_ttl_secs",
        ),
        (
            "[cluster]\ninternal_listen = \"10.0.0.2:7070\"\nsecret = \"short\"",
            "cluster.secret",
        ),
        (
            "[cluster]\ninternal_listen = \"0.0.0.0:7070\"\nsecret = \"0123456789abcdef0123456789abcdef\"",
            "cluster.internal_address",
        ),
        (
            "[cluster]\ninternal_listen = \"10.0.0.2:7070\"\ninternal_address = \"0.0.0.0:7070\"\nsecret = \"0123456789abcdef0123456789abcdef\"",
            "cluster.internal_address",
        ),
        (
            "[cluster]\ninternal_address = \"10.0.0.2:7070\"",
            "cluster.internal_address",
        ),
        (
            "[cluster]\ninternal_listen = \"nowhere\"",
            "cluster.internal_listen",
        ),
        (
            "[cluster]\nrecording_interval_secs = 61",
            "cluster.recording_interval_secs",
        ),
    ];
    for (text, key) in cases {
        let err = from_toml(text, &[]).expect_err(text);
        assert_eq!(&err.key, key, "{text} -> {err}");
    }
}

#[test]
fn env_overrides_with_seed_names() {
    let cfg = from_toml(
        "[server]\nlisten = [\"127.0.0.1:3000\", \"unix:/tmp/a.sock\"]",
        &[
            ("PORT", "8080"),
            ("AUTH_TOKEN", "aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb"),
            ("CORS_ORIGIN", "https://admin.example.com"),
            ("TRUST_PROXY", "1"),
            ("PROTECT_RECORDINGS", "0"),
            ("MONGO_URI", "mongodb://u:p@db/agent5"),
            ("AGENT5_DATA_DIR", "/var/lib/agent5"),
        ],
    )
    .expect("valid");
    assert_eq!(
        cfg.listen,
        vec![
            ListenAddr::Tcp("127.0.0.1:8080".parse().expect("addr")),
            ListenAddr::Unix("/tmp/a.sock".into())
        ]
    );
    assert_eq!(cfg.auth_tokens.len(), 2);
    assert_eq!(cfg.trust_proxy, TrustProxy::Hops(1));
    assert!(!cfg.protect_recordings);
    assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/agent5"));
    assert_eq!(cfg.sqlite_path, PathBuf::from("/var/lib/agent5/agent5.db"));
    assert!(cfg.integrations.mongo_uri.is_some());
    assert!(matches!(cfg.cors, CorsOrigins::List(ref l) if l == &["https://admin.example.com"]));
    assert!(
        !format!("{cfg:?}").contains("aaaaaaaaaaaaaaaa"),
        "secrets leak in Debug"
    );
}

#[test]
fn command_line_wins() {
    let overrides = Overrides {
        listen: vec!["127.0.0.1:8081".into()],
        data_dir: Some("/tmp/a5".into()),
        metrics_listen: Some(String::new()),
    };
    let cfg = Config::from_sources(
        parse_toml("").expect("empty"),
        None,
        &overrides,
        &env(&[("PORT", "9000"), ("AGENT5_DATA_DIR", "/elsewhere")]),
    )
    .expect("valid");
    assert_eq!(
        cfg.listen,
        vec![ListenAddr::Tcp("127.0.0.1:8081".parse().expect("addr"))]
    );
    assert_eq!(cfg.data_dir, PathBuf::from("/tmp/a5"));
    assert_eq!(cfg.metrics_listen, None);
}

#[test]
fn integrations_report_what_is_missing() {
    let cfg = from_toml("", &[("OPENAI_API_KEY", "sk-test")]).expect("valid");
    let status = cfg.integrations.status();
    let openai = status.iter().find(|(n, _)| *n == "openai").expect("openai");
    assert!(openai.1.is_empty());
    let telnyx = status.iter().find(|(n, _)| *n == "telnyx").expect("telnyx");
    assert!(telnyx.1.contains(&"TELNYX_API_KEY"));
}

#[test]
fn trust_proxy_forms() {
    assert_eq!(TrustProxy::parse("").expect("ok"), TrustProxy::None);
    assert_eq!(TrustProxy::parse("true").expect("ok"), TrustProxy::Hops(1));
    assert_eq!(TrustProxy::parse("2").expect("ok"), TrustProxy::Hops(2));
    let TrustProxy::Networks(n) = TrustProxy::parse("loopback, 10.0.0.0/8, 192.0.2.7").expect("ok")
    else {
        panic!("networks expected");
    };
    assert_eq!(n.len(), 4);
}

#[test]
fn log_filters() {
    for ok in [
        "info",
        "DEBUG",
        "warn,agent5_proxy=debug",
        "access=off,info",
    ] {
        assert!(parse::log_filter(ok), "{ok}");
    }
    for bad in ["", "loud!!", "info,", "x=loud", "=info"] {
        assert!(!parse::log_filter(bad), "{bad}");
    }
}

#[test]
fn telnyx_keys_from_env() {
    let cfg = from_toml(
        "",
        &[
            ("TELNYX_API_BASE", "http://127.0.0.1:9/v2/"),
            (
                "TELNYX_PUBLIC_KEY_PEM",
                "jrMBoswHlhhVx2W2Www72WU/xn4UMpjreslD0m2u0qs=",
            ),
        ],
    )
    .expect("config");
    assert_eq!(cfg.telnyx.api_base, "http://127.0.0.1:9/v2");
    assert!(cfg.telnyx.public_key.is_some());
    assert_eq!(cfg.telnyx.codec, "PCMU");
    assert_eq!(cfg.telnyx.max_concurrent_calls, 20);
}

#[test]
fn acme_needs_names_listeners_and_https() {
    let base = "[server]\nlisten = []\ndata_dir = \"/srv/a5\"\n[tls]\nlisten = [\"0.0.0.0:443\"]\n";
    let cases: &[(&str, &str)] = &[
        (
            "redirect_listen = [\"0.0.0.0:80\"]\n[tls.acme]\ndomains = [\"*.example.com\"]",
            "tls.acme.domains[0]",
        ),
        (
            "redirect_listen = [\"0.0.0.0:80\"]\n[tls.acme]\ndomains = [\"bad name\"]",
            "tls.acme.domains[0]",
        ),
        ("[tls.acme]\ndomains = [\"a.example.com\"]", "tls.acme.domains"),
        (
            "redirect_listen = [\"0.0.0.0:80\"]\n[tls.acme]\ndomains = [\"a.example.com\"]\ncontact = [\"ops@example.com\"]",
            "tls.acme.contact[0]",
        ),
        (
            "redirect_listen = [\"0.0.0.0:80\"]\n[tls.acme]\ndomains = [\"a.example.com\"]\ndirectory_url = \"http://acme.example.com/dir\"",
            "tls.acme.directory_url",
        ),
    ];
    for (extra, key) in cases {
        let err = from_toml(&format!("{base}{extra}\n"), &[]).expect_err(extra);
        assert_eq!(err.key, *key, "{extra}: {err}");
    }
    let err = from_toml("[tls.acme]\ndomains = [\"a.example.com\"]\n", &[]).expect_err("no tls");
    assert_eq!(err.key, "tls.acme.domains");

    let ok = from_toml(
        &format!("{base}redirect_listen = [\"0.0.0.0:80\"]\n[tls.acme]\ndomains = [\"A.Example.com.\", \"a.example.com\"]\n"),
        &[],
    )
    .expect("valid");
    let tls = ok.tls.expect("tls");
    let acme = tls.acme.expect("acme");
    assert_eq!(acme.domains, vec!["a.example.com".to_owned()]);
    assert_eq!(acme.dir, PathBuf::from("/srv/a5/acme"));
    assert_eq!(acme.renew_before, Duration::from_secs(30 * 86_400));
    assert_eq!(
        tls.certificates.last().map(|c| c.cert.clone()),
        Some(PathBuf::from("/srv/a5/acme/cert.pem")),
        "the ACME pair joins the certificate table"
    );
}
