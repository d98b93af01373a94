//! Console accounts: sign-up (a tenant with its owner), password sign-in with a rate limit,
//! and the password hashing (argon2id, the crate's recommended parameters). The web handlers
//! (`sethub_manage::web`) only parse forms and render pages; the rules are here.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sethub_domain::TenantId;
use sethub_state::{Key, KeyKind, Limit};
use sethub_store::{Member, NewMember, Role, StoreError};

use crate::AppContext;
use crate::admin::{self, AdminError, CreatedTenant, DisplayName, TenantSlug};
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
}

/// Creates a tenant (with its first signing key and API key) and its owner, in one go; every
/// field is checked first and each problem reported against its field. Nothing is written
/// unless all are right.
pub async fn sign_up(
    ctx: &AppContext,
    form: &SignUp,
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
    let (Some(name), Some(slug), Some(email), true) = (name, slug, email, errors.is_empty()) else {
        return Err(AccountError::Invalid(errors));
    };
    let hash = hash_password(&form.password)?;
    let owner = NewMember {
        email,
        password_hash: Some(hash),
        role: Role::Owner,
        receiver_id: None,
    };
    let created =
        match admin::create_tenant_with_owner(ctx, &slug, &name, Some(owner.clone())).await {
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

/// Sign-in attempts per organisation and email: 10 at once, then one every 6 s.
fn login_limit() -> Limit {
    Limit::per_minute(10, 10)
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

/// Checks a password sign-in at `door`. Attempts are rate-limited per organisation and email
/// (in the state store, so across processes); a wrong slug, email or password, or a member
/// who signs in at the other door, are one answer.
pub async fn sign_in(
    ctx: &AppContext,
    door: Door,
    slug: &str,
    email: &str,
    password: &str,
) -> Result<(TenantId, Member), AccountError> {
    let email = email.trim().to_lowercase();
    let slug = slug.trim().to_lowercase();
    let key = Key::global(
        &ctx.key_prefix,
        KeyKind::RateLimit,
        &format!("login:{slug}:{email}"),
    );
    match ctx.state.rate_limit(&key, login_limit(), 1).await {
        Ok(d) if !d.allowed => {
            return Err(AccountError::RateLimited(d.retry_after.as_secs().max(1)));
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "sign-in rate limit unknown; admitting"),
    }
    let tenant = match ctx.store.tenants().find_by_slug(&slug).await? {
        Some(t) => t,
        None => {
            // Spend the time a real check takes, so a wrong slug is not told apart.
            let _ = hash_password(password);
            return Err(AccountError::BadCredentials);
        }
    };
    let members = ctx.store.scope(tenant.id).members();
    let member = match members.by_email(&email).await {
        Ok(m) => m,
        Err(StoreError::NotFound) => {
            let _ = hash_password(password);
            return Err(AccountError::BadCredentials);
        }
        Err(e) => return Err(e.into()),
    };
    let ok = member
        .password_hash
        .as_deref()
        .is_some_and(|h| verify_password(h, password));
    if !ok || !door.admits(member.role) {
        return Err(AccountError::BadCredentials);
    }
    if let Err(e) = members.touch_login(member.id).await {
        tracing::warn!(error = %e, "cannot record the sign-in time");
    }
    Ok((tenant.id, member))
}
