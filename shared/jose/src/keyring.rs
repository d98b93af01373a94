//! Sealing private keys at rest: AES-256-GCM (ring) under a master key from a keyring. The
//! sealed blob names the master key that sealed it, so master keys can be rotated: seal with
//! the current one, open with any known one, re-seal what [`MasterKeyring::needs_reseal`].
//! The AAD binds the purpose, the tenant and the object id, so a blob cannot be moved.

use std::fmt;
use std::str::FromStr;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sethub_domain::{SigningKeyId, TenantId};

use crate::{Alg, KeyError, SigningKey, b64};

const VERSION: &str = "v1";

/// A sealing or opening failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("the keyring needs at least one master key")]
    Empty,
    #[error("master key id `{0}` is invalid: use 1 to 64 of A-Z a-z 0-9 _ -")]
    BadId(String),
    #[error("master key id `{0}` appears twice")]
    DuplicateId(String),
    #[error("the sealed value was made with master key `{0}`, which this keyring does not hold")]
    UnknownMasterKey(String),
    #[error("the sealed value is not in the `v1.<master key>.<nonce>.<ciphertext>` form")]
    Malformed,
    #[error("the sealed value does not open: wrong key, wrong tenant or object, or tampered")]
    Open,
    #[error("the system random generator failed")]
    Random,
    #[error("the opened key is unusable: {0}")]
    Key(#[from] KeyError),
}

/// What a sealed value belongs to; becomes the AEAD additional data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealContext {
    purpose: String,
    tenant: TenantId,
    object: String,
}

impl SealContext {
    /// A value of `tenant` for `purpose` (e.g. `auth-header`), about `object` (e.g. a stream id).
    pub fn new(purpose: impl Into<String>, tenant: TenantId, object: impl Into<String>) -> Self {
        Self {
            purpose: purpose.into(),
            tenant,
            object: object.into(),
        }
    }

    /// The private key of a tenant's signing key.
    pub fn signing_key(tenant: TenantId, key: SigningKeyId) -> Self {
        Self::new("signing-key", tenant, key.to_string())
    }

    fn aad(&self, master_id: &str) -> Vec<u8> {
        format!(
            "sethub/{VERSION}\0{}\0{}\0{}\0{master_id}",
            self.purpose, self.tenant, self.object
        )
        .into_bytes()
    }
}

/// A sealed secret: `v1.<master key id>.<nonce>.<ciphertext and tag>` (base64url). Store it
/// as text; it reveals only which master key sealed it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKey {
    text: String,
    master_id_len: usize,
}

impl SealedKey {
    /// The stored text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The id of the master key that sealed it.
    pub fn master_key_id(&self) -> &str {
        &self.text[VERSION.len() + 1..VERSION.len() + 1 + self.master_id_len]
    }

    fn parts(&self) -> Result<(Vec<u8>, Vec<u8>), KeyringError> {
        let mut it = self.text.splitn(4, '.').skip(2);
        let nonce = it
            .next()
            .and_then(b64::decode)
            .ok_or(KeyringError::Malformed)?;
        let sealed = it
            .next()
            .and_then(b64::decode)
            .ok_or(KeyringError::Malformed)?;
        Ok((nonce, sealed))
    }
}

impl FromStr for SealedKey {
    type Err = KeyringError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('.').collect();
        let [version, id, nonce, sealed] = parts[..] else {
            return Err(KeyringError::Malformed);
        };
        if version != VERSION || !valid_id(id) {
            return Err(KeyringError::Malformed);
        }
        let nonce_ok = b64::decode(nonce).is_some_and(|n| n.len() == NONCE_LEN);
        let sealed_ok = b64::decode(sealed).is_some_and(|c| c.len() >= AES_256_GCM.tag_len());
        if !nonce_ok || !sealed_ok {
            return Err(KeyringError::Malformed);
        }
        Ok(Self {
            text: s.to_owned(),
            master_id_len: id.len(),
        })
    }
}

impl fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedKey(master key `{}`)", self.master_key_id())
    }
}

impl fmt::Display for SealedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for SealedKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for SealedKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The master keys: the first is current (seals), all of them open.
pub struct MasterKeyring {
    keys: Vec<(String, LessSafeKey)>,
    rng: SystemRandom,
}

impl fmt::Debug for MasterKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("MasterKeyring")
            .field("ids", &ids)
            .finish_non_exhaustive()
    }
}

impl MasterKeyring {
    /// A keyring from `(id, 32-byte key)` pairs, the current key first (the shape
    /// `sethub_app::master_key::load_master_keys` returns).
    pub fn new(keys: impl IntoIterator<Item = (String, [u8; 32])>) -> Result<Self, KeyringError> {
        let mut out: Vec<(String, LessSafeKey)> = Vec::new();
        for (id, bytes) in keys {
            if !valid_id(&id) {
                return Err(KeyringError::BadId(id));
            }
            if out.iter().any(|(known, _)| *known == id) {
                return Err(KeyringError::DuplicateId(id));
            }
            let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| KeyringError::Malformed)?;
            out.push((id, LessSafeKey::new(key)));
        }
        if out.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Self {
            keys: out,
            rng: SystemRandom::new(),
        })
    }

    /// The id of the current master key.
    pub fn current_id(&self) -> &str {
        self.keys
            .first()
            .map(|(id, _)| id.as_str())
            .unwrap_or_default()
    }

    /// Seals `plaintext` under the current master key with a random 96-bit nonce.
    pub fn seal(&self, ctx: &SealContext, plaintext: &[u8]) -> Result<SealedKey, KeyringError> {
        let (id, key) = self.keys.first().ok_or(KeyringError::Empty)?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| KeyringError::Random)?;
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(ctx.aad(id)),
            &mut buf,
        )
        .map_err(|_| KeyringError::Random)?;
        let text = format!(
            "{VERSION}.{id}.{}.{}",
            b64::encode(&nonce),
            b64::encode(&buf)
        );
        Ok(SealedKey {
            text,
            master_id_len: id.len(),
        })
    }

    /// Opens a value sealed under any master key of the keyring.
    pub fn open(&self, ctx: &SealContext, sealed: &SealedKey) -> Result<Vec<u8>, KeyringError> {
        let id = sealed.master_key_id();
        let (_, key) = self
            .keys
            .iter()
            .find(|(known, _)| known == id)
            .ok_or_else(|| KeyringError::UnknownMasterKey(id.to_owned()))?;
        let (nonce, mut buf) = sealed.parts()?;
        let nonce =
            Nonce::try_assume_unique_for_key(&nonce).map_err(|_| KeyringError::Malformed)?;
        let plain = key
            .open_in_place(nonce, Aad::from(ctx.aad(id)), &mut buf)
            .map_err(|_| KeyringError::Open)?;
        Ok(plain.to_vec())
    }

    /// Whether the value was sealed under an older master key.
    pub fn needs_reseal(&self, sealed: &SealedKey) -> bool {
        sealed.master_key_id() != self.current_id()
    }

    /// Opens and seals again under the current master key.
    pub fn reseal(&self, ctx: &SealContext, sealed: &SealedKey) -> Result<SealedKey, KeyringError> {
        self.seal(ctx, &self.open(ctx, sealed)?)
    }

    /// Seals a tenant's signing key.
    pub fn seal_signing_key(
        &self,
        tenant: TenantId,
        id: SigningKeyId,
        key: &SigningKey,
    ) -> Result<SealedKey, KeyringError> {
        self.seal(&SealContext::signing_key(tenant, id), key.pkcs8_der())
    }

    /// Opens a tenant's signing key (parse once, then keep the [`SigningKey`]).
    pub fn open_signing_key(
        &self,
        tenant: TenantId,
        id: SigningKeyId,
        alg: Alg,
        sealed: &SealedKey,
    ) -> Result<SigningKey, KeyringError> {
        let der = self.open(&SealContext::signing_key(tenant, id), sealed)?;
        Ok(SigningKey::from_pkcs8(alg, &der)?)
    }
}
