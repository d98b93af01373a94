//! The classic modes (`ingest`, `fanout`, `latency`): one tenant, `--streams` push streams to a
//! verifying [`TestReceiver`], `--events` published at `--rate` by `--concurrency` publishers
//! (one per request or `--batch` per request), one report at the end. See the crate docs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use sethub_tests::setup::{self, Publisher, SESSION_REVOKED};
use sethub_tests::{TestReceiver, random_suffix};

use crate::delivery::wait_for_delivery;
use crate::hub::{self, HubOptions};
use crate::measure::{busy_pct, cpu_seconds, host_cpu, peak_rss_mb, percentiles, round};
use crate::publish::{Progress, join_publishers, publisher_task};
use crate::{Args, Plan, say};

pub(crate) async fn run_in(
    args: &Args,
    plan: Arc<Plan>,
    bin: &Path,
    workdir: &Path,
) -> anyhow::Result<(Value, bool)> {
    let running = hub::start(HubOptions {
        bin,
        workdir,
        embedded: args.embedded,
        without_fanout: args.without_fanout,
        env: &args.env,
    })
    .await?;
    let hub = &running.hub;

    // Tenant, receiver, streams.
    let slug = format!("load-{}", random_suffix());
    let tenant = setup::create_tenant(bin, &hub.env, &slug).await?;
    let receiver = if plan.streams > 0 {
        let meta = setup::metadata(&hub.manage_url, &slug).await?;
        let jwks_uri = meta["jwks_uri"].as_str().unwrap_or_default().to_owned();
        let receiver = TestReceiver::builder(jwks_uri, tenant.issuer.clone())
            .verify(!args.no_verify)
            .workers(args.receiver_workers)
            .start()
            .await;
        let creds = setup::create_receiver(bin, &hub.env, &slug, "loadgen").await?;
        let token = setup::token(&creds).await?;
        for i in 0..plan.streams {
            setup::create_push_stream(
                &hub.manage_url,
                &slug,
                &token,
                &receiver.url(&format!("/s/{i}")),
                Some(&format!("Bearer loadgen-{i}")),
                &[SESSION_REVOKED],
            )
            .await
            .with_context(|| format!("creating stream {i}"))?;
        }
        say(&format!(
            "tenant {slug}: {} push streams to {}",
            plan.streams,
            receiver.url("/s/*")
        ));
        Some(receiver)
    } else {
        say(&format!("tenant {slug}: no streams (mode ingest)"));
        None
    };

    // Publish.
    say(&format!(
        "publishing {} events ({}), {} publishers, {}",
        plan.events,
        if plan.batch == 0 {
            "one per request".to_owned()
        } else {
            format!("batches of {}", plan.batch)
        },
        plan.concurrency,
        if plan.rate > 0.0 {
            format!("{} events/s", plan.rate)
        } else {
            "as fast as accepted".to_owned()
        }
    ));
    let publisher = Publisher::new(&hub.ingest_url, &slug, &tenant.api_key)?;
    let next = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(Progress::default());
    let cpu_before = host_cpu();
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..plan.concurrency)
        .map(|_| {
            tokio::spawn(publisher_task(
                publisher.clone(),
                plan.clone(),
                next.clone(),
                progress.clone(),
                start,
            ))
        })
        .collect();
    let all = join_publishers(tasks);
    tokio::pin!(all);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut last = 0usize;
    let published = loop {
        tokio::select! {
            done = &mut all => break done?,
            _ = ticker.tick() => {
                let accepted = progress.accepted.load(Ordering::Relaxed);
                let delivered = receiver.as_ref().map_or(0, TestReceiver::total_received);
                say(&format!(
                    "t={:.0}s accepted={accepted} (+{}/s) failed={} delivered={delivered}",
                    start.elapsed().as_secs_f64(),
                    accepted - last,
                    progress.failed.load(Ordering::Relaxed),
                ));
                last = accepted;
            }
        }
    };
    let publish_cpu_busy = busy_pct(cpu_before, host_cpu());
    let accepted = published.sent.len();
    let publish_secs = match (published.first_send, published.last_answer) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    say(&format!(
        "published: {accepted} accepted in {publish_secs:.2}s, {} failed",
        published.errors.values().sum::<usize>()
    ));

    // Delivery.
    let expected = accepted * plan.streams;
    let mut report_delivery = json!(null);
    let mut complete = true;
    let mut note = Value::Null;
    let mut delivered = 0usize;
    let mut e2e = Vec::new();
    let mut duplicates = 0usize;
    let mut unexpected = 0usize;
    let mut wrong_authorization = 0usize;
    let mut invalid = 0usize;
    let mut invalid_reasons: Vec<String> = Vec::new();
    if let Some(receiver) = &receiver {
        let delivery = wait_for_delivery(
            receiver,
            &published,
            expected,
            Duration::from_secs(args.timeout),
            Duration::from_secs(args.idle_timeout.unwrap_or(15)),
        )
        .await;
        complete = delivery.complete;
        if let Some(n) = &delivery.note {
            say(n);
            note = Value::from(n.clone());
        }
        let mut per_pair: HashMap<(String, String), usize> = HashMap::new();
        let mut last_arrival = None::<Instant>;
        receiver.for_each_received(|path, set| {
            // Stream i pushes to /s/i with `Authorization: Bearer loadgen-i`.
            let expected_auth = path
                .strip_prefix("/s/")
                .map(|i| format!("Bearer loadgen-{i}"));
            if set.authorization.is_none() || set.authorization != expected_auth {
                wrong_authorization += 1;
            }
            let txn = set.txn.clone().unwrap_or_default();
            let Some(sent) = published.sent.get(&txn) else {
                unexpected += 1;
                return;
            };
            let n = per_pair.entry((path.to_owned(), txn)).or_insert(0);
            *n += 1;
            if *n == 1 {
                e2e.push(set.arrived.saturating_duration_since(*sent).as_secs_f64() * 1000.0);
                last_arrival = Some(last_arrival.map_or(set.arrived, |l| l.max(set.arrived)));
            } else {
                duplicates += 1;
            }
        });
        delivered = per_pair.len();
        for path in receiver.paths() {
            for i in receiver.invalid(&path) {
                invalid += 1;
                if invalid_reasons.len() < 5 && !invalid_reasons.contains(&i.reason) {
                    invalid_reasons.push(i.reason);
                }
            }
        }
        let secs = match (published.first_send, last_arrival) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        report_delivery = json!({
            "duration_s": round(secs),
            "waited_after_publish_s": round(
                published
                    .last_answer
                    .map_or(0.0, |l| delivery.ended.saturating_duration_since(l).as_secs_f64())
            ),
        });
    }

    // Report.
    let mut cpu = serde_json::Map::new();
    for (role, process) in &hub.processes {
        if let Some(secs) = process.pid().and_then(cpu_seconds) {
            cpu.insert(role.clone(), json!(secs));
        }
    }
    if let Some(secs) = cpu_seconds(std::process::id()) {
        cpu.insert("loadgen".into(), json!(secs));
    }
    let mut rss = serde_json::Map::new();
    for (role, process) in &hub.processes {
        if let Some(mb) = process.pid().and_then(peak_rss_mb) {
            rss.insert(role.clone(), json!(mb));
        }
    }
    if let Some(mb) = peak_rss_mb(std::process::id()) {
        rss.insert("loadgen".into(), json!(mb));
    }
    let delivery_secs = report_delivery["duration_s"].as_f64().unwrap_or(0.0);
    let mut publish_latency = published.publish_latency_ms.clone();
    let report = json!({
        "mode": format!("{:?}", plan.mode).to_lowercase(),
        "backends": if args.embedded { "embedded" } else { "production" },
        "processes": hub.processes.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(),
        "streams": plan.streams,
        "events": plan.events,
        "rate": plan.rate,
        "concurrency": plan.concurrency,
        "batch": plan.batch,
        "verify": !args.no_verify,
        "accepted_events": accepted,
        "publish_duration_s": round(publish_secs),
        "accepted_events_per_s": if publish_secs > 0.0 { round(accepted as f64 / publish_secs) } else { 0.0 },
        "expected_sets": expected,
        "delivered_sets": delivered,
        "delivery": report_delivery,
        "delivered_sets_per_s": if delivery_secs > 0.0 { round(delivered as f64 / delivery_secs) } else { 0.0 },
        "e2e_latency_ms": percentiles(&mut e2e),
        "publish_latency_ms": percentiles(&mut publish_latency),
        "peak_rss_mb": rss,
        "cpu_s": cpu,
        "host_cpu_busy_pct_while_publishing": publish_cpu_busy,
        "errors": {
            "publish": published.errors,
            "invalid_sets": invalid,
            "invalid_reasons": invalid_reasons,
            "missing_sets": expected.saturating_sub(delivered),
            "duplicate_sets": duplicates,
            "unexpected_sets": unexpected,
            "wrong_authorization": wrong_authorization,
        },
        "complete": complete && accepted == plan.events,
        "note": note,
    });
    running.shut_down().await;
    Ok((report, complete && accepted == plan.events))
}
