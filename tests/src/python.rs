//! The test venv's python (`SETHUB_TEST_PYTHON`, else `~/.cache/sethub-venv/bin/python`),
//! which `scripts/test` prepares with schemathesis, `pyjwt[crypto]` and jwcrypto.

use std::path::PathBuf;

/// The venv's python if it can `import {modules}` (e.g. `"jwt, jwcrypto"`). Without it the
/// caller skips its test with a message, except under CI (`CI` set), where this panics:
/// `scripts/test` always installs `install` (the pip requirement named in the message).
pub fn with_modules(modules: &str, install: &str) -> Option<PathBuf> {
    let python = std::env::var_os("SETHUB_TEST_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/sethub-venv/bin/python"))
        })?;
    let has = std::process::Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if has {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {} cannot import {modules}: scripts/test installs it into the test venv \
         (pip install {install})",
        python.display()
    );
    println!(
        "SKIPPED: {} cannot import {modules} (pip install {install}, or set SETHUB_TEST_PYTHON)",
        python.display()
    );
    None
}
