//! The SETs fan-out signs: one per (event, stream), and the SSF stream-level SETs
//! (verification, stream-updated) whose subject is the stream itself.

use chrono::Utc;
use serde_json::{Map, Value, json};
use sethub_bus::AcceptedEvent;
use sethub_domain::events::{STREAM_UPDATED, VERIFICATION};
use sethub_domain::subject::{ParseMode, Subject};
use sethub_jose::{Audience, KeyError, SetClaims, SigningKey, sign_jws, sign_set};
use sethub_store::Stream;

/// A signed SET and its `jti`.
#[derive(Debug, Clone)]
pub struct SignedSet {
    pub jti: String,
    pub token: String,
}

fn audience(stream: &Stream) -> Audience {
    match stream.aud.as_slice() {
        [one] => Audience::One(one.clone()),
        many => Audience::Many(many.to_vec()),
    }
}

/// The event's payloads that `stream` takes (`events_delivered`), or `None` when it takes
/// none of them.
pub fn delivered_events(event: &AcceptedEvent, stream: &Stream) -> Option<Map<String, Value>> {
    let all = &event.events;
    let picked: Map<String, Value> = all
        .iter()
        .filter(|(uri, _)| stream.events_delivered.iter().any(|d| d == *uri))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!picked.is_empty()).then_some(picked)
}

/// The event's subject (validated at ingest).
pub fn event_subject(event: &AcceptedEvent) -> Option<Subject> {
    Subject::parse(event.sub_id.as_ref()?, ParseMode::Receiving).ok()
}

/// The SET of `event` for `stream`: `iss` the tenant's issuer, `aud` the stream's audience,
/// a fresh `jti`, `txn` the event's (the event id, or an upstream SET's `txn`), the event's
/// `toe` and `sub_id`, and the events the stream takes.
pub fn event_set(
    key: &SigningKey,
    issuer: &str,
    stream: &Stream,
    event: &AcceptedEvent,
    subject: &Subject,
    events: Map<String, Value>,
) -> Result<SignedSet, KeyError> {
    let mut claims = SetClaims::new(issuer, subject.clone())
        .audience(audience(stream))
        .txn(
            event
                .txn
                .clone()
                .unwrap_or_else(|| event.event_id.to_string()),
        );
    if let Some(toe) = event.toe {
        claims = claims.toe(toe);
    }
    claims.events = events;
    sign(key, claims)
}

/// An SSF verification SET (SSF §8): `sub_id` the stream, `state` echoed when given.
pub fn verification_set(
    key: &SigningKey,
    issuer: &str,
    stream: &Stream,
    state: Option<&str>,
) -> Result<SignedSet, KeyError> {
    let payload = match state {
        Some(s) => json!({ "state": s }),
        None => json!({}),
    };
    let claims = SetClaims::new(issuer, Subject::for_stream(stream.id.to_string()))
        .audience(audience(stream))
        .event(VERIFICATION, payload);
    sign(key, claims)
}

/// An SSF stream-updated SET (SSF §6.1): the stream's new `status` and the `reason`.
pub fn stream_updated_set(
    key: &SigningKey,
    issuer: &str,
    stream: &Stream,
    status: &str,
    reason: Option<&str>,
) -> Result<SignedSet, KeyError> {
    let mut payload = json!({ "status": status });
    if let Some(r) = reason {
        payload["reason"] = Value::from(r);
    }
    let claims = SetClaims::new(issuer, Subject::for_stream(stream.id.to_string()))
        .audience(audience(stream))
        .event(STREAM_UPDATED, payload);
    sign(key, claims)
}

fn sign(key: &SigningKey, claims: SetClaims) -> Result<SignedSet, KeyError> {
    let claims = claims.issued_at(Utc::now());
    let token = sign_set(key, &claims)?;
    Ok(SignedSet {
        jti: claims.jti,
        token,
    })
}

/// The same SET signed again with `key` (after a receiver answered `jws_signature_failed`):
/// the same claims with a fresh `jti` and `iat`.
pub fn resign(key: &SigningKey, token: &str) -> Result<SignedSet, KeyError> {
    let payload = token.split('.').nth(1).ok_or(KeyError::Signing)?;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
        .map_err(|_| KeyError::Signing)?;
    let mut claims: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| KeyError::Signing)?;
    let jti = uuid::Uuid::new_v4().simple().to_string();
    claims.insert("jti".into(), Value::from(jti.clone()));
    claims.insert("iat".into(), Value::from(Utc::now().timestamp()));
    let bytes = serde_json::to_vec(&claims).map_err(|_| KeyError::Signing)?;
    let token = sign_jws(key, Some(sethub_jose::SET_TYP), &bytes)?;
    Ok(SignedSet { jti, token })
}
