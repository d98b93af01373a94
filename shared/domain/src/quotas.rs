//! Quotas: how much one tenant and its receivers may create. The operator sets deployment
//! defaults in the configuration (`[quotas]`) and may override them per tenant
//! ([`QuotaOverrides`], stored on the tenant, set only through the admin CLI).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::subject::MAX_LIST_ITEMS;

/// One limit, named as in the configuration, the CLI and every error that refuses a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quota {
    /// Streams one receiver may have.
    StreamsPerReceiver,
    /// Receivers one tenant may have.
    ReceiversPerTenant,
    /// Streams one tenant may have, over all its receivers.
    StreamsPerTenant,
    /// Subjects one stream may have (added or removed: each is a row).
    SubjectsPerStream,
    /// Items in any list inside a subject identifier (`aliases` identifiers, `ip-addresses`,
    /// arrays of proprietary formats, members of a complex subject).
    SubjectListItems,
    /// "Sign in with single sign-on" starts per minute (console and portals together; each
    /// makes sethub fetch the provider's discovery document).
    SsoStartsPerMinute,
}

impl Quota {
    pub const ALL: [Quota; 6] = [
        Quota::StreamsPerReceiver,
        Quota::ReceiversPerTenant,
        Quota::StreamsPerTenant,
        Quota::SubjectsPerStream,
        Quota::SubjectListItems,
        Quota::SsoStartsPerMinute,
    ];

    /// The snake-case name (`streams_per_receiver`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StreamsPerReceiver => "streams_per_receiver",
            Self::ReceiversPerTenant => "receivers_per_tenant",
            Self::StreamsPerTenant => "streams_per_tenant",
            Self::SubjectsPerStream => "subjects_per_stream",
            Self::SubjectListItems => "subject_list_items",
            Self::SsoStartsPerMinute => "sso_starts_per_minute",
        }
    }

    /// What the limit counts, for messages ("this receiver has 10 streams").
    pub fn describe(self, limit: u32) -> String {
        match self {
            Self::StreamsPerReceiver => {
                format!("a receiver may have at most {limit} streams")
            }
            Self::ReceiversPerTenant => format!("a tenant may have at most {limit} receivers"),
            Self::StreamsPerTenant => format!("a tenant may have at most {limit} streams"),
            Self::SubjectsPerStream => format!("a stream may have at most {limit} subjects"),
            Self::SubjectListItems => {
                format!("a list inside a subject may have at most {limit} items")
            }
            Self::SsoStartsPerMinute => {
                format!("at most {limit} single sign-on starts a minute")
            }
        }
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits in force for one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quotas {
    pub streams_per_receiver: u32,
    pub receivers_per_tenant: u32,
    pub streams_per_tenant: u32,
    pub subjects_per_stream: u32,
    pub subject_list_items: u32,
    pub sso_starts_per_minute: u32,
}

impl Default for Quotas {
    /// The documented defaults (also those of `sethub.example.toml`).
    fn default() -> Self {
        Self {
            streams_per_receiver: 10,
            receivers_per_tenant: 100,
            streams_per_tenant: 500,
            subjects_per_stream: 10_000,
            subject_list_items: 20,
            sso_starts_per_minute: 30,
        }
    }
}

impl Quotas {
    /// The value of one limit.
    pub fn get(&self, quota: Quota) -> u32 {
        match quota {
            Quota::StreamsPerReceiver => self.streams_per_receiver,
            Quota::ReceiversPerTenant => self.receivers_per_tenant,
            Quota::StreamsPerTenant => self.streams_per_tenant,
            Quota::SubjectsPerStream => self.subjects_per_stream,
            Quota::SubjectListItems => self.subject_list_items,
            Quota::SsoStartsPerMinute => self.sso_starts_per_minute,
        }
    }

    /// These defaults with a tenant's overrides applied.
    pub fn with(mut self, o: &QuotaOverrides) -> Self {
        let pick = |d: &mut u32, v: Option<u32>| {
            if let Some(v) = v {
                *d = v;
            }
        };
        pick(&mut self.streams_per_receiver, o.streams_per_receiver);
        pick(&mut self.receivers_per_tenant, o.receivers_per_tenant);
        pick(&mut self.streams_per_tenant, o.streams_per_tenant);
        pick(&mut self.subjects_per_stream, o.subjects_per_stream);
        pick(&mut self.subject_list_items, o.subject_list_items);
        pick(&mut self.sso_starts_per_minute, o.sso_starts_per_minute);
        self
    }

    /// Checks each value is in range (list items: 1 to [`MAX_LIST_ITEMS`], the ceiling every
    /// subject parse applies; the others at least 1). The error names the limit.
    pub fn validate(&self) -> Result<(), String> {
        for q in Quota::ALL {
            let v = self.get(q);
            if v == 0 {
                return Err(format!("{q}: must be at least 1"));
            }
            if q == Quota::SubjectListItems && v as usize > MAX_LIST_ITEMS {
                return Err(format!("{q}: must be at most {MAX_LIST_ITEMS}"));
            }
        }
        Ok(())
    }
}

/// A tenant's overrides of the deployment's defaults; `None` keeps the default. Stored as JSON
/// on the tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams_per_receiver: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receivers_per_tenant: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams_per_tenant: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects_per_stream: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_list_items: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso_starts_per_minute: Option<u32>,
}

impl QuotaOverrides {
    /// `self` with every value `other` sets replacing ours (a CLI call changes only the
    /// limits it names).
    pub fn merged(self, other: &QuotaOverrides) -> Self {
        Self {
            streams_per_receiver: other.streams_per_receiver.or(self.streams_per_receiver),
            receivers_per_tenant: other.receivers_per_tenant.or(self.receivers_per_tenant),
            streams_per_tenant: other.streams_per_tenant.or(self.streams_per_tenant),
            subjects_per_stream: other.subjects_per_stream.or(self.subjects_per_stream),
            subject_list_items: other.subject_list_items.or(self.subject_list_items),
            sso_starts_per_minute: other.sso_starts_per_minute.or(self.sso_starts_per_minute),
        }
    }

    /// True when nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_the_limits_they_name() {
        let o = QuotaOverrides {
            streams_per_receiver: Some(20),
            ..QuotaOverrides::default()
        };
        let q = Quotas::default().with(&o);
        assert_eq!(q.streams_per_receiver, 20);
        assert_eq!(q.receivers_per_tenant, 100);
        let later = o.merged(&QuotaOverrides {
            subjects_per_stream: Some(5),
            ..QuotaOverrides::default()
        });
        assert_eq!(later.streams_per_receiver, Some(20));
        assert_eq!(later.subjects_per_stream, Some(5));
    }

    #[test]
    fn a_zero_limit_or_a_list_limit_past_the_ceiling_is_refused_by_name() {
        let zero = Quotas {
            streams_per_tenant: 0,
            ..Quotas::default()
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .starts_with("streams_per_tenant")
        );
        let huge = Quotas {
            subject_list_items: MAX_LIST_ITEMS as u32 + 1,
            ..Quotas::default()
        };
        assert!(
            huge.validate()
                .unwrap_err()
                .starts_with("subject_list_items")
        );
        assert_eq!(Quotas::default().validate(), Ok(()));
    }

    #[test]
    fn unknown_override_names_are_refused() {
        let bad: Result<QuotaOverrides, _> =
            serde_json::from_value(serde_json::json!({"streams": 3}));
        assert!(bad.is_err());
    }
}
