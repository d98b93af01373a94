//! Fuzzes the SET validator (`cargo +nightly fuzz run parse_set`): any input must give a
//! verdict, never a panic. Signatures rarely verify, so the claims checks are reached through
//! an empty-key JWKS only via the error paths; the in-repo mutation test covers valid seeds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sethub_jose::{Expectations, Jwks, validate_set};

fuzz_target!(|data: &[u8]| {
    let jwks = Jwks::from_json(&serde_json::json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "k1",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    }]}))
    .unwrap_or_default();
    let exp = Expectations::new(
        "https://tr.example.com/t/acme",
        "https://rp.example.com/ssf",
    );
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = validate_set(text, &jwks, &exp);
    }
});
