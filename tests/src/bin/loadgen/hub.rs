//! Starting the hub for a run: fresh backends (production: a new PostgreSQL database and
//! random RabbitMQ/Redis prefixes; `--embedded`: SQLite in the work directory), the ingest
//! rate limit lifted, log filter `warn`, and `sethub manage`, `ingest`, `fanout` as separate
//! processes (or `sethub all`). Also the setup every mode shares: a tenant with push streams.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use sethub_tests::backends::Production;
use sethub_tests::random_suffix;
use sethub_tests::setup::{self, Hub, SESSION_REVOKED, Tenant};

use crate::say;

/// A started hub and the backends it runs on; dropping it stops the processes, deletes the
/// run's queues and drops the database.
pub(crate) struct Running {
    pub(crate) hub: Hub,
    pub(crate) production: Option<Production>,
}

/// How to start the hub.
pub(crate) struct HubOptions<'a> {
    pub(crate) bin: &'a Path,
    pub(crate) workdir: &'a Path,
    pub(crate) embedded: bool,
    pub(crate) without_fanout: bool,
    pub(crate) env: &'a [(String, String)],
}

pub(crate) async fn start(o: HubOptions<'_>) -> anyhow::Result<Running> {
    let production = if o.embedded {
        None
    } else {
        say("creating a PostgreSQL database; RabbitMQ and Redis under a random prefix");
        let db = sethub_store::testing::TestDb::try_postgres()
            .await
            .map_err(|e| anyhow::anyhow!("cannot create a PostgreSQL database: {e}"))?;
        Some(Production {
            db,
            prefix: format!("t{}", random_suffix()),
        })
    };
    let mut env = match &production {
        Some(p) => p.env(),
        None => BTreeMap::from([
            (
                "SETHUB_DATA_DIR".to_owned(),
                o.workdir.join("data").display().to_string(),
            ),
            (
                "SETHUB_PUSH__ALLOW_PRIVATE_TARGETS".to_owned(),
                "true".to_owned(),
            ),
            ("SETHUB_PUSH__ALLOW_HTTP".to_owned(), "true".to_owned()),
        ]),
    };
    env.insert("SETHUB_INGEST__RATE_PER_SECOND".into(), "1000000".into());
    env.insert("SETHUB_INGEST__BURST".into(), "1000000".into());
    env.insert("SETHUB_LOG__FILTER".into(), "warn".into());
    // A deployment's event shards (the default), not the test hubs' few.
    env.remove("SETHUB_BUS__EVENT_SHARDS");
    env.extend(o.env.iter().cloned());
    let hub = if o.embedded {
        say(&format!("starting `{} all` (embedded)", o.bin.display()));
        Hub::start_all(o.bin, &env, o.workdir).await?
    } else {
        let others: &[&str] = if o.without_fanout {
            &["ingest"]
        } else {
            &["ingest", "fanout"]
        };
        say(&format!(
            "starting `{} manage` and {}",
            o.bin.display(),
            others.join(", ")
        ));
        Hub::start_services(o.bin, &env, o.workdir, others).await?
    };
    say(&format!(
        "hub: public/manage {}, ingest {}",
        hub.public_url, hub.ingest_url
    ));
    Ok(Running { hub, production })
}

impl Running {
    /// `(role, pid)` of each sethub process.
    pub(crate) fn pids(&self) -> Vec<(String, u32)> {
        self.hub
            .processes
            .iter()
            .filter_map(|(role, p)| p.pid().map(|pid| (role.clone(), pid)))
            .collect()
    }

    /// The base URL of the process serving fan-out's endpoints (poll).
    pub(crate) fn fanout_url(&self) -> String {
        self.hub
            .process("fanout")
            .or_else(|| self.hub.process("all"))
            .map(|p| p.base_url.clone())
            .unwrap_or_default()
    }

    /// Stops the processes, then deletes the run's queues; the database goes last.
    pub(crate) async fn shut_down(self) {
        let Running { hub, production } = self;
        drop(hub);
        if let Some(p) = &production {
            delete_queues(&p.prefix).await;
        }
        drop(production);
    }
}

/// A tenant made with the admin CLI, and a receiver's access token for it.
pub(crate) struct TenantSetup {
    pub(crate) tenant: Tenant,
    pub(crate) token: String,
    pub(crate) streams: Vec<String>,
}

/// Creates tenant `slug` and one push stream (taking session-revoked) per endpoint, each
/// pushing with `Authorization: Bearer loadgen`.
pub(crate) async fn tenant_with_push_streams(
    running: &Running,
    bin: &Path,
    slug: &str,
    endpoints: &[String],
) -> anyhow::Result<TenantSetup> {
    let hub = &running.hub;
    let tenant = setup::create_tenant(bin, &hub.env, slug).await?;
    let creds = setup::create_receiver(bin, &hub.env, slug, "loadgen").await?;
    let token = setup::token(&creds).await?;
    let mut streams = Vec::new();
    for (i, url) in endpoints.iter().enumerate() {
        let stream = setup::create_push_stream(
            &hub.manage_url,
            slug,
            &token,
            url,
            Some("Bearer loadgen"),
            &[SESSION_REVOKED],
        )
        .await
        .with_context(|| format!("creating stream {i} of {slug}"))?;
        streams.push(stream.stream_id);
    }
    Ok(TenantSetup {
        tenant,
        token,
        streams,
    })
}

/// Deletes a stream through the SSF configuration endpoint (its deliveries go with it).
pub(crate) async fn delete_stream(
    running: &Running,
    slug: &str,
    token: &str,
    stream_id: &str,
) -> anyhow::Result<()> {
    let meta = setup::metadata(&running.hub.manage_url, slug).await?;
    let endpoint = meta["configuration_endpoint"]
        .as_str()
        .context("no configuration_endpoint")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let mut url = url::Url::parse(endpoint).context("configuration_endpoint")?;
    url.query_pairs_mut().append_pair("stream_id", stream_id);
    let status = client.delete(url).bearer_auth(token).send().await?.status();
    anyhow::ensure!(
        status.is_success(),
        "deleting stream {stream_id}: HTTP {status}"
    );
    Ok(())
}

/// A poll stream for `slug`: `(endpoint as fan-out serves it, stream API URL)`.
pub(crate) async fn poll_stream(
    running: &Running,
    slug: &str,
    token: &str,
) -> anyhow::Result<(String, String)> {
    let hub = &running.hub;
    let meta = setup::metadata(&hub.manage_url, slug).await?;
    let client = reqwest::Client::new();
    let config: Value = client
        .post(meta["configuration_endpoint"].as_str().unwrap_or_default())
        .bearer_auth(token)
        .json(&json!({"events_requested": [SESSION_REVOKED]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let endpoint = config["delivery"]["endpoint_url"]
        .as_str()
        .unwrap_or_default()
        .replacen(&hub.public_url, &running.fanout_url(), 1);
    let stream_url = format!(
        "{}/api/v1/streams/{}",
        hub.manage_url,
        config["stream_id"].as_str().unwrap_or_default()
    );
    Ok((endpoint, stream_url))
}

/// Waits until the run's RabbitMQ queues (`{prefix}.…`) hold no message, ready or
/// unacknowledged, twice in a row (`rabbitmqctl`), or `timeout`; the seconds it took, or
/// `None` when it could not tell (no `rabbitmqctl`) or timed out.
pub(crate) async fn wait_bus_idle(prefix: &str, timeout: Duration) -> Option<f64> {
    let started = tokio::time::Instant::now();
    let own = format!("{prefix}.");
    let mut idle_checks = 0;
    while started.elapsed() < timeout {
        let listed = tokio::process::Command::new("rabbitmqctl")
            .args([
                "list_queues",
                "-q",
                "--no-table-headers",
                "name",
                "messages",
            ])
            .output()
            .await
            .ok()?;
        let text = String::from_utf8_lossy(&listed.stdout);
        let waiting: u64 = text
            .lines()
            .filter_map(|l| l.split_once(char::is_whitespace))
            .filter(|(name, _)| name.starts_with(&own))
            .filter_map(|(_, n)| n.trim().parse::<u64>().ok())
            .sum();
        idle_checks = if waiting == 0 { idle_checks + 1 } else { 0 };
        if idle_checks >= 2 {
            return Some(started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    None
}

/// Deletes the run's RabbitMQ queues (`{prefix}.…`) with `rabbitmqctl`, best effort: quorum
/// queues outlive their consumers, and a run without fan-out leaves every event in them.
pub(crate) async fn delete_queues(prefix: &str) {
    let listed = tokio::process::Command::new("rabbitmqctl")
        .args(["list_queues", "-q", "--no-table-headers", "name"])
        .output()
        .await;
    let Ok(listed) = listed.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()) else {
        say("rabbitmqctl is not available: the run's queues are left in RabbitMQ");
        return;
    };
    let own = format!("{prefix}.");
    for queue in listed
        .lines()
        .map(str::trim)
        .filter(|q| q.starts_with(&own))
    {
        let deleted = tokio::process::Command::new("rabbitmqctl")
            .args(["delete_queue", "-q", queue])
            .output()
            .await;
        if !deleted.is_ok_and(|o| o.status.success()) {
            say(&format!("could not delete the queue {queue}"));
        }
    }
}
