//! Poll subscriptions (`sethub upstream subscribe --delivery poll`): the process serving
//! ingest polls each tenant's poll streams at their transmitters (RFC 8936, short polls, at
//! most 100 SETs each), hands every SET to the same [`super::intake`] a pushed SET takes, and
//! acknowledges on its next poll what was accepted (`ack`) or refused (`setErrs` with the RFC
//! 8935 code); a SET that could not be handled for now (`503`, `429`) is neither, so the
//! transmitter hands it out again. A stream with SETs is polled again at once; when no stream
//! had any, the poller waits a second.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::body::MessageBody;
use serde_json::{Map, Value, json};
use sethub_app::AppContext;
use sethub_app::upstream_rx;
use sethub_domain::UpstreamId;

use super::jwks::JwksCache;
use crate::metrics::Counter;

/// What is owed to a transmitter at the next poll.
#[derive(Default)]
struct Owed {
    ack: Vec<String>,
    errs: Map<String, Value>,
}

/// Starts polling (for as long as the runtime runs).
pub fn spawn(ctx: AppContext) {
    tokio::spawn(async move {
        let cache = JwksCache::shared();
        let counter = Counter::default();
        let mut owed: HashMap<UpstreamId, Owed> = HashMap::new();
        loop {
            let busy = pass(&ctx, &cache, &counter, &mut owed).await;
            if !busy {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
}

/// One poll of every poll subscription; whether any handed out SETs.
async fn pass(
    ctx: &AppContext,
    cache: &JwksCache,
    counter: &Counter,
    owed: &mut HashMap<UpstreamId, Owed>,
) -> bool {
    // One query across tenants; only those with transmitters are visited.
    let Ok(tenants) = ctx.store.tenants_with_upstreams().await else {
        return false;
    };
    let mut busy = false;
    for id in tenants {
        let Ok(ups) = ctx.store.scope(id).upstreams().list().await else {
            continue;
        };
        // Read once, and only when a transmitter handed out SETs.
        let mut slug = None::<String>;
        for up in ups {
            if up
                .subscription
                .as_ref()
                .is_none_or(|s| s.delivery != "poll")
            {
                continue;
            }
            let due = owed.remove(&up.id).unwrap_or_default();
            let sets = match upstream_rx::poll_once(ctx, &up, &due.ack, &due.errs).await {
                Ok(sets) => sets,
                Err(e) => {
                    tracing::warn!(upstream = %up.id, error = %e, "upstream poll failed");
                    // Not acknowledged: owed again at the next poll.
                    owed.insert(up.id, due);
                    continue;
                }
            };
            busy |= !sets.is_empty();
            if !sets.is_empty() && slug.is_none() {
                slug = ctx.store.tenants().get(id).await.ok().map(|t| t.slug);
            }
            let Some(slug) = slug.as_deref() else {
                // The tenant is gone (or unreadable now): nothing acknowledged, owed again.
                owed.insert(up.id, due);
                continue;
            };
            let next = owed.entry(up.id).or_default();
            for (jti, set) in sets {
                let answer = super::intake(ctx, cache, counter, slug, set.trim()).await;
                match answer.status().as_u16() {
                    202 => next.ack.push(jti),
                    400 => {
                        let body = answer
                            .into_body()
                            .try_into_bytes()
                            .ok()
                            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                            .unwrap_or_else(|| json!({"err": "invalid_request"}));
                        next.errs.insert(jti, body);
                    }
                    _ => {}
                }
            }
        }
    }
    busy
}
