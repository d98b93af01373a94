//! Signing keys, JWK/JWKS, sign_set round trips, sealing at rest and rotation.
// Test helpers outside #[test] functions unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::*;
use serde_json::json;
use sethub_domain::subject::{Subject, SubjectId};
use sethub_domain::{SigningKeyId, TenantId};
use sethub_jose::keyring::{KeyringError, MasterKeyring, SealContext, SealedKey};
use sethub_jose::keyset::{KeySet, KeySetError, KeyState, RotationPolicy};
use sethub_jose::{
    Alg, Expectations, Jwk, Jwks, KeyError, KeySpec, SetClaims, SigningKey, sign_set, validate_set,
};

fn set_claims() -> SetClaims {
    SetClaims::new(
        "https://tr.example.com/t/acme",
        Subject::for_stream("str_1"),
    )
    .audience("https://rp.example.com")
    .txn("evt_0190")
    .toe(1_700_000_000)
    .event(
        "https://schemas.openid.net/secevent/ssf/event-type/verification",
        json!({"state": "abc"}),
    )
}

#[test]
fn sign_set_output_validates_for_every_algorithm_with_the_claims_intact() {
    for alg in Alg::ALL {
        let key = key(alg);
        let claims = set_claims();
        let token = sign_set(&key, &claims).unwrap();
        let set = validate_set(
            &token,
            &jwks_of(&[&key]),
            &Expectations::new(&claims.iss, "https://rp.example.com"),
        )
        .unwrap();
        assert_eq!(set.header.kid.as_deref(), Some(key.kid()));
        assert_eq!(set.header.typ.as_deref(), Some("secevent+jwt"));
        assert_eq!(
            (set.jti, set.iat, set.txn, set.toe),
            (
                claims.jti.clone(),
                claims.iat,
                claims.txn.clone(),
                claims.toe
            )
        );
        assert_eq!(set.sub_id, claims.sub_id);
        assert_eq!(set.events, claims.events);
        assert!(!set.claims.contains_key("sub") && !set.claims.contains_key("exp"));
    }
}

#[test]
fn sign_set_refuses_a_set_without_events() {
    let key = key(Alg::Es256);
    let claims = SetClaims::new("https://i", Subject::for_stream("s"));
    assert!(matches!(
        sign_set(&key, &claims),
        Err(KeyError::InvalidSet(_))
    ));
}

#[test]
fn the_kid_is_the_rfc7638_thumbprint_of_the_rfc_example_key() {
    let jwk = Jwk::from_json(&json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    }))
    .unwrap();
    assert_eq!(
        jwk.thumbprint(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    for alg in Alg::ALL {
        let key = key(alg);
        assert_eq!(key.kid(), key.public_jwk().thumbprint());
    }
}

#[test]
fn public_jwks_round_trip_through_json_and_skip_unusable_keys() {
    let keys = [key(Alg::Es256), key(Alg::EdDsa), key(Alg::Rs256)];
    let jwks = jwks_of(&keys.iter().collect::<Vec<_>>());
    let text = serde_json::to_string(&jwks).unwrap();
    assert!(!text.contains("\"d\""));
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kty": "oct", "k": "c2VjcmV0"}));
    doc["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}));
    let back: Jwks = serde_json::from_value(doc).unwrap();
    assert_eq!(back.keys, jwks.keys);
    assert_eq!(back.skipped(), 2);
    let jwk = &back.keys[0];
    assert_eq!(
        (jwk.kty(), jwk.alg.as_deref(), jwk.key_use.as_deref()),
        ("EC", Some("ES256"), Some("sig"))
    );
}

#[test]
fn a_jwk_with_private_material_or_a_small_rsa_modulus_is_refused() {
    let mut jwk = key(Alg::Es256).public_jwk().to_json();
    jwk["d"] = json!("AAAA");
    assert!(Jwk::from_json(&jwk).is_err());
    let small = SigningKey::from_pkcs8(Alg::Rs256, &fixture("rsa1024-too-small-test-only.pk8.der"));
    assert!(small.is_err(), "1024-bit RSA must be refused");
}

#[test]
fn rsa_keys_of_2048_and_3072_bits_are_generated_sign_and_verify_and_other_sizes_are_refused() {
    for bits in [2048, 3072] {
        let key = SigningKey::generate_spec(KeySpec::Rs256 { bits }).unwrap();
        assert_eq!(key.alg(), Alg::Rs256);
        assert_eq!(key.spec(), KeySpec::Rs256 { bits });
        assert_eq!(key.public_jwk().spec(), KeySpec::Rs256 { bits });
        assert_eq!(key.public_jwk().kty(), "RSA");
        // The exported PKCS#8 imports again, to the same kid.
        let again = SigningKey::from_pkcs8(Alg::Rs256, key.pkcs8_der()).unwrap();
        assert_eq!(again.kid(), key.kid());
        let token = sign_set(&key, &set_claims()).unwrap();
        let jwks = Jwks::new(vec![key.public_jwk().clone()]);
        assert!(
            validate_set(
                &token,
                &jwks,
                &Expectations::new("https://tr.example.com/t/acme", "https://rp.example.com")
            )
            .is_ok(),
            "a {bits}-bit RS256 SET verifies"
        );
    }
    assert_eq!(
        SigningKey::generate_spec(KeySpec::Rs256 { bits: 1024 }).unwrap_err(),
        KeyError::RsaSize(1024)
    );
    assert_eq!(
        SigningKey::generate(Alg::Rs256).unwrap().spec(),
        KeySpec::Rs256 { bits: 2048 }
    );
}

#[test]
fn keys_of_the_wrong_algorithm_are_refused() {
    let rsa = fixture("rsa2048-test-only.pk8.der");
    assert!(SigningKey::from_pkcs8(Alg::Es256, &rsa).is_err());
    assert!(SigningKey::from_pkcs8(Alg::EdDsa, b"not a key").is_err());
}

#[test]
fn an_openssl_ed25519_key_in_pkcs8_v1_imports() {
    let key = SigningKey::from_pkcs8(Alg::EdDsa, &fixture("ed25519-openssl-v1.pk8.der")).unwrap();
    let token = sign_set(&key, &set_claims()).unwrap();
    assert!(
        validate_set(
            &token,
            &jwks_of(&[&key]),
            &Expectations::new("https://tr.example.com/t/acme", "https://rp.example.com")
        )
        .is_ok()
    );
}

#[test]
fn a_signing_key_debug_output_never_shows_the_private_key() {
    let key = key(Alg::Es256);
    let text = format!("{key:?}");
    assert!(text.contains(key.kid()) && !text.contains(&b64(key.pkcs8_der())));
}

fn keyring(ids: &[(&str, u8)]) -> MasterKeyring {
    MasterKeyring::new(ids.iter().map(|(id, b)| ((*id).to_owned(), [*b; 32]))).unwrap()
}

#[test]
fn a_sealed_signing_key_opens_only_for_its_tenant_and_key_id() {
    let ring = keyring(&[("k1", 1)]);
    let (tenant, id) = (TenantId::new(), SigningKeyId::new());
    let key = key(Alg::Es256);
    let sealed = ring.seal_signing_key(tenant, id, &key).unwrap();
    assert_eq!(sealed.master_key_id(), "k1");
    assert!(!sealed.as_str().contains(&b64(key.pkcs8_der())));
    let opened = ring
        .open_signing_key(tenant, id, Alg::Es256, &sealed)
        .unwrap();
    assert_eq!(opened.kid(), key.kid());
    assert_eq!(
        ring.open_signing_key(TenantId::new(), id, Alg::Es256, &sealed)
            .unwrap_err(),
        KeyringError::Open
    );
    assert_eq!(
        ring.open_signing_key(tenant, SigningKeyId::new(), Alg::Es256, &sealed)
            .unwrap_err(),
        KeyringError::Open
    );
}

#[test]
fn a_tampered_or_garbled_sealed_value_is_refused() {
    let ring = keyring(&[("k1", 1)]);
    let ctx = SealContext::new("auth-header", TenantId::new(), "str_1");
    let sealed = ring.seal(&ctx, b"Bearer secret").unwrap();
    let mut text = sealed.as_str().to_owned();
    let last = text.pop().unwrap();
    text.push(if last == 'A' { 'B' } else { 'A' });
    match text.parse::<SealedKey>() {
        Ok(tampered) => assert!(ring.open(&ctx, &tampered).is_err()),
        Err(e) => assert_eq!(e, KeyringError::Malformed),
    }
    for bad in [
        "",
        "v1.k1",
        "v2.k1.AAAA.AAAA",
        "v1.k 1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert!(bad.parse::<SealedKey>().is_err(), "{bad}");
    }
    let json = serde_json::to_string(&sealed).unwrap();
    assert_eq!(serde_json::from_str::<SealedKey>(&json).unwrap(), sealed);
}

#[test]
fn master_keys_rotate_seal_with_the_current_one_and_open_with_any_known_one() {
    let old = keyring(&[("k1", 1)]);
    let ctx = SealContext::new("auth-header", TenantId::new(), "str_1");
    let sealed = old.seal(&ctx, b"secret").unwrap();
    let rotated = keyring(&[("k2", 2), ("k1", 1)]);
    assert_eq!(rotated.current_id(), "k2");
    assert!(rotated.needs_reseal(&sealed));
    assert_eq!(rotated.open(&ctx, &sealed).unwrap(), b"secret");
    let resealed = rotated.reseal(&ctx, &sealed).unwrap();
    assert_eq!(resealed.master_key_id(), "k2");
    assert!(!rotated.needs_reseal(&resealed));
    let only_new = keyring(&[("k2", 2)]);
    assert_eq!(
        only_new.open(&ctx, &sealed).unwrap_err(),
        KeyringError::UnknownMasterKey("k1".into())
    );
    assert_eq!(only_new.open(&ctx, &resealed).unwrap(), b"secret");
    assert!(MasterKeyring::new(Vec::new()).is_err());
    assert!(MasterKeyring::new([("a.b".to_owned(), [0; 32])]).is_err());
    assert!(MasterKeyring::new([("a".to_owned(), [0; 32]), ("a".to_owned(), [1; 32])]).is_err());
}

fn t(hours: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
}

fn kids(set: &KeySet, now: chrono::DateTime<Utc>, policy: &RotationPolicy) -> Vec<String> {
    set.jwks(now, policy)
        .keys
        .iter()
        .map(|k| k.kid.clone().unwrap())
        .collect()
}

#[test]
fn rotation_publishes_the_next_key_before_it_signs_and_keeps_the_old_one_for_the_overlap() {
    let policy = RotationPolicy {
        publish_lead: Duration::hours(24),
        overlap: Duration::hours(48),
    };
    let (a, b) = (key(Alg::Es256), key(Alg::EdDsa));
    let (id_a, id_b) = (SigningKeyId::new(), SigningKeyId::new());
    let mut set = KeySet::bootstrap(id_a, Alg::Es256, a.public_jwk().clone(), t(0));
    assert_eq!(set.active().unwrap().id, id_a);
    assert_eq!(
        set.rotate(t(1), &policy).unwrap_err(),
        KeySetError::NoNextKey
    );

    set.add_next(id_b, Alg::EdDsa, b.public_jwk().clone(), t(10))
        .unwrap();
    assert!(matches!(
        set.add_next(
            SigningKeyId::new(),
            Alg::Es256,
            a.public_jwk().clone(),
            t(10)
        ),
        Err(KeySetError::NextExists(_))
    ));
    // Published at once, but A still signs.
    assert_eq!(kids(&set, t(10), &policy), vec![a.kid(), b.kid()]);
    assert_eq!(set.active().unwrap().id, id_a);
    assert!(matches!(
        set.rotate(t(33), &policy),
        Err(KeySetError::NextNotReady { .. })
    ));
    assert_eq!(set.next_ready_at(&policy), Some(t(34)));

    let rotation = set.rotate(t(34), &policy).unwrap();
    assert_eq!((rotation.activated, rotation.retiring), (id_b, Some(id_a)));
    assert_eq!(set.active().unwrap().id, id_b);
    assert_eq!(set.keys()[0].state, KeyState::Retiring);
    // A stays published for the overlap, then disappears.
    assert_eq!(kids(&set, t(34 + 47), &policy), vec![a.kid(), b.kid()]);
    assert_eq!(kids(&set, t(34 + 48), &policy), vec![b.kid()]);
    assert!(set.retire_expired(t(34 + 47), &policy).is_empty());
    assert_eq!(set.retire_expired(t(34 + 48), &policy), vec![id_a]);
    assert_eq!(set.keys()[0].state, KeyState::Retired);

    let stored = serde_json::to_value(&set).unwrap();
    let back: KeySet = serde_json::from_value(stored).unwrap();
    assert_eq!(back, set);
}

#[test]
fn a_revoked_key_is_unpublished_at_once_and_invalid_key_sets_are_refused() {
    let policy = RotationPolicy::default();
    let a = key(Alg::Es256);
    let id = SigningKeyId::new();
    let mut set = KeySet::bootstrap(id, Alg::Es256, a.public_jwk().clone(), t(0));
    set.revoke(id, t(1)).unwrap();
    assert!(set.active().is_none());
    assert!(set.jwks(t(1), &policy).keys.is_empty());
    let mut twice = set.keys().to_vec();
    for k in &mut twice {
        k.state = KeyState::Active;
    }
    twice.push(twice[0].clone());
    assert_eq!(
        KeySet::new(twice).unwrap_err(),
        KeySetError::SeveralActive(2)
    );
}

#[test]
fn a_subject_built_in_code_is_signed_as_given() {
    let key = key(Alg::Es256);
    let subject = Subject::from(SubjectId::Email {
        email: "u@example.com".into(),
    });
    let claims = SetClaims::new("https://i.example", subject.clone())
        .audience(vec!["a".to_owned(), "b".to_owned()])
        .event(
            "https://schemas.openid.net/secevent/risc/event-type/account-enabled",
            json!({}),
        );
    let token = sign_set(&key, &claims).unwrap();
    let set = validate_set(
        &token,
        &jwks_of(&[&key]),
        &Expectations::new("https://i.example", "b"),
    )
    .unwrap();
    assert_eq!(set.sub_id, subject);
}
