//! The operator's toolkit in `deploy/`, checked against the code: the Prometheus alert rules
//! pass `promtool check rules` and their unit tests (`promtool test rules`); every metric the
//! rules and the Grafana dashboard name is one the running services export; the Kubernetes
//! manifests name only configuration keys, commands, routes and queues that exist; one event
//! makes one OpenTelemetry trace from ingest through RabbitMQ to the push.

#![allow(
    clippy::disallowed_methods,
    reason = "the test's own client scrapes the hub under test on loopback, not on a tenant's behalf"
)]
#![allow(clippy::unwrap_used)]

#[path = "../world/mod.rs"]
mod world;

mod alerts;
mod dashboard;
mod k8s;
mod promql;
mod traces;

use std::path::{Path, PathBuf};

/// The repository's `deploy/` folder.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Runs `promtool` with `args` in `dir`; panics with its output unless it succeeds.
pub fn promtool(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool (Debian's `prometheus` package; scripts/test installs it): {e}"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}
