//! Every SET vector copied from the spec folder, validated by sethub with the verdict the
//! vector expects.
// Test helpers outside #[test] functions unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;
use sethub_jose::{Alg, ErrCode, Expectations, SetError, validate_set};

const SET_VECTOR_PREFIXES: [&str; 6] = [
    "caep-",
    "risc-",
    "scim-events-",
    "ssf-set-",
    "rfc8417-fig",
    "oidc-",
];

fn set_vectors() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(vectors_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if SET_VECTOR_PREFIXES.iter().any(|p| name.starts_with(p)) {
            let v = vector(&name);
            if v.get("payload").is_some() {
                out.push((name, v));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn expectations_for(payload: &Value) -> Expectations {
    let iss = payload["iss"].as_str().unwrap();
    let aud = match &payload["aud"] {
        Value::String(a) => Some(a.clone()),
        Value::Array(list) => list.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    match aud {
        Some(aud) => Expectations::new(iss, aud),
        None => Expectations::new(iss, "unused").any_audience(),
    }
}

#[test]
fn every_set_vector_gets_the_verdict_it_expects_when_signed_by_sethub() {
    let key = key(Alg::Es256);
    let jwks = jwks_of(&[&key]);
    let vectors = set_vectors();
    assert!(
        vectors.len() >= 35,
        "expected all SET vectors, found {}",
        vectors.len()
    );
    for (name, v) in vectors {
        let payload = &v["payload"];
        let token = sign_raw(&key, &set_header(&key), payload);
        let result = validate_set(&token, &jwks, &expectations_for(payload));
        let expect_valid = v["expect"]["ssf_claims_valid"].as_bool().unwrap();
        match result {
            Ok(set) => {
                assert!(
                    expect_valid,
                    "{name}: accepted, but the vector says it is not an SSF SET"
                );
                let types: Vec<&str> = set.events.keys().map(String::as_str).collect();
                let expected: Vec<&str> = v["expect"]["event_types"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap())
                    .collect();
                assert_eq!(types, expected, "{name}: event types");
                assert_eq!(
                    set.sub_id.to_json()["format"],
                    payload["sub_id"]["format"],
                    "{name}"
                );
            }
            Err(e) => {
                assert!(
                    !expect_valid,
                    "{name}: refused ({e}), but the vector says it is valid"
                );
                assert_eq!(e.err_code(), ErrCode::InvalidRequest, "{name}: {e}");
                let violations = v["expect"]["ssf_violations"].as_array().unwrap();
                let first = violations[0].as_str().unwrap();
                let text = e.to_string();
                let named = match first {
                    "missing sub_id" => text.contains("sub_id") || text.contains("`sub`"),
                    "sub present" => text.contains("`sub`"),
                    other => text.contains(other),
                };
                assert!(named, "{name}: `{text}` should name one of {violations:?}");
            }
        }
    }
}

#[test]
fn the_verification_set_of_the_ssf_verification_vector_is_valid() {
    let key = key(Alg::EdDsa);
    let v = vector("ssf-verification.json");
    let payload = &v["resulting_set_payload"];
    let token = sign_raw(&key, &set_header(&key), payload);
    let set = validate_set(&token, &jwks_of(&[&key]), &expectations_for(payload)).unwrap();
    assert_eq!(
        set.sub_id.to_json()["id"],
        "f67e39a0a4d34d56b3aa1bc4cff0069f"
    );
    let state =
        &set.events["https://schemas.openid.net/secevent/ssf/event-type/verification"]["state"];
    assert_eq!(state, &v["trigger"]["request"]["body"]["state"]);
}

#[test]
fn the_rfc8935_push_request_body_is_refused_as_an_hmac_set_with_invalid_key() {
    let v = vector("rfc8935-push-request.json");
    let token = v["request"]["body"].as_str().unwrap();
    let key = key(Alg::Es256);
    let err = validate_set(
        token,
        &jwks_of(&[&key]),
        &Expectations::new("https://idp.example.com/", "636C69656E745F6964"),
    )
    .unwrap_err();
    assert_eq!(err, SetError::AlgorithmNotAccepted("HS256".into()));
    assert_eq!(err.err_code(), ErrCode::InvalidKey);
}

#[test]
fn the_unsecured_rfc8417_figure_5_set_is_refused_with_invalid_request() {
    let v = vector("rfc8417-fig5-unsecured-scim-create.json");
    let compact = v["compact"].as_str().unwrap();
    let key = key(Alg::Es256);
    let err = validate_set(
        compact,
        &jwks_of(&[&key]),
        &Expectations::new("https://scim.example.com", "x").any_audience(),
    )
    .unwrap_err();
    assert_eq!(err, SetError::Unsecured);
    assert_eq!(err.err_code(), ErrCode::InvalidRequest);
}

#[test]
fn the_unsecured_sets_of_the_rfc8936_poll_response_are_refused_with_invalid_request() {
    let v = vector("rfc8936-poll-response-two-sets.json");
    let key = key(Alg::Es256);
    for (_, token) in v["response"]["body"]["sets"].as_object().unwrap() {
        let err = validate_set(
            token.as_str().unwrap(),
            &jwks_of(&[&key]),
            &Expectations::new("https://scim.example.com", "x"),
        )
        .unwrap_err();
        assert_eq!(err.err_code(), ErrCode::InvalidRequest, "{err}");
    }
}

#[test]
fn every_error_code_sethub_emits_is_in_the_rfc8935_registry_vector() {
    let v = vector("rfc8935-error-codes.json");
    let registered: Vec<&str> = v["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["err"].as_str().unwrap())
        .collect();
    for code in [
        ErrCode::InvalidRequest,
        ErrCode::InvalidKey,
        ErrCode::InvalidIssuer,
        ErrCode::InvalidAudience,
        ErrCode::AuthenticationFailed,
        ErrCode::AccessDenied,
        ErrCode::InvalidState,
    ] {
        assert!(registered.contains(&code.as_str()), "{code}");
    }
}
