//! schemathesis (PyPI, in the test venv `scripts/test` prepares) over the served OpenAPI
//! document, with a real API key and every check schemathesis has (server errors, status
//! codes, content types, response schemas, positive and negative data), so the document says
//! exactly what the server does.

use std::path::{Path, PathBuf};

/// The venv's python if it has schemathesis (skipped without it, except under CI).
pub fn python() -> Option<PathBuf> {
    sethub_tests::python::with_modules("schemathesis", "schemathesis")
}

/// Runs schemathesis against `base` (loopback) and fails with its report on any failed check
/// (a server error, or any mismatch between the document and an answer). Every check is on
/// by default (schemathesis 4); `--checks all` is not passed because it would also switch on
/// the one check the config turns off for two operations.
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

# An inline JWKS must hold real public keys (points on the curve, a usable modulus), which
# a generator cannot make: the schema gives its shape, and the server refuses generated
# keys with a 400 naming `jwks`. Every other check still runs on this operation.
[[operations]]
include-name = "POST /api/v1/upstream-transmitters"
checks.positive_data_acceptance.enabled = false

# Closing wants the tenant's own slug as `confirm`, which a generator cannot know (and must
# not: it would close the test's tenant); any other string is refused with a 400 naming
# `confirm`. Every other check still runs on this operation.
[[operations]]
include-name = "POST /api/v1/tenant/close"
checks.positive_data_acceptance.enabled = false
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
