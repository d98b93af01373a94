//! schemathesis (PyPI, in the test venv `scripts/test` prepares) over the served OpenAPI
//! document, with a real API key, checking only that no answer is a server error.

use std::path::{Path, PathBuf};

/// The venv's python if it has schemathesis (skipped without it, except under CI).
pub fn python() -> Option<PathBuf> {
    sethub_tests::python::with_modules("schemathesis", "schemathesis")
}

/// Runs schemathesis against `base` (loopback) and fails with its report on any server error.
/// The stream routes get a real stream's id, so they reach past the lookup.
pub async fn run(python: &Path, base: &str, api_key: &str, stream_id: &str, dir: &Path) {
    assert!(
        base.starts_with("http://127.0.0.1:"),
        "loopback only: {base}"
    );
    let config = dir.join("schemathesis.toml");
    let toml = format!(
        r#"[[operations]]
include-path-regex = "^/api/v1/streams/\\{{id\\}}"
parameters = {{ "path.id" = "{stream_id}" }}
"#
    );
    std::fs::write(&config, toml).unwrap();
    let out = tokio::process::Command::new(python)
        .args([
            "-m",
            "schemathesis.cli",
            "--config-file",
            config.to_str().unwrap(),
            "run",
            &format!("{base}/api/v1/openapi.json"),
            "--url",
            base,
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "15",
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "2",
            "--request-timeout",
            "20",
            "--max-redirects",
            "0",
            "--seed",
            "12",
            "--no-color",
            "-H",
            &format!("Authorization: Bearer {api_key}"),
        ])
        .current_dir(dir)
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "schemathesis found problems ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
