//! The upstream SET transmitters a tenant accepts SETs from (at `POST /t/{slug}/sets`):
//! registering and removing one, each recorded in the audit log in the same transaction. One
//! service for the tenant API and the console, which only turn their input into a
//! [`NewTransmitter`] and [`UpstreamError`] into their answer.

use serde_json::{Value, json};
use sethub_domain::{TenantId, UpstreamId};
use sethub_jose::Jwks;
use sethub_store::{NewAuditEntry, NewUpstream, StoreError, Upstream};

use crate::AppContext;

/// The longest issuer, audience or JWKS URL.
pub const MAX_LEN: usize = 2048;

/// Where a transmitter's keys come from.
#[derive(Debug, Clone, PartialEq)]
pub enum TransmitterKeys {
    /// A JWKS URL, fetched by ingest (through the egress guard) and cached.
    Url(String),
    /// A JWKS given inline (`{"keys": [...]}`) holding at least one key sethub can use.
    Inline(Value),
}

/// A transmitter to register, checked: only [`NewTransmitter::new`] makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTransmitter {
    issuer: String,
    audience: String,
    keys: TransmitterKeys,
}

/// Why a transmitter was not registered or removed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// A value is wrong; `field` names it (`issuer`, `audience`, `jwks_url`, `jwks`).
    #[error("{detail}")]
    Invalid { field: &'static str, detail: String },
    #[error("an upstream transmitter with this issuer is registered already")]
    IssuerTaken,
    #[error("no upstream transmitter with this id")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for UpstreamError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            other => Self::Store(other),
        }
    }
}

fn invalid(field: &'static str, detail: impl Into<String>) -> UpstreamError {
    UpstreamError::Invalid {
        field,
        detail: detail.into(),
    }
}

/// A trimmed value of 1 to [`MAX_LEN`] characters.
fn text(field: &'static str, raw: &str) -> Result<String, UpstreamError> {
    let value = raw.trim();
    if value.is_empty() || value.len() > MAX_LEN {
        return Err(invalid(field, "must be 1 to 2048 characters"));
    }
    Ok(value.to_owned())
}

impl NewTransmitter {
    /// Checks what a caller gave: an issuer and an audience, and its keys by URL or inline
    /// (exactly one of the two).
    pub fn new(
        issuer: &str,
        audience: &str,
        jwks_url: Option<String>,
        jwks: Option<Value>,
    ) -> Result<Self, UpstreamError> {
        let issuer = text("issuer", issuer)?;
        let audience = text("audience", audience)?;
        let keys = match (jwks_url, jwks) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "jwks",
                    "give either `jwks_url` or `jwks`, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "jwks_url",
                    "give the transmitter's keys: `jwks_url` or an inline `jwks`",
                ));
            }
            (Some(url), None) if url.len() > MAX_LEN => {
                return Err(invalid("jwks_url", "must be at most 2048 characters"));
            }
            (Some(url), None) if !url.chars().all(|c| c.is_ascii_graphic()) => {
                return Err(invalid(
                    "jwks_url",
                    "must be an ASCII URL without spaces (percent-encode other characters)",
                ));
            }
            (Some(url), None) => TransmitterKeys::Url(url),
            (None, Some(j)) => {
                let set = Jwks::from_json(&j)
                    .map_err(|e| invalid("jwks", format!("not a usable JWKS: {e}")))?;
                if set.keys.is_empty() {
                    return Err(invalid(
                        "jwks",
                        "holds no key sethub can verify with (EC P-256, Ed25519, RSA)",
                    ));
                }
                TransmitterKeys::Inline(j)
            }
        };
        Ok(Self {
            issuer,
            audience,
            keys,
        })
    }
}

/// Registers a transmitter and records who did, in one transaction. A JWKS URL must pass
/// the egress guard.
pub async fn register(
    ctx: &AppContext,
    tenant: TenantId,
    new: NewTransmitter,
    actor: String,
) -> Result<Upstream, UpstreamError> {
    let (jwks_url, jwks) = match new.keys {
        TransmitterKeys::Url(url) => {
            crate::egress::policy(ctx)
                .check_url(&url)
                .map_err(|e| invalid("jwks_url", e.to_string()))?;
            (Some(url), None)
        }
        TransmitterKeys::Inline(j) => (None, Some(j)),
    };
    let tx = ctx.store.scope(tenant).begin().await?;
    let up = tx
        .upstreams()
        .create(NewUpstream {
            issuer: new.issuer,
            audience: new.audience,
            jwks_url,
            jwks,
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => UpstreamError::IssuerTaken,
            other => other.into(),
        })?;
    tx.audit()
        .record(NewAuditEntry {
            actor,
            action: "upstream.create".into(),
            target: Some(up.id.to_string()),
            details: json!({ "issuer": up.issuer, "audience": up.audience,
                             "jwks_url": up.jwks_url, "inline_jwks": up.jwks.is_some() }),
        })
        .await?;
    tx.commit().await?;
    Ok(up)
}

/// Removes a transmitter (its SETs are refused from now on) and records who did, in one
/// transaction.
pub async fn remove(
    ctx: &AppContext,
    tenant: TenantId,
    id: UpstreamId,
    actor: String,
) -> Result<(), UpstreamError> {
    let tx = ctx.store.scope(tenant).begin().await?;
    let up = tx.upstreams().get(id).await?;
    tx.upstreams().delete(id).await?;
    tx.audit()
        .record(NewAuditEntry {
            actor,
            action: "upstream.delete".into(),
            target: Some(id.to_string()),
            details: json!({ "issuer": up.issuer }),
        })
        .await?;
    Ok(tx.commit().await?)
}

impl From<UpstreamError> for sethub_http::ApiError {
    fn from(e: UpstreamError) -> Self {
        use sethub_http::{ApiError, ErrorCode};
        match e {
            UpstreamError::Invalid { field, detail } => ApiError::invalid(field, detail),
            e @ UpstreamError::IssuerTaken => {
                ApiError::new(ErrorCode::Conflict, e.to_string()).with_field("issuer")
            }
            e @ UpstreamError::NotFound => ApiError::not_found(e.to_string()),
            UpstreamError::Store(e @ StoreError::Database(_)) => ApiError::unavailable(e),
            UpstreamError::Store(other) => ApiError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(r: Result<NewTransmitter, UpstreamError>) -> &'static str {
        match r {
            Err(UpstreamError::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_transmitter_names_an_issuer_an_audience_and_one_source_of_keys() {
        let url = || Some("https://idp.example.com/jwks".to_owned());
        let ok = NewTransmitter::new(" https://idp ", "sethub", url(), None);
        assert!(matches!(ok, Ok(ref t) if t.issuer == "https://idp"));
        assert_eq!(
            refused(NewTransmitter::new(" ", "a", url(), None)),
            "issuer"
        );
        assert_eq!(
            refused(NewTransmitter::new("i", "", url(), None)),
            "audience"
        );
        assert_eq!(
            refused(NewTransmitter::new("i", "a", None, None)),
            "jwks_url"
        );
        let both = NewTransmitter::new("i", "a", url(), Some(json!({"keys": []})));
        assert_eq!(refused(both), "jwks");
        let empty = NewTransmitter::new("i", "a", None, Some(json!({"keys": []})));
        assert_eq!(refused(empty), "jwks");
        let spaced = NewTransmitter::new("i", "a", Some("https://a b/".into()), None);
        assert_eq!(refused(spaced), "jwks_url");
        let long = Some(format!("https://a/{}", "x".repeat(MAX_LEN)));
        assert_eq!(
            refused(NewTransmitter::new("i", "a", long, None)),
            "jwks_url"
        );
    }
}
