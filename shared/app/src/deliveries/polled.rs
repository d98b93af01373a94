//! When a poll stream's receiver last polled: fan-out's poll endpoint notes each poll in the
//! state store (`{prefix}:t:{tenant}:s:{stream}:seen:poll`, an RFC 3339 time kept
//! [`KEEP`]), and the health view reads it. Kept out of the database, because a poll that
//! finds nothing would otherwise write a row.

use chrono::{DateTime, Utc};
use sethub_domain::{StreamId, TenantId};
use sethub_state::{Key, KeyKind};

use crate::AppContext;

/// How long a poll is remembered; a receiver silent for longer reads "not in the last 30 days".
pub const KEEP: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

fn key(ctx: &AppContext, tenant: TenantId, stream: StreamId) -> Key {
    Key::stream(&ctx.key_prefix, tenant, stream, KeyKind::Seen, "poll")
}

/// Notes that the receiver of `stream` polled now. A state store that fails only loses the
/// note (logged): the poll itself goes on.
pub async fn record(ctx: &AppContext, tenant: TenantId, stream: StreamId) {
    let now = Utc::now().to_rfc3339();
    if let Err(e) = ctx
        .state
        .set_with_ttl(&key(ctx, tenant, stream), &now, KEEP)
        .await
    {
        tracing::warn!(error = %e, %stream, "the time of a poll could not be noted");
    }
}

/// When the receiver of `stream` last polled, within [`KEEP`].
pub async fn last(
    ctx: &AppContext,
    tenant: TenantId,
    stream: StreamId,
) -> Result<Option<DateTime<Utc>>, sethub_state::StateError> {
    let seen = ctx.state.get(&key(ctx, tenant, stream)).await?;
    Ok(seen
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc)))
}
