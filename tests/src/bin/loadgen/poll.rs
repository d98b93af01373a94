//! Poll delivery (mode `poll` and the suite's `poll` scenario): wait until the poll stream
//! holds every SET, then drain it with acknowledgements and measure the rate; and how soon a
//! waiting long poll hears of a publish.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::measure::round;
use crate::say;

/// Waits until the stream (read through the tenant API) holds `expected` queued SETs, or
/// `timeout`; returns how many it holds.
pub async fn wait_queued(
    stream_url: &str,
    api_key: &str,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    loop {
        let view: Value = client
            .get(stream_url)
            .bearer_auth(api_key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let queued = view["deliveries"]["queued"].as_u64().unwrap_or(0) as usize;
        if queued >= expected || Instant::now() >= deadline {
            return Ok(queued);
        }
        // Sampling the stream's counts while fan-out works (a benchmark, not a test).
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Drains a full poll stream until `expected` distinct events came out (or `timeout`):
/// polls `maxEvents` at a time with `returnImmediately`, acknowledging each batch in the next
/// request. Reports the drain rate from the first poll that handed out SETs being sent to
/// the acknowledgement of the last batch being answered, and checks every SET (signature
/// against the JWKS unless `verify` is off).
#[allow(clippy::too_many_arguments)]
pub async fn poll_drain(
    token: &str,
    endpoint: &str,
    jwks_uri: &str,
    issuer: &str,
    expected: usize,
    max_events: usize,
    verify: bool,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let jwks_json: Value = client.get(jwks_uri).send().await?.json().await?;
    let jwks = sethub_jose::Jwks::from_json(&jwks_json)
        .map_err(|e| anyhow::anyhow!("the tenant's JWKS does not parse: {e}"))?;
    let expect = sethub_jose::Expectations::new(issuer.to_owned(), String::new()).any_audience();
    let deadline = Instant::now() + timeout;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut invalid = 0usize;
    let mut ack: Vec<String> = Vec::new();
    let mut polls = 0usize;
    let mut first = None::<Instant>;
    let mut last = None::<Instant>;
    while seen.len() < expected && Instant::now() < deadline {
        let body = json!({
            "maxEvents": max_events,
            "returnImmediately": true,
            "ack": ack,
        });
        let asked = Instant::now();
        let answer: Value = client
            .post(endpoint)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        polls += 1;
        let sets = answer["sets"].as_object().cloned().unwrap_or_default();
        ack = sets.keys().cloned().collect();
        if sets.is_empty() {
            continue;
        }
        first.get_or_insert(asked);
        last = Some(Instant::now());
        for token in sets.values() {
            let token = token.as_str().unwrap_or_default();
            let txn = if verify {
                match sethub_jose::validate_set(token, &jwks, &expect) {
                    Ok(set) => set.txn,
                    Err(_) => {
                        invalid += 1;
                        continue;
                    }
                }
            } else {
                decode_txn(token)
            };
            *seen.entry(txn.unwrap_or_default()).or_default() += 1;
        }
    }
    if !ack.is_empty() {
        ack_only(&client, token, endpoint, &ack).await?;
        if last.is_some() {
            last = Some(Instant::now());
        }
    }
    let secs = match (first, last) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let got = seen.keys().filter(|t| !t.is_empty()).count();
    say(&format!(
        "poll: {got}/{expected} SETs in {polls} polls over {secs:.2}s ({invalid} invalid)"
    ));
    Ok(json!({
        "max_events": max_events,
        "polls": polls,
        "drained_sets": got,
        "drain_duration_s": round(secs),
        "drain_sets_per_s": if secs > 0.0 { round(got as f64 / secs) } else { 0.0 },
        "duplicates": seen.values().filter(|n| **n > 1).count(),
        "invalid_sets": invalid,
        "complete": got == expected && invalid == 0,
    }))
}

/// The `txn` claim of a compact SET, read without verifying it.
fn decode_txn(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["txn"].as_str().map(str::to_owned)
}

/// Long-poll wake-up latency: `rounds` times, a long poll waits on the (drained) stream
/// (fan-out's `sethub_poll_waiting` gauge says so), one event is published, and the time from
/// the publish request to the poll's answer is taken. Reports the median, p95 and max (ms).
pub async fn wake_latency(
    token: &str,
    endpoint: &str,
    metrics_url: &str,
    publish_url: &str,
    api_key: &str,
    rounds: usize,
) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let mut ack: Vec<String> = Vec::new();
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let waiting = {
            let (client, endpoint, token) = (client.clone(), endpoint.to_owned(), token.to_owned());
            let body = json!({"maxEvents": 10, "ack": ack});
            tokio::spawn(async move {
                let answer: Value = client
                    .post(&endpoint)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                Ok::<_, reqwest::Error>((Instant::now(), answer))
            })
        };
        // Publish once the poll is waiting (sampling a gauge: a benchmark, not a test).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = client.get(metrics_url).send().await?.text().await?;
            if text.lines().any(|l| l == "sethub_poll_waiting 1") {
                break;
            }
            if waiting.is_finished() {
                let (_, answer) = waiting.await??;
                anyhow::bail!("the long poll answered before anything was published: {answer}");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the long poll never waited ({metrics_url} says: {})",
                text.lines()
                    .filter(|l| l.contains("poll_waiting"))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let sent = Instant::now();
        client
            .post(publish_url)
            .bearer_auth(api_key)
            .json(&json!({
                "sub_id": {"format": "email", "email": format!("wake{i}@example.com")},
                "events": {sethub_tests::setup::SESSION_REVOKED: {"event_timestamp": 1_700_000_000}},
            }))
            .send()
            .await?
            .error_for_status()?;
        let (answered, answer) = waiting.await??;
        let sets = answer["sets"].as_object().cloned().unwrap_or_default();
        anyhow::ensure!(!sets.is_empty(), "the long poll answered empty: {answer}");
        ack = sets.keys().cloned().collect();
        samples.push(answered.saturating_duration_since(sent).as_secs_f64() * 1000.0);
    }
    ack_only(&client, token, endpoint, &ack).await?;
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    say(&format!(
        "poll: long poll answered a publish after {:.1} ms (median of {rounds}), p95 {:.1} ms",
        at(0.5),
        at(0.95)
    ));
    Ok(json!({
        "rounds": rounds,
        "median_ms": round(at(0.5)),
        "p95_ms": round(at(0.95)),
        "max_ms": round(at(1.0)),
    }))
}

/// Acknowledges the last batch (a request that asks for nothing more).
async fn ack_only(
    client: &reqwest::Client,
    token: &str,
    endpoint: &str,
    ack: &[String],
) -> anyhow::Result<()> {
    client
        .post(endpoint)
        .bearer_auth(token)
        .json(&json!({"maxEvents": 0, "returnImmediately": true, "ack": ack}))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}
