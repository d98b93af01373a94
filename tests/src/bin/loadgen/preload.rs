//! `--preload-deliveries N`: a database with history, made fast before the scenarios.
//!
//! As the PostgreSQL superuser (the admin URL of the test databases, trust auth on
//! 127.0.0.1), through `psql`, it writes N rows of `deliveries` with their `events` (one per
//! event and stream of its tenant) and one `delivery_attempts` row each, in the real schema:
//!
//! - ids are UUIDv7 of the row's time (as sethub makes them), the rows belong to real tenants
//!   and streams; 80 % go to `--preload-tenants` extra tenants (five push streams each), 20 %
//!   to the measured tenants' own streams (so their per-tenant indexes hold history too);
//! - times are spread evenly over the last six days (inside the attempt log's and poll
//!   retention); states: 98.9 % `delivered`, 1 % `dead` (after 12 attempts), and on the extra
//!   tenants 0.1 % `pending`, due in the past — the retry scheduler and the recovery sweep
//!   find them, push them to the extra tenants' streams (the receiver counts them as
//!   `unmarked`), or give them up when older than the retry's maximum age. Events are marked
//!   published, so ingest has nothing to resend.
//!
//! Speed: foreign-key triggers are off for the session (`session_replication_role =
//! replica`; the rows are valid by construction), the three tables' secondary indexes are
//! dropped, the rows inserted in chunks of 500,000 deliveries with progress, and the indexes
//! created again from their own definitions (`pg_indexes`), so the schema ends as migrated.
//! Row-level security does not apply to the superuser. No `ANALYZE`, no `VACUUM`: autovacuum
//! finds the tables as it would in a deployment.

use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::say;
use sethub_tests::setup::SESSION_REVOKED;

/// A tenant whose streams get preloaded rows.
pub(crate) struct Owner {
    pub(crate) tenant_id: String,
    pub(crate) streams: Vec<String>,
    /// Deliveries to write for it.
    pub(crate) deliveries: u64,
    /// Whether some of its rows may be pending (due in the past).
    pub(crate) pending: bool,
}

const CHUNK: u64 = 500_000;
const SPAN_SECS: u64 = 6 * 24 * 3600;
const TABLES: &str = "'events', 'deliveries', 'delivery_attempts'";

/// The UUID of a prefixed id (`tnt_0190…` → `0190…`), as the tables hold it.
fn raw_uuid(id: &str) -> &str {
    id.split_once('_').map_or(id, |(_, hex)| hex)
}

/// The superuser's URL of database `name`.
fn admin_url(name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(&sethub_store::testing::admin_url()).context("admin URL")?;
    url.set_path(name);
    Ok(url.to_string())
}

/// Runs `sql` through `psql` on `url`, printing each `\echo` line with the time since start.
async fn psql(url: &str, sql: String, started: Instant) -> anyhow::Result<Vec<String>> {
    let mut child = tokio::process::Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run psql (is the PostgreSQL client installed?)")?;
    let mut stdin = child.stdin.take().context("psql stdin")?;
    let writer = tokio::spawn(async move {
        stdin.write_all(sql.as_bytes()).await?;
        stdin.shutdown().await
    });
    let stdout = child.stdout.take().context("psql stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut out = Vec::new();
    while let Some(line) = lines.next_line().await? {
        if let Some(msg) = line.strip_prefix("progress: ") {
            say(&format!(
                "preload: {msg} ({:.0}s)",
                started.elapsed().as_secs_f64()
            ));
        } else if !line.trim().is_empty() {
            out.push(line);
        }
    }
    let output = child.wait_with_output().await?;
    writer.await.context("psql writer")??;
    if !output.status.success() {
        bail!(
            "psql failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(out)
}

/// The session settings and the `pg_temp.v7(ts, n, salt)` id maker.
const PRELUDE: &str = r#"
SET session_replication_role = replica;
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
CREATE FUNCTION pg_temp.v7(ts timestamptz, n bigint, salt int) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
  SELECT (lpad(to_hex((extract(epoch FROM ts) * 1000)::bigint), 12, '0')
       || '7' || lpad(to_hex(salt & 4095), 3, '0')
       || '8' || lpad(to_hex((n >> 48) & 4095), 3, '0')
       || lpad(to_hex(n & 281474976710655), 12, '0'))::uuid
$$;
"#;

/// The statements writing one owner's rows, chunk by chunk. `base` and `dbase` number its
/// events and deliveries apart from the other owners'.
fn owner_sql(o: &Owner, base: u64, dbase: u64, t0: &str, out: &mut Vec<String>) -> u64 {
    let k = o.streams.len().max(1) as u64;
    let events = o.deliveries.div_ceil(k);
    let per_chunk = (CHUNK / k).max(1);
    let streams = o
        .streams
        .iter()
        .map(|s| format!("'{}'", raw_uuid(s)))
        .collect::<Vec<_>>()
        .join(",");
    let tenant = raw_uuid(&o.tenant_id);
    // r in 0..1000 spreads the states evenly: 0 pending (extra tenants only), 1..=10 dead.
    let pending = if o.pending { "r = 0" } else { "false" };
    let ts =
        format!("'{t0}'::timestamptz + (g::float8 / {events}) * interval '{SPAN_SECS} seconds'");
    let mut lo = 0;
    while lo < events {
        let hi = (lo + per_chunk).min(events);
        out.push(format!(
            r#"
BEGIN;
INSERT INTO events (id, tenant_id, event_types, sub_id, payload, txn, toe, source,
                    idempotency_key, received_at, published_at)
SELECT pg_temp.v7(t.ts, {base} + g, 1), '{tenant}', '["{SESSION_REVOKED}"]'::jsonb,
       jsonb_build_object('format', 'opaque', 'id', 'u' || (g % 10000)),
       jsonb_build_object('sub_id', jsonb_build_object('format', 'opaque', 'id', 'u' || (g % 10000)),
                          'events', jsonb_build_object('{SESSION_REVOKED}',
                              jsonb_build_object('event_timestamp', extract(epoch FROM t.ts)::bigint))),
       NULL, t.ts, 'api', NULL, t.ts, t.ts
FROM generate_series({lo}::bigint, {hi}::bigint - 1) g
CROSS JOIN LATERAL (SELECT {ts} AS ts) t;
WITH x AS (
  SELECT g, s.stream_id, t.ts, {dbase} + g * {k} + s.j - 1 AS n,
         (({dbase} + g * {k} + s.j - 1) * 7919) % 1000 AS r
  FROM generate_series({lo}::bigint, {hi}::bigint - 1) g
  CROSS JOIN unnest(ARRAY[{streams}]::uuid[]) WITH ORDINALITY AS s(stream_id, j)
  CROSS JOIN LATERAL (SELECT {ts} AS ts) t
), y AS (
  SELECT x.*, CASE WHEN {pending} THEN 'pending' WHEN r <= 10 THEN 'dead' ELSE 'delivered' END AS state
  FROM x
), d AS (
  INSERT INTO deliveries (id, tenant_id, stream_id, event_id, kind, jti, set_token, state,
                          attempts, next_attempt_at, first_attempt_at, last_status, last_error,
                          resigned, created_at, updated_at, delivered_at, generation)
  SELECT pg_temp.v7(ts, n, 2), '{tenant}', stream_id, pg_temp.v7(ts, {base} + g, 1), 'event',
         pg_temp.v7(ts, n, 4)::text,
         'eyJhbGciOiJFUzI1NiIsImtpZCI6InByZWxvYWQiLCJ0eXAiOiJzZWNldmVudCtqd3QifQ.'
           || repeat(md5(n::text), 10) || '.' || repeat(md5((n + 1)::text), 2) || 'preloadsig',
         state,
         CASE state WHEN 'dead' THEN 12 ELSE 1 END,
         CASE state WHEN 'pending' THEN ts + interval '5 seconds' END,
         ts + interval '40 milliseconds',
         CASE state WHEN 'delivered' THEN 202 ELSE 503 END,
         CASE state WHEN 'delivered' THEN NULL ELSE 'the receiver answered 503' END,
         false, ts, ts + interval '40 milliseconds',
         CASE state WHEN 'delivered' THEN ts + interval '40 milliseconds' END,
         0
  FROM y
  RETURNING id, tenant_id, stream_id, state, first_attempt_at, last_status, last_error
)
INSERT INTO delivery_attempts (id, tenant_id, delivery_id, stream_id, attempted_at, status,
                               latency_ms, outcome, error, response_excerpt)
SELECT pg_temp.v7(first_attempt_at, ('x' || substr(md5(id::text), 1, 15))::bit(60)::bigint, 3),
       tenant_id, id, stream_id, first_attempt_at, last_status, 3,
       CASE state WHEN 'delivered' THEN 'delivered' WHEN 'dead' THEN 'dead' ELSE 'retry' END,
       last_error, NULL
FROM d;
COMMIT;
"#
        ));
        lo = hi;
    }
    events * k
}

/// Runs `steps` round-robin over `workers` concurrent `psql` sessions (each with the prelude).
async fn run_parallel(
    url: &str,
    steps: Vec<String>,
    workers: usize,
    started: Instant,
) -> anyhow::Result<()> {
    let workers = workers.clamp(1, steps.len().max(1));
    let mut scripts = vec![String::from(PRELUDE); workers];
    for (i, step) in steps.into_iter().enumerate() {
        scripts[i % workers].push_str(&step);
    }
    let results =
        futures_util::future::join_all(scripts.into_iter().map(|sql| psql(url, sql, started)))
            .await;
    for r in results {
        r?;
    }
    Ok(())
}

/// Writes the rows and reports `{rows, events, attempts, seconds}`.
pub(crate) async fn preload(
    database: &str,
    owners: &[Owner],
    workers: usize,
) -> anyhow::Result<Value> {
    let url = admin_url(database)?;
    let started = Instant::now();
    let total: u64 = owners.iter().map(|o| o.deliveries).sum();
    say(&format!(
        "preload: {total} deliveries into {database} ({} tenants)",
        owners.len()
    ));
    // The secondary indexes (not those of a primary key or unique constraint).
    let defs = psql(
        &url,
        format!(
            "SELECT indexname || '|' || indexdef FROM pg_indexes WHERE schemaname = 'public' \
             AND tablename IN ({TABLES}) AND indexname NOT IN \
             (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u', 'x'));"
        ),
        started,
    )
    .await?;
    let defs: Vec<(String, String)> = defs
        .iter()
        .filter_map(|l| l.split_once('|'))
        .map(|(n, d)| (n.to_owned(), d.to_owned()))
        .collect();
    let t0 = chrono::Utc::now() - chrono::Duration::seconds(SPAN_SECS as i64 + 120);
    let t0 = t0.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string();
    let mut drop = String::from(PRELUDE);
    for (name, _) in &defs {
        drop.push_str(&format!("DROP INDEX \"{name}\";\n"));
    }
    drop.push_str(&format!(
        "\\echo progress: {} secondary indexes dropped\n",
        defs.len()
    ));
    psql(&url, drop, started).await?;
    let (mut base, mut rows) = (0u64, 0u64);
    let mut chunks = Vec::new();
    for o in owners {
        let k = o.streams.len().max(1) as u64;
        rows += owner_sql(o, base, rows, &t0, &mut chunks);
        base += o.deliveries.div_ceil(k);
    }
    // The chunks, then the indexes, over `workers` sessions at once.
    let n = chunks.len();
    let steps: Vec<String> = chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| format!("{c}\\echo progress: chunk {} of {n} written\n", i + 1))
        .collect();
    run_parallel(&url, steps, workers, started).await?;
    let steps: Vec<String> = defs
        .iter()
        .map(|(name, def)| format!("{def};\n\\echo progress: index {name} created again\n"))
        .collect();
    run_parallel(&url, steps, workers, started).await?;
    let sql = "SELECT (SELECT count(*) FROM events) || '|' || (SELECT count(*) FROM deliveries) \
               || '|' || (SELECT count(*) FROM delivery_attempts) || '|' || (SELECT count(*) \
               FROM deliveries WHERE state = 'pending');\n"
        .to_owned();
    let out = psql(&url, sql, started).await?;
    let counts: Vec<u64> = out
        .last()
        .map(|l| l.split('|').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_default();
    let secs = started.elapsed().as_secs_f64();
    say(&format!(
        "preload: {rows} deliveries in {secs:.0}s ({:.0} rows/s)",
        rows as f64 / secs.max(0.001)
    ));
    Ok(json!({
        "deliveries_written": rows,
        "events": counts.first(),
        "deliveries": counts.get(1),
        "delivery_attempts": counts.get(2),
        "pending_at_end": counts.get(3),
        "workers": workers,
        "seconds": crate::measure::round(secs),
        "deliveries_per_s": crate::measure::round(rows as f64 / secs.max(0.001)),
        "indexes_rebuilt": defs.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_gets_whole_events_on_every_stream_in_chunks() {
        let owner = Owner {
            tenant_id: "tnt_0190aaaabbbbccccddddeeeeffff0000".into(),
            streams: (0..5)
                .map(|i| format!("str_0190aaaabbbbccccddddeeeeffff000{i}"))
                .collect(),
            deliveries: 1_200_001,
            pending: true,
        };
        let mut chunks = Vec::new();
        let rows = owner_sql(&owner, 7, 100, "2026-12-01 00:00:00+00", &mut chunks);
        // 240,001 events × 5 streams, 100,000 events (500,000 deliveries) a chunk.
        assert_eq!(rows, 1_200_005);
        assert_eq!(chunks.len(), 3);
        assert!(chunks[0].contains("'0190aaaabbbbccccddddeeeeffff0000'"));
        assert!(chunks[0].contains("'0190aaaabbbbccccddddeeeeffff0004'"));
        assert!(!chunks[0].contains("tnt_"));
        assert!(chunks[0].contains("WHEN r = 0 THEN 'pending'"));
        assert!(chunks[2].contains("generate_series(200000::bigint, 240001::bigint - 1)"));
        assert_eq!(raw_uuid("evt_0123"), "0123");
        assert_eq!(raw_uuid("0123"), "0123");
    }
}
