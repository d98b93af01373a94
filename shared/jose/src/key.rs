//! Signing keys: generation, PKCS#8 import, the public JWK and its RFC 7638 `kid`. The parsed
//! ring key pair is kept, never re-parsed per token.

use std::fmt;

use ring::rand::SystemRandom;
use ring::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use ring::{hkdf, hmac};

use crate::{Alg, Jwk, KeySpec, b64};

/// A key that cannot be made or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("RSA keys are generated with 2048 or 3072 bits, not {0}")]
    RsaSize(u32),
    #[error("the system random generator failed")]
    Random,
    #[error("the {alg} key was rejected: {reason}")]
    Rejected { alg: Alg, reason: String },
    #[error("RSA keys need at least 2048 bits, this one has {0}")]
    RsaTooSmall(usize),
    #[error("signing failed")]
    Signing,
    #[error("refusing to sign: {0}")]
    InvalidSet(&'static str),
}

enum Pair {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A private signing key: algorithm, `kid` (the RFC 7638 thumbprint) and the parsed key pair.
pub struct SigningKey {
    alg: Alg,
    kid: String,
    pair: Pair,
    pkcs8: Vec<u8>,
    public: Jwk,
    rng: SystemRandom,
    /// The key of [`SigningKey::stable_id`]: derived from the private key, so only its holder
    /// can compute (or predict) the ids.
    id_key: hmac::Key,
    /// The encoded JOSE header of a SET signed with this key (constant per key).
    pub(crate) set_header_b64: String,
}

impl SigningKey {
    /// A fresh key of `alg` (RS256: 2048 bits). See [`SigningKey::generate_spec`].
    pub fn generate(alg: Alg) -> Result<Self, KeyError> {
        let spec = match alg {
            Alg::Es256 => KeySpec::Es256,
            Alg::EdDsa => KeySpec::EdDsa,
            Alg::Rs256 => KeySpec::Rs256 { bits: 2048 },
        };
        Self::generate_spec(spec)
    }

    /// A fresh key. ES256 and EdDSA keys come from ring; RSA keys from RustCrypto `rsa`
    /// (ring cannot generate them), exported as PKCS#8 and then parsed and used by ring like
    /// an imported key. RSA generation is CPU-bound for up to seconds (3072 bits): call this
    /// off the async runtime (`spawn_blocking`).
    pub fn generate_spec(spec: KeySpec) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let doc = match spec {
            KeySpec::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng),
            KeySpec::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng),
            KeySpec::Rs256 { bits } => return Self::generate_rsa(bits),
        }
        .map_err(|_| KeyError::Random)?;
        Self::from_pkcs8(spec.alg(), doc.as_ref())
    }

    fn generate_rsa(bits: u32) -> Result<Self, KeyError> {
        use rsa::pkcs8::EncodePrivateKey;
        if !crate::RSA_BITS.contains(&bits) {
            return Err(KeyError::RsaSize(bits));
        }
        let bits = usize::try_from(bits).map_err(|_| KeyError::RsaSize(bits))?;
        let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits).map_err(|e| {
            KeyError::Rejected {
                alg: Alg::Rs256,
                reason: e.to_string(),
            }
        })?;
        let der = private.to_pkcs8_der().map_err(|e| KeyError::Rejected {
            alg: Alg::Rs256,
            reason: e.to_string(),
        })?;
        Self::from_pkcs8(Alg::Rs256, der.as_bytes())
    }

    /// What kind of key this is (its algorithm and, for RS256, its size).
    pub fn spec(&self) -> KeySpec {
        match &self.pair {
            Pair::Ec(_) => KeySpec::Es256,
            Pair::Ed(_) => KeySpec::EdDsa,
            Pair::Rsa(pair) => KeySpec::Rs256 {
                bits: u32::try_from(pair.public().modulus_len() * 8).unwrap_or(u32::MAX),
            },
        }
    }

    /// Imports a PKCS#8 DER private key (for RS256, also PKCS#1 `RSAPrivateKey` DER, which is
    /// what OpenSSL 3 `genpkey -outform DER` writes).
    pub fn from_pkcs8(alg: Alg, der: &[u8]) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let rejected = |e: ring::error::KeyRejected| KeyError::Rejected {
            alg,
            reason: e.to_string(),
        };
        let (pair, public) = match alg {
            Alg::Es256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
                    .map_err(rejected)?;
                let public = Jwk::p256(pair.public_key().as_ref().to_vec());
                (Pair::Ec(pair), public)
            }
            Alg::EdDsa => {
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(rejected)?;
                let public = Jwk::ed25519(pair.public_key().as_ref().to_vec());
                (Pair::Ed(pair), public)
            }
            Alg::Rs256 => {
                let pair = RsaKeyPair::from_pkcs8(der)
                    .or_else(|_| RsaKeyPair::from_der(der))
                    .map_err(rejected)?;
                let bits = pair.public().modulus_len() * 8;
                if bits < 2048 {
                    return Err(KeyError::RsaTooSmall(bits));
                }
                let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                (Pair::Rsa(pair), Jwk::rsa(c.n, c.e))
            }
        };
        let kid = public.thumbprint();
        let public = Jwk {
            kid: Some(kid.clone()),
            alg: Some(alg.as_str().to_owned()),
            key_use: Some("sig".to_owned()),
            ..public
        };
        let header = format!(
            r#"{{"alg":"{}","typ":"{}","kid":"{kid}"}}"#,
            alg,
            crate::SET_TYP
        );
        Ok(Self {
            alg,
            kid,
            pair,
            pkcs8: der.to_vec(),
            public,
            rng,
            id_key: id_key(der),
            set_header_b64: b64::encode(header.as_bytes()),
        })
    }

    /// The algorithm.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The `kid`: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK, with `kid`, `alg` and `use: sig`.
    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    /// The private key as PKCS#8 DER, to seal it at rest ([`crate::keyring`]). Never log it.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// A 32-character lowercase hex id (128 bits) that is a stable function of `parts` under
    /// this key: the same parts give the same id every time, different parts (or another key)
    /// an unrelated one, and without the private key nobody can compute or guess it (HMAC-SHA256
    /// under a key derived from the private key by HKDF). The parts are length-prefixed, so no
    /// two different lists give the same input. Used for SET `jti`s that a repeated push must
    /// carry again.
    pub fn stable_id(&self, parts: &[&[u8]]) -> String {
        let mut ctx = hmac::Context::with_key(&self.id_key);
        for part in parts {
            let len = u64::try_from(part.len()).unwrap_or(u64::MAX);
            ctx.update(&len.to_be_bytes());
            ctx.update(part);
        }
        let tag = ctx.sign();
        tag.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Signs `message` (the JWS signing input) with this key.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Ec(pair) => pair
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Signing),
            Pair::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Pair::Rsa(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(|_| KeyError::Signing)?;
                Ok(sig)
            }
        }
    }
}

/// The HMAC key of [`SigningKey::stable_id`]: HKDF-SHA256 of the private key's PKCS#8 bytes
/// under a fixed salt and purpose.
fn id_key(pkcs8: &[u8]) -> hmac::Key {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"sethub-jose stable ids v1").extract(pkcs8);
    match prk.expand(&[b"set jti"], hmac::HMAC_SHA256) {
        Ok(okm) => hmac::Key::from(okm),
        // Only an output longer than 255 hash lengths fails; one hash length cannot.
        Err(_) => hmac::Key::new(hmac::HMAC_SHA256, pkcs8),
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}
