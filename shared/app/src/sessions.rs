//! Console and portal sessions, kept in the state store: where a session and a member's list
//! of sessions live, the lifetimes, and ending a member's sessions (sign out everywhere,
//! removal, role change). The cookie holds only the random id (`sethub_manage::web` stores
//! the session through actix-session's storage trait over these keys).

use std::time::Duration;

use sethub_domain::{MemberId, TenantId};
use sethub_state::{Key, KeyKind, StateError};

use crate::AppContext;

/// Where sessions are used; each has its own cookie and its own session ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Console,
    Portal,
}

impl Surface {
    fn as_str(self) -> &'static str {
        match self {
            Self::Console => "console",
            Self::Portal => "portal",
        }
    }
}

/// How long sessions live (config `sessions.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after it began (sign-in), however used.
    pub max: Duration,
}

impl Lifetimes {
    pub fn of(ctx: &AppContext) -> Self {
        let s = &ctx.config.sessions;
        Self {
            idle: Duration::from_secs(s.idle_secs),
            max: Duration::from_secs(s.max_secs),
        }
    }
}

/// Whether `id` can be a session id (43 URL-safe base64 characters, as made by
/// [`new_id`]); anything else is never looked up.
pub fn valid_id(id: &str) -> bool {
    id.len() == 43
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A fresh random session id (256 bits).
pub fn new_id() -> Result<String, crate::admin::RandomFailed> {
    crate::admin::random_token()
}

/// The state-store key of one session.
pub fn session_key(ctx: &AppContext, surface: Surface, id: &str) -> Key {
    Key::global(
        &ctx.key_prefix,
        KeyKind::Session,
        &format!("{}:{id}", surface.as_str()),
    )
}

/// The state-store key listing a member's sessions (console and portal alike).
pub fn member_index(ctx: &AppContext, tenant: TenantId, member: MemberId) -> Key {
    Key::tenant(
        &ctx.key_prefix,
        tenant,
        KeyKind::SessionIndex,
        &member.to_string(),
    )
}

/// Ends every session of a member; returns how many were open. Used by "sign out of all
/// sessions", member removal and role change.
pub async fn end_all(
    ctx: &AppContext,
    tenant: TenantId,
    member: MemberId,
) -> Result<u64, StateError> {
    let ended = ctx
        .state
        .delete_index(&member_index(ctx, tenant, member))
        .await?;
    tracing::info!(%tenant, %member, ended, "ended the member's sessions");
    Ok(ended)
}

/// How many sessions of a member are open.
pub async fn count(
    ctx: &AppContext,
    tenant: TenantId,
    member: MemberId,
) -> Result<usize, StateError> {
    Ok(ctx
        .state
        .list_index(&member_index(ctx, tenant, member))
        .await?
        .len())
}
