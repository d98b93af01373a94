//! SETs signed by sethub verify with PyJWT and jwcrypto, which share no code with ours.
//! The interpreter comes from `SETHUB_TEST_PYTHON` (a venv with `pyjwt[crypto]` and `jwcrypto`);
//! without it the test is skipped locally and fails under CI (`CI` set).
// Test helpers outside #[test] functions unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use serde_json::json;
use sethub_domain::subject::{ComplexSubject, Subject, SubjectId};
use sethub_jose::{Alg, SetClaims, sign_set};

#[test]
fn sets_signed_by_sethub_verify_with_pyjwt_and_jwcrypto_for_every_algorithm() {
    let python = match std::env::var("SETHUB_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "CI is set but SETHUB_TEST_PYTHON is not: create a venv with `pip install 'pyjwt[crypto]' jwcrypto` and point SETHUB_TEST_PYTHON at its python"
            )
        }
        _ => {
            println!(
                "SKIPPED: set SETHUB_TEST_PYTHON to a python with pyjwt[crypto] and jwcrypto to run the interop check"
            );
            return;
        }
    };
    let dir =
        std::env::temp_dir().join(format!("sethub-interop-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (iss, aud) = (
        "https://tr.example.com/t/acme",
        "https://rp.example.com/ssf",
    );
    let keys: Vec<_> = Alg::ALL.into_iter().map(key).collect();
    let subject = Subject::from(
        ComplexSubject::new()
            .with(
                "user",
                SubjectId::Email {
                    email: "jdoe@example.com".into(),
                },
            )
            .with("tenant", SubjectId::Opaque { id: "t1".into() }),
    );
    let mut tokens = serde_json::Map::new();
    let mut last = String::new();
    for key in &keys {
        let claims = SetClaims::new(iss, subject.clone())
            .audience(aud)
            .txn("evt_1")
            .event(
                "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
                json!({"initiating_entity": "policy", "reason_admin": {"en": "Landspeed"}}),
            );
        let token = sign_set(key, &claims).unwrap();
        let name = key.alg().as_str().to_lowercase();
        std::fs::write(dir.join(format!("{name}.jwt")), &token).unwrap();
        tokens.insert(name, json!(key.alg().as_str()));
        last = token;
    }
    // Tamper with the payload of a valid token, keeping its signature.
    let parts: Vec<&str> = last.split('.').collect();
    let forged = b64(&serde_json::to_vec(
        &json!({"iss": iss, "aud": aud, "iat": 1, "jti": "x", "sub_id": subject, "events": {}}),
    )
    .unwrap());
    std::fs::write(
        dir.join("tampered.jwt"),
        format!("{}.{forged}.{}", parts[0], parts[2]),
    )
    .unwrap();
    std::fs::write(
        dir.join("jwks.json"),
        serde_json::to_string(&jwks_of(&keys.iter().collect::<Vec<_>>())).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("expected.json"),
        json!({"iss": iss, "aud": aud, "tokens": tokens}).to_string(),
    )
    .unwrap();

    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/verify_with_pyjwt.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the interop script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.matches("verified by PyJWT and jwcrypto").count(),
        3,
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("tampered token refused").count(),
        2,
        "{stdout}"
    );
}
