//! Poll delivery (RFC 8936, spec/poll.md): `POST /t/{slug}/ssf/poll/{stream_id}`, the
//! endpoint the control plane assigns to a poll stream.
//!
//! The receiver authenticates with its access token (scope `ssf.poll`, or `ssf.manage`).
//! A request first settles what it reports (`ack`: delivered; `setErrs`: dead, with the
//! error kept in the delivery log; both idempotent, unknown `jti`s ignored), then hands out
//! up to `maxEvents` queued SETs (default `poll.default_max_events`, capped at
//! `poll.max_max_events`; `0` hands out none), oldest first. A SET handed out and not
//! acknowledged within `poll.visibility_timeout_secs` is offered again. With
//! `returnImmediately: false` (the default) and nothing to hand out, the request waits up to
//! `poll.default_wait_secs` (capped at `poll.max_wait_secs`) and is woken through the state
//! store when fan-out queues a SET for the stream.
//!
//! Answer: `200 {"sets": {jti: SET}, "moreAvailable": bool}`. Errors, in the SSF API's shape
//! (`sethub_app::ssf::SsfError`, the receiver extractor and the poll-stream lookup are the
//! stream API's own): 401 (with `WWW-Authenticate`) before the body is read, 403 without the
//! poll scope, 404 for a stream that is not the caller's poll stream, 400 for a malformed
//! request (a NUL anywhere in the path, the query or the body among them, naming where), 503
//! when the database cannot answer.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use sethub_app::AppContext;
use sethub_app::ssf::{Receiver, SCOPE_POLL, SsfError};
use sethub_domain::StreamId;
use sethub_store::StoreError;

pub use sethub_app::streams::{poll_wake_key as wake_key, wake_pollers as notify};

/// The long polls waiting now (`sethub_poll_waiting`). One gauge per process, shared by the
/// server's workers (each has its own app data; the first to serve a poll registers it).
static WAITING: std::sync::LazyLock<Option<prometheus::IntGauge>> =
    std::sync::LazyLock::new(|| {
        prometheus::IntGauge::new("poll_waiting", "Long polls waiting for a SET").ok()
    });

/// Registers [`WAITING`] with the process's metrics, once per worker.
pub struct Waiting {
    registered: std::sync::Once,
}

impl Default for Waiting {
    fn default() -> Self {
        Self {
            registered: std::sync::Once::new(),
        }
    }
}

impl Waiting {
    fn gauge(&self, ctx: &AppContext) -> Option<&'static prometheus::IntGauge> {
        let g = WAITING.as_ref()?;
        self.registered.call_once(|| {
            if let Err(e) = ctx.metrics.register(g) {
                tracing::debug!(error = %e, "poll metric already registered");
            }
        });
        Some(g)
    }
}

/// Counts one waiting long poll while it lives.
struct WaitingGuard<'a>(Option<&'a prometheus::IntGauge>);

impl<'a> WaitingGuard<'a> {
    fn new(g: Option<&'a prometheus::IntGauge>) -> Self {
        if let Some(g) = g {
            g.inc();
        }
        Self(g)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.0 {
            g.dec();
        }
    }
}

/// What a poll request asks for.
struct PollRequest {
    max_events: u64,
    return_immediately: bool,
    ack: Vec<String>,
    set_errs: Vec<(String, String, String)>,
}

fn parse(body: &[u8], default_max: u64, cap: u64) -> Result<PollRequest, String> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?
    };
    let Value::Object(obj) = value else {
        return Err("the body must be a JSON object".into());
    };
    // A NUL names no SET and cannot be kept in the delivery log: refused before anything is
    // settled.
    if let Some(at) = sethub_http::nul::in_members(&obj) {
        return Err(format!("{at}: {}", sethub_http::nul::NUL_REFUSED));
    }
    let max_events = match obj.get("maxEvents") {
        None | Some(Value::Null) => default_max,
        Some(v) => v
            .as_u64()
            .ok_or("`maxEvents` must be a non-negative integer")?
            .min(cap),
    };
    let return_immediately = match obj.get("returnImmediately") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("`returnImmediately` must be a boolean".into()),
    };
    let ack = match obj.get("ack") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or("`ack` must be an array of jti strings")?,
        Some(_) => return Err("`ack` must be an array of jti strings".into()),
    };
    let set_errs = match obj.get("setErrs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(errs)) => errs
            .iter()
            .map(|(jti, e)| {
                let err = e.get("err").and_then(Value::as_str);
                let description = e.get("description").and_then(Value::as_str).unwrap_or("");
                err.map(|err| (jti.clone(), err.to_owned(), description.to_owned()))
                    .ok_or_else(|| format!("`setErrs.{jti}` must be {{\"err\", \"description\"}}"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err("`setErrs` must be an object keyed by jti".into()),
    };
    if ack.len() + set_errs.len() > 10_000 {
        return Err("at most 10000 `ack` and `setErrs` entries per request".into());
    }
    Ok(PollRequest {
        max_events,
        return_immediately,
        ack,
        set_errs,
    })
}

/// Settles the request's `ack` and `setErrs` and claims the first SETs it is handed, in one
/// transaction.
async fn settle_and_claim(
    scope: &sethub_store::TenantScope<'_>,
    stream: StreamId,
    request: &PollRequest,
    visibility: Duration,
    made_since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(Vec<sethub_store::Delivery>, bool), StoreError> {
    let tx = scope.begin().await?;
    let deliveries = tx.deliveries();
    deliveries.ack(stream, &request.ack).await?;
    deliveries.report_errors(stream, &request.set_errs).await?;
    let claimed = deliveries
        .poll_made_since(stream, request.max_events, visibility, made_since)
        .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// The oldest a SET may be to be handed out: `poll.retention_max_age_secs` ago (older ones
/// are the sweep's to drop, and are never served meanwhile); `None` when the age is too
/// large to subtract.
fn made_since(cfg: &sethub_config::PollConfig) -> Option<chrono::DateTime<chrono::Utc>> {
    let age = chrono::Duration::try_seconds(i64::try_from(cfg.retention_max_age_secs).ok()?)?;
    chrono::Utc::now().checked_sub_signed(age)
}

/// `POST /t/{slug}/ssf/poll/{stream_id}`.
pub async fn poll(
    ctx: web::Data<AppContext>,
    waiting: web::Data<Waiting>,
    req: HttpRequest,
    rx: Receiver,
    body: web::Bytes,
) -> Result<HttpResponse, SsfError> {
    let caller = rx.require(SCOPE_POLL)?;
    let tenant = caller.tenant.id;
    // A stream id that does not parse names no poll stream of the caller.
    let stream = req
        .match_info()
        .get("stream_id")
        .and_then(|s| s.parse::<StreamId>().ok())
        .ok_or(SsfError::NotFound)?;
    sethub_app::ssf::streams::poll_stream(&ctx, caller, stream).await?;
    // The health view's "last poll", noted even when the poll finds nothing or is refused
    // below for its body.
    sethub_app::deliveries::polled::record(&ctx, tenant, stream).await;
    let scope = ctx.store.scope(tenant);
    let cfg = &ctx.config.poll;
    let request = parse(
        &body,
        u64::from(cfg.default_max_events),
        u64::from(cfg.max_max_events),
    )
    .map_err(SsfError::BadRequest)?;
    let deliveries = scope.deliveries();
    let visibility = Duration::from_secs(cfg.visibility_timeout_secs);
    let wait = Duration::from_secs(cfg.default_wait_secs.min(cfg.max_wait_secs));
    let deadline = tokio::time::Instant::now() + wait;
    let key = wake_key(&ctx, tenant, stream);
    // A poll claim is a span of its own trace (stored SETs keep no trace context).
    let span = sethub_telemetry::trace::Span::root("fanout.poll_claim");
    span.set("sethub.stream", || stream.to_string());
    let mut first = true;
    loop {
        // Subscribe before looking, so a SET queued in between still wakes this poll.
        let guard = if request.return_immediately {
            None
        } else {
            ctx.state.subscribe(&key).await.ok()
        };
        let claimed = if std::mem::take(&mut first) {
            // What the request settles and what it is handed: one transaction.
            settle_and_claim(&scope, stream, &request, visibility, made_since(cfg)).await
        } else {
            deliveries
                .poll_made_since(stream, request.max_events, visibility, made_since(cfg))
                .await
        };
        let (sets, more) = claimed?;
        let now = tokio::time::Instant::now();
        // An acknowledge-only request (`maxEvents: 0`) answers once a SET is available.
        let ready = !sets.is_empty() || (request.max_events == 0 && more);
        // A process shutting down answers at once rather than hold the poll to its end.
        let stopping = ctx.shutdown.has_begun();
        if ready || request.return_immediately || now >= deadline || stopping {
            span.set("sethub.sets", || {
                i64::try_from(sets.len()).unwrap_or(i64::MAX)
            });
            let sets: Map<String, Value> = sets
                .into_iter()
                .map(|d| (d.jti, Value::from(d.set_token)))
                .collect();
            return Ok(HttpResponse::Ok()
                .insert_header(("Cache-Control", "no-store"))
                .json(json!({ "sets": sets, "moreAvailable": more })));
        }
        let _waiting = WaitingGuard::new(waiting.gauge(&ctx));
        let shutdown = ctx.shutdown.clone();
        let wait = async move {
            match guard {
                Some(mut g) => {
                    g.wait(deadline - now).await;
                }
                // The state store cannot wake us: look again shortly.
                None => {
                    tokio::time::sleep((deadline - now).min(Duration::from_millis(250))).await;
                }
            }
        };
        tokio::select! {
            () = wait => {}
            () = shutdown.begun() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_defaults_caps_and_named_errors() {
        let r = parse(b"", 100, 1000).unwrap();
        assert_eq!((r.max_events, r.return_immediately), (100, false));
        let r = parse(
            br#"{"maxEvents": 5000, "returnImmediately": true, "ack": ["a"]}"#,
            100,
            1000,
        )
        .unwrap();
        assert_eq!(
            (r.max_events, r.return_immediately, r.ack.len()),
            (1000, true, 1)
        );
        let r = parse(
            br#"{"setErrs": {"j1": {"err": "invalid_key", "description": "no"}}}"#,
            100,
            1000,
        )
        .unwrap();
        assert_eq!(
            r.set_errs,
            vec![("j1".into(), "invalid_key".into(), "no".into())]
        );
        for (bad, says) in [
            (&br#"{"maxEvents": -1}"#[..], "maxEvents"),
            (br#"{"returnImmediately": "yes"}"#, "returnImmediately"),
            (br#"{"ack": [1]}"#, "ack"),
            (br#"{"setErrs": {"j": {}}}"#, "setErrs.j"),
            (br#"[]"#, "object"),
            (br#"{"#, "JSON"),
            (
                br#"{"ack": ["a", "b\u0000"]}"#,
                "ack[1]: must not contain the NUL",
            ),
            (
                br#"{"setErrs": {"j": {"err": "x", "description": "\u0000"}}}"#,
                "setErrs.j.description",
            ),
        ] {
            let e = parse(bad, 100, 1000).err().unwrap();
            assert!(e.contains(says), "{e}");
        }
    }
}
