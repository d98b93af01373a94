//! Validated input of the admin operations: tenant slugs, display names and API key scopes.
//! Parsed once at the edge (CLI, REST, console); the operations take only these types.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// Slugs that would collide with sethub's own paths or read as official.
pub const RESERVED_SLUGS: &[&str] = &[
    "admin",
    "api",
    "assets",
    "console",
    "healthz",
    "login",
    "logout",
    "metrics",
    "oauth",
    "portal",
    "readyz",
    "root",
    "sethub",
    "static",
    "system",
    "well-known",
    "www",
];

/// A tenant slug: 3–40 of `a-z 0-9 -`, not starting or ending with `-`, not reserved. It
/// names the tenant in every URL (`/t/{slug}/…`) and in its issuer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantSlug {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if !(3..=40).contains(&s.len()) {
            return Err(match s.chars().count() {
                0 => "enter a slug: 3 to 40 of a-z, 0-9 and -, such as acme-identity".to_owned(),
                n => format!("the slug must be 3 to 40 characters long; `{s}` has {n}"),
            });
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(format!(
                "the slug may only contain a-z, 0-9 and -; `{s}` contains `{c}`"
            ));
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(format!("the slug may not start or end with -; `{s}` does"));
        }
        if RESERVED_SLUGS.contains(&s) {
            return Err(format!("the slug `{s}` is reserved; choose another"));
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for TenantSlug {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A display name (tenant, receiver, API key): 1–200 characters once trimmed, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 200;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DisplayName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("the name may not be empty".to_owned());
        }
        let n = t.chars().count();
        if n > Self::MAX_CHARS {
            return Err(format!(
                "the name is {n} characters long; at most {} are allowed",
                Self::MAX_CHARS
            ));
        }
        if t.chars().any(char::is_control) {
            return Err("the name may not contain control characters".to_owned());
        }
        Ok(Self(t.to_owned()))
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Publish events (the ingest API).
    EventsPublish,
    /// Administer the tenant (the REST API at `/api/v1`).
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::EventsPublish, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventsPublish => "events:publish",
            Self::Admin => "admin",
        }
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|x| x.as_str()).collect();
                format!("unknown scope `{s}`; known scopes: {}", known.join(", "))
            })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_slugs_parse_and_bad_ones_say_why() {
        for ok in ["acme", "a1b", "acme-corp-2", &"x".repeat(40)] {
            assert!(ok.parse::<TenantSlug>().is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("ab", "3 to 40"),
            (&"x".repeat(41), "3 to 40"),
            ("", "enter a slug"),
            ("Acme", "contains `A`"),
            ("ac_me", "contains `_`"),
            ("-acme", "start or end"),
            ("acme-", "start or end"),
            ("api", "reserved"),
            ("admin", "reserved"),
            ("static", "reserved"),
        ] {
            let err = bad.parse::<TenantSlug>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!("  Acme ".parse::<DisplayName>().unwrap().as_str(), "Acme");
        assert!("   ".parse::<DisplayName>().is_err());
        assert!("a\nb".parse::<DisplayName>().is_err());
        assert!("x".repeat(201).parse::<DisplayName>().is_err());
    }

    #[test]
    fn only_known_scopes_parse() {
        assert_eq!("admin".parse::<Scope>(), Ok(Scope::Admin));
        assert_eq!("events:publish".parse::<Scope>(), Ok(Scope::EventsPublish));
        assert!(
            "root"
                .parse::<Scope>()
                .unwrap_err()
                .contains("events:publish")
        );
    }
}
