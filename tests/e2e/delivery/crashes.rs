//! Crashes and backend restarts mid-run: a fan-out process SIGKILLed (alone, or one of two),
//! RabbitMQ SIGKILLed and restarted, Redis restarted with its data gone. Nothing accepted is
//! lost, and what is pushed twice stays within a bound the test derives from the settings.

use super::*;
/// The settings of the tests that kill a fan-out process, and the events they publish.
const KILL_ENV: [(&str, &str); 2] = [
    ("SETHUB_PUSH__MAX_BACKLOG", "50"),
    ("SETHUB_PUSH__FANOUT_CONCURRENCY", "2"),
];
const KILL_MAX_BACKLOG: usize = 50;
const KILL_FANOUT_CONCURRENCY: usize = 2;
/// Events per publish request, so per `events_accepted` bus message.
const KILL_BATCH: usize = 25;
const KILL_EVENTS: usize = 1000;

/// The most SETs one SIGKILLed fan-out process can make the hub push twice, with
/// [`KILL_ENV`] and `streams` streams matching every event: a SET is pushed again only if the
/// dead process had pushed it and not yet written its outcome, and until that is written the
/// process owns the delivery. A process owns at most `push.max_backlog` deliveries to push
/// (it takes no bus message while it has that many) plus those of the messages it was
/// fanning out when the backlog filled (`push.fanout_concurrency` × events per message ×
/// streams). Those being pushed, and those pushed and waiting in the recorder's batch, are
/// among them.
fn kill_duplicate_bound(streams: usize) -> usize {
    KILL_MAX_BACKLOG + KILL_FANOUT_CONCURRENCY * KILL_BATCH * streams
}

/// Waits until the fan-out at `metrics` holds at least `n` deliveries in memory (work in
/// flight for a kill to interrupt); returns how many.
async fn holding(metrics: &str, n: u64) -> u64 {
    wait_until(&format!("fan-out to hold {n} deliveries"), LONG, || async {
        metric(metrics, "sethub_push_in_memory")
            .await
            .filter(|held| *held >= n)
    })
    .await
}

#[tokio::test]
async fn killing_fanout_mid_run_loses_nothing_and_pushes_again_at_most_what_it_had_not_recorded() {
    let mut w = World::split_with(&KILL_ENV).await;
    let paths = ["/s/a", "/s/b"];
    for p in paths {
        w.stream(p, &[SESSION_REVOKED]).await;
    }
    w.receiver
        .behave("/s/a", Behave::Delay(Duration::from_millis(5)));
    let ingest = w.hub.ingest_url.clone();
    let tenant = w.tenant.clone();
    let publishing = tokio::spawn(async move {
        publish_all_in(&ingest, &tenant, KILL_EVENTS, "k", KILL_BATCH).await
    });
    w.receiver.wait_for_count("/s/a", 100, LONG).await.unwrap();
    let metrics = w.hub.process("fanout").unwrap().url("/metrics");
    let held = holding(&metrics, 1).await;
    w.process("fanout").kill().await;
    // The kill landed mid-run: fan-out held work, some SETs had arrived, not all.
    let at_kill: Vec<usize> = paths
        .iter()
        .map(|p| w.receiver.count_by_txn(p).len())
        .collect();
    assert!(
        at_kill.iter().all(|n| 0 < *n && *n < KILL_EVENTS),
        "the kill came mid-run: {at_kill:?} of {KILL_EVENTS} arrived"
    );
    let fanout = w
        .hub
        .processes
        .iter()
        .position(|(r, _)| r == "fanout")
        .unwrap();
    let (role, process) = w.hub.processes.remove(fanout);
    w.hub.processes.push((role, process.restart().await));
    let ids = publishing.await.unwrap();
    let mut dups = 0;
    for p in paths {
        wait_until(&format!("every event on {p}"), LONG, || async {
            (w.receiver.count_by_txn(p).len() >= ids.len()).then_some(())
        })
        .await;
        assert_all_arrived(&w.receiver, p, &ids);
        dups += duplicates(&w.receiver, p);
    }
    let bound = kill_duplicate_bound(paths.len());
    eprintln!(
        "fan-out SIGKILLed holding {held} deliveries, {at_kill:?} of {KILL_EVENTS} arrived: \
         {dups} pushed twice (bound {bound})"
    );
    assert!(dups <= bound, "{dups} SETs pushed twice (bound {bound})");
}

#[tokio::test]
async fn when_one_of_two_fanout_processes_is_killed_the_survivor_takes_over_its_pending_sets() {
    let mut env = KILL_ENV.to_vec();
    env.push(("SETHUB_PUSH__ORPHAN_AFTER_SECS", "2"));
    let mut w = World::split_services(&env, &["ingest", "fanout", "fanout"]).await;
    let paths = ["/s/a", "/s/b"];
    let mut streams = Vec::new();
    for p in paths {
        streams.push(w.stream(p, &[SESSION_REVOKED]).await);
    }
    // A slow receiver keeps SETs in the fan-outs' hands.
    w.receiver
        .behave("/s/a", Behave::Delay(Duration::from_millis(20)));
    let fanouts: Vec<usize> = (0..w.hub.processes.len())
        .filter(|i| w.hub.processes[*i].0 == "fanout")
        .collect();
    assert_eq!(fanouts.len(), 2);
    let metrics: Vec<String> = fanouts
        .iter()
        .map(|i| w.hub.processes[*i].1.url("/metrics"))
        .collect();
    let ingest = w.hub.ingest_url.clone();
    let tenant = w.tenant.clone();
    let publishing = tokio::spawn(async move {
        publish_all_in(&ingest, &tenant, KILL_EVENTS, "k", KILL_BATCH).await
    });
    w.receiver.wait_for_count("/s/a", 100, LONG).await.unwrap();
    // The receiver stalls: the fan-outs' SETs pile up in their lanes (stored, their bus
    // messages acknowledged), so the one killed leaves SETs that only a recovery sweep finds.
    w.receiver
        .behave("/s/a", Behave::Delay(Duration::from_secs(3)));
    // Kill whichever holds SETs first (both consume the same queue).
    let (victim, held) = wait_until("a fan-out to hold 40 deliveries", LONG, || async {
        for (k, m) in metrics.iter().enumerate() {
            if let Some(held) = metric(m, "sethub_push_in_memory")
                .await
                .filter(|h| *h >= 40)
            {
                return Some((k, held));
            }
        }
        None
    })
    .await;
    let survivor = 1 - victim;
    let swept_before = metric(&metrics[survivor], "sethub_push_swept_total")
        .await
        .unwrap_or(0);
    w.hub.processes[fanouts[victim]].1.kill().await;
    let killed_at = Instant::now();
    // When the survivor's sweep first takes anything over, measured from the kill.
    let first_sweep = std::sync::Arc::new(std::sync::Mutex::new(None::<Duration>));
    let watching = tokio::spawn({
        let (url, first) = (metrics[survivor].clone(), first_sweep.clone());
        async move {
            loop {
                if metric(&url, "sethub_push_swept_total")
                    .await
                    .is_some_and(|n| n > swept_before)
                {
                    *first.lock().unwrap() = Some(killed_at.elapsed());
                    return;
                }
                // The watch's sampling period: the metric has no event to wait on.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    w.receiver
        .behave("/s/a", Behave::Delay(Duration::from_millis(20)));
    let at_kill: Vec<usize> = paths
        .iter()
        .map(|p| w.receiver.count_by_txn(p).len())
        .collect();
    assert!(
        at_kill.iter().all(|n| 0 < *n && *n < KILL_EVENTS),
        "the kill came mid-run: {at_kill:?} of {KILL_EVENTS} arrived"
    );
    let ids = publishing.await.unwrap();
    for p in paths {
        wait_until(&format!("every event on {p}"), LONG, || async {
            (w.receiver.count_by_txn(p).len() >= ids.len()).then_some(())
        })
        .await;
        assert_all_arrived(&w.receiver, p, &ids);
    }
    let took_all = killed_at.elapsed();
    // Every delivery settled: nothing left to push twice after the count.
    for stream in &streams {
        wait_until("every delivery to be recorded delivered", LONG, || async {
            let (_, v) = w
                .api(reqwest::Method::GET, &format!("/streams/{stream}"), None)
                .await;
            (v["deliveries"] == json!({"delivered": KILL_EVENTS})).then_some(())
        })
        .await;
    }
    // The dead process's SETs come back two ways: those of bus messages it had not yet
    // acknowledged are redelivered to the survivor at once (it pushes what is still pending),
    // and those whose messages were acknowledged once stored are the survivor's recovery
    // sweep's, once overdue by `push.orphan_after_secs`, not sooner. Which share each takes
    // depends on where the kill fell, so the sweep's share is reported, and its timing
    // checked by the watch started at the kill.
    let swept = metric(&metrics[survivor], "sethub_push_swept_total")
        .await
        .map_or(0, |n| n - swept_before);
    watching.abort();
    let first_sweep = *first_sweep.lock().unwrap();
    if let Some(after) = first_sweep {
        assert!(
            after >= Duration::from_secs(2),
            "the sweep took over {after:?} after the kill, before orphan_after_secs"
        );
    }
    let took_over = first_sweep.unwrap_or_default();
    let dups: usize = paths.iter().map(|p| duplicates(&w.receiver, p)).sum();
    let bound = kill_duplicate_bound(paths.len());
    eprintln!(
        "one of two fan-outs SIGKILLed holding {held} deliveries, {at_kill:?} of {KILL_EVENTS} \
         arrived; all arrived {took_all:?} after the kill; the survivor's sweep took over \
         {swept} {took_over:?} after it; {dups} pushed twice (bound {bound})"
    );
    assert!(dups <= bound, "{dups} SETs pushed twice (bound {bound})");
}

#[tokio::test]
async fn a_rabbitmq_restart_after_sigkill_mid_run_loses_nothing_and_pushes_nothing_twice() {
    const N: usize = 1000;
    let w = World::split().await;
    w.stream("/s/a", &[SESSION_REVOKED]).await;
    w.receiver
        .behave("/s/a", Behave::Delay(Duration::from_millis(2)));
    // Asked first: `rabbitmqctl` takes a second or two to answer.
    let pid = tokio::task::spawn_blocking(rabbitmq_pid)
        .await
        .unwrap()
        .expect("the RabbitMQ node's process id");
    let ingest = w.hub.ingest_url.clone();
    let tenant = w.tenant.clone();
    let publishing = tokio::spawn(async move { publish_all(&ingest, &tenant, N, "k").await });
    w.receiver.wait_for_count("/s/a", 100, LONG).await.unwrap();
    let _guard = RabbitGuard;
    let killing = tokio::task::spawn_blocking(move || kill_rabbitmq(pid));
    let at_kill = w.receiver.count_by_txn("/s/a").len();
    killing.await.unwrap();
    assert!(
        0 < at_kill && at_kill < N,
        "the kill came mid-run: {at_kill} of {N} arrived"
    );
    tokio::task::spawn_blocking(start_rabbitmq).await.unwrap();
    let ids = publishing.await.unwrap();
    wait_until("every event after the RabbitMQ restart", LONG, || async {
        (w.receiver.count_by_txn("/s/a").len() >= ids.len()).then_some(())
    })
    .await;
    assert_all_arrived(&w.receiver, "/s/a", &ids);
    // No hub process died, so every push's outcome was written by the process that made it:
    // a redelivered bus message finds its deliveries stored and pushes only pending ones.
    let dups = duplicates(&w.receiver, "/s/a");
    eprintln!("RabbitMQ SIGKILLed after {at_kill} of {N} arrived: {dups} pushed twice (bound 0)");
    assert_eq!(dups, 0, "SETs pushed twice after a RabbitMQ restart");
}

#[tokio::test]
async fn a_redis_restart_with_its_data_gone_mid_run_loses_nothing_pushed_or_polled() {
    const N: usize = 1000;
    let w = World::split().await;
    w.stream("/s/a", &[SESSION_REVOKED]).await;
    w.receiver
        .behave("/s/a", Behave::Delay(Duration::from_millis(5)));
    let (stream, endpoint) = poll_stream(&w).await;
    let ingest = w.hub.ingest_url.clone();
    let tenant = w.tenant.clone();
    let total = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let done = total.clone();
    let publishing = tokio::spawn(async move {
        let ids = publish_all(&ingest, &tenant, N, "k").await;
        done.store(ids.len(), std::sync::atomic::Ordering::SeqCst);
        ids
    });
    let want = || total.load(std::sync::atomic::Ordering::SeqCst);
    let mut drain = Drain::default();
    drain.until(&w, &endpoint, Some(200), want).await;
    w.receiver.wait_for_count("/s/a", 100, LONG).await.unwrap();
    // A key of this test's prefix, to see the data go with the restart.
    let marker = format!("{}:restart-marker", w.hub.env["SETHUB_STATE__PREFIX"]);
    let redis = |args: Vec<String>| {
        std::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", "6379"])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap()
    };
    assert_eq!(redis(vec!["SET".into(), marker.clone(), "1".into()]), "OK");
    let _guard = RedisGuard;
    tokio::task::spawn_blocking(stop_redis).await.unwrap();
    let (pushed_at_stop, polled_at_stop) =
        (w.receiver.count_by_txn("/s/a").len(), drain.seen.len());
    assert!(
        0 < pushed_at_stop && pushed_at_stop < N && 0 < polled_at_stop && polled_at_stop < N,
        "Redis stopped mid-run: {pushed_at_stop} pushed, {polled_at_stop} polled of {N}"
    );
    // Polls go on (and long polls wait) while Redis is down...
    drain
        .until(&w, &endpoint, Some(polled_at_stop + 100), want)
        .await;
    tokio::task::spawn_blocking(start_redis).await.unwrap();
    assert_eq!(
        redis(vec!["EXISTS".into(), marker]),
        "0",
        "Redis kept its data"
    );
    drain.until(&w, &endpoint, None, want).await;
    drain.finish(&w, &endpoint).await;
    let ids = publishing.await.unwrap();
    wait_until(
        "every event pushed after the Redis restart",
        LONG,
        || async { (w.receiver.count_by_txn("/s/a").len() >= ids.len()).then_some(()) },
    )
    .await;
    assert_all_arrived(&w.receiver, "/s/a", &ids);
    assert!(
        ids.iter().all(|id| drain.seen.contains_key(id)),
        "every event polled"
    );
    // Redis holds nothing the deliveries depend on, and no process died: nothing twice.
    let (pushed_twice, polled_twice) = (duplicates(&w.receiver, "/s/a"), drain.duplicates());
    eprintln!(
        "Redis restarted after {pushed_at_stop} pushed, {polled_at_stop} polled of {N}: \
         {pushed_twice} pushed twice, {polled_twice} polled twice (bound 0 each)"
    );
    assert_eq!(drain.came_back_after_ack, 0, "acknowledged SETs came back");
    assert_eq!((pushed_twice, polled_twice), (0, 0), "SETs delivered twice");
    let (_, view) = w
        .api(reqwest::Method::GET, &format!("/streams/{stream}"), None)
        .await;
    assert_eq!(view["deliveries"], json!({"delivered": N}), "{view}");
}

/// A publish whose broker confirm was lost (RabbitMQ stored the message and crashed before
/// confirming it) leaves the event stored without its publish mark, and the publisher's
/// repeat of the `Idempotency-Key` announces it again in a second message. Fan-out has pushed
/// the event's SET already; the second message must not push it again.
#[tokio::test]
async fn an_event_announced_again_after_a_lost_confirm_is_not_pushed_twice() {
    let w = World::split().await;
    w.stream("/s/a", &[SESSION_REVOKED]).await;
    let db = w.database_admin_url().expect("a production hub");
    let metrics = w.hub.process("fanout").unwrap().url("/metrics");
    let handled = || {
        metric(
            &metrics,
            "sethub_fanout_events_total{outcome=\"fanned_out\"}",
        )
    };

    let first = publish_all(&w.hub.ingest_url, &w.tenant, 1, "lost-confirm").await;
    let event = &first[0];
    // Stored as a UUID; the API names it `evt_` and the UUID's hex digits.
    let uuid = event.trim_start_matches("evt_");
    wait_until("the first SET recorded delivered", LONG, || async {
        (psql(
            &db,
            &format!("SELECT state FROM deliveries WHERE event_id = '{uuid}'"),
        ) == "delivered")
            .then_some(())
    })
    .await;
    assert_eq!(w.receiver.count_by_txn("/s/a").get(event), Some(&1));
    let before = wait_until("fan-out to count the first message", LONG, || async {
        handled().await.filter(|n| *n >= 1)
    })
    .await;
    assert_eq!(before, 1, "one message announced the first event");

    // What the lost confirm leaves: announced, pushed, but not marked published.
    psql(
        &db,
        &format!("UPDATE events SET published_at = NULL WHERE id = '{uuid}'"),
    );
    let again = publish_all(&w.hub.ingest_url, &w.tenant, 1, "lost-confirm").await;
    assert_eq!(again, first, "the repeat names the stored event");
    wait_until(
        "fan-out to handle the second announcement",
        LONG,
        || async { handled().await.filter(|n| *n > before) },
    )
    .await;
    // A later event on the same stream: had the second announcement pushed anything, it
    // was submitted before this one was published.
    let later = publish_all(&w.hub.ingest_url, &w.tenant, 1, "after-the-repeat").await;
    wait_until("the later SET", LONG, || async {
        w.receiver
            .count_by_txn("/s/a")
            .contains_key(&later[0])
            .then_some(())
    })
    .await;
    assert_eq!(
        w.receiver.count_by_txn("/s/a").get(event),
        Some(&1),
        "the event announced again was pushed again"
    );
}

/// The fan-out processes' `sethub_push_swept_total`, in `fanouts` order.
async fn swept(metrics: &[String]) -> Vec<u64> {
    let mut out = Vec::new();
    for m in metrics {
        out.push(metric(m, "sethub_push_swept_total").await.unwrap_or(0));
    }
    out
}

/// A fan-out holding SETs in memory far longer than `push.orphan_after_secs` (2 s here: a
/// receiver taking 3 s a SET, one request at a time, so the last of four waits 9 s in its
/// lane) renews its claims, and the other fan-out's recovery sweep pushes none of them again.
/// Once the holder is SIGKILLed, the survivor takes its SETs over within `orphan_after_secs`
/// plus a sweep interval and a push.
#[tokio::test]
async fn a_live_fanout_holding_sets_past_the_orphan_deadline_keeps_them_and_a_dead_ones_are_taken_over()
 {
    let env = [
        ("SETHUB_PUSH__ORPHAN_AFTER_SECS", "2"),
        ("SETHUB_PUSH__SWEEP_INTERVAL_SECS", "1"),
        ("SETHUB_PUSH__MAX_IN_FLIGHT_PER_ENDPOINT", "1"),
        ("SETHUB_PUSH__REQUEST_TIMEOUT_MS", "10000"),
    ];
    let mut w = World::split_services(&env, &["ingest", "fanout", "fanout"]).await;
    let p = "/s/slow";
    let stream = w.stream(p, &[SESSION_REVOKED]).await;
    w.receiver.behave(p, Behave::Delay(Duration::from_secs(3)));
    let fanouts: Vec<usize> = (0..w.hub.processes.len())
        .filter(|i| w.hub.processes[*i].0 == "fanout")
        .collect();
    let metrics: Vec<String> = fanouts
        .iter()
        .map(|i| w.hub.processes[*i].1.url("/metrics"))
        .collect();

    // Alive: four SETs in one bus message, so one fan-out holds them all for 12 s.
    let held = publish_all(&w.hub.ingest_url, &w.tenant, 4, "held").await;
    wait_until("the four held SETs to arrive", LONG, || async {
        (w.receiver.count_by_txn(p).len() >= held.len()).then_some(())
    })
    .await;
    // Past the last arrival, long enough for a sweep that took one over to push it again.
    let quiet = Instant::now() + Duration::from_secs(4);
    wait_until("the deliveries to be recorded delivered", LONG, || async {
        let (_, v) = w
            .api(reqwest::Method::GET, &format!("/streams/{stream}"), None)
            .await;
        let delivered = v["deliveries"] == json!({"delivered": 4});
        (delivered && Instant::now() >= quiet).then_some(())
    })
    .await;
    assert_all_arrived(&w.receiver, p, &held);
    assert_eq!(duplicates(&w.receiver, p), 0, "none pushed twice");
    assert_eq!(swept(&metrics).await, vec![0, 0], "no sweep took any over");

    // Dead: the holder is killed with SETs in its lane; the survivor takes them over.
    let dead = publish_all(&w.hub.ingest_url, &w.tenant, 4, "dead").await;
    let victim = wait_until("a fan-out to hold the SETs", LONG, || async {
        for (k, m) in metrics.iter().enumerate() {
            if metric(m, "sethub_push_in_memory")
                .await
                .is_some_and(|n| n >= 3)
            {
                return Some(k);
            }
        }
        None
    })
    .await;
    w.hub.processes[fanouts[victim]].1.kill().await;
    let killed_at = Instant::now();
    let arrived_at_kill = w.receiver.count_by_txn(p).len();
    wait_until("the dead fan-out's SETs to arrive", LONG, || async {
        (w.receiver.count_by_txn(p).len() > arrived_at_kill).then_some(())
    })
    .await;
    let first = killed_at.elapsed();
    eprintln!("the first SET of the killed fan-out arrived {first:?} after the kill");
    // 2 s overdue, a 1 s sweep interval, a 3 s push, and slack for a loaded machine.
    assert!(first < Duration::from_secs(12), "{first:?}");
    wait_until(
        "every SET of the killed fan-out to arrive",
        LONG,
        || async { (w.receiver.count_by_txn(p).len() >= held.len() + dead.len()).then_some(()) },
    )
    .await;
    let arrived = w.receiver.count_by_txn(p);
    assert!(
        dead.iter().all(|id| arrived.contains_key(id)),
        "{arrived:?}"
    );
    // Its bus message was acknowledged once the rows were stored: the survivor's recovery
    // sweep is what finds them.
    let survivor = 1 - victim;
    let by_sweep = swept(&metrics[survivor..=survivor]).await[0];
    eprintln!("the survivor's sweep took over {by_sweep} deliveries");
    assert!(by_sweep > 0, "taken over by the survivor's sweep");
}
