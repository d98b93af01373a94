//! Fan-out under a failing receiver: its memory stays bounded with 50,000 SETs refused, and
//! a noisy tenant whose receivers answer 503 stays a neighbour of a quiet one.

use super::*;

/// A fan-out process's memory: its `VmHWM` (peak resident set), in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_receiver_answering_503_for_50000_sets_keeps_fanout_under_its_memory_bound() {
    const N: usize = 50_000;
    const MAX_BACKLOG: u64 = 500;
    const FANOUT_CONCURRENCY: u64 = 2;
    let started = Instant::now();
    // Every SET is retried every 10 s or so (a failing receiver's SETs come back at the pace
    // of their schedule, here a flat one so the test need not wait for a long one).
    let w = World::split_with(&[
        ("SETHUB_PUSH__MAX_BACKLOG", "500"),
        ("SETHUB_PUSH__FANOUT_CONCURRENCY", "2"),
        ("SETHUB_PUSH__RETRY__INITIAL_SECS", "10"),
        ("SETHUB_PUSH__RETRY__FACTOR", "1"),
        ("SETHUB_PUSH__RETRY__MAX_DELAY_SECS", "10"),
    ])
    .await;
    // The bound `dispatch.rs` documents: the backlog, as many short waits, and the SETs of
    // the event messages (a hundred events each, one stream here) being fanned out when the
    // backlog filled.
    let bound = 2 * MAX_BACKLOG + FANOUT_CONCURRENCY * 100;
    // A receiver that only decodes (verifying 50,000 signatures would time the receiver).
    let rx = sethub_tests::receiver::TestReceiver::builder(
        w.hub.jwks_url(&w.tenant.slug),
        w.tenant.issuer.clone(),
    )
    .verify(false)
    .workers(2)
    .start()
    .await;
    rx.behave("/s/down", sethub_tests::receiver::Behave::Status(503));
    let stream = setup::create_push_stream(
        &w.hub.manage_url,
        &w.tenant.slug,
        &w.token,
        &rx.url("/s/down"),
        None,
        &[SESSION_REVOKED],
    )
    .await
    .unwrap()
    .stream_id;
    let fanout = w.hub.process("fanout").unwrap();
    let pid = fanout.pid().unwrap();
    let metrics = fanout.url("/metrics");
    let rss_at_start = peak_rss_kb(pid);

    // Publish in batches of a hundred, a few requests at a time.
    let client = reqwest::Client::new();
    let url = format!("{}/t/{}/events:batch", w.hub.ingest_url, w.tenant.slug);
    let batches: Vec<usize> = (0..N / 100).collect();
    for group in batches.chunks(8) {
        let mut sent = tokio::task::JoinSet::new();
        for b in group {
            let events: Vec<Value> = (0..100)
                .map(|i| setup::session_revoked(&format!("user{}@example.com", (b * 100 + i) % 7)))
                .collect();
            let req = client
                .post(&url)
                .bearer_auth(&w.tenant.api_key)
                .json(&json!({ "events": events }));
            sent.spawn(async move { req.send().await.unwrap().status().as_u16() });
        }
        while let Some(status) = sent.join_next().await {
            assert_eq!(status.unwrap(), 200);
        }
    }
    let published = started.elapsed();

    // Every SET is stored and has been refused at least once; fan-out holds no more than
    // its bound meanwhile.
    wait_until("every SET to be signed", LONG, || async {
        let signed = metric(&metrics, r#"sethub_sets_signed_total{kind="event"}"#).await;
        (signed >= Some(N as u64)).then_some(())
    })
    .await;
    wait_for_state(&w, &stream, "pending", N as u64).await;
    assert!(rx.attempts("/s/down").iter().all(|a| a.status == 503));
    let peak_failing = metric(&metrics, "sethub_push_in_memory_peak")
        .await
        .expect("fan-out exports sethub_push_in_memory_peak");
    assert!(
        peak_failing <= bound,
        "fan-out held {peak_failing} deliveries in memory (bound {bound})"
    );
    let parked = metric(&metrics, "sethub_push_parked_total").await.unwrap();
    assert!(
        parked >= N as u64,
        "every SET waited in the database ({parked})"
    );
    let failing = started.elapsed();

    // The receiver recovers: every SET arrives, and the bound still holds.
    rx.behave("/s/down", sethub_tests::receiver::Behave::Accept);
    // Counted as they arrive (each request checks the count, not a copy of every SET: the
    // receiver's work per request must not grow with what it received, or it, not fan-out,
    // is what this measures), then every event's SET by its `txn`. The parked SETs come back
    // at fan-out's pace: about 47 s alone on this machine kind (it was 334 s while every
    // request to the test receiver scanned every attempt before it under its lock).
    rx.wait_for_count("/s/down", N, LONG).await.unwrap();
    wait_until("all 50,000 SETs to arrive", LONG, || async {
        (rx.distinct_txns("/s/down") == N).then_some(())
    })
    .await;
    let recovered = started.elapsed() - failing;
    wait_for_state(&w, &stream, "delivered", N as u64).await;
    let peak = metric(&metrics, "sethub_push_in_memory_peak")
        .await
        .unwrap();
    assert!(
        peak <= bound,
        "fan-out held {peak} deliveries in memory (bound {bound})"
    );
    // Its resident memory grew by less than the SETs themselves would take (each token is
    // about 700 bytes; held in memory as before, 50,000 of them and their jobs took over
    // 60 MB more).
    let grew_mb = peak_rss_kb(pid).saturating_sub(rss_at_start) / 1024;
    eprintln!(
        "published in {published:?}, all refused by {failing:?}, delivered by {:?} \
         ({recovered:?} after the receiver recovered); peak in memory {peak} (bound {bound}); \
         VmHWM grew by {grew_mb} MB",
        started.elapsed()
    );
    assert!(grew_mb < 48, "fan-out's peak memory grew by {grew_mb} MB");
}

/// The quiet tenant publishes `n` events, one per request at `per_second`, open loop (each
/// publish in its own task, so a slow answer does not delay the next); returns each event's
/// publish → receipt latency at `path`, sorted.
async fn quiet_latencies(
    publisher: &setup::Publisher,
    rx: &sethub_tests::receiver::TestReceiver,
    path: &str,
    n: usize,
    per_second: u64,
) -> Vec<std::time::Duration> {
    let before = rx.count(path);
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(1000 / per_second));
    let mut sent = tokio::task::JoinSet::new();
    for i in 0..n {
        ticks.tick().await;
        let publisher = publisher.clone();
        sent.spawn(async move {
            let at = Instant::now();
            let body = setup::session_revoked(&format!("quiet{i}@example.com"));
            (publisher.publish(&body).await.unwrap(), at)
        });
    }
    let mut published = HashMap::new();
    while let Some(r) = sent.join_next().await {
        let (id, at) = r.unwrap();
        published.insert(id, at);
    }
    rx.wait_for_count(path, before + n, LONG).await.unwrap();
    let mut latencies: Vec<_> = rx
        .received(path)
        .into_iter()
        .filter_map(|s| {
            let at = published.get(s.txn.as_deref()?)?;
            Some(s.arrived.saturating_duration_since(*at))
        })
        .collect();
    assert_eq!(latencies.len(), n, "each quiet SET arrived once");
    latencies.sort();
    latencies
}

fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::test]
async fn a_noisy_tenant_whose_receiver_answers_503_stays_a_neighbour_of_a_quiet_one() {
    const MAX_BACKLOG: u64 = 2_000;
    const PER_TENANT: u64 = 500;
    const FANOUT_CONCURRENCY: u64 = 4;
    const NOISY_STREAMS: usize = 10;
    const QUIET_EVENTS: usize = 200;
    const QUIET_RATE: u64 = 50;
    // Retries every 0.2–1 s and a breaker that probes every 300 ms: the noisy tenant's SETs
    // come back many times while the quiet tenant publishes.
    let w = World::split_with(&[
        ("SETHUB_PUSH__MAX_BACKLOG", "2000"),
        ("SETHUB_PUSH__MAX_BACKLOG_PER_TENANT", "500"),
        ("SETHUB_PUSH__FANOUT_CONCURRENCY", "4"),
    ])
    .await;
    let fanout = w.hub.process("fanout").unwrap();
    let metrics = fanout.url("/metrics");
    // One receiver on one origin for both tenants (the endpoint slots are shared), decoding
    // only (two tenants' signatures; verifying thousands would time the receiver).
    let rx = sethub_tests::receiver::TestReceiver::builder(
        w.hub.jwks_url(&w.tenant.slug),
        w.tenant.issuer.clone(),
    )
    .verify(false)
    .workers(2)
    .start()
    .await;
    setup::create_push_stream(
        &w.hub.manage_url,
        &w.tenant.slug,
        &w.token,
        &rx.url("/quiet"),
        None,
        &[SESSION_REVOKED],
    )
    .await
    .unwrap();
    let quiet =
        setup::Publisher::new(&w.hub.ingest_url, &w.tenant.slug, &w.tenant.api_key).unwrap();

    let bin = std::path::Path::new(BIN);
    // The noisy tenant on another event shard than the quiet one (1 in 8 share one, and
    // those queue behind each other by design; ARCHITECTURE.md, event shards).
    let shards =
        sethub_bus::Topology::new("any").with_event_shards(sethub_bus::DEFAULT_EVENT_SHARDS);
    let shard_of = |id: &str| shards.shard_of(id.parse().unwrap());
    let (slug, noisy) = loop {
        let slug = format!("n{}", sethub_tests::random_suffix());
        let tenant = setup::create_tenant(bin, &w.hub.env, &slug).await.unwrap();
        if shard_of(&tenant.tenant_id) != shard_of(&w.tenant.tenant_id) {
            break (slug, tenant);
        }
    };
    let creds = setup::create_receiver(bin, &w.hub.env, &slug, "noisy")
        .await
        .unwrap();
    let token = setup::token(&creds).await.unwrap();
    for i in 0..NOISY_STREAMS {
        let path = format!("/noisy{i}");
        rx.behave(&path, sethub_tests::receiver::Behave::Status(503));
        setup::create_push_stream(
            &w.hub.manage_url,
            &slug,
            &token,
            &rx.url(&path),
            None,
            &[SESSION_REVOKED],
        )
        .await
        .unwrap();
    }

    // Warm up, then the quiet tenant alone.
    quiet_latencies(&quiet, &rx, "/quiet", 20, QUIET_RATE).await;
    let alone = quiet_latencies(&quiet, &rx, "/quiet", QUIET_EVENTS, QUIET_RATE).await;

    // The noisy tenant publishes 25 events every 250 ms (a thousand SETs a second to
    // receivers answering 503) from now on; once its failures have piled up, the quiet one
    // again.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noise = {
        let publisher = setup::Publisher::new(&w.hub.ingest_url, &slug, &noisy.api_key).unwrap();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(std::time::Duration::from_millis(250));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut published = 0usize;
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ticks.tick().await;
                let events: Vec<Value> = (0..25)
                    .map(|i| setup::session_revoked(&format!("noisy{}@example.com", n + i)))
                    .collect();
                n += 25;
                if let Ok(items) = publisher.publish_batch(&events).await {
                    published += items.iter().filter(|i| i.is_ok()).count();
                }
            }
            published
        })
    };
    wait_until(
        "the noisy tenant's SETs to pile up in the database",
        LONG,
        || async {
            let parked = metric(&metrics, "sethub_push_parked_total").await;
            (parked >= Some(5_000)).then_some(())
        },
    )
    .await;
    let with_noise = quiet_latencies(&quiet, &rx, "/quiet", QUIET_EVENTS, QUIET_RATE).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let noisy_published = noise.await.unwrap();

    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let (p50_alone, p99_alone) = (percentile(&alone, 0.5), percentile(&alone, 0.99));
    let (p50_noise, p99_noise) = (percentile(&with_noise, 0.5), percentile(&with_noise, 0.99));
    let peak = metric(&metrics, "sethub_push_in_memory_peak")
        .await
        .unwrap();
    let overflowed = metric(
        &metrics,
        r#"sethub_push_deliveries_total{outcome="overflow"}"#,
    )
    .await
    .unwrap_or(0);
    let parked = metric(&metrics, "sethub_push_parked_total").await.unwrap();
    let noisy_attempts: usize = (0..NOISY_STREAMS)
        .map(|i| rx.attempts(&format!("/noisy{i}")).len())
        .sum();
    eprintln!(
        "quiet publish -> receipt p50/p99: alone {:.1}/{:.1} ms, with the noisy tenant \
         {:.1}/{:.1} ms; noisy: {noisy_published} events published, {noisy_attempts} attempts \
         refused, {overflowed} SETs overflowed to the database, {parked} parked; fan-out \
         peak in memory {peak}",
        ms(p50_alone),
        ms(p99_alone),
        ms(p50_noise),
        ms(p99_noise),
    );
    // Only the quiet tenant's SETs were received, each once, on its first attempt.
    for i in 0..NOISY_STREAMS {
        assert_eq!(rx.count(&format!("/noisy{i}")), 0, "a 503 receives nothing");
    }
    let quiet_attempts = rx.attempts("/quiet");
    assert!(quiet_attempts.iter().all(|a| a.status == 202));
    assert_eq!(
        quiet_attempts.len(),
        20 + 2 * QUIET_EVENTS,
        "no quiet SET was retried"
    );
    // The noise was real: the noisy tenant's failures opened its breaker, and its SETs
    // piled up past its share of memory and waited in the database.
    assert!(noisy_attempts >= 20, "{noisy_attempts}");
    assert!(overflowed > 0 && parked >= 5_000, "{overflowed} {parked}");
    // Fan-out's memory stayed within its bound (`dispatch`: the backlog, as many short
    // waits, and the SETs of the event messages being fanned out when it filled), and
    // within the noisy tenant's share of it plus the quiet tenant's few SETs: the rest of
    // the noisy tenant's SETs waited in the database.
    let bound = 2 * MAX_BACKLOG + FANOUT_CONCURRENCY * 100 * NOISY_STREAMS as u64;
    assert!(
        peak <= bound,
        "fan-out held {peak} deliveries (bound {bound})"
    );
    assert!(
        peak <= PER_TENANT + 100,
        "fan-out held {peak} deliveries (the noisy tenant's share is {PER_TENANT})"
    );
    // The quiet tenant kept its pace: its p99 at most doubled, or grew by at most 100 ms (on
    // a shared 2-core machine, a debug build's p99 of 200 samples moves by tens of ms
    // between runs; issue 13 measured 9 ms alone and 244 ms with the noise before).
    let allowed = (2 * p99_alone).max(p99_alone + std::time::Duration::from_millis(100));
    assert!(
        p99_noise <= allowed,
        "quiet p99 {:.1} ms with the noise, {:.1} ms alone (allowed {:.1} ms)",
        ms(p99_noise),
        ms(p99_alone),
        ms(allowed)
    );
}
