//! Validating an incoming SET: size, JWS signature against the issuer's JWKS, `typ`, issuer,
//! audience, the SSF claim rules (`sub_id` required, no `sub`, no `exp`), and known event
//! payloads. Follows the checklist of `spec/set.md` §9.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value};
use sethub_domain::events;
use sethub_domain::subject::{ParseMode, Subject};

use super::{Audience, SET_TYP, SetError};
use crate::{Alg, Jwks, JwsHeader, jws, strict_json};

/// What the recipient expects of a SET.
#[derive(Clone, Debug)]
pub struct Expectations {
    /// The only accepted `iss`.
    pub issuer: String,
    /// A value `aud` must contain; `None` accepts any audience (use only where the channel
    /// already fixes the recipient).
    pub audience: Option<String>,
    /// The longest token accepted, in bytes (checked before anything else). Default 64 KiB.
    pub max_len: usize,
    /// The accepted algorithms. Default: ES256, EdDSA, RS256.
    pub algorithms: Vec<Alg>,
    /// Refuse SETs whose `iat` is older than this. Default: no limit (SETs describe the past).
    pub max_age: Option<Duration>,
    /// Refuse SETs whose `iat` is further in the future than this. Default: no limit.
    pub max_future_skew: Option<Duration>,
    /// Validate the payloads of known event types against their vocabulary. Default: true.
    pub validate_events: bool,
}

impl Expectations {
    /// Default maximum token length (64 KiB).
    pub const DEFAULT_MAX_LEN: usize = 64 * 1024;

    /// SETs from `issuer` addressed to `audience`, with the defaults above.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: Some(audience.into()),
            max_len: Self::DEFAULT_MAX_LEN,
            algorithms: Alg::ALL.to_vec(),
            max_age: None,
            max_future_skew: None,
            validate_events: true,
        }
    }

    /// Accepts any `aud`.
    pub fn any_audience(mut self) -> Self {
        self.audience = None;
        self
    }

    /// Sets the maximum token length.
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Bounds `iat`: at most `max_age` old and `skew` in the future.
    pub fn freshness(mut self, max_age: Duration, skew: Duration) -> Self {
        self.max_age = Some(max_age);
        self.max_future_skew = Some(skew);
        self
    }
}

/// A SET that passed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedSet {
    pub header: JwsHeader,
    pub iss: String,
    pub iat: i64,
    pub jti: String,
    pub aud: Option<Audience>,
    pub txn: Option<String>,
    pub toe: Option<i64>,
    pub sub_id: Subject,
    /// Event type URI → payload, in the order sent.
    pub events: Map<String, Value>,
    /// Every other claim as sent (all but `events`), including ones sethub does not interpret.
    pub claims: Map<String, Value>,
}

fn invalid(why: impl Into<String>) -> SetError {
    SetError::InvalidClaims(why.into())
}

/// Validates a compact SET against the issuer's keys and the expectations. Never panics;
/// every refusal carries its RFC 8935 code ([`SetError::err_code`]).
pub fn validate_set(
    token: &str,
    jwks: &Jwks,
    exp: &Expectations,
) -> Result<ValidatedSet, SetError> {
    if token.len() > exp.max_len {
        return Err(SetError::TooLarge {
            len: token.len(),
            max: exp.max_len,
        });
    }
    let token = token.trim_matches(|c: char| c.is_ascii_whitespace());
    let verified = jws::decode_verified(token, jwks, &exp.algorithms, check_typ)?;
    let claims = match strict_json::from_slice(&verified.payload) {
        Ok(Value::Object(claims)) => claims,
        Ok(_) => {
            return Err(SetError::Malformed(
                "the claims are not a JSON object".into(),
            ));
        }
        Err(e) => {
            return Err(SetError::Malformed(format!(
                "the claims are not valid JSON: {e}"
            )));
        }
    };
    check_claims(verified.header, claims, exp)
}

fn check_typ(header: &JwsHeader) -> Result<(), SetError> {
    let ok = header.typ.as_deref().is_some_and(|t| {
        // By `get`: a `typ` with a multi-byte character across byte 12 must not panic.
        let t = match (t.get(..12), t.get(12..)) {
            (Some(media), Some(rest)) if media.eq_ignore_ascii_case("application/") => rest,
            _ => t,
        };
        t.eq_ignore_ascii_case(SET_TYP)
    });
    if ok {
        Ok(())
    } else {
        Err(SetError::WrongType(header.typ.clone()))
    }
}

fn check_claims(
    header: JwsHeader,
    mut claims: Map<String, Value>,
    exp: &Expectations,
) -> Result<ValidatedSet, SetError> {
    let iss = match claims.get("iss") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(invalid("the `iss` claim must be a non-empty string")),
        None => return Err(invalid("the `iss` claim is required")),
    };
    if iss != exp.issuer {
        return Err(SetError::InvalidIssuer { found: iss });
    }
    let aud = check_audience(claims.get("aud"), exp)?;
    for forbidden in ["sub", "exp"] {
        if claims.contains_key(forbidden) {
            return Err(invalid(format!(
                "the `{forbidden}` claim must not appear in an SSF SET"
            )));
        }
    }
    let iat =
        numeric_date(&claims, "iat")?.ok_or_else(|| invalid("the `iat` claim is required"))?;
    check_freshness(iat, exp)?;
    let jti = match claims.get("jti") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(invalid("the `jti` claim must be a non-empty string")),
        None => return Err(invalid("the `jti` claim is required")),
    };
    let txn = match claims.get("txn") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        // SSF draft 03 examples used a number; tolerated on input.
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(invalid("the `txn` claim must be a string")),
    };
    let toe = numeric_date(&claims, "toe")?;
    let sub_id = claims
        .get("sub_id")
        .ok_or_else(|| invalid("the `sub_id` claim is required in an SSF SET"))
        .and_then(|v| {
            Subject::parse_at(v, ParseMode::Receiving, "sub_id").map_err(SetError::InvalidSubject)
        })?;
    let events = check_events(claims.remove("events"), &sub_id, exp)?;
    Ok(ValidatedSet {
        header,
        iss,
        iat,
        jti,
        aud,
        txn,
        toe,
        sub_id,
        events,
        claims,
    })
}

fn check_audience(aud: Option<&Value>, exp: &Expectations) -> Result<Option<Audience>, SetError> {
    let aud = match aud {
        None => None,
        Some(v) => Some(
            serde_json::from_value::<Audience>(v.clone())
                .map_err(|_| invalid("the `aud` claim must be a string or an array of strings"))?,
        ),
    };
    if let Some(expected) = &exp.audience {
        let found = aud.as_ref().map(Audience::values).unwrap_or_default();
        if !found.iter().any(|a| a == expected) {
            let found = if found.is_empty() {
                "(none)".to_owned()
            } else {
                format!("{found:?}")
            };
            return Err(SetError::InvalidAudience { found });
        }
    }
    Ok(aud)
}

fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, SetError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let secs = n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            });
            secs.filter(|s| *s >= 0).map(Some).ok_or_else(|| {
                invalid(format!(
                    "the `{name}` claim must be a non-negative NumericDate"
                ))
            })
        }
        Some(_) => Err(invalid(format!(
            "the `{name}` claim must be a number (seconds since the epoch)"
        ))),
    }
}

fn check_freshness(iat: i64, exp: &Expectations) -> Result<(), SetError> {
    let now = Utc::now().timestamp();
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    if exp
        .max_age
        .is_some_and(|age| iat < now.saturating_sub(secs(age)))
    {
        return Err(invalid("the SET is too old (`iat`)"));
    }
    if exp
        .max_future_skew
        .is_some_and(|skew| iat > now.saturating_add(secs(skew)))
    {
        return Err(invalid("the SET is issued in the future (`iat`)"));
    }
    Ok(())
}

fn check_events(
    events: Option<Value>,
    sub_id: &Subject,
    exp: &Expectations,
) -> Result<Map<String, Value>, SetError> {
    let Some(Value::Object(map)) = events else {
        return Err(invalid(match &events {
            None => "the `events` claim is required",
            Some(_) => "the `events` claim must be a JSON object",
        }));
    };
    if map.is_empty() {
        return Err(invalid("the `events` claim must hold at least one event"));
    }
    for (uri, payload) in &map {
        if exp.validate_events {
            events::validate_event(uri, payload).map_err(SetError::InvalidEvent)?;
            events::check_subject(uri, sub_id).map_err(SetError::InvalidEvent)?;
        } else if !events::is_event_type_uri(uri) || !payload.is_object() {
            return Err(invalid(format!(
                "events.{uri}: must be an absolute URI with an object payload"
            )));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Alg;

    fn header(typ: &str) -> JwsHeader {
        JwsHeader {
            alg: Alg::Es256,
            kid: None,
            typ: Some(typ.to_owned()),
        }
    }

    #[test]
    fn a_typ_with_a_multibyte_character_across_the_media_type_prefix_is_refused_not_a_panic() {
        assert!(check_typ(&header("applicat€€secevent+jwt")).is_err());
        assert!(check_typ(&header("€")).is_err());
        assert!(check_typ(&header("application/secevent+jwt")).is_ok());
        assert!(check_typ(&header("secevent+jwt")).is_ok());
    }
}
