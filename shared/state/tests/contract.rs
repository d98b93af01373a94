//! The state contract, run against the in-memory store and against Redis
//! (`SETHUB_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`). Each test uses a random key
//! prefix, so tests and runs never share keys.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed assertion with a location

mod common;

use common::Harness;

/// Generates one `#[tokio::test]` per case and backend: `memory::<case>`, `redis::<case>`.
macro_rules! contract_suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::cases::$case(&crate::Harness::memory().await).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::cases::$case(&crate::Harness::redis().await).await;
                }
            )*
        }
    };
}

contract_suite!(
    an_idle_bucket_admits_exactly_its_burst_under_concurrent_callers,
    a_drained_bucket_refills_at_its_rate,
    a_denied_call_says_when_to_retry_and_a_retry_then_is_admitted,
    a_cost_takes_that_many_tokens_and_a_cost_above_the_burst_is_refused,
    buckets_of_two_tenants_are_independent,
    a_counter_expires_on_the_ttl_of_its_first_increment,
    counters_of_two_tenants_never_collide,
    set_if_absent_keeps_the_first_value_until_it_expires,
    set_with_ttl_replaces_the_value_and_delete_removes_it,
    a_lease_has_one_holder_who_renews_it_and_others_take_it_once_it_runs_out,
    a_notify_wakes_a_waiting_waiter_promptly,
    a_wait_without_notify_times_out_at_its_bound,
    a_notify_before_subscribing_is_not_seen_but_one_after_is_never_missed,
    a_notify_wakes_every_waiter_of_its_key_and_no_other,
    many_waiters_on_many_keys_are_each_woken_by_their_own_notify,
    a_channel_whose_waiters_left_wakes_a_new_waiter,
    the_store_answers_ping,
    an_indexed_record_is_listed_and_expires_on_its_ttl,
    deleting_an_index_ends_every_record_it_lists_and_no_other,
    a_replace_or_expire_never_brings_back_an_ended_record,
    an_expire_extends_a_record_and_its_index,
    deleting_one_record_unlists_it_and_keeps_the_others,
    purging_a_tenant_removes_its_keys_its_sessions_and_its_sign_in_buckets_and_nothing_else,
);

mod cases {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use sethub_domain::TenantId;
    use sethub_state::{Key, KeyKind, Limit, StateError};
    use tokio::time::Instant;

    use crate::common::{Harness, eventually};

    /// Tokens that practically don't refill during a test.
    fn slow(burst: u32) -> Limit {
        Limit::per_hour(1, burst)
    }

    pub async fn an_idle_bucket_admits_exactly_its_burst_under_concurrent_callers(h: &Harness) {
        let key = h.key(KeyKind::RateLimit, "ingest");
        let callers: Vec<_> = (0..64)
            .map(|_| {
                let (state, key) = (h.state.clone(), key.clone());
                tokio::spawn(async move { state.rate_limit(&key, slow(10), 1).await.unwrap() })
            })
            .collect();
        let mut admitted_remaining = BTreeSet::new();
        let mut denied = 0;
        for caller in callers {
            let decision = caller.await.unwrap();
            if decision.allowed {
                assert!(
                    admitted_remaining.insert(decision.remaining),
                    "{decision:?} seen twice"
                );
            } else {
                assert_eq!(decision.remaining, 0);
                assert!(decision.retry_after > Duration::ZERO);
                denied += 1;
            }
        }
        assert_eq!(
            admitted_remaining,
            (0..10).collect(),
            "exactly the burst is admitted"
        );
        assert_eq!(denied, 54);
    }

    pub async fn a_drained_bucket_refills_at_its_rate(h: &Harness) {
        let key = h.key(KeyKind::RateLimit, "push");
        let limit = Limit::per_second(50, 5); // one token per 20 ms
        // Drain until denied (on a slow machine a token may refill while draining).
        let mut admitted = 0;
        let drained_at = loop {
            let asked_at = Instant::now();
            if !h.state.rate_limit(&key, limit, 1).await.unwrap().allowed {
                break asked_at;
            }
            admitted += 1;
            assert!(admitted < 100, "the bucket never ran dry");
        };
        assert!(admitted >= 5, "an idle bucket admitted only {admitted}");
        // Denied: less than one token left, so a full bucket is more than 80 ms away.

        // Cost 0 only looks: wait until the bucket is full again.
        eventually("the bucket to refill", || async {
            h.state.rate_limit(&key, limit, 0).await.unwrap().remaining == 5
        })
        .await;
        // Five tokens at 20 ms each: not before ~100 ms (with slack for clocks).
        assert!(
            drained_at.elapsed() >= Duration::from_millis(80),
            "{:?}",
            drained_at.elapsed()
        );

        let burst_started = Instant::now();
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let (state, key) = (h.state.clone(), key.clone());
                tokio::spawn(async move { state.rate_limit(&key, limit, 1).await.unwrap() })
            })
            .collect();
        let mut admitted = 0;
        for caller in callers {
            admitted += u32::from(caller.await.unwrap().allowed);
        }
        // The full bucket, plus what refilled while the eight calls ran (one per 20 ms).
        let refilled = burst_started.elapsed().as_millis() / 20 + 1;
        assert!(admitted >= 5, "{admitted} admitted after a full refill");
        assert!(
            u128::from(admitted) <= 5 + refilled,
            "{admitted} admitted, {refilled} refilled"
        );
    }

    pub async fn a_denied_call_says_when_to_retry_and_a_retry_then_is_admitted(h: &Harness) {
        let key = h.key(KeyKind::RateLimit, "retry");
        let limit = Limit::per_second(2, 1); // one token per 500 ms
        let taken_at = Instant::now();
        let first = h.state.rate_limit(&key, limit, 1).await.unwrap();
        assert!(first.allowed);
        assert_eq!((first.remaining, first.retry_after), (0, Duration::ZERO));

        let denied = h.state.rate_limit(&key, limit, 1).await.unwrap();
        let since_taken = taken_at.elapsed();
        assert!(!denied.allowed);
        // The token comes back 500 ms after it was taken.
        let earliest = Duration::from_millis(495).saturating_sub(since_taken);
        assert!(
            denied.retry_after >= earliest && denied.retry_after <= Duration::from_millis(500),
            "retry_after {:?}, {since_taken:?} after the token was taken",
            denied.retry_after
        );
        // Waiting what the store said is the contract under test, not a stand-in for a condition.
        tokio::time::sleep(denied.retry_after + Duration::from_millis(2)).await;
        assert!(h.state.rate_limit(&key, limit, 1).await.unwrap().allowed);
    }

    pub async fn a_cost_takes_that_many_tokens_and_a_cost_above_the_burst_is_refused(h: &Harness) {
        let key = h.key(KeyKind::RateLimit, "batch");
        let take = |cost| h.state.rate_limit(&key, slow(5), cost);
        let first = take(3).await.unwrap();
        assert!(first.allowed && first.remaining == 2, "{first:?}");
        let too_many = take(3).await.unwrap();
        assert!(!too_many.allowed && too_many.remaining == 2, "{too_many:?}");
        let rest = take(2).await.unwrap();
        assert!(rest.allowed && rest.remaining == 0, "{rest:?}");
        assert!(matches!(take(6).await, Err(StateError::InvalidArgument(_))));
    }

    pub async fn buckets_of_two_tenants_are_independent(h: &Harness) {
        let other = Key::tenant(&h.prefix, TenantId::new(), KeyKind::RateLimit, "ingest");
        let mine = h.key(KeyKind::RateLimit, "ingest");
        assert_ne!(mine, other);
        for _ in 0..2 {
            assert!(h.state.rate_limit(&mine, slow(2), 1).await.unwrap().allowed);
        }
        assert!(!h.state.rate_limit(&mine, slow(2), 1).await.unwrap().allowed);
        let theirs = h.state.rate_limit(&other, slow(2), 1).await.unwrap();
        assert!(theirs.allowed && theirs.remaining == 1, "{theirs:?}");
    }

    pub async fn a_counter_expires_on_the_ttl_of_its_first_increment(h: &Harness) {
        let key = h.key(KeyKind::Counter, "attempts");
        assert_eq!(h.state.get_counter(&key).await.unwrap(), 0);
        assert_eq!(
            h.state
                .incr(&key, 1, Duration::from_millis(300))
                .await
                .unwrap(),
            1
        );
        // A later increment with a long TTL does not extend the first one's.
        assert_eq!(
            h.state
                .incr(&key, 4, Duration::from_secs(3600))
                .await
                .unwrap(),
            5
        );
        assert_eq!(h.state.get_counter(&key).await.unwrap(), 5);
        eventually("the counter to expire", || async {
            h.state.get_counter(&key).await.unwrap() == 0
        })
        .await;
        assert_eq!(
            h.state
                .incr(&key, -2, Duration::from_secs(60))
                .await
                .unwrap(),
            -2
        );
    }

    pub async fn counters_of_two_tenants_never_collide(h: &Harness) {
        let ttl = Duration::from_secs(60);
        let mine = h.key(KeyKind::Counter, "x");
        let theirs = Key::tenant(&h.prefix, TenantId::new(), KeyKind::Counter, "x");
        assert_eq!(h.state.incr(&mine, 3, ttl).await.unwrap(), 3);
        assert_eq!(h.state.incr(&theirs, 1, ttl).await.unwrap(), 1);
        assert_eq!(h.state.get_counter(&mine).await.unwrap(), 3);
    }

    pub async fn set_if_absent_keeps_the_first_value_until_it_expires(h: &Harness) {
        let key = h.key(KeyKind::Dedupe, "idem:abc");
        let ttl = Duration::from_millis(300);
        assert_eq!(
            h.state.set_if_absent(&key, "first", ttl).await.unwrap(),
            None
        );
        let again = h
            .state
            .set_if_absent(&key, "second", Duration::from_secs(60))
            .await;
        assert_eq!(again.unwrap().as_deref(), Some("first"));
        assert_eq!(h.state.get(&key).await.unwrap().as_deref(), Some("first"));
        eventually("the dedupe entry to expire", || async {
            h.state.get(&key).await.unwrap().is_none()
        })
        .await;
        assert_eq!(
            h.state.set_if_absent(&key, "third", ttl).await.unwrap(),
            None
        );
    }

    pub async fn a_lease_has_one_holder_who_renews_it_and_others_take_it_once_it_runs_out(
        h: &Harness,
    ) {
        let key = h.key(KeyKind::Lease, "sweep");
        let ttl = Duration::from_millis(400);
        assert!(
            h.state.lease(&key, "a", ttl).await.unwrap(),
            "a free lease is taken"
        );
        assert!(
            !h.state.lease(&key, "b", ttl).await.unwrap(),
            "a held lease is refused"
        );
        // Renewed before it runs out, it stays a's past its first ttl.
        let start = Instant::now();
        while start.elapsed() < ttl * 2 {
            assert!(
                h.state.lease(&key, "a", ttl).await.unwrap(),
                "the holder renews"
            );
            assert!(!h.state.lease(&key, "b", ttl).await.unwrap());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eventually("the unrenewed lease to pass to b", || async {
            h.state.lease(&key, "b", ttl).await.unwrap()
        })
        .await;
        assert!(!h.state.lease(&key, "a", ttl).await.unwrap(), "a lost it");
    }

    pub async fn set_with_ttl_replaces_the_value_and_delete_removes_it(h: &Harness) {
        let key = h.key(KeyKind::Circuit, "str_x");
        let ttl = Duration::from_secs(60);
        h.state.set_with_ttl(&key, "open", ttl).await.unwrap();
        h.state.set_with_ttl(&key, "half-open", ttl).await.unwrap();
        assert_eq!(
            h.state.get(&key).await.unwrap().as_deref(),
            Some("half-open")
        );
        assert!(h.state.delete(&key).await.unwrap());
        assert!(!h.state.delete(&key).await.unwrap());
        assert_eq!(h.state.get(&key).await.unwrap(), None);
    }

    pub async fn a_notify_wakes_a_waiting_waiter_promptly(h: &Harness) {
        let key = h.key(KeyKind::Wake, "poll");
        let mut guard = h.state.subscribe(&key).await.unwrap();
        let waiter = tokio::spawn(async move {
            let started = Instant::now();
            (guard.wait(Duration::from_secs(30)).await, started.elapsed())
        });
        h.state.notify(&key).await.unwrap();
        let (woken, after) = waiter.await.unwrap();
        assert!(woken);
        assert!(after < Duration::from_secs(5), "woken after {after:?}");
    }

    pub async fn a_wait_without_notify_times_out_at_its_bound(h: &Harness) {
        let key = h.key(KeyKind::Wake, "idle");
        let started = Instant::now();
        assert!(
            !h.state
                .wait(&key, Duration::from_millis(300))
                .await
                .unwrap()
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300),
            "returned after {waited:?}"
        );
        assert!(waited < Duration::from_secs(5), "returned after {waited:?}");
    }

    pub async fn a_notify_before_subscribing_is_not_seen_but_one_after_is_never_missed(
        h: &Harness,
    ) {
        let key = h.key(KeyKind::Wake, "race");
        h.state.notify(&key).await.unwrap();
        let mut guard = h.state.subscribe(&key).await.unwrap();
        assert!(
            !guard.wait(Duration::from_millis(200)).await,
            "an earlier notify was seen"
        );
        // Register, then check, then wait: a notify between subscribe and wait is kept.
        for round in 0..20 {
            h.state.notify(&key).await.unwrap();
            assert!(
                guard.wait(Duration::from_secs(5)).await,
                "notify of round {round} missed"
            );
        }
    }

    pub async fn a_notify_wakes_every_waiter_of_its_key_and_no_other(h: &Harness) {
        let key = h.key(KeyKind::Wake, "shared");
        let other = Key::tenant(&h.prefix, TenantId::new(), KeyKind::Wake, "shared");
        let mut waiters = Vec::new();
        for _ in 0..3 {
            waiters.push(h.state.subscribe(&key).await.unwrap());
        }
        let mut bystander = h.state.subscribe(&other).await.unwrap();
        h.state.notify(&key).await.unwrap();
        for waiter in &mut waiters {
            assert!(waiter.wait(Duration::from_secs(5)).await);
        }
        assert!(
            !bystander.wait(Duration::from_millis(200)).await,
            "another tenant was woken"
        );
    }

    pub async fn many_waiters_on_many_keys_are_each_woken_by_their_own_notify(h: &Harness) {
        let keys: Vec<Key> = (0..50)
            .map(|i| h.key(KeyKind::Wake, &format!("s{i}")))
            .collect();
        let subscribing = keys.iter().map(|key| h.state.subscribe(key));
        let guards = futures_util::future::join_all(subscribing).await;
        let waiting: Vec<_> = guards
            .into_iter()
            .map(|guard| {
                let mut guard = guard.unwrap();
                tokio::spawn(async move { guard.wait(Duration::from_secs(10)).await })
            })
            .collect();
        for key in &keys {
            h.state.notify(key).await.unwrap();
        }
        for (i, waiter) in waiting.into_iter().enumerate() {
            assert!(waiter.await.unwrap(), "waiter {i} not woken");
        }
    }

    pub async fn a_channel_whose_waiters_left_wakes_a_new_waiter(h: &Harness) {
        let key = h.key(KeyKind::Wake, "again");
        for round in 0..5 {
            let first = h.state.subscribe(&key).await.unwrap();
            drop(first);
            let mut second = h.state.subscribe(&key).await.unwrap();
            h.state.notify(&key).await.unwrap();
            assert!(second.wait(Duration::from_secs(5)).await, "round {round}");
        }
    }

    pub async fn the_store_answers_ping(h: &Harness) {
        h.state.ping().await.unwrap();
    }

    /// A session record (global, found by its id) and its member's index (tenant-scoped).
    fn session(h: &Harness, id: &str) -> Key {
        Key::global(&h.prefix, KeyKind::Session, id)
    }

    fn sorted(mut keys: Vec<String>) -> Vec<String> {
        keys.sort();
        keys
    }

    pub async fn an_indexed_record_is_listed_and_expires_on_its_ttl(h: &Harness) {
        let index = h.key(KeyKind::SessionIndex, "mbr_1");
        let (short, long) = (session(h, "short"), session(h, "long"));
        let state = &h.state;
        state
            .put_indexed(&short, "a", Duration::from_millis(300), Some(&index))
            .await
            .unwrap();
        state
            .put_indexed(&long, "b", Duration::from_secs(60), Some(&index))
            .await
            .unwrap();
        assert_eq!(state.get(&short).await.unwrap().as_deref(), Some("a"));
        assert_eq!(
            sorted(state.list_index(&index).await.unwrap()),
            sorted(vec![short.to_string(), long.to_string()])
        );
        eventually("the short record to expire", || async {
            state.get(&short).await.unwrap().is_none()
        })
        .await;
        assert_eq!(
            state.list_index(&index).await.unwrap(),
            vec![long.to_string()]
        );
        // A record without an index is a plain record.
        let anonymous = session(h, "anonymous");
        state
            .put_indexed(&anonymous, "c", Duration::from_secs(60), None)
            .await
            .unwrap();
        assert_eq!(state.get(&anonymous).await.unwrap().as_deref(), Some("c"));
    }

    pub async fn deleting_an_index_ends_every_record_it_lists_and_no_other(h: &Harness) {
        let ttl = Duration::from_secs(60);
        let mine = h.key(KeyKind::SessionIndex, "mbr_me");
        let theirs = h.key(KeyKind::SessionIndex, "mbr_other");
        let (a, b, c) = (session(h, "a"), session(h, "b"), session(h, "c"));
        h.state
            .put_indexed(&a, "1", ttl, Some(&mine))
            .await
            .unwrap();
        h.state
            .put_indexed(&b, "2", ttl, Some(&mine))
            .await
            .unwrap();
        h.state
            .put_indexed(&c, "3", ttl, Some(&theirs))
            .await
            .unwrap();
        assert_eq!(h.state.delete_index(&mine).await.unwrap(), 2);
        assert_eq!(h.state.get(&a).await.unwrap(), None);
        assert_eq!(h.state.get(&b).await.unwrap(), None);
        assert!(h.state.list_index(&mine).await.unwrap().is_empty());
        assert_eq!(h.state.get(&c).await.unwrap().as_deref(), Some("3"));
        assert_eq!(h.state.delete_index(&mine).await.unwrap(), 0);
    }

    pub async fn a_replace_or_expire_never_brings_back_an_ended_record(h: &Harness) {
        let ttl = Duration::from_secs(60);
        let index = h.key(KeyKind::SessionIndex, "mbr_1");
        let key = session(h, "ended");
        h.state
            .put_indexed(&key, "signed-in", ttl, Some(&index))
            .await
            .unwrap();
        assert!(
            h.state
                .replace_indexed(&key, "changed", ttl, Some(&index))
                .await
                .unwrap()
        );
        assert_eq!(h.state.get(&key).await.unwrap().as_deref(), Some("changed"));
        assert_eq!(h.state.delete_index(&index).await.unwrap(), 1);
        // A request that loaded the session before it was ended writes late: refused.
        assert!(
            !h.state
                .replace_indexed(&key, "late", ttl, Some(&index))
                .await
                .unwrap()
        );
        assert!(
            !h.state
                .expire_indexed(&key, ttl, Some(&index))
                .await
                .unwrap()
        );
        assert_eq!(h.state.get(&key).await.unwrap(), None);
        assert!(h.state.list_index(&index).await.unwrap().is_empty());
    }

    pub async fn an_expire_extends_a_record_and_its_index(h: &Harness) {
        let index = h.key(KeyKind::SessionIndex, "mbr_1");
        let key = session(h, "idle");
        let short = Duration::from_millis(400);
        h.state
            .put_indexed(&key, "v", short, Some(&index))
            .await
            .unwrap();
        assert!(
            h.state
                .expire_indexed(&key, Duration::from_secs(60), Some(&index))
                .await
                .unwrap()
        );
        // Past the first TTL the record and its listing are still there.
        let started = Instant::now();
        while started.elapsed() < short * 2 {
            assert_eq!(h.state.get(&key).await.unwrap().as_deref(), Some("v"));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            h.state.list_index(&index).await.unwrap(),
            vec![key.to_string()]
        );
        // And a shorter expire shortens it.
        assert!(
            h.state
                .expire_indexed(&key, Duration::from_millis(100), Some(&index))
                .await
                .unwrap()
        );
        eventually("the record to expire", || async {
            h.state.get(&key).await.unwrap().is_none()
        })
        .await;
    }

    pub async fn deleting_one_record_unlists_it_and_keeps_the_others(h: &Harness) {
        let ttl = Duration::from_secs(60);
        let index = h.key(KeyKind::SessionIndex, "mbr_1");
        let (a, b) = (session(h, "a"), session(h, "b"));
        h.state
            .put_indexed(&a, "1", ttl, Some(&index))
            .await
            .unwrap();
        h.state
            .put_indexed(&b, "2", ttl, Some(&index))
            .await
            .unwrap();
        assert!(h.state.delete_indexed(&a, Some(&index)).await.unwrap());
        assert!(!h.state.delete_indexed(&a, Some(&index)).await.unwrap());
        assert_eq!(h.state.get(&a).await.unwrap(), None);
        assert_eq!(
            h.state.list_index(&index).await.unwrap(),
            vec![b.to_string()]
        );
        assert_eq!(h.state.get(&b).await.unwrap().as_deref(), Some("2"));
    }
    pub async fn purging_a_tenant_removes_its_keys_its_sessions_and_its_sign_in_buckets_and_nothing_else(
        h: &Harness,
    ) {
        let ttl = Duration::from_secs(60);
        let other = TenantId::new();
        let slug = "leaving-org";
        let mine = [
            h.key(KeyKind::RateLimit, "ingest"),
            h.key(KeyKind::Counter, "attempts"),
            Key::stream(
                &h.prefix,
                h.tenant,
                sethub_domain::StreamId::new(),
                KeyKind::Seen,
                "poll",
            ),
        ];
        for key in &mine {
            h.state.set_with_ttl(key, "v", ttl).await.unwrap();
        }
        h.state
            .rate_limit(
                &Key::global(
                    &h.prefix,
                    KeyKind::RateLimit,
                    &format!("login:{slug}:a@example.com"),
                ),
                slow(5),
                1,
            )
            .await
            .unwrap();
        let index = h.key(KeyKind::SessionIndex, "mbr_1");
        let signed_in = session(h, "console:signed-in");
        h.state
            .put_indexed(&signed_in, "s", ttl, Some(&index))
            .await
            .unwrap();
        // Another tenant's keys, another slug's bucket and an unlisted session stay.
        let theirs = Key::tenant(&h.prefix, other, KeyKind::RateLimit, "ingest");
        h.state.set_with_ttl(&theirs, "v", ttl).await.unwrap();
        let their_bucket = Key::global(
            &h.prefix,
            KeyKind::RateLimit,
            "login:leaving-org-2:a@example.com",
        );
        h.state.set_with_ttl(&their_bucket, "v", ttl).await.unwrap();
        let their_session = session(h, "console:theirs");
        let their_index = Key::tenant(&h.prefix, other, KeyKind::SessionIndex, "mbr_2");
        h.state
            .put_indexed(&their_session, "s", ttl, Some(&their_index))
            .await
            .unwrap();

        let tenant = h.tenant.to_string();
        assert_eq!(
            h.state.keys_containing(&tenant, 100).await.unwrap().len(),
            4
        );
        let removed = h
            .state
            .purge_tenant(&h.prefix, h.tenant, slug)
            .await
            .unwrap();
        assert_eq!(removed, 6, "three keys, a bucket, an index and its session");
        assert!(
            h.state
                .keys_containing(&tenant, 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            h.state
                .keys_containing(&format!("login:{slug}:"), 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            h.state.get(&signed_in).await.unwrap(),
            None,
            "the member's session ended"
        );
        assert_eq!(h.state.get(&theirs).await.unwrap().as_deref(), Some("v"));
        assert_eq!(
            h.state.get(&their_bucket).await.unwrap().as_deref(),
            Some("v")
        );
        assert_eq!(
            h.state.get(&their_session).await.unwrap().as_deref(),
            Some("s")
        );
        assert_eq!(
            h.state
                .purge_tenant(&h.prefix, h.tenant, slug)
                .await
                .unwrap(),
            0
        );
    }
}

/// Redis alone: the subscriber's keepalive and a dead Redis.
mod redis_only {
    use std::time::Duration;

    use sethub_domain::TenantId;
    use sethub_state::{Key, KeyKind, KeyPrefix, Limit, RedisOptions, RedisState, StateStore};
    use tokio::time::Instant;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keepalive_pings_of_a_subscribed_connection_neither_wake_nor_drop_waiters() {
        let mut options = RedisOptions::new(crate::common::redis_url());
        options.keepalive_interval = Duration::from_millis(20);
        let state = RedisState::connect(options).await.unwrap();
        let prefix = KeyPrefix::new(format!("test-{}", uuid::Uuid::new_v4().simple())).unwrap();
        let key = Key::tenant(&prefix, TenantId::new(), KeyKind::Wake, "keepalive");
        let mut guard = state.subscribe(&key).await.unwrap();
        // About 25 pings while subscribed: a failed one would reconnect and wake the guard.
        assert!(
            !guard.wait(Duration::from_millis(500)).await,
            "woken without a notify"
        );
        state.notify(&key).await.unwrap();
        assert!(guard.wait(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn an_unreachable_redis_gives_errors_quickly_instead_of_hanging() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("redis://127.0.0.1:{port}");
        assert!(RedisState::connect(RedisOptions::new(&url)).await.is_err());

        let state = RedisState::connect_lazy(RedisOptions::new(url)).unwrap();
        let key = Key::tenant(
            &KeyPrefix::default(),
            TenantId::new(),
            KeyKind::RateLimit,
            "x",
        );
        let started = Instant::now();
        assert!(
            state
                .rate_limit(&key, Limit::per_second(1, 1), 1)
                .await
                .is_err()
        );
        assert!(state.subscribe(&key).await.is_err());
        assert!(state.ping().await.is_err());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
    }
}
