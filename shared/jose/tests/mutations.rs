//! A bounded, deterministic fuzz loop over the SET parser: mutated valid tokens and random
//! inputs must be refused (or accepted) without a panic. Complements `fuzz/` (cargo-fuzz).
// Test helpers outside #[test] functions unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use sethub_jose::{Alg, Expectations, validate_set};

/// xorshift64*: small, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ {}\"";

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = ALPHABET[rng.below(ALPHABET.len())];
            }
            1 => {
                let i = rng.below(out.len() + 1);
                out.truncate(i);
            }
            2 => {
                let i = rng.below(out.len() + 1);
                out.insert(i, ALPHABET[rng.below(ALPHABET.len())]);
            }
            3 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            4 => {
                let segment = b64(format!(
                    "{{\"alg\":\"{}\",\"typ\":\"secevent+jwt\"}}",
                    ["none", "ES256", "HS256", "EdDSA", "RS256"][rng.below(5)]
                )
                .as_bytes());
                out = [segment.as_bytes(), b".", &out].concat();
            }
            _ => out.extend_from_slice(b"."),
        }
    }
    out
}

#[test]
fn thousands_of_mutated_and_random_tokens_never_panic_the_validator() {
    let keys: Vec<_> = Alg::ALL.into_iter().map(key).collect();
    let jwks = jwks_of(&keys.iter().collect::<Vec<_>>());
    let exp = Expectations::new(
        "https://tr.example.com/t/acme",
        "https://rp.example.com/ssf",
    );
    let seeds: Vec<String> = keys
        .iter()
        .map(|k| {
            sign_raw(
                k,
                &set_header(k),
                &claims(
                    "https://tr.example.com/t/acme",
                    "https://rp.example.com/ssf",
                ),
            )
        })
        .collect();
    for s in &seeds {
        assert!(validate_set(s, &jwks, &exp).is_ok());
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for i in 0..3000 {
        let bytes = if i % 5 == 0 {
            (0..rng.below(300)).map(|_| rng.next() as u8).collect()
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, seed.as_bytes())
        };
        let text = String::from_utf8_lossy(&bytes);
        if validate_set(&text, &jwks, &exp).is_ok() {
            accepted += 1;
        }
    }
    // A mutation that still verifies must be one that left the signed bytes alone
    // (e.g. appended whitespace); most must be refused.
    assert!(accepted < 300, "{accepted} mutated tokens were accepted");
}
