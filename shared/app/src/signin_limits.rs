//! How often anyone may try to get in, counted in the state store (token buckets, so across
//! processes; `[signin]` in the configuration):
//!
//! - password sign-in per **client address** (all accounts together: password spraying) and
//!   per **account** (organisation and email: guessing one password);
//! - a browser that signed in to an account before carries a **known-browser** token (an
//!   HMAC, keyed from the master key, over the tenant, the member, a random browser id and an
//!   expiry). Its attempts at that account are counted in a bucket of its own instead, so
//!   someone who exhausts the account's limit from elsewhere slows strangers down but never
//!   locks the account's owner out of their own browser;
//! - sign-ups per client address, and single sign-on starts per tenant.
//!
//! The buckets are rebuildable state: when the state store cannot answer, attempts are
//! admitted (and that is logged), as everywhere else in sethub.

use base64::Engine as _;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use sethub_domain::{MemberId, TenantId};
use sethub_state::{Key, KeyKind, Limit};

use crate::AppContext;
use crate::client_addr::ClientAddr;

/// Known-browser tokens kept in one browser (one per account signed in to from it).
const MAX_KNOWN: usize = 5;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Takes one token from `key`'s bucket: `Err(seconds to wait)` when it is empty.
async fn take(ctx: &AppContext, key: &Key, limit: Limit) -> Result<(), u64> {
    match ctx.state.rate_limit(key, limit, 1).await {
        Ok(d) if !d.allowed => Err(d.retry_after.as_secs().max(1)),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, %key, "a sign-in limit is unknown; admitting");
            Ok(())
        }
    }
}

/// Who is trying to sign in, as far as the limits care.
#[derive(Debug, Clone, Copy)]
pub enum Attempt<'a> {
    /// From a browser that signed in to this member before (its token checked).
    KnownBrowser {
        tenant: TenantId,
        member: MemberId,
        browser: &'a str,
    },
    /// From anywhere else (the account need not exist).
    Stranger {
        addr: ClientAddr,
        slug: &'a str,
        email: &'a str,
    },
}

/// Admits a password sign-in attempt or says how many seconds to wait. A stranger is counted
/// against its address first, then against the account.
pub async fn admit_sign_in(ctx: &AppContext, attempt: Attempt<'_>) -> Result<(), u64> {
    let c = &ctx.config.signin;
    match attempt {
        Attempt::KnownBrowser {
            tenant,
            member,
            browser,
        } => {
            let key = Key::tenant(
                &ctx.key_prefix,
                tenant,
                KeyKind::RateLimit,
                &format!("login-browser:{member}:{browser}"),
            );
            let n = c.per_known_browser_per_hour;
            take(ctx, &key, Limit::per_hour(n, n)).await
        }
        Attempt::Stranger { addr, slug, email } => {
            let key = Key::global(
                &ctx.key_prefix,
                KeyKind::RateLimit,
                &format!("login-addr:{}", addr.bucket()),
            );
            let n = c.per_address_per_hour;
            take(ctx, &key, Limit::per_hour(n, n)).await?;
            let key = Key::global(
                &ctx.key_prefix,
                KeyKind::RateLimit,
                &format!("login:{slug}:{email}"),
            );
            let n = c.per_account_per_hour;
            take(ctx, &key, Limit::per_hour(n, n)).await
        }
    }
}

/// Admits a console sign-up from `addr` or says how many seconds to wait.
pub async fn admit_sign_up(ctx: &AppContext, addr: ClientAddr) -> Result<(), u64> {
    let key = Key::global(
        &ctx.key_prefix,
        KeyKind::RateLimit,
        &format!("signup-addr:{}", addr.bucket()),
    );
    let n = ctx.config.signin.signups_per_address_per_hour;
    take(ctx, &key, Limit::per_hour(n, n)).await
}

/// Admits a single sign-on start at `tenant` (console or any of its portals) or says how many
/// seconds to wait. The limit is the tenant's `sso_starts_per_minute` quota (the configured
/// `signin.sso_starts_per_tenant_per_minute` unless the operator overrode it).
pub async fn admit_sso_start(ctx: &AppContext, tenant: TenantId) -> Result<(), u64> {
    let key = Key::tenant(&ctx.key_prefix, tenant, KeyKind::RateLimit, "sso-start");
    let n = match crate::quotas::for_tenant(ctx, tenant).await {
        Ok(q) => q.sso_starts_per_minute,
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "cannot read the tenant's quotas; the configured single sign-on start limit applies");
            ctx.config.signin.sso_starts_per_tenant_per_minute
        }
    };
    take(ctx, &key, Limit::per_minute(n, n)).await
}

/// The HMAC key of known-browser tokens (HKDF-SHA256 from the current master key).
fn browser_key(ctx: &AppContext) -> Option<hmac::Key> {
    let (_, master) = ctx.master_keys.first()?;
    let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"sethub known browser");
    let prk = salt.extract(master);
    prk.expand(&[b"hmac key"], hmac::HMAC_SHA256)
        .ok()
        .map(hmac::Key::from)
}

fn tag(key: &hmac::Key, tenant: TenantId, member: MemberId, browser: &str, exp: i64) -> String {
    let msg = format!("{tenant}|{member}|{browser}|{exp}");
    B64.encode(hmac::sign(key, msg.as_bytes()).as_ref())
}

/// One token of the known-browser cookie: `{browser id}.{expiry}.{tag}`.
fn split(token: &str) -> Option<(&str, i64, &str)> {
    let mut parts = token.split('.');
    let (browser, exp, tag) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || browser.is_empty() || browser.len() > 32 {
        return None;
    }
    Some((browser, exp.parse().ok()?, tag))
}

fn verifies(key: &hmac::Key, tenant: TenantId, member: MemberId, token: &str, now: i64) -> bool {
    let Some((browser, exp, t)) = split(token) else {
        return false;
    };
    let Ok(t) = B64.decode(t) else { return false };
    exp > now
        && hmac::verify(
            key,
            format!("{tenant}|{member}|{browser}|{exp}").as_bytes(),
            &t,
        )
        .is_ok()
}

fn tokens(cookie: &str) -> impl Iterator<Item = &str> {
    cookie.split('~').filter(|t| !t.is_empty()).take(MAX_KNOWN)
}

/// The browser id of this browser for `member`, when `cookie` (the known-browser cookie's
/// value) holds a valid token for it.
pub fn known_browser(
    ctx: &AppContext,
    cookie: &str,
    tenant: TenantId,
    member: MemberId,
) -> Option<String> {
    let key = browser_key(ctx)?;
    let now = chrono::Utc::now().timestamp();
    tokens(cookie)
        .find(|t| verifies(&key, tenant, member, t, now))
        .and_then(|t| split(t).map(|(browser, _, _)| browser.to_owned()))
}

/// The known-browser cookie's new value after `member` signed in (see [`remembered`]).
/// `None` when no token can be made (no master key or no randomness).
pub fn remember_browser(
    ctx: &AppContext,
    cookie: &str,
    tenant: TenantId,
    member: MemberId,
) -> Option<String> {
    let key = browser_key(ctx)?;
    let mut id = [0u8; 16];
    SystemRandom::new().fill(&mut id).ok()?;
    let days = i64::from(ctx.config.signin.known_browser_days);
    let now = chrono::Utc::now().timestamp();
    Some(remembered(
        &key,
        cookie,
        (tenant, member),
        &B64.encode(id),
        now,
        now + days * 86_400,
    ))
}

/// A fresh token for `browser` of `who`, valid until `exp`, first; then the cookie's other
/// unexpired, well-formed tokens (not `who`'s old one); at most [`MAX_KNOWN`].
fn remembered(
    key: &hmac::Key,
    cookie: &str,
    (tenant, member): (TenantId, MemberId),
    browser: &str,
    now: i64,
    exp: i64,
) -> String {
    let fresh = format!("{browser}.{exp}.{}", tag(key, tenant, member, browser, exp));
    let others = tokens(cookie).filter(|t| {
        split(t).is_some_and(|(_, exp, _)| exp > now) && !verifies(key, tenant, member, t, now)
    });
    std::iter::once(fresh.as_str())
        .chain(others)
        .take(MAX_KNOWN)
        .collect::<Vec<_>>()
        .join("~")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &[byte; 32])
    }

    #[test]
    fn a_token_verifies_only_for_its_member_its_key_and_until_it_expires() {
        let (tenant, ann, bob) = (TenantId::new(), MemberId::new(), MemberId::new());
        let cookie = remembered(&key(1), "", (tenant, ann), "b1", 100, 200);
        assert!(verifies(&key(1), tenant, ann, &cookie, 150));
        assert!(
            !verifies(&key(1), tenant, bob, &cookie, 150),
            "another member"
        );
        assert!(!verifies(&key(1), TenantId::new(), ann, &cookie, 150));
        assert!(!verifies(&key(2), tenant, ann, &cookie, 150), "another key");
        assert!(!verifies(&key(1), tenant, ann, &cookie, 200), "expired");
        let longer = cookie.replace(".200.", ".999.");
        assert!(
            !verifies(&key(1), tenant, ann, &longer, 150),
            "expiry is signed"
        );
    }

    #[test]
    fn signing_in_again_replaces_the_members_token_and_keeps_at_most_five() {
        let k = key(1);
        let tenant = TenantId::new();
        let ann = MemberId::new();
        let mut cookie = remembered(&k, "", (tenant, ann), "old", 0, 500);
        for i in 0..6 {
            cookie = remembered(
                &k,
                &cookie,
                (tenant, MemberId::new()),
                &format!("o{i}"),
                0,
                500,
            );
        }
        assert_eq!(cookie.split('~').count(), MAX_KNOWN);
        let cookie = remembered(&k, &cookie, (tenant, ann), "new", 10, 500);
        let ann_tokens: Vec<&str> = cookie
            .split('~')
            .filter(|t| verifies(&k, tenant, ann, t, 10))
            .collect();
        assert_eq!(ann_tokens.len(), 1);
        assert!(ann_tokens[0].starts_with("new."));
        // Expired tokens are dropped on the way.
        let later = remembered(&k, &cookie, (tenant, MemberId::new()), "x", 600, 900);
        assert_eq!(later.split('~').count(), 1);
    }
}
