//! Typed keys: every key names its scope (global, a tenant, a tenant's stream) and its kind, so
//! two tenants can never share a key and a key can only be built from a scope.
//!
//! Rendering: `{prefix}:g:{kind}:{suffix}`, `{prefix}:t:{tenant}:{kind}:{suffix}`,
//! `{prefix}:t:{tenant}:s:{stream}:{kind}:{suffix}` (`:{suffix}` left off when empty), e.g.
//! `sethub:t:tnt_0190…:rl:ingest`.

use std::fmt;

use sethub_domain::{StreamId, TenantId};

use crate::StateError;

/// The namespace in front of every key (config `state.key_prefix`, default `sethub`), so that
/// several deployments or test runs can share one Redis.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// The default prefix, `sethub`.
    pub const DEFAULT: &'static str = "sethub";

    /// Validates a prefix: 1 to 64 characters of ASCII letters, digits, `-`, `_` or `.`.
    pub fn new(prefix: impl Into<String>) -> Result<Self, StateError> {
        let prefix = prefix.into();
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if prefix.is_empty() || prefix.len() > 64 || !prefix.chars().all(valid_char) {
            return Err(StateError::InvalidArgument(format!(
                "key prefix `{prefix}` must be 1 to 64 characters of [A-Za-z0-9._-]"
            )));
        }
        Ok(Self(prefix))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for KeyPrefix {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl fmt::Display for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a key holds. The short code is part of the key, so kinds never collide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// A rate-limit bucket (`rl`).
    RateLimit,
    /// A counter, e.g. delivery attempts (`ctr`).
    Counter,
    /// A dedupe entry, e.g. an idempotency key or an upstream `jti` (`dd`).
    Dedupe,
    /// Circuit-breaker state (`cb`).
    Circuit,
    /// A long-poll wake-up channel (`wk`).
    Wake,
    /// A signed-in (or signing-in) browser session of the console or portal (`ses`).
    Session,
    /// The list of one member's sessions, so they can all be ended (`sesi`).
    SessionIndex,
    /// A lease: which process does a periodic job now (`ls`).
    Lease,
    /// When something was last seen, e.g. a poll stream's receiver polling (`seen`).
    Seen,
}

impl KeyKind {
    pub const fn code(self) -> &'static str {
        match self {
            Self::RateLimit => "rl",
            Self::Counter => "ctr",
            Self::Dedupe => "dd",
            Self::Circuit => "cb",
            Self::Wake => "wk",
            Self::Session => "ses",
            Self::SessionIndex => "sesi",
            Self::Lease => "ls",
            Self::Seen => "seen",
        }
    }
}

/// A key in the state store. Built only through the scoped constructors.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key(String);

impl Key {
    /// A key shared by all tenants (e.g. a per-instance limit). Use sparingly.
    pub fn global(prefix: &KeyPrefix, kind: KeyKind, suffix: &str) -> Self {
        Self::render(format!("{prefix}:g:{}", kind.code()), suffix)
    }

    /// A key owned by one tenant.
    pub fn tenant(prefix: &KeyPrefix, tenant: TenantId, kind: KeyKind, suffix: &str) -> Self {
        Self::render(format!("{prefix}:t:{tenant}:{}", kind.code()), suffix)
    }

    /// A key owned by one stream of a tenant.
    pub fn stream(
        prefix: &KeyPrefix,
        tenant: TenantId,
        stream: StreamId,
        kind: KeyKind,
        suffix: &str,
    ) -> Self {
        Self::render(
            format!("{prefix}:t:{tenant}:s:{stream}:{}", kind.code()),
            suffix,
        )
    }

    fn render(mut scoped: String, suffix: &str) -> Self {
        if !suffix.is_empty() {
            scoped.push(':');
            scoped.push_str(suffix);
        }
        Self(scoped)
    }

    /// The rendered key, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_key_renders_prefix_scope_kind_and_suffix() {
        let tenant = TenantId::new();
        let key = Key::tenant(&KeyPrefix::default(), tenant, KeyKind::RateLimit, "ingest");
        assert_eq!(key.as_str(), format!("sethub:t:{tenant}:rl:ingest"));
    }

    #[test]
    fn a_stream_key_carries_its_tenant_and_stream() {
        let (tenant, stream) = (TenantId::new(), StreamId::new());
        let key = Key::stream(&KeyPrefix::default(), tenant, stream, KeyKind::Wake, "");
        assert_eq!(key.as_str(), format!("sethub:t:{tenant}:s:{stream}:wk"));
    }

    #[test]
    fn keys_of_two_tenants_differ_for_the_same_kind_and_suffix() {
        let prefix = KeyPrefix::default();
        let a = Key::tenant(&prefix, TenantId::new(), KeyKind::Counter, "x");
        let b = Key::tenant(&prefix, TenantId::new(), KeyKind::Counter, "x");
        assert_ne!(a, b);
    }

    #[test]
    fn a_prefix_with_separators_or_spaces_is_refused() {
        for bad in ["", "a:b", "a b", "ü", &"x".repeat(65)] {
            assert!(KeyPrefix::new(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(KeyPrefix::new("ci-run_1.2").unwrap().as_str(), "ci-run_1.2");
    }
}
