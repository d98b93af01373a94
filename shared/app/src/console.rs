//! Console accounts: sign-up (a tenant with its owner), password sign-in with its limits,
//! and the password hashing (argon2id, the crate's recommended parameters). The web handlers
//! (`sethub_manage::web`) only parse forms and render pages; the rules are here.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sethub_domain::TenantId;
use sethub_store::{Member, NewMember, Role, StoreError};

use crate::AppContext;
use crate::admin::{self, AdminError, CreatedTenant, DisplayName, TenantSlug};
use crate::client_addr::ClientAddr;
use crate::signin_limits::{self, Attempt};
pub use crate::team::{
    accept_invite, invite_lifetime, invite_member, invite_receiver, open_invite, token_hash,
};

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 12;
/// The longest password accepted (hashing cost is bounded).
pub const MAX_PASSWORD: usize = 256;

/// A refused form field: the field's name and what is wrong, for the message beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// Why sign-up or sign-in did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// Wrong organisation, email or password (never said which).
    #[error("the organisation, email or password is not right")]
    BadCredentials,
    #[error("too many sign-in attempts; try again in {0} s")]
    RateLimited(u64),
    /// Too many organisations made from the client's address lately.
    #[error("too many sign-ups from this address; try again in {0} s")]
    TooManySignUps(u64),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Hashes a password with argon2id and a fresh salt (a PHC string).
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A checked email address (lower-cased).
pub fn parse_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err("enter an email address like name@example.com".into())
    }
}

pub(crate) fn check_password(raw: &str) -> Result<(), String> {
    let n = raw.chars().count();
    if n < MIN_PASSWORD {
        Err(format!("use at least {MIN_PASSWORD} characters"))
    } else if n > MAX_PASSWORD {
        Err(format!("use at most {MAX_PASSWORD} characters"))
    } else {
        Ok(())
    }
}

/// What the sign-up form asks for.
#[derive(Debug, Clone, Default)]
pub struct SignUp {
    pub organisation: String,
    pub slug: String,
    pub email: String,
    pub password: String,
    /// The first signing key's kind (`ES256`, `EdDSA`, `RS256-2048`, `RS256-3072`); empty:
    /// the default (ES256, or RS256-2048 under the profile).
    pub signing_alg: String,
    /// `caep-interop`, or empty for none.
    pub profile: String,
}

/// Creates a tenant (with its first signing key and API key) and its owner, in one go; every
/// field is checked first and each problem reported against its field, then the sign-ups of
/// the client's address are counted. Nothing is written unless all are right.
pub async fn sign_up(
    ctx: &AppContext,
    form: &SignUp,
    addr: ClientAddr,
) -> Result<(CreatedTenant, Member), AccountError> {
    let mut errors = Vec::new();
    let name = form
        .organisation
        .trim()
        .parse::<DisplayName>()
        .map_err(|m| {
            errors.push(FieldError {
                field: "organisation",
                message: m,
            })
        })
        .ok();
    let slug = form
        .slug
        .trim()
        .parse::<TenantSlug>()
        .map_err(|m| {
            errors.push(FieldError {
                field: "slug",
                message: m,
            })
        })
        .ok();
    let email = parse_email(&form.email)
        .map_err(|m| {
            errors.push(FieldError {
                field: "email",
                message: m,
            })
        })
        .ok();
    if let Err(m) = check_password(&form.password) {
        errors.push(FieldError {
            field: "password",
            message: m,
        });
    }
    let options = signing_options(&form.signing_alg, &form.profile)
        .map_err(|e| errors.push(e))
        .ok();
    let (Some(name), Some(slug), Some(email), Some(options), true) =
        (name, slug, email, options, errors.is_empty())
    else {
        return Err(AccountError::Invalid(errors));
    };
    if let Err(secs) = signin_limits::admit_sign_up(ctx, addr).await {
        tracing::info!(client = %addr, "sign-up refused: too many from this address");
        return Err(AccountError::TooManySignUps(secs));
    }
    let hash = hash_password(&form.password)?;
    let owner = NewMember {
        email,
        password_hash: Some(hash),
        role: Role::Owner,
        receiver_id: None,
    };
    let created = match admin::create_tenant_with_owner(
        ctx,
        &slug,
        &name,
        options,
        Some(owner.clone()),
    )
    .await
    {
        Ok(c) => c,
        Err(AdminError::SlugTaken(_)) => {
            return Err(AccountError::Invalid(vec![FieldError {
                field: "slug",
                message: "this slug is taken; choose another".into(),
            }]));
        }
        Err(e) => return Err(e.into()),
    };
    let member = ctx
        .store
        .scope(created.tenant_id)
        .members()
        .by_email(&owner.email)
        .await?;
    tracing::info!(tenant = %created.tenant_id, member = %member.id, "console sign-up");
    Ok((created, member))
}

/// The sign-up form's signing choices, checked against each other.
fn signing_options(alg: &str, profile: &str) -> Result<admin::TenantOptions, FieldError> {
    let profile = match profile.trim() {
        "" => None,
        p => Some(
            sethub_domain::Profile::from_name(p).ok_or_else(|| FieldError {
                field: "profile",
                message: format!("unknown profile `{p}`"),
            })?,
        ),
    };
    let key = match alg.trim() {
        "" => None,
        a => Some(a.parse::<sethub_jose::KeySpec>().map_err(|e| FieldError {
            field: "signing_alg",
            message: e.to_string(),
        })?),
    };
    let options = admin::TenantOptions { key, profile };
    options.key_spec().map_err(|e| FieldError {
        field: "signing_alg",
        message: e.to_string(),
    })?;
    Ok(options)
}

/// Where a person signs in: the console (owners, admins, viewers) or the portal (receivers'
/// users).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Console,
    Portal,
}

impl Door {
    /// Whether a member with `role` signs in here.
    pub fn admits(self, role: Role) -> bool {
        (role == Role::Receiver) == (self == Door::Portal)
    }
}

/// Where a password sign-in comes from: the client's address and the value of its
/// known-browser cookie (empty when it has none), for the limits of
/// [`signin_limits`](crate::signin_limits).
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub addr: ClientAddr,
    pub known_browser: &'a str,
}

/// A successful sign-in: who, and the known-browser cookie's new value (`None`: leave it).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub tenant: TenantId,
    pub member: Member,
    pub known_browser: Option<String>,
}

/// The tenant of `slug` and its member with `email`, if both exist.
async fn find_member(
    ctx: &AppContext,
    slug: &str,
    email: &str,
) -> Result<Option<(TenantId, Member)>, AccountError> {
    let Some(tenant) = ctx.store.tenants().find_by_slug(slug).await? else {
        return Ok(None);
    };
    match ctx.store.scope(tenant.id).members().by_email(email).await {
        Ok(m) => Ok(Some((tenant.id, m))),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Checks a password sign-in at `door`. Attempts are limited per client address and per
/// account, except from a browser that signed in to the account before, which has a limit of
/// its own (`signin_limits`), so failures elsewhere never lock the owner out. A wrong slug,
/// email or password, or a member who signs in at the other door, are one answer.
pub async fn sign_in(
    ctx: &AppContext,
    door: Door,
    caller: Caller<'_>,
    slug: &str,
    email: &str,
    password: &str,
) -> Result<SignedIn, AccountError> {
    let email = email.trim().to_lowercase();
    let slug = slug.trim().to_lowercase();
    // Without a known-browser cookie the limits come before any lookup.
    let looked_up = if caller.known_browser.is_empty() {
        None
    } else {
        Some(find_member(ctx, &slug, &email).await?)
    };
    let browser = looked_up
        .as_ref()
        .and_then(Option::as_ref)
        .and_then(|(t, m)| {
            signin_limits::known_browser(ctx, caller.known_browser, *t, m.id).map(|b| (*t, m.id, b))
        });
    let attempt = match &browser {
        Some((tenant, member, browser)) => Attempt::KnownBrowser {
            tenant: *tenant,
            member: *member,
            browser,
        },
        None => Attempt::Stranger {
            addr: caller.addr,
            slug: &slug,
            email: &email,
        },
    };
    if let Err(secs) = signin_limits::admit_sign_in(ctx, attempt).await {
        tracing::info!(client = %caller.addr, "sign-in refused: too many attempts");
        return Err(AccountError::RateLimited(secs));
    }
    let found = match looked_up {
        Some(found) => found,
        None => find_member(ctx, &slug, &email).await?,
    };
    let Some((tenant, member)) = found else {
        // Spend the time a real check takes, so a wrong slug or email is not told apart.
        let _ = hash_password(password);
        return Err(AccountError::BadCredentials);
    };
    let ok = member
        .password_hash
        .as_deref()
        .is_some_and(|h| verify_password(h, password));
    if !ok || !door.admits(member.role) {
        return Err(AccountError::BadCredentials);
    }
    let members = ctx.store.scope(tenant).members();
    if let Err(e) = members.touch_login(member.id).await {
        tracing::warn!(error = %e, "cannot record the sign-in time");
    }
    let known_browser =
        signin_limits::remember_browser(ctx, caller.known_browser, tenant, member.id);
    Ok(SignedIn {
        tenant,
        member,
        known_browser,
    })
}
