//! A publish request parsed once, at the edge, into what ingest stores: the subject, the one
//! event and the optional `txn` and `toe`. Every refusal is a 400 naming the field.
//!
//! One event type per request: SSF 1.0 says a SET SHOULD carry exactly one event (several only
//! when they are aliases of one another). sethub takes the simple side of that SHOULD and
//! refuses two or more; publish each type as its own event.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sethub_domain::Profile;
use sethub_domain::events::{check_subject, validate_events};
use sethub_domain::subject::{ParseMode, Subject};
use sethub_http::{ApiError, nul};

/// Claims sethub sets on every SET it issues; a publisher may not send them.
const RESERVED: [&str; 6] = ["iss", "iat", "jti", "aud", "sub", "exp"];
/// The members a publish request may have.
const MEMBERS: [&str; 4] = ["sub_id", "events", "txn", "toe"];

/// A valid publish request.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishRequest {
    pub subject: Subject,
    /// The event type URI (the one key of `events`).
    pub event_type: String,
    pub txn: Option<String>,
    pub toe: Option<DateTime<Utc>>,
    /// The object as published: stored as the event's payload, and compared with a repeat
    /// under the same `Idempotency-Key`.
    pub body: Value,
}

fn backticked(names: &[&String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuses the transmitter's own claims, then any other member not in [`MEMBERS`].
fn check_members(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let reserved: Vec<&String> = obj
        .keys()
        .filter(|k| RESERVED.contains(&k.as_str()))
        .collect();
    if let Some(first) = reserved.first() {
        return Err(ApiError::invalid(
            first.as_str(),
            format!(
                "{} must not be sent: `iss`, `iat`, `jti`, `aud`, `sub` and `exp` are the \
                 transmitter's claims, and sethub sets them (or leaves them out) on every SET \
                 it issues",
                backticked(&reserved)
            ),
        ));
    }
    let unknown: Vec<&String> = obj
        .keys()
        .filter(|k| !MEMBERS.contains(&k.as_str()))
        .collect();
    if let Some(first) = unknown.first() {
        return Err(ApiError::invalid(
            first.as_str(),
            format!(
                "unknown member(s) {}; a publish request has `sub_id`, `events`, and \
                 optionally `txn` and `toe`",
                backticked(&unknown)
            ),
        ));
    }
    Ok(())
}

fn present<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

fn required<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a Value, ApiError> {
    present(obj, name).ok_or_else(|| ApiError::invalid(name, format!("`{name}` is required")))
}

fn parse_toe(v: &Value) -> Result<DateTime<Utc>, ApiError> {
    v.as_i64()
        .filter(|secs| *secs >= 0)
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or_else(|| {
            ApiError::invalid(
                "toe",
                "`toe` must be a non-negative integer (seconds since the epoch)",
            )
        })
}

fn parse_txn(v: &Value) -> Result<String, ApiError> {
    match v.as_str() {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(ApiError::invalid("txn", "`txn` must be a non-empty string")),
    }
}

impl PublishRequest {
    /// Parses one publish request (the body of `POST /t/{slug}/events`, or one item of a
    /// batch); every list inside `sub_id` at most `max_list_items` long (the tenant's quota).
    pub fn parse(obj: Map<String, Value>, max_list_items: usize) -> Result<Self, ApiError> {
        check_members(&obj)?;
        // PostgreSQL's `jsonb` cannot store a NUL: the client's error, not a failed insert.
        if let Some(at) = nul::in_members(&obj) {
            return Err(ApiError::invalid(at, nul::NUL_REFUSED));
        }
        let subject = Subject::parse_limited(
            required(&obj, "sub_id")?,
            ParseMode::Issuing,
            "sub_id",
            max_list_items,
        )
        .map_err(|e| ApiError::invalid(e.path, e.problem))?;
        let events = required(&obj, "events")?;
        if let Some(types) = events.as_object().filter(|m| m.len() > 1) {
            let names: Vec<&String> = types.keys().collect();
            return Err(ApiError::invalid(
                "events",
                format!(
                    "exactly one event type per event (SSF 1.0); found {}: publish each as \
                     its own event",
                    backticked(&names)
                ),
            ));
        }
        validate_events(events).map_err(|e| ApiError::invalid(e.path, e.problem))?;
        let event_type = events
            .as_object()
            .and_then(|m| m.keys().next())
            .cloned()
            .ok_or_else(|| ApiError::invalid("events", "must contain one event"))?;
        check_subject(&event_type, &subject).map_err(|e| ApiError::invalid(e.path, e.problem))?;
        let txn = present(&obj, "txn").map(parse_txn).transpose()?;
        let toe = present(&obj, "toe").map(parse_toe).transpose()?;
        Ok(Self {
            subject,
            event_type,
            txn,
            toe,
            body: Value::Object(obj),
        })
    }
}

impl PublishRequest {
    /// The rules of the tenant's interoperability profile beyond the standards: under the CAEP
    /// interoperability profile, `session-revoked` and `credential-change` carry a non-empty
    /// `reason_admin` (a language map with at least one non-empty message). A 400 naming
    /// `events.<type>.reason_admin` otherwise; without a profile nothing more is asked.
    pub fn check_profile(&self, profile: Option<Profile>) -> Result<(), ApiError> {
        let Some(profile) = profile else {
            return Ok(());
        };
        if !profile.requires_reason_admin(&self.event_type) {
            return Ok(());
        }
        let reason = self
            .body
            .get("events")
            .and_then(|e| e.get(&self.event_type))
            .and_then(|e| e.get("reason_admin"));
        let filled = reason.and_then(Value::as_object).is_some_and(|m| {
            m.values()
                .any(|v| v.as_str().is_some_and(|s| !s.trim().is_empty()))
        });
        if filled {
            return Ok(());
        }
        Err(ApiError::invalid(
            format!("events.{}.reason_admin", self.event_type),
            format!(
                "the {profile} profile requires a non-empty `reason_admin` (e.g. {{\"en\": \
                 \"…\"}}) on this event type"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

    fn parse(v: Value) -> Result<PublishRequest, ApiError> {
        let Value::Object(m) = v else {
            panic!("not an object")
        };
        PublishRequest::parse(m, sethub_domain::subject::MAX_LIST_ITEMS)
    }

    #[test]
    fn a_minimal_request_parses_into_its_subject_and_event_type() {
        let r = parse(json!({
            "sub_id": {"format": "email", "email": "a@example.com"},
            "events": {REVOKED: {}},
            "txn": "t-1",
            "toe": 1_700_000_000
        }))
        .unwrap();
        assert_eq!(r.event_type, REVOKED);
        assert_eq!(r.subject.format(), "email");
        assert_eq!(r.txn.as_deref(), Some("t-1"));
        assert_eq!(r.toe.unwrap().timestamp(), 1_700_000_000);
    }

    #[test]
    fn a_negative_or_fractional_toe_and_an_empty_txn_are_refused() {
        let base = |k: &str, v: Value| {
            let mut o = json!({"sub_id": {"format": "opaque", "id": "x"}, "events": {REVOKED: {}}});
            o[k] = v;
            parse(o).unwrap_err().detail().to_owned()
        };
        assert!(base("toe", json!(-1)).contains("toe"));
        assert!(base("toe", json!(1.5)).contains("toe"));
        assert!(base("txn", json!("")).contains("txn"));
    }

    #[test]
    fn the_caep_interop_profile_refuses_a_missing_or_empty_reason_admin_on_its_two_types_only() {
        const CHANGE: &str =
            "https://schemas.openid.net/secevent/caep/event-type/credential-change";
        const CLAIMS: &str =
            "https://schemas.openid.net/secevent/caep/event-type/token-claims-change";
        let profile = Some(Profile::CaepInterop);
        let request = |ty: &str, event: Value| {
            parse(json!({"sub_id": {"format": "opaque", "id": "x"}, "events": {ty: event}}))
                .unwrap()
        };
        let change = json!({"credential_type": "password", "change_type": "update"});
        for (ty, event) in [
            (REVOKED, json!({})),
            (REVOKED, json!({"reason_admin": {"en": " "}})),
            (CHANGE, change.clone()),
        ] {
            let e = request(ty, event.clone())
                .check_profile(profile)
                .unwrap_err();
            assert_eq!(e.code().status().as_u16(), 400);
            assert_eq!(
                e.field(),
                Some(format!("events.{ty}.reason_admin").as_str()),
                "{event}"
            );
            assert!(request(ty, event).check_profile(None).is_ok(), "no profile");
        }
        // An empty language map is refused by CAEP's own validation, naming the same member.
        let empty = parse(json!({"sub_id": {"format": "opaque", "id": "x"},
                                 "events": {REVOKED: {"reason_admin": {}}}}));
        assert_eq!(
            empty.unwrap_err().field(),
            Some(format!("events.{REVOKED}.reason_admin").as_str())
        );
        let mut with_reason = change;
        with_reason["reason_admin"] = json!({"en": "password reset by the helpdesk"});
        assert!(request(CHANGE, with_reason).check_profile(profile).is_ok());
        assert!(
            request(REVOKED, json!({"reason_admin": {"en": "x"}}))
                .check_profile(profile)
                .is_ok()
        );
        assert!(
            request(CLAIMS, json!({"claims": {"role": "ro"}}))
                .check_profile(profile)
                .is_ok()
        );
    }

    #[test]
    fn a_nul_character_anywhere_is_refused_naming_where() {
        let r = parse(json!({
            "sub_id": {"format": "opaque", "id": "x"},
            "events": {REVOKED: {"reason_admin": {"en": "a\u{0}b"}}}
        }));
        assert!(r.unwrap_err().detail().contains("NUL"));
    }
}
