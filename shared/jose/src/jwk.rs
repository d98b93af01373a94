//! Public keys as JWK (RFC 7517) and JWK Sets, RFC 7638 thumbprints, and verification.

use ring::digest;
use ring::signature::{
    self, ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::{Alg, b64};

/// A JWK that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    #[error("the JWK is not a JSON object with a string `kty`")]
    NotAJwk,
    #[error("unsupported key type or curve `{0}` (supported: EC P-256, OKP Ed25519, RSA)")]
    Unsupported(String),
    #[error("the JWK holds private key material (`d`); a public JWK must not")]
    PrivateMaterial,
    #[error("JWK member `{0}` is missing or not valid base64url")]
    BadMember(&'static str),
    #[error("the RSA modulus has {0} bits; at least 2048 are required")]
    RsaTooSmall(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// The uncompressed SEC1 point `04 || x || y`.
    P256(Vec<u8>),
    Ed25519(Vec<u8>),
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

/// A public key as a JWK: the key, and the optional `kid`, `alg` and `use` members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The `alg` member as sent (may name an algorithm we do not support).
    pub alg: Option<String>,
    /// The `use` member (`sig` for signing keys).
    pub key_use: Option<String>,
    pub(crate) key: PublicKey,
}

impl Jwk {
    pub(crate) fn p256(point: Vec<u8>) -> Self {
        Self::bare(PublicKey::P256(point))
    }

    pub(crate) fn ed25519(x: Vec<u8>) -> Self {
        Self::bare(PublicKey::Ed25519(x))
    }

    pub(crate) fn rsa(n: Vec<u8>, e: Vec<u8>) -> Self {
        Self::bare(PublicKey::Rsa {
            n: strip_zeros(n),
            e: strip_zeros(e),
        })
    }

    fn bare(key: PublicKey) -> Self {
        Self {
            kid: None,
            alg: None,
            key_use: None,
            key,
        }
    }

    /// The `kty` value (`EC`, `OKP`, `RSA`).
    pub fn kty(&self) -> &'static str {
        match self.key {
            PublicKey::P256(_) => "EC",
            PublicKey::Ed25519(_) => "OKP",
            PublicKey::Rsa { .. } => "RSA",
        }
    }

    /// The algorithm this key's type is for.
    pub fn key_alg(&self) -> Alg {
        match self.key {
            PublicKey::P256(_) => Alg::Es256,
            PublicKey::Ed25519(_) => Alg::EdDsa,
            PublicKey::Rsa { .. } => Alg::Rs256,
        }
    }

    /// The spec of a key like this one (its algorithm and, for RSA, the modulus size in bits).
    pub fn spec(&self) -> crate::KeySpec {
        match &self.key {
            PublicKey::P256(_) => crate::KeySpec::Es256,
            PublicKey::Ed25519(_) => crate::KeySpec::EdDsa,
            PublicKey::Rsa { n, .. } => crate::KeySpec::Rs256 {
                bits: u32::try_from(n.len() * 8).unwrap_or(u32::MAX),
            },
        }
    }

    /// Whether this key may verify a signature made with `alg`: the key type must fit the
    /// algorithm, `alg` (if present) must name it and `use` (if present) must be `sig`.
    pub fn usable_for(&self, alg: Alg) -> bool {
        self.key_alg() == alg
            && self.alg.as_deref().is_none_or(|a| a == alg.as_str())
            && self.key_use.as_deref().is_none_or(|u| u == "sig")
    }

    /// The RFC 7638 thumbprint (SHA-256, base64url): sethub's `kid`.
    pub fn thumbprint(&self) -> String {
        let canonical = match &self.key {
            PublicKey::P256(point) => {
                let (x, y) = split_point(point);
                format!(
                    r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                    b64::encode(x),
                    b64::encode(y)
                )
            }
            PublicKey::Ed25519(x) => {
                format!(
                    r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                    b64::encode(x)
                )
            }
            PublicKey::Rsa { n, e } => {
                format!(
                    r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                    b64::encode(e),
                    b64::encode(n)
                )
            }
        };
        b64::encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// Verifies `signature` over `message`. The caller has checked [`Jwk::usable_for`].
    pub(crate) fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match &self.key {
            PublicKey::P256(point) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(message, sig)
                .is_ok(),
            PublicKey::Ed25519(x) => UnparsedPublicKey::new(&ED25519, x)
                .verify(message, sig)
                .is_ok(),
            PublicKey::Rsa { n, e } => signature::RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
        }
    }

    /// The JWK as JSON.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_owned(), Value::String(v));
        };
        put("kty", self.kty().to_owned());
        match &self.key {
            PublicKey::P256(point) => {
                let (x, y) = split_point(point);
                put("crv", "P-256".into());
                put("x", b64::encode(x));
                put("y", b64::encode(y));
            }
            PublicKey::Ed25519(x) => {
                put("crv", "Ed25519".into());
                put("x", b64::encode(x));
            }
            PublicKey::Rsa { n, e } => {
                put("n", b64::encode(n));
                put("e", b64::encode(e));
            }
        }
        if let Some(kid) = &self.kid {
            put("kid", kid.clone());
        }
        if let Some(alg) = &self.alg {
            put("alg", alg.clone());
        }
        if let Some(u) = &self.key_use {
            put("use", u.clone());
        }
        Value::Object(m)
    }

    /// Reads a public JWK.
    pub fn from_json(value: &Value) -> Result<Self, JwkError> {
        let obj = value.as_object().ok_or(JwkError::NotAJwk)?;
        let text = |k: &str| obj.get(k).and_then(Value::as_str);
        let bytes = |k: &'static str| text(k).and_then(b64::decode).ok_or(JwkError::BadMember(k));
        if obj.contains_key("d") {
            return Err(JwkError::PrivateMaterial);
        }
        let kty = text("kty").ok_or(JwkError::NotAJwk)?;
        let key = match (kty, text("crv")) {
            ("EC", Some("P-256")) => {
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != 32 {
                    return Err(JwkError::BadMember("x"));
                }
                if y.len() != 32 {
                    return Err(JwkError::BadMember("y"));
                }
                PublicKey::P256([&[4u8][..], &x, &y].concat())
            }
            ("OKP", Some("Ed25519")) => {
                let x = bytes("x")?;
                if x.len() != 32 {
                    return Err(JwkError::BadMember("x"));
                }
                PublicKey::Ed25519(x)
            }
            ("RSA", _) => {
                let (n, e) = (strip_zeros(bytes("n")?), strip_zeros(bytes("e")?));
                if n.len() * 8 < 2048 {
                    return Err(JwkError::RsaTooSmall(n.len() * 8));
                }
                if e.is_empty() || e.len() > 4 {
                    return Err(JwkError::BadMember("e"));
                }
                PublicKey::Rsa { n, e }
            }
            (kty, crv) => {
                return Err(JwkError::Unsupported(format!(
                    "{kty}{}",
                    crv.map(|c| format!("/{c}")).unwrap_or_default()
                )));
            }
        };
        Ok(Self {
            kid: text("kid").map(str::to_owned),
            alg: text("alg").map(str::to_owned),
            key_use: text("use").map(str::to_owned),
            key,
        })
    }
}

fn split_point(point: &[u8]) -> (&[u8], &[u8]) {
    let xy = point.get(1..).unwrap_or_default();
    xy.split_at(xy.len() / 2)
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

impl Serialize for Jwk {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Jwk {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Jwk::from_json(&Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A JWK Set. Deserializing skips keys it cannot use (RFC 7517 §5: ignore what you do not
/// understand); [`Jwks::skipped`] says how many were skipped.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
    skipped: usize,
}

impl Jwks {
    /// A set of these keys.
    pub fn new(keys: Vec<Jwk>) -> Self {
        Self { keys, skipped: 0 }
    }

    /// Reads `{"keys": [...]}`, skipping unusable keys.
    pub fn from_json(value: &Value) -> Result<Self, JwkError> {
        let list = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwkError::NotAJwk)?;
        let mut keys = Vec::with_capacity(list.len());
        for item in list {
            if let Ok(k) = Jwk::from_json(item) {
                keys.push(k);
            }
        }
        let skipped = list.len() - keys.len();
        Ok(Self { keys, skipped })
    }

    /// How many keys of the source document were skipped as unusable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }

    /// The JWKS document.
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "keys": self.keys.iter().map(Jwk::to_json).collect::<Vec<_>>() })
    }
}

impl Serialize for Jwks {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Jwks {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Jwks::from_json(&Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}
