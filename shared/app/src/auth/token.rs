//! Receiver access tokens: short-lived bearer tokens issued by a tenant's token endpoint
//! (OAuth 2.0 client credentials) for the SSF stream API and the poll endpoint.
//!
//! A token is `sat1.<master key id>.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>`, keyed
//! by a key derived (HKDF) from a master key, so every instance can check it without a lookup
//! and without shared state. It carries no `events` claim, no `typ` and is not a JWT, so it can
//! never be confused with a SET or an ID token (RFC 8417 §4). Rotating the master key keeps
//! older tokens valid until they expire (they name the key that made them).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::{hkdf, hmac};
use serde::{Deserialize, Serialize};

const PREFIX: &str = "sat1";
const HKDF_SALT: &[u8] = b"sethub access token salt v1";
const HKDF_INFO: &[u8] = b"sethub access token v1";

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// Tenant id (`tnt_…`).
    pub tnt: String,
    /// Receiver id (`rcv_…`).
    pub rcv: String,
    /// Granted scopes, space separated (OAuth style).
    pub scope: String,
    /// Issued at and expiry, seconds since the epoch.
    pub iat: i64,
    pub exp: i64,
}

impl TokenClaims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

/// Why a token is not accepted (all map to 401 `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is malformed")]
    Malformed,
    #[error("the access token was not issued by this hub (bad signature or unknown key)")]
    BadSignature,
    #[error("the access token has expired")]
    Expired,
}

/// Issues and checks access tokens with keys derived from the master keys.
#[derive(Clone)]
pub struct TokenKeys {
    /// `(master key id, HMAC key)`; the first issues.
    keys: Vec<(String, hmac::Key)>,
}

struct HmacLen;

impl hkdf::KeyType for HmacLen {
    fn len(&self) -> usize {
        32
    }
}

impl TokenKeys {
    pub fn new(master_keys: &[(String, [u8; 32])]) -> Self {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT);
        let keys = master_keys
            .iter()
            .filter_map(|(id, secret)| {
                let prk = salt.extract(secret);
                let okm = prk.expand(&[HKDF_INFO], HmacLen).ok()?;
                let mut bytes = [0u8; 32];
                okm.fill(&mut bytes).ok()?;
                Some((id.clone(), hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
            })
            .collect();
        Self { keys }
    }

    /// A signed token for `claims`; `None` only when no master key is configured.
    pub fn issue(&self, claims: &TokenClaims) -> Option<String> {
        let (kid, key) = self.keys.first()?;
        let payload = B64.encode(serde_json::to_vec(claims).ok()?);
        let signing_input = format!("{PREFIX}.{kid}.{payload}");
        let tag = hmac::sign(key, signing_input.as_bytes());
        Some(format!("{signing_input}.{}", B64.encode(tag.as_ref())))
    }

    /// Checks the signature and expiry (`now` in seconds since the epoch).
    pub fn verify(&self, token: &str, now: i64) -> Result<TokenClaims, TokenError> {
        if token.len() > 4096 {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(prefix), Some(kid), Some(payload), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Malformed);
        };
        if prefix != PREFIX {
            return Err(TokenError::Malformed);
        }
        let key = self
            .keys
            .iter()
            .find(|(id, _)| id == kid)
            .map(|(_, k)| k)
            .ok_or(TokenError::BadSignature)?;
        let tag = B64.decode(tag).map_err(|_| TokenError::Malformed)?;
        let signing_input =
            &token[..token.len() - token.rsplit('.').next().map_or(0, str::len) - 1];
        hmac::verify(key, signing_input.as_bytes(), &tag).map_err(|_| TokenError::BadSignature)?;
        let claims: TokenClaims =
            serde_json::from_slice(&B64.decode(payload).map_err(|_| TokenError::Malformed)?)
                .map_err(|_| TokenError::Malformed)?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> TokenClaims {
        TokenClaims {
            tnt: "tnt_a".into(),
            rcv: "rcv_b".into(),
            scope: "ssf.manage ssf.poll".into(),
            iat: 0,
            exp,
        }
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let keys = TokenKeys::new(&[("k1".into(), [7; 32])]);
        let t = keys.issue(&claims(100)).unwrap();
        assert!(t.starts_with("sat1.k1."));
        let c = keys.verify(&t, 99).unwrap();
        assert!(c.has_scope("ssf.poll") && !c.has_scope("ssf"));
        assert_eq!(keys.verify(&t, 100), Err(TokenError::Expired));
    }

    #[test]
    fn a_tampered_or_foreign_token_is_refused() {
        let keys = TokenKeys::new(&[("k1".into(), [7; 32])]);
        let other = TokenKeys::new(&[("k1".into(), [8; 32])]);
        let t = keys.issue(&claims(100)).unwrap();
        assert_eq!(other.verify(&t, 0), Err(TokenError::BadSignature));
        let mut forged = claims(100);
        forged.tnt = "tnt_other".into();
        let parts: Vec<&str> = t.split('.').collect();
        let swapped = format!(
            "{}.{}.{}.{}",
            parts[0],
            parts[1],
            B64.encode(serde_json::to_vec(&forged).unwrap()),
            parts[3]
        );
        assert_eq!(keys.verify(&swapped, 0), Err(TokenError::BadSignature));
        for junk in [
            "",
            "sat1",
            "a.b.c.d",
            "sat1.k1.%%%.xx",
            "sat1.k1.e30.AAAA.extra",
        ] {
            assert!(keys.verify(junk, 0).is_err(), "{junk}");
        }
    }

    #[test]
    fn tokens_made_with_a_retired_master_key_still_verify_after_rotation() {
        let old = TokenKeys::new(&[("k1".into(), [1; 32])]);
        let t = old.issue(&claims(100)).unwrap();
        let rotated = TokenKeys::new(&[("k2".into(), [2; 32]), ("k1".into(), [1; 32])]);
        assert!(rotated.verify(&t, 0).is_ok());
        assert!(rotated.issue(&claims(100)).unwrap().starts_with("sat1.k2."));
    }
}
