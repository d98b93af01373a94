//! [`Config::validate`]: what types alone cannot check, each problem naming its key.

use std::net::SocketAddr;

use url::Url;

use crate::{Config, ConfigError, Secret};

impl Config {
    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem: &str| {
            Err(ConfigError::Invalid {
                key,
                problem: problem.to_owned(),
            })
        };
        if self.server.shutdown_secs == 0 || self.server.shutdown_secs > 3600 {
            return invalid("server.shutdown_secs", "must be between 1 and 3600");
        }
        if self.server.drain_secs >= self.server.shutdown_secs {
            return invalid(
                "server.drain_secs",
                "must be less than server.shutdown_secs",
            );
        }
        if self.server.listen.parse::<SocketAddr>().is_err() {
            return invalid(
                "server.listen",
                "must be host:port with an IP address, e.g. 127.0.0.1:8080",
            );
        }
        if let Some(url) = &self.server.public_url {
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return invalid("server.public_url", "must be an http:// or https:// URL");
            }
            if url.query().is_some() || url.fragment().is_some() {
                return invalid("server.public_url", "must not have a query or fragment");
            }
        }
        match (&self.server.tls.cert, &self.server.tls.key) {
            (Some(_), None) => {
                return invalid("server.tls.key", "must be set with server.tls.cert");
            }
            (None, Some(_)) => {
                return invalid("server.tls.cert", "must be set with server.tls.key");
            }
            _ => {}
        }
        check_url(
            self.database.url.as_ref(),
            "database.url",
            &["postgres", "postgresql", "sqlite"],
        )?;
        check_url(
            self.database.migrate_url.as_ref(),
            "database.migrate_url",
            &["postgres", "postgresql"],
        )?;
        if self.database.migrate_url.is_some() && !self.backends().postgres {
            return invalid(
                "database.migrate_url",
                "needs database.url to be a PostgreSQL URL too",
            );
        }
        check_url(self.bus.url.as_ref(), "bus.url", &["amqp", "amqps"])?;
        if let Some(url) = &self.telemetry.otlp_endpoint
            && (!matches!(url.scheme(), "http" | "https") || url.host().is_none())
        {
            return invalid(
                "telemetry.otlp_endpoint",
                "must be an http:// or https:// URL",
            );
        }
        check_url(self.state.url.as_ref(), "state.url", &["redis", "rediss"])?;
        self.sessions.validate()?;
        self.closing.validate()?;
        if self.database.max_connections == 0 {
            return invalid("database.max_connections", "must be at least 1");
        }
        if self.bus.prefetch == 0 {
            return invalid("bus.prefetch", "must be at least 1");
        }
        if !(1..=64).contains(&self.bus.event_shards) {
            return invalid(
                "bus.event_shards",
                "must be 1 to 64 (the queues the events are spread over, by tenant)",
            );
        }
        for (key, prefix) in [
            ("bus.prefix", &self.bus.prefix),
            ("state.prefix", &self.state.prefix),
        ] {
            if prefix.is_empty()
                || !prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return invalid(key, "must be non-empty letters, digits, '-' or '_'");
            }
        }
        for key in &self.secrets.master_keys {
            if key
                .expose()
                .split_once(':')
                .is_none_or(|(id, b64)| id.is_empty() || b64.is_empty())
            {
                return invalid(
                    "secrets.master_keys",
                    "each entry must be `id:base64-of-32-bytes`",
                );
            }
        }
        if self.push.max_in_flight_per_endpoint == 0 {
            return invalid("push.max_in_flight_per_endpoint", "must be at least 1");
        }
        if self.push.breaker_failures == 0 {
            return invalid("push.breaker_failures", "must be at least 1");
        }
        if self.push.fanout_concurrency == 0 {
            return invalid("push.fanout_concurrency", "must be at least 1");
        }
        if self.push.max_backlog == 0 {
            return invalid("push.max_backlog", "must be at least 1");
        }
        if self.push.max_in_flight_per_tenant == 0 {
            return invalid("push.max_in_flight_per_tenant", "must be at least 1");
        }
        if self.push.max_backlog_per_tenant == 0 {
            return invalid("push.max_backlog_per_tenant", "must be at least 1");
        }
        if self.push.delivered_retention_days == 0 {
            return invalid("push.delivered_retention_days", "must be at least 1");
        }
        if self.push.event_retention_days == 0 {
            return invalid("push.event_retention_days", "must be at least 1");
        }
        if u64::from(self.push.event_retention_days) * 86_400 < self.ingest.idempotency_window_secs
        {
            return invalid(
                "push.event_retention_days",
                "must cover ingest.idempotency_window_secs (a repeated Idempotency-Key must \
                 still find its event); raise it or shorten the window",
            );
        }
        if self.push.sweep_interval_secs == 0 {
            return invalid("push.sweep_interval_secs", "must be at least 1");
        }
        let r = &self.push.retry;
        if !(0.1..=30.0 * 86400.0).contains(&r.initial_secs) {
            return invalid(
                "push.retry.initial_secs",
                "must be between 0.1 s and 30 days",
            );
        }
        if !(1.0..=10.0).contains(&r.factor) {
            return invalid("push.retry.factor", "must be between 1 and 10");
        }
        if !(0.1..=30.0 * 86400.0).contains(&r.max_delay_secs) {
            return invalid(
                "push.retry.max_delay_secs",
                "must be between 0.1 s and 30 days",
            );
        }
        if !(1.0..=30.0 * 86400.0).contains(&r.max_age_secs) {
            return invalid("push.retry.max_age_secs", "must be between 1 s and 30 days");
        }
        if !(0.0..=0.5).contains(&r.jitter) {
            return invalid("push.retry.jitter", "must be between 0 and 0.5");
        }
        if self.ingest.rate_per_second.is_nan()
            || self.ingest.rate_per_second <= 0.0
            || self.ingest.burst == 0
        {
            return invalid("ingest.rate_per_second", "rate and burst must be positive");
        }
        if self.ingest.max_batch == 0 || self.ingest.max_body_bytes < 1024 {
            return invalid(
                "ingest.max_batch",
                "max_batch must be >= 1 and max_body_bytes >= 1024",
            );
        }
        if !(1..=300).contains(&self.ingest.upstream_long_poll_secs) {
            return invalid(
                "ingest.upstream_long_poll_secs",
                "must be between 1 and 300",
            );
        }
        if !(1..=3600).contains(&self.ingest.upstream_poll_idle_secs) {
            return invalid(
                "ingest.upstream_poll_idle_secs",
                "must be between 1 and 3600",
            );
        }
        if self.poll.default_max_events == 0
            || self.poll.default_max_events > self.poll.max_max_events
        {
            return invalid(
                "poll.default_max_events",
                "must be between 1 and poll.max_max_events",
            );
        }
        self.signin.validate()?;
        if self.poll.default_wait_secs > self.poll.max_wait_secs {
            return invalid(
                "poll.default_wait_secs",
                "must not exceed poll.max_wait_secs",
            );
        }
        let q = &self.quotas;
        for (key, value) in [
            ("quotas.streams_per_receiver", q.streams_per_receiver),
            ("quotas.receivers_per_tenant", q.receivers_per_tenant),
            ("quotas.streams_per_tenant", q.streams_per_tenant),
            ("quotas.subjects_per_stream", q.subjects_per_stream),
            ("quotas.subject_list_items", q.subject_list_items),
        ] {
            if value == 0 {
                return invalid(key, "must be at least 1");
            }
        }
        if q.subject_list_items > 1000 {
            return invalid("quotas.subject_list_items", "must be at most 1000");
        }
        Ok(())
    }
}

fn check_url(
    value: Option<&Secret<String>>,
    key: &'static str,
    schemes: &[&str],
) -> Result<(), ConfigError> {
    let Some(raw) = value else { return Ok(()) };
    match Url::parse(raw.expose()) {
        Ok(url) if schemes.contains(&url.scheme()) => Ok(()),
        Ok(url) => Err(ConfigError::Invalid {
            key,
            problem: format!(
                "scheme `{}` is not one of {}",
                url.scheme(),
                schemes.join(", ")
            ),
        }),
        Err(e) => Err(ConfigError::Invalid {
            key,
            problem: format!("not a URL ({e})"),
        }),
    }
}
