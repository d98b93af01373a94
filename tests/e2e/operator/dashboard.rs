//! The dashboard: one row per service plus the end-to-end view, every expression valid
//! PromQL (`promtool check rules` on it as recording rules), and every metric it or the alert
//! rules name exported by the running services.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::promql::{dashboard_exprs, metric_names, rule_exprs};
use crate::world::*;
use crate::{deploy_dir, promtool};

/// Series Prometheus itself writes for every target.
const PROMETHEUS_OWN: [&str; 1] = ["up"];

#[test]
fn the_dashboard_has_the_end_to_end_row_and_one_row_per_service_and_valid_promql() {
    let text = std::fs::read_to_string(deploy_dir().join("grafana/sethub.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(rows, ["End to end", "Ingest", "Fan-out", "Manage"]);
    let exprs = dashboard_exprs();
    let titles: BTreeSet<&str> = exprs.iter().map(|(t, _)| t.as_str()).collect();
    for wanted in [
        "Events accepted by ingest, by outcome",
        "SETs delivered, by outcome",
        "Event to receiver latency (push)",
        "Retry and dead-letter depth",
        "Bus lag p99, by queue",
        "Poll backlog",
        "Top talkers (events published per tenant)",
    ] {
        assert!(titles.contains(wanted), "no panel {wanted:?}");
    }
    // Valid PromQL: promtool parses each expression as a recording rule.
    let dir = std::env::temp_dir().join(format!(
        "sethub-dashboard-{}",
        sethub_tests::random_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let rules: Vec<serde_json::Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| json!({"record": format!("dashboard:panel_{i}"), "expr": expr}))
        .collect();
    let file = json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(dir.join("dashboard.rules.json"), file.to_string()).unwrap();
    let out = promtool(&dir, &["check", "rules", "dashboard.rules.json"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{out}"
    );
}

/// The series names on a `/metrics` page.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_metric_the_dashboard_and_the_alert_rules_name_is_exported_by_the_services() {
    // Retention keeps one SET per poll stream, so the sweep drops some: `poll_dropped_total`.
    let w = World::split_with(&[("SETHUB_POLL__RETENTION_MAX_SETS", "1")]).await;
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for expr in rule_exprs() {
        for name in metric_names(&expr) {
            wanted
                .entry(name)
                .or_default()
                .push(format!("rule {expr:?}"));
        }
    }
    for (title, expr) in dashboard_exprs() {
        for name in metric_names(&expr) {
            wanted
                .entry(name)
                .or_default()
                .push(format!("panel {title:?}"));
        }
    }
    assert!(wanted.len() >= 25, "{wanted:?}");
    // Exercise what each metric counts: a push stream and a poll stream get three events.
    w.stream("/s/ops", &[setup_session_revoked()]).await;
    let (_, endpoint) = poll_stream(&w).await;
    // A long poll waiting on the empty stream registers fan-out's `poll_waiting` gauge (it
    // counts 1 while the poll waits); the events published next answer it.
    let fanout_metrics = w.hub.process("fanout").unwrap().url("/metrics");
    let waiting = {
        let w = &w;
        async move { poll(w, &endpoint, json!({"maxEvents": 1})).await }
    };
    let publish = async {
        sethub_tests::wait_until("a long poll waiting at fan-out", LONG, || {
            let url = fanout_metrics.clone();
            async move {
                let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
                text.lines()
                    .any(|l| l == "sethub_poll_waiting 1")
                    .then_some(())
            }
        })
        .await;
        publish_all(&w.hub.ingest_url, &w.tenant, 3, "ops").await
    };
    let ((status, body), ids) = tokio::join!(waiting, publish);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sets"].as_object().map(|s| s.len()), Some(1), "{body}");
    w.receiver.wait_for_count("/s/ops", 3, LONG).await.unwrap();
    assert_all_arrived(&w.receiver, "/s/ops", &ids);
    let urls: Vec<(String, String)> = w
        .hub
        .processes
        .iter()
        .map(|(role, p)| (role.clone(), p.url("/metrics")))
        .collect();
    let deadline = Instant::now() + LONG;
    let missing = loop {
        let mut seen = BTreeSet::new();
        for (_, url) in &urls {
            let text = reqwest::get(url).await.unwrap().text().await.unwrap();
            seen.extend(exported(&text));
        }
        let missing: Vec<&String> = wanted
            .keys()
            .filter(|n| !seen.contains(*n) && !PROMETHEUS_OWN.contains(&n.as_str()))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        // Polling a condition (the sweep counts the poll queue once a second here).
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        missing.is_empty(),
        "named but not exported: {:?}",
        missing.iter().map(|n| (n, &wanted[*n])).collect::<Vec<_>>()
    );
    // The Kubernetes manifests probe and scrape paths each service answers.
    for (role, path) in crate::k8s::http_paths() {
        let url = w.hub.process(&role).unwrap().url(&path);
        let status = reqwest::get(&url).await.unwrap().status().as_u16();
        assert_eq!(status, 200, "{role} {path}");
    }
}

fn setup_session_revoked() -> &'static str {
    sethub_tests::setup::SESSION_REVOKED
}
