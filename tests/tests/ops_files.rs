//! The operations files shipped in `conf/` name only metrics the code exports: a
//! renamed metric breaks this test instead of silently emptying a dashboard panel or
//! muting an alert. (`promtool check rules` checks the alert syntax in `make test`.)

use std::collections::BTreeSet;
use std::path::Path;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// `agent5_*` names in a text (identifier characters only).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("agent5_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

/// Metric names registered in the source: quoted `"agent5_…"` literals.
fn exported() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read");
                for (i, _) in text.match_indices("\"agent5_") {
                    let tail = &text[i + 1..];
                    if let Some(end) = tail.find('"') {
                        out.insert(tail[..end].to_owned());
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    for krate in ["proxy", "api", "bridge"] {
        walk(&Path::new(ROOT).join(krate).join("src"), &mut out);
    }
    out
}

/// A histogram's series carry `_bucket`, `_sum` and `_count` suffixes.
fn family(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

fn unknown(used: &BTreeSet<String>, exported: &BTreeSet<String>) -> Vec<String> {
    used.iter()
        .filter(|n| !exported.contains(*n) && !exported.contains(family(n)))
        .cloned()
        .collect()
}

#[test]
fn alerts_name_exported_metrics() {
    let exported = exported();
    assert!(exported.len() > 30, "metric names found: {exported:?}");
    let alerts = std::fs::read_to_string(Path::new(ROOT).join("conf/prometheus/alerts.yml"))
        .expect("alerts.yml");
    let used = metric_names(&alerts);
    assert!(used.len() >= 8, "{used:?}");
    assert_eq!(unknown(&used, &exported), Vec::<String>::new());
}

#[test]
fn dashboard_is_valid_and_names_exported_metrics() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("conf/grafana/agent5-dashboard.json"))
        .expect("dashboard");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let panels = dash["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_u64().expect("id")), "duplicate id");
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().expect("expr");
            assert!(
                expr.contains("$instance"),
                "every query follows the instance picker: {expr}"
            );
            used.extend(metric_names(expr));
        }
    }
    // Calls, latency, media and the edge all have panels.
    for metric in [
        "agent5_calls_active",
        "agent5_voice_to_voice_seconds_bucket",
        "agent5_media_frames_total",
        "agent5_http_requests_total",
    ] {
        assert!(used.contains(metric), "{metric} has no panel");
    }
    assert_eq!(unknown(&used, &exported()), Vec::<String>::new());
}
