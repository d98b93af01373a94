//! Smoke test of `sethub-loadgen --mode suite`: every scenario at a tiny size against the
//! embedded default (`sethub all` over SQLite), checking the shape of the JSON lines and that
//! nothing went missing. Like the other tests of this crate it needs the `sethub` binary
//! (`SETHUB_BIN`, else the target directory) and is skipped with a message without one.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Instant;

use serde_json::Value;
use sethub_tests::setup;

#[test]
fn the_suite_at_a_tiny_size_reports_every_scenario_with_nothing_missing() {
    let Some(bin) = setup::find_sethub_binary() else {
        eprintln!("SKIPPED: no sethub binary (set SETHUB_BIN, or build it: cargo build -p sethub)");
        return;
    };
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_sethub-loadgen"))
        .arg("--bin")
        .arg(&bin)
        .args(["--mode", "suite", "--embedded", "--rounds", "1"])
        .args(["--scenarios", "a,b,c,c1000,poll,noisy"])
        .args(["--events-a", "200", "--events-b", "20"])
        .args(["--duration-c", "2", "--rate-c", "50", "--rate-c1000", "200"])
        .args(["--warmup-single", "20", "--warmup-ten", "10"])
        .args(["--poll-sets", "200", "--duration-noisy", "2"])
        .args([
            "--quiet-rate",
            "20",
            "--noisy-rate",
            "50",
            "--idle-timeout",
            "20",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "loadgen failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let run = |name: &str| {
        lines
            .iter()
            .find(|l| l["scenario"] == name)
            .unwrap_or_else(|| panic!("no `{name}` line in:\n{stdout}"))
    };
    for name in ["a", "b", "c", "c1000"] {
        let r = run(name);
        assert_eq!(r["round"], 1, "{r}");
        assert_eq!(r["missing"], 0, "{r}");
        assert_eq!(r["duplicates"], 0, "{r}");
        assert_eq!(r["complete"], true, "{r}");
        assert_eq!(r["delivered_sets"], r["expected_sets"], "{r}");
        for figure in [
            "/delivered_sets_per_s",
            "/accepted_events_per_s",
            "/latency_ms/p50",
            "/latency_ms/p95",
            "/latency_ms/p99",
            "/latency_ms/max",
            "/cpu_ms_per_set/machine",
            "/cpu_ms_per_set/all",
            "/cpu_ms_per_set/postgres",
            "/cpu_ms_per_set/rabbitmq",
            "/cpu_ms_per_set/redis",
            "/cpu_ms_per_set/loadgen",
            "/peak_rss_mb/all",
            "/rss_end_mb/all",
        ] {
            assert!(
                r.pointer(figure).is_some_and(Value::is_number),
                "{figure} in {r}"
            );
        }
    }
    assert_eq!(run("a")["expected_sets"], 200);
    assert_eq!(run("b")["expected_sets"], 200, "20 events to ten streams");
    assert_eq!(run("c")["load"]["kind"], "open");
    for name in ["poll1000", "poll100"] {
        let r = run(name);
        assert_eq!(r["missing"], 0, "{r}");
        assert_eq!(r["drained_sets"], 200, "{r}");
        assert!(r["drain_sets_per_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    let noisy = run("noisy");
    assert_eq!(noisy["complete"], true, "{noisy}");
    assert!(noisy.pointer("/quiet_p99_ms/alone").unwrap().is_number());
    assert!(
        noisy
            .pointer("/quiet_p99_ms/with_noise")
            .unwrap()
            .is_number()
    );
    assert!(
        noisy
            .pointer("/noise/receiver_requests_503")
            .unwrap()
            .as_u64()
            .unwrap()
            > 0
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["complete"], true, "{summary}");
    let median = summary
        .pointer("/summary/a/delivered_sets_per_s/median")
        .unwrap();
    assert_eq!(median, &run("a")["delivered_sets_per_s"]);
    assert_eq!(summary.pointer("/summary/a/missing/max").unwrap(), 0.0);
    eprintln!(
        "suite smoke run took {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
