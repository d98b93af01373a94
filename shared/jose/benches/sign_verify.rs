//! sign_set / validate_set for each algorithm, beside raw ring sign / verify of the same bytes.
//! Run: `cargo bench -p sethub-jose --bench sign_verify -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use serde_json::json;
use sethub_domain::subject::Subject;
use sethub_jose::{Alg, Expectations, Jwks, SetClaims, SigningKey, sign_set, validate_set};

const RSA_KEY: &[u8] = include_bytes!("../tests/fixtures/rsa2048-test-only.pk8.der");

/// Raw ring signing and verification with the same key material.
enum Raw {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl Raw {
    fn new(key: &SigningKey) -> Self {
        let der = key.pkcs8_der();
        let rng = SystemRandom::new();
        match key.alg() {
            Alg::Es256 => Raw::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
                    .expect("ec"),
            ),
            Alg::EdDsa => Raw::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).expect("ed")),
            Alg::Rs256 => Raw::Rsa(RsaKeyPair::from_pkcs8(der).expect("rsa")),
        }
    }

    fn sign(&self, rng: &SystemRandom, msg: &[u8]) -> Vec<u8> {
        match self {
            Raw::Ec(k) => k.sign(rng, msg).expect("sign").as_ref().to_vec(),
            Raw::Ed(k) => k.sign(msg).as_ref().to_vec(),
            Raw::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, rng, msg, &mut sig)
                    .expect("sign");
                sig
            }
        }
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            Raw::Ec(k) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, k.public_key().as_ref())
                    .verify(msg, sig)
                    .is_ok()
            }
            Raw::Ed(k) => UnparsedPublicKey::new(&signature::ED25519, k.public_key().as_ref())
                .verify(msg, sig)
                .is_ok(),
            Raw::Rsa(k) => UnparsedPublicKey::new(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                k.public_key().as_ref(),
            )
            .verify(msg, sig)
            .is_ok(),
        }
    }
}

fn bench(c: &mut Criterion) {
    let iss = "https://tr.example.com/t/acme";
    let aud = "https://rp.example.com/ssf";
    let claims = SetClaims::new(iss, Subject::for_stream("str_0190a0b0c0d0e0f0"))
        .audience(aud)
        .txn("evt_0190a0b0c0d0e0f00000000000000000")
        .event(
            "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
            json!({"initiating_entity": "policy", "reason_admin": {"en": "Landspeed Policy Violation"}, "event_timestamp": 1615304991}),
        );
    let exp = Expectations::new(iss, aud);
    let rng = SystemRandom::new();
    for alg in Alg::ALL {
        let key = match alg {
            Alg::Rs256 => SigningKey::from_pkcs8(alg, RSA_KEY).expect("rsa fixture"),
            _ => SigningKey::generate(alg).expect("generate"),
        };
        let jwks = Jwks::new(vec![key.public_jwk().clone()]);
        let raw = Raw::new(&key);
        let token = sign_set(&key, &claims).expect("sign_set");
        let (input, sig64) = token.rsplit_once('.').expect("compact");
        let sig = base64_decode(sig64);
        let mut group = c.benchmark_group(alg.as_str());
        group.bench_function("sign_set", |b| {
            b.iter(|| sign_set(&key, black_box(&claims)))
        });
        group.bench_function("ring_sign", |b| {
            b.iter(|| raw.sign(&rng, black_box(input.as_bytes())))
        });
        group.bench_function("validate_set", |b| {
            b.iter(|| validate_set(black_box(&token), &jwks, &exp))
        });
        group.bench_function("ring_verify", |b| {
            b.iter(|| raw.verify(black_box(input.as_bytes()), &sig))
        });
        group.finish();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64")
}

criterion_group!(benches, bench);
criterion_main!(benches);
