//! Interoperability profiles a tenant can switch on: stricter rules than the standards
//! alone, which a certification plan tests.

use std::fmt;

/// A tenant's interoperability profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Profile {
    /// The CAEP interoperability profile (`spec/ssf.md` §3, `events.md`): SETs signed RS256
    /// with keys of at least 2048 bits; `session-revoked` and `credential-change` carry a
    /// non-empty `reason_admin`.
    #[serde(rename = "caep-interop")]
    CaepInterop,
}

impl Profile {
    pub const ALL: [Profile; 1] = [Profile::CaepInterop];

    /// The name in the API, the CLI and the database: `caep-interop`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CaepInterop => "caep-interop",
        }
    }

    /// The profile of a name, if known.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// Event types that must carry a non-empty `reason_admin` under this profile.
    pub fn requires_reason_admin(self, event_type: &str) -> bool {
        match self {
            Self::CaepInterop => matches!(
                event_type,
                "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
                    | "https://schemas.openid.net/secevent/caep/event-type/credential-change"
            ),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caep_interop_profile_round_trips_its_name_and_names_its_two_event_types() {
        assert_eq!(
            Profile::from_name("caep-interop"),
            Some(Profile::CaepInterop)
        );
        assert_eq!(Profile::from_name("CAEP-interop"), None);
        let p = Profile::CaepInterop;
        assert!(p.requires_reason_admin(
            "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
        ));
        assert!(p.requires_reason_admin(
            "https://schemas.openid.net/secevent/caep/event-type/credential-change"
        ));
        assert!(!p.requires_reason_admin(
            "https://schemas.openid.net/secevent/caep/event-type/token-claims-change"
        ));
    }
}
