//! The secrets sethub hands out once and stores only hashed.
//!
//! - API key: `sh_{tenant uuid, 32 hex}_{43 base64url chars = 32 random bytes}`. The tenant is
//!   inside, so a key is checked through that tenant's scope (row-level security makes a
//!   lookup across tenants impossible) without knowing the slug. Stored: SHA-256 hex of the
//!   whole key, plus a display prefix (`sh_{hex}_{first 4}`) too short to use.
//! - Client secret: 43 base64url chars (32 random bytes); stored: SHA-256 hex. Both are
//!   high-entropy, so a fast hash is enough (no password hashing needed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use sethub_domain::TenantId;

const API_KEY_PREFIX: &str = "sh_";
const RANDOM_CHARS: usize = 43;
/// Length of a well-formed API key.
pub const API_KEY_LEN: usize = API_KEY_PREFIX.len() + 32 + 1 + RANDOM_CHARS;

/// The random generator failed (never expected; the operation is refused).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RandomFailed;

/// 32 random bytes as 43 base64url characters.
pub fn random_token() -> Result<String, RandomFailed> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RandomFailed)?;
    Ok(B64.encode(bytes))
}

/// A receiver's client id: `cid_` and 32 random hex digits (not secret).
pub fn client_id() -> Result<String, RandomFailed> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RandomFailed)?;
    Ok(format!(
        "cid_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// SHA-256 of `secret`, lowercase hex: what the store keeps.
pub fn sha256_hex(secret: &str) -> String {
    digest::digest(&digest::SHA256, secret.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A freshly made API key: the secret (shown once), its hash and its display prefix.
pub struct MintedApiKey {
    pub secret: String,
    pub hash: String,
    pub prefix: String,
}

impl std::fmt::Debug for MintedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedApiKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Makes a new API key of `tenant`.
pub fn mint_api_key(tenant: TenantId) -> Result<MintedApiKey, RandomFailed> {
    let hex = tenant.as_uuid().simple().to_string();
    let random = random_token()?;
    let secret = format!("{API_KEY_PREFIX}{hex}_{random}");
    Ok(MintedApiKey {
        hash: sha256_hex(&secret),
        prefix: format!("{API_KEY_PREFIX}{hex}_{}", &random[..4]),
        secret,
    })
}

/// The tenant an API key claims to belong to, if the key is well formed.
pub fn api_key_tenant(presented: &str) -> Option<TenantId> {
    if presented.len() != API_KEY_LEN || !presented.is_ascii() {
        return None;
    }
    let rest = presented.strip_prefix(API_KEY_PREFIX)?;
    let (hex, random) = rest.split_at(32);
    let random = random.strip_prefix('_')?;
    let b64_ok = random
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !b64_ok || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    format!("{}_{hex}", TenantId::PREFIX).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_key_carries_its_tenant_and_is_stored_as_its_hash() {
        let tenant = TenantId::new();
        let key = mint_api_key(tenant).unwrap();
        assert_eq!(key.secret.len(), API_KEY_LEN);
        assert_eq!(api_key_tenant(&key.secret), Some(tenant));
        assert_eq!(key.hash, sha256_hex(&key.secret));
        assert_eq!(key.hash.len(), 64);
        assert!(key.secret.starts_with(&key.prefix));
        assert!(!format!("{key:?}").contains(&key.secret));
    }

    #[test]
    fn malformed_api_keys_name_no_tenant() {
        let good = mint_api_key(TenantId::new()).unwrap().secret;
        for bad in [
            String::new(),
            good[1..].to_owned(),
            format!("{good}x"),
            good.replacen("sh_", "sk_", 1),
            good.to_uppercase(),
            format!("{}!{}", &good[..36], &good[37..]),
        ] {
            assert_eq!(api_key_tenant(&bad), None, "{bad}");
        }
    }

    #[test]
    fn random_tokens_are_43_url_safe_characters() {
        let t = random_token().unwrap();
        assert_eq!(t.len(), 43);
        assert!(B64.decode(&t).unwrap().len() == 32);
    }
}
