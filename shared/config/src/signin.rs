//! `[signin]`: how often people may try to get in (password sign-in to the console and the
//! portal, sign-up, single sign-on starts). Each limit is a token bucket in the state store:
//! `N` attempts at once, then refilled at `N` per period.

use serde::{Deserialize, Serialize};

use crate::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SignInConfig {
    /// Password sign-in attempts per client address (an IPv6 address counts by its /64), per
    /// hour, across all accounts: stops password spraying. Browsers that signed in to the
    /// account before are not counted here.
    pub per_address_per_hour: u32,
    /// Attempts per account (organisation and email) per hour from browsers that have not
    /// signed in to it before: slows guessing one password.
    pub per_account_per_hour: u32,
    /// Attempts per hour for one account from one browser that signed in to it before (its
    /// own bucket, so nobody else's failures lock its owner out).
    pub per_known_browser_per_hour: u32,
    /// How long a browser stays known after a successful sign-in.
    pub known_browser_days: u32,
    /// Console sign-ups (new organisations) per client address per hour.
    pub signups_per_address_per_hour: u32,
    /// "Sign in with single sign-on" starts per tenant per minute (console and portals
    /// together); each start makes sethub fetch the provider's discovery document.
    pub sso_starts_per_tenant_per_minute: u32,
}

impl Default for SignInConfig {
    fn default() -> Self {
        Self {
            per_address_per_hour: 30,
            per_account_per_hour: 10,
            per_known_browser_per_hour: 10,
            known_browser_days: 90,
            signups_per_address_per_hour: 5,
            sso_starts_per_tenant_per_minute: 30,
        }
    }
}

impl SignInConfig {
    /// Every limit must admit at least one attempt.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("signin.per_address_per_hour", self.per_address_per_hour),
            ("signin.per_account_per_hour", self.per_account_per_hour),
            (
                "signin.per_known_browser_per_hour",
                self.per_known_browser_per_hour,
            ),
            ("signin.known_browser_days", self.known_browser_days),
            (
                "signin.signups_per_address_per_hour",
                self.signups_per_address_per_hour,
            ),
            (
                "signin.sso_starts_per_tenant_per_minute",
                self.sso_starts_per_tenant_per_minute,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    problem: "must be at least 1".to_owned(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::result_large_err)]

    use figment::Jail;

    use crate::Config;

    #[test]
    fn trusted_proxies_and_sign_in_limits_load_from_the_environment_and_zero_is_refused() {
        Jail::expect_with(|jail| {
            jail.set_env(
                "SETHUB_SERVER__TRUSTED_PROXIES",
                r#"["10.0.0.0/8", "fd00::/8"]"#,
            );
            jail.set_env("SETHUB_SIGNIN__PER_ADDRESS_PER_HOUR", "7");
            let config = Config::load(None).unwrap();
            assert_eq!(config.server.trusted_proxies.len(), 2);
            assert_eq!(config.signin.per_address_per_hour, 7);
            assert_eq!(config.signin.signups_per_address_per_hour, 5);
            jail.set_env("SETHUB_SIGNIN__SSO_STARTS_PER_TENANT_PER_MINUTE", "0");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(
                err.contains("signin.sso_starts_per_tenant_per_minute"),
                "{err}"
            );
            jail.set_env("SETHUB_SERVER__TRUSTED_PROXIES", r#"["not a network"]"#);
            assert!(Config::load(None).is_err());
            Ok(())
        });
    }
}
