//! Building and signing SETs: the claims of the SSF profile (no `sub`, no `exp`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sethub_domain::subject::Subject;

use crate::{KeyError, SigningKey, jws};

/// The `aud` claim: one string or several.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// The audience values.
    pub fn values(&self) -> &[String] {
        match self {
            Self::One(a) => std::slice::from_ref(a),
            Self::Many(v) => v,
        }
    }
}

impl From<&str> for Audience {
    fn from(a: &str) -> Self {
        Self::One(a.to_owned())
    }
}

impl From<String> for Audience {
    fn from(a: String) -> Self {
        Self::One(a)
    }
}

impl From<Vec<String>> for Audience {
    fn from(v: Vec<String>) -> Self {
        Self::Many(v)
    }
}

/// The claims of a SET to sign. Build with [`SetClaims::new`] and the `with`-style setters;
/// serialized in the order `iss, iat, jti, aud, txn, toe, sub_id, events`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SetClaims {
    pub iss: String,
    pub iat: i64,
    pub jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toe: Option<i64>,
    pub sub_id: Subject,
    pub events: Map<String, Value>,
}

impl SetClaims {
    /// A SET from `iss` about `sub_id`, issued now, with a fresh random `jti`.
    pub fn new(iss: impl Into<String>, sub_id: Subject) -> Self {
        Self {
            iss: iss.into(),
            iat: Utc::now().timestamp(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            aud: None,
            txn: None,
            toe: None,
            sub_id,
            events: Map::new(),
        }
    }

    /// Sets `aud`.
    pub fn audience(mut self, aud: impl Into<Audience>) -> Self {
        self.aud = Some(aud.into());
        self
    }

    /// Sets `jti`.
    pub fn jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = jti.into();
        self
    }

    /// Sets `iat` (seconds since the epoch).
    pub fn iat(mut self, iat: i64) -> Self {
        self.iat = iat;
        self
    }

    /// Sets `iat` from a time.
    pub fn issued_at(self, at: DateTime<Utc>) -> Self {
        self.iat(at.timestamp())
    }

    /// Sets `txn` (sethub: the event id, shared by every SET made from one event).
    pub fn txn(mut self, txn: impl Into<String>) -> Self {
        self.txn = Some(txn.into());
        self
    }

    /// Sets `toe`, the time of the event (seconds since the epoch).
    pub fn toe(mut self, toe: i64) -> Self {
        self.toe = Some(toe);
        self
    }

    /// Adds an event (type URI → payload object).
    pub fn event(mut self, uri: impl Into<String>, payload: Value) -> Self {
        self.events.insert(uri.into(), payload);
        self
    }

    /// The claims as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Signs a SET: header `{"alg", "typ": "secevent+jwt", "kid"}`, compact serialization.
/// Refuses claims that no validator would accept (no events, an event that is not an object).
pub fn sign_set(key: &SigningKey, claims: &SetClaims) -> Result<String, KeyError> {
    if claims.events.is_empty() || !claims.events.values().all(Value::is_object) {
        return Err(KeyError::InvalidSet(
            "a SET needs at least one event, each a JSON object",
        ));
    }
    let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Signing)?;
    jws::sign_with_header(key, &key.set_header_b64, &payload)
}
