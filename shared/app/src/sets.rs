//! The SETs fan-out signs: one per (event, stream), and the SSF stream-level SETs
//! (verification, stream-updated) whose subject is the stream itself.

use chrono::Utc;
use serde_json::{Map, Value, json};
use sethub_bus::AcceptedEvent;
use sethub_domain::events::{STREAM_UPDATED, VERIFICATION};
use sethub_domain::subject::{ParseMode, Subject};
use sethub_domain::{EventId, StreamId};
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

/// The `jti` of the SET of `event` for `stream` in `generation` (fan-out's first SETs are
/// generation 0, a replay's the replay's generation): a stable function of the three under
/// the signing key ([`SigningKey::stable_id`]). So a SET made again for the same cause (the
/// bus message redelivered after a crash, before its deliveries were stored) carries the same
/// `jti`, and a receiver can drop the repeat; yet no outsider can predict one.
pub fn event_jti(key: &SigningKey, stream: StreamId, event: EventId, generation: i64) -> String {
    key.stable_id(&[
        b"event",
        stream.as_uuid().as_bytes(),
        event.as_uuid().as_bytes(),
        &generation.to_be_bytes(),
    ])
}

/// The `jti` of a SET signed again (after `jws_signature_failed`): a stable function of the
/// first `jti` under the (perhaps new) key, and never the first one: the re-sign is the next
/// generation of that SET.
pub fn resigned_jti(key: &SigningKey, first_jti: &str) -> String {
    key.stable_id(&[b"resigned", first_jti.as_bytes()])
}

/// The SET of `event` for `stream`: `iss` the tenant's issuer, `aud` the stream's audience,
/// `jti` [`event_jti`] of generation 0, `txn` the event's (the event id, or an upstream SET's
/// `txn`), the event's `toe` and `sub_id`, and the events the stream takes.
pub fn event_set(
    key: &SigningKey,
    issuer: &str,
    stream: &Stream,
    event: &AcceptedEvent,
    subject: &Subject,
    events: Map<String, Value>,
) -> Result<SignedSet, KeyError> {
    event_set_of_generation(key, issuer, stream, event, subject, events, 0)
}

/// [`event_set`] for a later generation of the stream's SETs of the event (a replay).
pub fn event_set_of_generation(
    key: &SigningKey,
    issuer: &str,
    stream: &Stream,
    event: &AcceptedEvent,
    subject: &Subject,
    events: Map<String, Value>,
    generation: i64,
) -> Result<SignedSet, KeyError> {
    let mut claims = SetClaims::new(issuer, subject.clone())
        .jti(event_jti(key, stream.id, event.event_id, generation))
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

/// An SSF verification SET (SSF §8): `sub_id` the stream, `state` echoed when given; a
/// random `jti` (each request is a cause of its own).
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
    sign(key, own_cause(claims))
}

/// An SSF stream-updated SET (SSF §6.1): the stream's new `status` and the `reason`; a
/// random `jti` (each change is a cause of its own).
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
    sign(key, own_cause(claims))
}

/// A SET that is its own cause (a verification request, a status change) gets a `txn` of its
/// own (SSF §1 SHOULD): its first `jti`, which a re-sign keeps as `txn` while the `jti` moves
/// on, so every SET of one cause carries one `txn` and no other cause shares it.
fn own_cause(claims: SetClaims) -> SetClaims {
    let txn = claims.jti.clone();
    claims.txn(txn)
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
/// the same claims with the next generation's `jti` ([`resigned_jti`]) and a new `iat`.
pub fn resign(key: &SigningKey, token: &str) -> Result<SignedSet, KeyError> {
    let payload = token.split('.').nth(1).ok_or(KeyError::Signing)?;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
        .map_err(|_| KeyError::Signing)?;
    let mut claims: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| KeyError::Signing)?;
    let jti = match claims.get("jti").and_then(Value::as_str) {
        Some(first) => resigned_jti(key, first),
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    claims.insert("jti".into(), Value::from(jti.clone()));
    claims.insert("iat".into(), Value::from(Utc::now().timestamp()));
    let bytes = serde_json::to_vec(&claims).map_err(|_| KeyError::Signing)?;
    let token = sign_jws(key, Some(sethub_jose::SET_TYP), &bytes)?;
    Ok(SignedSet { jti, token })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sethub_domain::{ReceiverId, TenantId};
    use sethub_jose::Alg;

    const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

    fn stream() -> Stream {
        let now = Utc::now();
        Stream {
            id: StreamId::new(),
            tenant_id: TenantId::new(),
            receiver_id: ReceiverId::new(),
            aud: vec!["cid_x".into()],
            delivery_method: sethub_domain::DeliveryMethod::Push,
            endpoint_url: Some("https://rx.example.com/set".into()),
            authorization_sealed: None,
            events_requested: None,
            events_delivered: vec![REVOKED.into()],
            description: None,
            status: sethub_domain::StreamStatus::Enabled,
            status_reason: None,
            status_set_by: sethub_domain::StatusActor::Receiver,
            min_verification_interval: 0,
            inactivity_timeout: None,
            last_verification_at: None,
            last_activity_at: now,
            created_at: now,
            updated_at: now,
            delivery_settings: None,
        }
    }

    fn event() -> AcceptedEvent {
        AcceptedEvent {
            event_id: EventId::new(),
            received_at: Utc::now(),
            sub_id: Some(json!({"format": "email", "email": "a@example.com"})),
            events: [(REVOKED.to_owned(), json!({"event_timestamp": 1}))]
                .into_iter()
                .collect(),
            toe: None,
            streams_version: None,
            txn: None,
            maybe_announced: false,
        }
    }

    fn sign_event(key: &SigningKey, s: &Stream, e: &AcceptedEvent, generation: i64) -> SignedSet {
        let subject = event_subject(e).unwrap();
        let picked = delivered_events(e, s).unwrap();
        event_set_of_generation(key, "https://hub/t/a", s, e, &subject, picked, generation).unwrap()
    }

    fn claims(token: &str) -> Value {
        let payload = token.split('.').nth(1).unwrap();
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn signing_the_same_event_for_the_same_stream_again_gives_the_same_jti() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let (s, e) = (stream(), event());
        let first = sign_event(&key, &s, &e, 0);
        // A crash: the bus message is redelivered and the event signed again.
        let again = sign_event(&key, &s, &e, 0);
        assert_eq!(first.jti, again.jti);
        assert_eq!(claims(&first.token)["jti"], first.jti.as_str());
        assert_eq!(claims(&again.token)["jti"], first.jti.as_str());
        // `event_set` is generation 0.
        let subject = event_subject(&e).unwrap();
        let plain = event_set(
            &key,
            "https://hub/t/a",
            &s,
            &e,
            &subject,
            delivered_events(&e, &s).unwrap(),
        )
        .unwrap();
        assert_eq!(plain.jti, first.jti);
        // The same 32-hex shape as a random one.
        assert_eq!(first.jti.len(), 32);
        assert!(
            first
                .jti
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn another_stream_event_generation_or_key_gives_another_jti() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let (s, e) = (stream(), event());
        let base = sign_event(&key, &s, &e, 0).jti;
        let other_stream = sign_event(&key, &stream(), &e, 0).jti;
        let other_event = sign_event(&key, &s, &event(), 0).jti;
        let replay = sign_event(&key, &s, &e, 1_765_000_000_000_000).jti;
        let other_key = sign_event(&SigningKey::generate(Alg::Es256).unwrap(), &s, &e, 0).jti;
        let all = [&base, &other_stream, &other_event, &replay, &other_key];
        let distinct: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len(), "{all:?}");
        // Nobody without the private key computes it: the same inputs under another key of
        // the same kid-less shape give another id, and the id is not the plain inputs.
        assert_ne!(base, s.id.as_uuid().simple().to_string());
        assert_ne!(base, e.event_id.as_uuid().simple().to_string());
    }

    #[test]
    fn a_resigned_set_gets_the_next_generations_jti_stably() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let (s, e) = (stream(), event());
        let first = sign_event(&key, &s, &e, 0);
        let resigned = resign(&key, &first.token).unwrap();
        assert_ne!(resigned.jti, first.jti, "a re-sign is a new SET");
        assert_eq!(claims(&resigned.token)["jti"], resigned.jti.as_str());
        assert_eq!(resign(&key, &first.token).unwrap().jti, resigned.jti);
        // After a key change the re-signed SET's jti is the new key's.
        let new_key = SigningKey::generate(Alg::Es256).unwrap();
        assert_ne!(resign(&new_key, &first.token).unwrap().jti, resigned.jti);
        // The claims are otherwise the same.
        let (a, b) = (claims(&first.token), claims(&resigned.token));
        assert_eq!(
            (a["txn"].clone(), a["sub_id"].clone(), a["events"].clone()),
            (b["txn"].clone(), b["sub_id"].clone(), b["events"].clone())
        );
    }

    #[test]
    fn verification_and_stream_updated_sets_get_a_jti_and_a_txn_per_cause() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        let s = stream();
        let v1 = verification_set(&key, "https://hub/t/a", &s, Some("x")).unwrap();
        let v2 = verification_set(&key, "https://hub/t/a", &s, Some("x")).unwrap();
        let u1 = stream_updated_set(&key, "https://hub/t/a", &s, "paused", None).unwrap();
        let u2 = stream_updated_set(&key, "https://hub/t/a", &s, "paused", None).unwrap();
        let all = [&v1.jti, &v2.jti, &u1.jti, &u2.jti];
        let distinct: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), 4, "{all:?}");
        // Each carries a txn of its own, kept when the SET is signed again.
        let txns: std::collections::HashSet<String> = [&v1, &v2, &u1, &u2]
            .iter()
            .map(|set| claims(&set.token)["txn"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(txns.len(), 4, "{txns:?}");
        let again = resign(&key, &u1.token).unwrap();
        assert_eq!(claims(&again.token)["txn"], claims(&u1.token)["txn"]);
    }
}
