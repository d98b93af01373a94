//! Helpers shared by the jose integration tests: test keys and the copied spec vectors.
// Test helpers outside #[test] functions unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)] // each test binary uses a subset of the helpers

use std::path::PathBuf;

use serde_json::Value;
use sethub_jose::{Alg, Jwks, SigningKey};

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A key of each algorithm (RS256 from the committed test-only fixture).
pub fn key(alg: Alg) -> SigningKey {
    match alg {
        Alg::Rs256 => SigningKey::from_pkcs8(alg, &fixture("rsa2048-test-only.pk8.der")).unwrap(),
        _ => SigningKey::generate(alg).unwrap(),
    }
}

pub fn jwks_of(keys: &[&SigningKey]) -> Jwks {
    Jwks::new(keys.iter().map(|k| k.public_jwk().clone()).collect())
}

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

pub fn vector(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs arbitrary header and claims JSON with `key` (for tokens sethub would never make).
pub fn sign_raw(key: &SigningKey, header: &Value, claims: &Value) -> String {
    sign_bytes(
        key,
        &serde_json::to_vec(header).unwrap(),
        &serde_json::to_vec(claims).unwrap(),
    )
}

/// Signs exact header and payload bytes with `key`, through a JWS whose header we control.
pub fn sign_bytes(key: &SigningKey, header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = raw_sign(key, input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

fn raw_sign(key: &SigningKey, message: &[u8]) -> Vec<u8> {
    use ring::rand::SystemRandom;
    use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
    let der = key.pkcs8_der();
    let rng = SystemRandom::new();
    match key.alg() {
        Alg::Es256 => {
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
                .unwrap()
                .sign(&rng, message)
                .unwrap()
                .as_ref()
                .to_vec()
        }
        Alg::EdDsa => Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .unwrap()
            .sign(message)
            .as_ref()
            .to_vec(),
        Alg::Rs256 => {
            let pair = RsaKeyPair::from_pkcs8(der).unwrap();
            let mut sig = vec![0; pair.public().modulus_len()];
            pair.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                .unwrap();
            sig
        }
    }
}

/// A SET header for `key`.
pub fn set_header(key: &SigningKey) -> Value {
    serde_json::json!({"alg": key.alg().as_str(), "typ": "secevent+jwt", "kid": key.kid()})
}

/// Valid SSF claims for tests.
pub fn claims(iss: &str, aud: &str) -> Value {
    serde_json::json!({
        "iss": iss,
        "iat": 1_700_000_000,
        "jti": "4d3559ec67504aaba65d40b0363faad8",
        "aud": aud,
        "txn": "evt_1",
        "sub_id": {"format": "email", "email": "user@example.com"},
        "events": {"https://schemas.openid.net/secevent/risc/event-type/account-enabled": {}}
    })
}
