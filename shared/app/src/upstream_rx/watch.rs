//! Keeping subscriptions alive: every `ingest.upstream_check_secs` the process running
//! `manage` reads each subscription's stream status at its transmitter (with a fresh token)
//! and, when the transmitter answers that it has no such stream (it restarted and lost it, or
//! deleted it), creates the stream again as it was asked for, records the new `stream_id` and
//! audience, and asks for a verification. Other failures are recorded as the last error and
//! tried again at the next check.

use std::time::Duration;

use sethub_store::{Subscription, Upstream};

use super::remote::{self, RemoteError};
use super::{UpstreamRxError, client, delivery_object, open_secret, random_state};
use crate::AppContext;

/// Starts the periodic check (nothing when the interval is 0).
pub fn spawn(ctx: AppContext) {
    let secs = ctx.config.ingest.upstream_check_secs;
    if secs == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(secs));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            check_all(&ctx).await;
        }
    });
}

/// One pass over every subscription, in the tenants that have upstream transmitters (one
/// query across tenants finds them).
pub async fn check_all(ctx: &AppContext) {
    let tenants = match ctx.store.tenants_with_upstreams().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "upstream check: cannot find the tenants with transmitters");
            return;
        }
    };
    for id in tenants {
        let Ok(tenant) = ctx.store.tenants().get(id).await else {
            continue;
        };
        let Ok(ups) = ctx.store.scope(tenant.id).upstreams().list().await else {
            continue;
        };
        for up in ups {
            if let Some(sub) = &up.subscription
                && let Err(e) = check(ctx, &tenant.slug, &up, sub).await
            {
                super::note_error(ctx, tenant.id, up.id, &e.to_string()).await;
            }
        }
    }
}

async fn check(
    ctx: &AppContext,
    slug: &str,
    up: &Upstream,
    sub: &Subscription,
) -> Result<(), UpstreamRxError> {
    let http = client(ctx)?;
    let secret = open_secret(ctx, up)?;
    let meta = remote::discover(&http, &up.issuer).await?;
    let token = remote::access_token(&http, &meta.token_endpoint, &sub.client_id, &secret).await?;
    let Some(status_endpoint) = &meta.status_endpoint else {
        return Ok(());
    };
    match remote::stream_status(&http, status_endpoint, &token, &sub.stream_id).await {
        Ok(_) => return Ok(()),
        Err(RemoteError::StreamGone(_)) => {}
        Err(e) => return Err(e.into()),
    }
    tracing::info!(upstream = %up.id, stream = %sub.stream_id, "the upstream lost the stream; making it again");
    let delivery = delivery_object(ctx, slug, &sub.delivery)?;
    let stream =
        remote::create_stream(&http, &meta, &token, delivery, &sub.events_requested).await?;
    let renewed = Subscription {
        stream_id: stream.stream_id.clone(),
        poll_url: stream.poll_url.clone(),
        configuration_endpoint: meta.configuration_endpoint.clone(),
        verification_endpoint: meta.verification_endpoint.clone(),
        token_endpoint: meta.token_endpoint.clone(),
        ..sub.clone()
    };
    let ups = ctx.store.scope(up.tenant_id).upstreams();
    ups.set_subscription(up.id, &stream.audience, &renewed)
        .await?;
    let mut status = up.status.clone().unwrap_or_default();
    status.state = "enabled".into();
    status.last_error = None;
    status.verification_state = meta.verification_endpoint.as_ref().map(|_| random_state());
    ups.set_status(up.id, &status).await?;
    if let (Some(ep), Some(state)) = (&meta.verification_endpoint, &status.verification_state) {
        remote::request_verification(&http, ep, &token, &stream.stream_id, state).await?;
    }
    Ok(())
}
