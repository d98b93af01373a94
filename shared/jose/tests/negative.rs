//! Tokens sethub must refuse, each with its RFC 8935 error code, never with a panic.
// Test helpers outside #[test] functions unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use sethub_jose::{Alg, ErrCode, Expectations, SetError, validate_set};

const ISS: &str = "https://tr.example.com/t/acme";
const AUD: &str = "https://rp.example.com/ssf";

fn expect() -> Expectations {
    Expectations::new(ISS, AUD)
}

fn refused(token: &str, key: &sethub_jose::SigningKey) -> SetError {
    validate_set(token, &jwks_of(&[key]), &expect()).unwrap_err()
}

fn with(mut claims: Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    f(claims.as_object_mut().unwrap());
    claims
}

#[test]
fn a_well_formed_set_is_accepted_for_every_algorithm() {
    for alg in Alg::ALL {
        let key = key(alg);
        let token = sign_raw(&key, &set_header(&key), &claims(ISS, AUD));
        let set = validate_set(&token, &jwks_of(&[&key]), &expect()).unwrap();
        assert_eq!(set.header.alg, alg);
        assert_eq!(set.iss, ISS);
    }
}

#[test]
fn a_set_signed_by_another_key_with_the_same_kid_is_refused_with_invalid_key() {
    let good = key(Alg::Es256);
    let other = key(Alg::Es256);
    let token = sign_raw(&other, &set_header(&good), &claims(ISS, AUD));
    let err = refused(&token, &good);
    assert_eq!(err, SetError::BadSignature);
    assert_eq!(err.err_code(), ErrCode::InvalidKey);
}

#[test]
fn a_set_with_an_unknown_kid_is_refused_with_invalid_key() {
    let good = key(Alg::Es256);
    let other = key(Alg::Es256);
    let token = sign_raw(&other, &set_header(&other), &claims(ISS, AUD));
    let err = refused(&token, &good);
    assert!(matches!(err, SetError::UnknownKey(Some(_))), "{err:?}");
    assert_eq!(err.err_code(), ErrCode::InvalidKey);
    assert!(err.description().contains(other.kid()));
}

#[test]
fn a_kid_of_another_key_type_is_refused_with_invalid_key() {
    let ec = key(Alg::Es256);
    let ed = key(Alg::EdDsa);
    let header = json!({"alg": "EdDSA", "typ": "secevent+jwt", "kid": ec.kid()});
    let token = sign_raw(&ed, &header, &claims(ISS, AUD));
    let err = refused(&token, &ec);
    assert!(
        matches!(err, SetError::KeyAlgorithmMismatch { .. }),
        "{err:?}"
    );
    assert_eq!(err.err_code(), ErrCode::InvalidKey);
}

#[test]
fn alg_none_is_refused_with_invalid_request() {
    let key = key(Alg::Es256);
    let header = b64(br#"{"alg":"none","typ":"secevent+jwt"}"#);
    let payload = b64(&serde_json::to_vec(&claims(ISS, AUD)).unwrap());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}.AAAA"),
    ] {
        let err = refused(&token, &key);
        assert_eq!(err, SetError::Unsecured);
        assert_eq!(err.err_code(), ErrCode::InvalidRequest);
    }
}

#[test]
fn hs256_is_refused_with_invalid_key_even_keyed_with_the_public_key() {
    let key = key(Alg::Es256);
    let header = b64(br#"{"alg":"HS256","typ":"secevent+jwt"}"#);
    let payload = b64(&serde_json::to_vec(&claims(ISS, AUD)).unwrap());
    let input = format!("{header}.{payload}");
    let mac_key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        key.public_jwk().to_json().to_string().as_bytes(),
    );
    let tag = ring::hmac::sign(&mac_key, input.as_bytes());
    let err = refused(&format!("{input}.{}", b64(tag.as_ref())), &key);
    assert_eq!(err, SetError::AlgorithmNotAccepted("HS256".into()));
    assert_eq!(err.err_code(), ErrCode::InvalidKey);
}

#[test]
fn a_missing_or_wrong_typ_is_refused_with_invalid_request() {
    let key = key(Alg::Es256);
    for header in [
        json!({"alg": "ES256", "kid": key.kid()}),
        json!({"alg": "ES256", "kid": key.kid(), "typ": "JWT"}),
    ] {
        let err = refused(&sign_raw(&key, &header, &claims(ISS, AUD)), &key);
        assert!(matches!(err, SetError::WrongType(_)), "{err:?}");
        assert_eq!(err.err_code(), ErrCode::InvalidRequest);
    }
    let header = json!({"alg": "ES256", "kid": key.kid(), "typ": "Application/SecEvent+JWT"});
    assert!(
        validate_set(
            &sign_raw(&key, &header, &claims(ISS, AUD)),
            &jwks_of(&[&key]),
            &expect()
        )
        .is_ok()
    );
}

#[test]
fn exp_sub_or_a_missing_sub_id_is_refused_with_invalid_request() {
    let key = key(Alg::EdDsa);
    let cases = [
        (
            "exp",
            with(claims(ISS, AUD), |c| {
                c.insert("exp".into(), json!(1_800_000_000));
            }),
        ),
        (
            "sub",
            with(claims(ISS, AUD), |c| {
                c.insert("sub".into(), json!("user@example.com"));
            }),
        ),
        (
            "sub_id",
            with(claims(ISS, AUD), |c| {
                c.remove("sub_id");
            }),
        ),
        (
            "iat",
            with(claims(ISS, AUD), |c| {
                c.remove("iat");
            }),
        ),
        (
            "jti",
            with(claims(ISS, AUD), |c| {
                c.remove("jti");
            }),
        ),
        (
            "events",
            with(claims(ISS, AUD), |c| {
                c.insert("events".into(), json!({}));
            }),
        ),
        (
            "events",
            with(claims(ISS, AUD), |c| {
                c.insert("events".into(), json!({"not a uri": {}}));
            }),
        ),
        (
            "sub_id.email",
            with(claims(ISS, AUD), |c| {
                c.insert("sub_id".into(), json!({"format": "email"}));
            }),
        ),
        (
            "events.https://schemas.openid.net/secevent/caep/event-type/token-claims-change.claims",
            with(claims(ISS, AUD), |c| {
                c.insert("events".into(), json!({"https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {}}));
            }),
        ),
    ];
    for (named, claims) in cases {
        let err = refused(&sign_raw(&key, &set_header(&key), &claims), &key);
        assert_eq!(err.err_code(), ErrCode::InvalidRequest, "{named}: {err}");
        assert!(
            err.description().contains(named),
            "`{err}` should name {named}"
        );
    }
}

#[test]
fn a_foreign_issuer_is_refused_with_invalid_issuer() {
    let key = key(Alg::Es256);
    let token = sign_raw(
        &key,
        &set_header(&key),
        &claims("https://evil.example.com", AUD),
    );
    let err = refused(&token, &key);
    assert_eq!(err.err_code(), ErrCode::InvalidIssuer);
    assert!(err.description().contains("https://evil.example.com"));
}

#[test]
fn a_foreign_or_missing_audience_is_refused_with_invalid_audience() {
    let key = key(Alg::Es256);
    let other = sign_raw(
        &key,
        &set_header(&key),
        &claims(ISS, "https://other.example.com"),
    );
    assert_eq!(refused(&other, &key).err_code(), ErrCode::InvalidAudience);
    let none = with(claims(ISS, AUD), |c| {
        c.remove("aud");
    });
    assert_eq!(
        refused(&sign_raw(&key, &set_header(&key), &none), &key).err_code(),
        ErrCode::InvalidAudience
    );
    let array = with(claims(ISS, AUD), |c| {
        c.insert("aud".into(), json!(["https://a.example.com", AUD]));
    });
    assert!(
        validate_set(
            &sign_raw(&key, &set_header(&key), &array),
            &jwks_of(&[&key]),
            &expect()
        )
        .is_ok()
    );
}

#[test]
fn malformed_base64_and_broken_structure_are_refused_with_invalid_request() {
    let key = key(Alg::Es256);
    let good = sign_raw(&key, &set_header(&key), &claims(ISS, AUD));
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        String::new(),
        "abc".to_owned(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{}.{}.{}.x.y", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}.x", parts[0], parts[1], parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", "!!!", parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], parts[1], "sig+/"),
        format!("{}.{}.{}", b64(b"not json"), parts[1], parts[2]),
        format!("{}.{}.{}", b64(b"[1]"), parts[1], parts[2]),
        format!(
            "{}.{}.{}",
            b64(br#"{"typ":"secevent+jwt"}"#),
            parts[1],
            parts[2]
        ),
    ];
    for token in cases {
        let err = refused(&token, &key);
        assert_eq!(err.err_code(), ErrCode::InvalidRequest, "`{token}`: {err}");
    }
    let tampered_payload = format!("{}.{}A.{}", parts[0], parts[1], parts[2]);
    assert!(refused(&tampered_payload, &key).err_code() != ErrCode::InvalidIssuer);
}

#[test]
fn a_one_megabyte_token_is_refused_with_invalid_request_before_parsing() {
    let key = key(Alg::Es256);
    let big = "a".repeat(1024 * 1024);
    let err = refused(&big, &key);
    assert_eq!(
        err,
        SetError::TooLarge {
            len: 1024 * 1024,
            max: Expectations::DEFAULT_MAX_LEN
        }
    );
    assert_eq!(err.err_code(), ErrCode::InvalidRequest);
    // A signed SET of 1 MB with a valid signature is refused the same way.
    let huge = with(claims(ISS, AUD), |c| {
        c.insert("padding".into(), json!("x".repeat(1024 * 1024)));
    });
    let err = refused(&sign_raw(&key, &set_header(&key), &huge), &key);
    assert_eq!(err.err_code(), ErrCode::InvalidRequest);
}

#[test]
fn duplicate_event_types_in_events_are_refused_with_invalid_request() {
    let key = key(Alg::Es256);
    let uri = "https://schemas.openid.net/secevent/risc/event-type/account-enabled";
    let payload = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","iat":1,"jti":"j","sub_id":{{"format":"opaque","id":"x"}},"events":{{"{uri}":{{}},"{uri}":{{}}}}}}"#
    );
    let header = serde_json::to_vec(&set_header(&key)).unwrap();
    let err = refused(&sign_bytes(&key, &header, payload.as_bytes()), &key);
    assert_eq!(err.err_code(), ErrCode::InvalidRequest);
    assert!(err.description().contains("duplicate member name"), "{err}");
}

#[test]
fn crit_headers_and_jwe_are_refused_with_invalid_request() {
    let key = key(Alg::Es256);
    let header = json!({"alg": "ES256", "typ": "secevent+jwt", "kid": key.kid(), "crit": ["b64"], "b64": false});
    assert_eq!(
        refused(&sign_raw(&key, &header, &claims(ISS, AUD)), &key).err_code(),
        ErrCode::InvalidRequest
    );
    let jwe = format!("{}.a.b.c.d", b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#));
    assert_eq!(refused(&jwe, &key).err_code(), ErrCode::InvalidRequest);
}

#[test]
fn freshness_limits_refuse_old_and_future_sets_when_configured() {
    let key = key(Alg::Es256);
    let exp = expect().freshness(
        std::time::Duration::from_secs(3600),
        std::time::Duration::from_secs(60),
    );
    let old = sign_raw(&key, &set_header(&key), &claims(ISS, AUD));
    let err = validate_set(&old, &jwks_of(&[&key]), &exp).unwrap_err();
    assert_eq!(err.err_code(), ErrCode::InvalidRequest);
    let future = with(claims(ISS, AUD), |c| {
        c.insert("iat".into(), json!(chrono::Utc::now().timestamp() + 3600));
    });
    let err = validate_set(
        &sign_raw(&key, &set_header(&key), &future),
        &jwks_of(&[&key]),
        &exp,
    )
    .unwrap_err();
    assert!(err.description().contains("future"));
}
