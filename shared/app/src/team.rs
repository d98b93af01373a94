//! A tenant's team and its invites. Members are removed and their role changed by an owner
//! or an admin (an admin never touches an owner nor makes one; the last owner stays), and
//! each such change ends that member's sessions. Invites are one-time links that expire
//! (`sessions.invite_secs`, 72 h by default), may be bound to one email, and can be listed
//! and revoked. The console, the portal and any API call these functions.

use sethub_domain::{MemberId, ReceiverId, TenantId};
use sethub_store::{Invite, Member, OpenInvite, Role, StoreError, TeamChange, TeamError};

use crate::AppContext;
use crate::console::{AccountError, FieldError, check_password, hash_password, parse_email};

/// Who asks for a team change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub member: MemberId,
    pub role: Role,
}

/// The rules of a team change, on the member as it is now (`new`: the role it would get;
/// `None`: removal). The last-owner rule is the store's (it holds under races).
fn allowed(actor: Actor, target: &Member, new: Option<Role>) -> Result<(), String> {
    if !actor.role.can_write() {
        return Err("only an owner or an admin can change the team".into());
    }
    if target.role == Role::Receiver {
        return Err("portal users are managed with their receiver".into());
    }
    if target.role == Role::Owner && actor.role != Role::Owner {
        return Err("only an owner can remove or change an owner".into());
    }
    match new {
        Some(Role::Receiver) => Err("choose owner, admin or viewer".into()),
        Some(Role::Owner) if actor.role != Role::Owner => {
            Err("only an owner can make someone an owner".into())
        }
        _ => Ok(()),
    }
}

/// Removes a member of the team and ends their sessions. Returns the member as it was.
pub async fn remove_member(
    ctx: &AppContext,
    tenant: TenantId,
    actor: Actor,
    member: MemberId,
) -> Result<Member, TeamError> {
    let removed = ctx
        .store
        .scope(tenant)
        .members()
        .change(member, TeamChange::Remove, |m| allowed(actor, m, None))
        .await?;
    end_sessions(ctx, tenant, member).await;
    tracing::info!(%tenant, by = %actor.member, %member, "team member removed");
    Ok(removed)
}

/// Changes a member's role and ends their sessions (they sign in again with the new role).
pub async fn change_role(
    ctx: &AppContext,
    tenant: TenantId,
    actor: Actor,
    member: MemberId,
    role: Role,
) -> Result<Member, TeamError> {
    let before = ctx
        .store
        .scope(tenant)
        .members()
        .change(member, TeamChange::SetRole(role), |m| {
            allowed(actor, m, Some(role))
        })
        .await?;
    if before.role != role {
        end_sessions(ctx, tenant, member).await;
    }
    tracing::info!(%tenant, by = %actor.member, %member, from = %before.role, to = %role, "team member's role changed");
    Ok(before)
}

/// Ends a member's sessions after a change. The change is made; should the state store
/// fail, the member is still read afresh on each request (a removed member is signed out,
/// a changed role applies at once), so the failure is logged, not returned.
async fn end_sessions(ctx: &AppContext, tenant: TenantId, member: MemberId) {
    if let Err(e) = crate::sessions::end_all(ctx, tenant, member).await {
        tracing::error!(error = %e, %tenant, %member, "cannot end the sessions of a changed member");
    }
}

/// The team's open invites (console invites; a receiver's with `Some`), newest first.
pub async fn open_invites(
    ctx: &AppContext,
    tenant: TenantId,
    receiver: Option<ReceiverId>,
) -> Result<Vec<OpenInvite>, StoreError> {
    ctx.store
        .scope(tenant)
        .members()
        .open_invites(receiver)
        .await
}

/// Revokes an open invite: its link stops working at once. Only an owner or an admin may.
pub async fn revoke_invite(
    ctx: &AppContext,
    tenant: TenantId,
    actor: Actor,
    invite: uuid::Uuid,
) -> Result<(), TeamError> {
    if !actor.role.can_write() {
        return Err(TeamError::Refused(
            "only an owner or an admin can revoke invites".into(),
        ));
    }
    match ctx
        .store
        .scope(tenant)
        .members()
        .revoke_invite(invite)
        .await
    {
        Ok(()) => {
            tracing::info!(%tenant, by = %actor.member, %invite, "invite revoked");
            Ok(())
        }
        Err(StoreError::NotFound) => Err(TeamError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// How long an invite link stays valid (`sessions.invite_secs`).
pub fn invite_lifetime(ctx: &AppContext) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(ctx.config.sessions.invite_secs).unwrap_or(i64::MAX))
}

/// The stored form of an invite token (SHA-256, hex).
pub fn token_hash(token: &str) -> String {
    crate::admin::sha256_hex(token)
}

/// Makes a one-time invite for a receiver's first portal user; returns the token (for the
/// link; only its hash is stored).
pub async fn invite_receiver(
    ctx: &AppContext,
    tenant: TenantId,
    receiver: ReceiverId,
) -> Result<String, AccountError> {
    invite(ctx, tenant, Role::Receiver, Some(receiver), None).await
}

/// Makes a one-time invite for a team member with `role` (admin or viewer), bound to
/// `email` when given (then only that address can accept it).
pub async fn invite_member(
    ctx: &AppContext,
    tenant: TenantId,
    role: Role,
    email: Option<&str>,
) -> Result<String, AccountError> {
    let mut errors = Vec::new();
    if !matches!(role, Role::Admin | Role::Viewer) {
        errors.push(FieldError {
            field: "role",
            message: "invite an admin or a viewer".into(),
        });
    }
    let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
        None => None,
        Some(raw) => match parse_email(raw) {
            Ok(e) => Some(e),
            Err(message) => {
                errors.push(FieldError {
                    field: "email",
                    message,
                });
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(AccountError::Invalid(errors));
    }
    invite(ctx, tenant, role, None, email).await
}

async fn invite(
    ctx: &AppContext,
    tenant: TenantId,
    role: Role,
    receiver: Option<ReceiverId>,
    email: Option<String>,
) -> Result<String, AccountError> {
    let token = crate::admin::random_token().map_err(|e| AccountError::Hash(e.to_string()))?;
    ctx.store
        .scope(tenant)
        .members()
        .invite(
            &token_hash(&token),
            &Invite {
                role,
                receiver_id: receiver,
                expires_at: chrono::Utc::now() + invite_lifetime(ctx),
                email,
            },
        )
        .await?;
    Ok(token)
}

/// The tenant of `slug` and its open invite for `token`, or `BadCredentials` (an unknown
/// tenant, a wrong, used, revoked or expired token look the same).
pub async fn open_invite(
    ctx: &AppContext,
    slug: &str,
    token: &str,
) -> Result<(TenantId, Invite), AccountError> {
    let Some(tenant) = ctx.store.tenants().find_by_slug(slug).await? else {
        return Err(AccountError::BadCredentials);
    };
    match ctx
        .store
        .scope(tenant.id)
        .members()
        .open_invite(&token_hash(token))
        .await
    {
        Ok(i) => Ok((tenant.id, i)),
        Err(StoreError::NotFound) => Err(AccountError::BadCredentials),
        Err(e) => Err(e.into()),
    }
}

/// Accepts an invite: checks the email (the invite's own, when bound to one) and the
/// password, then creates the member and uses the invite up, together.
pub async fn accept_invite(
    ctx: &AppContext,
    slug: &str,
    token: &str,
    email: &str,
    password: &str,
    portal: bool,
) -> Result<(TenantId, Member), AccountError> {
    let (tenant, invite) = open_invite(ctx, slug, token).await?;
    // A portal invite is accepted in the portal only, a team invite in the console only.
    if (invite.role == Role::Receiver) != portal {
        return Err(AccountError::BadCredentials);
    }
    let mut errors = Vec::new();
    let email = match parse_email(email) {
        Ok(e) if invite.email.as_ref().is_some_and(|bound| *bound != e) => {
            errors.push(FieldError {
                field: "email",
                message: "this invite is for another email address".into(),
            });
            None
        }
        Ok(e) => Some(e),
        Err(message) => {
            errors.push(FieldError {
                field: "email",
                message,
            });
            None
        }
    };
    if let Err(m) = check_password(password) {
        errors.push(FieldError {
            field: "password",
            message: m,
        });
    }
    let (Some(email), true) = (email, errors.is_empty()) else {
        return Err(AccountError::Invalid(errors));
    };
    let hash = hash_password(password)?;
    match ctx
        .store
        .scope(tenant)
        .members()
        .accept_invite(&token_hash(token), &email, Some(hash))
        .await
    {
        Ok(m) => Ok((tenant, m)),
        Err(StoreError::NotFound) => Err(AccountError::BadCredentials),
        Err(StoreError::Conflict { .. }) => Err(AccountError::Invalid(vec![FieldError {
            field: "email",
            message: "this email already has an account here; sign in instead".into(),
        }])),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(role: Role) -> Member {
        Member {
            id: MemberId::new(),
            tenant_id: TenantId::new(),
            email: "m@example.com".into(),
            password_hash: None,
            role,
            receiver_id: None,
            created_at: chrono::Utc::now(),
            last_login_at: None,
        }
    }

    fn actor(role: Role) -> Actor {
        Actor {
            member: MemberId::new(),
            role,
        }
    }

    #[test]
    fn an_owner_may_remove_and_change_anyone_on_the_team() {
        for target in [Role::Owner, Role::Admin, Role::Viewer] {
            assert!(allowed(actor(Role::Owner), &member(target), None).is_ok());
            for new in [Role::Owner, Role::Admin, Role::Viewer] {
                assert!(allowed(actor(Role::Owner), &member(target), Some(new)).is_ok());
            }
        }
    }

    #[test]
    fn an_admin_neither_touches_an_owner_nor_makes_one() {
        let admin = actor(Role::Admin);
        assert!(allowed(admin, &member(Role::Owner), None).is_err());
        assert!(allowed(admin, &member(Role::Owner), Some(Role::Viewer)).is_err());
        assert!(allowed(admin, &member(Role::Admin), Some(Role::Owner)).is_err());
        assert!(allowed(admin, &member(Role::Viewer), Some(Role::Admin)).is_ok());
        assert!(allowed(admin, &member(Role::Admin), None).is_ok());
    }

    #[test]
    fn a_viewer_changes_nobody_and_nobody_becomes_a_portal_user() {
        assert!(allowed(actor(Role::Viewer), &member(Role::Viewer), None).is_err());
        assert!(
            allowed(
                actor(Role::Owner),
                &member(Role::Viewer),
                Some(Role::Receiver)
            )
            .is_err()
        );
        assert!(allowed(actor(Role::Owner), &member(Role::Receiver), None).is_err());
    }
}
