//! Configuration loading through every layer, in figment jails (isolated env and cwd).

// figment's Jail closures return `figment::Error`, which is large; that is its API.
#![allow(clippy::result_large_err)]

use figment::Jail;

use super::*;

fn load_in_jail(jail: &Jail, file: Option<&str>) -> Result<Config, ConfigError> {
    let path = file.map(|_| jail.directory().join("sethub.toml"));
    Config::load(path.as_deref())
}

#[test]
fn the_defaults_are_the_embedded_mode_and_valid() {
    let config = Config::default();
    config.validate().unwrap();
    assert!(config.backends().is_embedded());
}

#[test]
fn the_environment_overrides_the_file_which_overrides_the_defaults() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "sethub.toml",
            "[bus]\nprefix = \"from-file\"\nprefetch = 7\n",
        )?;
        jail.set_env("SETHUB_BUS__PREFETCH", "9");
        jail.set_env("SETHUB_TEST_PG_ADMIN_URL", "ignored by the config");
        let config = load_in_jail(jail, Some("sethub.toml")).unwrap();
        assert_eq!(config.bus.prefix, "from-file");
        assert_eq!(config.bus.prefetch, 9);
        assert_eq!(config.state.prefix, "sethub");
        Ok(())
    });
}

#[test]
fn a_wrongly_typed_value_names_its_key() {
    Jail::expect_with(|jail| {
        jail.create_file("sethub.toml", "[bus]\nprefetch = \"many\"\n")?;
        let err = load_in_jail(jail, Some("sethub.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bus.prefetch"), "{err}");
        Ok(())
    });
}

#[test]
fn an_unknown_key_is_refused_rather_than_ignored() {
    Jail::expect_with(|jail| {
        jail.create_file("sethub.toml", "[bus]\nprefech = 3\n")?;
        let err = load_in_jail(jail, Some("sethub.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("prefech"), "{err}");
        Ok(())
    });
}

#[test]
fn malformed_toml_is_an_error_not_a_panic() {
    Jail::expect_with(|jail| {
        jail.create_file("sethub.toml", "[bus\nprefix = ")?;
        let err = load_in_jail(jail, Some("sethub.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sethub.toml"), "{err}");
        Ok(())
    });
}

#[test]
fn a_missing_config_file_is_named() {
    let err = Config::load(Some(Path::new("/nonexistent/sethub.toml"))).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/sethub.toml"));
}

#[test]
fn a_database_url_with_a_foreign_scheme_is_refused() {
    Jail::expect_with(|jail| {
        jail.set_env("SETHUB_DATABASE__URL", "mysql://db/sethub");
        let err = load_in_jail(jail, None).unwrap_err().to_string();
        assert!(err.contains("database.url"), "{err}");
        Ok(())
    });
}

#[test]
fn a_migration_url_needs_a_postgres_database_url_and_is_redacted() {
    Jail::expect_with(|jail| {
        jail.set_env(
            "SETHUB_DATABASE__MIGRATE_URL",
            "postgres://sethub_owner:s3cret@127.0.0.1/sethub",
        );
        let err = load_in_jail(jail, None).unwrap_err().to_string();
        assert!(err.contains("database.migrate_url"), "{err}");
        jail.set_env(
            "SETHUB_DATABASE__URL",
            "postgres://sethub_app@127.0.0.1/sethub",
        );
        let config = load_in_jail(jail, None).unwrap();
        assert!(config.database.migrate_url.is_some());
        assert!(!format!("{config:?}").contains("s3cret"));
        jail.set_env("SETHUB_DATABASE__MIGRATE_URL", "mysql://db/sethub");
        let err = load_in_jail(jail, None).unwrap_err().to_string();
        assert!(err.contains("database.migrate_url"), "{err}");
        Ok(())
    });
}

#[test]
fn configuring_the_three_urls_selects_production_backends() {
    Jail::expect_with(|jail| {
        jail.set_env(
            "SETHUB_DATABASE__URL",
            "postgres://sethub_app@127.0.0.1/sethub",
        );
        jail.set_env("SETHUB_BUS__URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
        jail.set_env("SETHUB_STATE__URL", "redis://127.0.0.1:6379");
        let config = load_in_jail(jail, None).unwrap();
        assert_eq!(
            config.backends(),
            Backends {
                postgres: true,
                rabbitmq: true,
                redis: true
            }
        );
        assert!(!format!("{config:?}").contains("guest:guest"));
        Ok(())
    });
}

#[test]
fn a_bad_listen_address_names_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("SETHUB_SERVER__LISTEN", "localhost");
        let err = load_in_jail(jail, None).unwrap_err().to_string();
        assert!(err.contains("server.listen"), "{err}");
        Ok(())
    });
}

#[test]
fn a_toml_syntax_error_is_reported_on_one_line() {
    Jail::expect_with(|jail| {
        jail.create_file("sethub.toml", "[bus\nprefix = ")?;
        let err = load_in_jail(jail, Some("sethub.toml"))
            .unwrap_err()
            .to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("line 1"), "{err}");
        Ok(())
    });
}

#[test]
fn the_example_file_documents_a_valid_configuration() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sethub.example.toml");
    Jail::expect_with(|_jail| {
        let config = Config::load(Some(&path)).unwrap();
        assert!(config.backends().is_embedded());
        Ok(())
    });
}

#[test]
fn a_list_of_variables_reads_as_the_environment_would_and_refuses_unknown_keys() {
    let config = Config::from_vars([
        ("SETHUB_BUS__PREFETCH", "9"),
        ("SETHUB_SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/8"]"#),
        ("SETHUB_CONFIG", "/etc/sethub.toml"),
        ("OTHER", "ignored"),
    ])
    .unwrap();
    assert_eq!(config.bus.prefetch, 9);
    assert_eq!(config.server.trusted_proxies.len(), 1);
    let err = Config::from_vars([("SETHUB_BUS__PREFECTH", "9")]).unwrap_err();
    assert!(err.to_string().contains("prefecth"), "{err}");
    let err = Config::from_vars([("SETHUB_SERVER__LISTEN", "nowhere")]).unwrap_err();
    assert!(err.to_string().contains("server.listen"), "{err}");
}

#[test]
fn delivered_sets_are_kept_at_least_a_day_and_ninety_by_default() {
    let mut config = Config::default();
    assert_eq!(config.push.delivered_retention_days, 90);
    config.push.delivered_retention_days = 0;
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("push.delivered_retention_days"), "{err}");
}

#[test]
fn events_are_kept_ninety_days_by_default_at_least_a_day_and_the_idempotency_window() {
    let config = Config::default();
    assert_eq!(config.push.event_retention_days, 90);
    config.validate().unwrap();
    let err = Config::from_vars([("SETHUB_PUSH__EVENT_RETENTION_DAYS", "0")]).unwrap_err();
    assert!(
        err.to_string().contains("push.event_retention_days"),
        "{err}"
    );
    // A week of idempotency keys needs a week of events.
    let err = Config::from_vars([
        ("SETHUB_PUSH__EVENT_RETENTION_DAYS", "3"),
        ("SETHUB_INGEST__IDEMPOTENCY_WINDOW_SECS", "604800"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("push.event_retention_days") && err.contains("idempotency_window_secs"),
        "{err}"
    );
    Config::from_vars([
        ("SETHUB_PUSH__EVENT_RETENTION_DAYS", "7"),
        ("SETHUB_INGEST__IDEMPOTENCY_WINDOW_SECS", "604800"),
    ])
    .unwrap();
}

#[test]
fn upstream_long_poll_and_idle_settings_are_bounded_naming_the_key() {
    let config = Config::from_vars([
        ("SETHUB_INGEST__UPSTREAM_LONG_POLL_SECS", "300"),
        ("SETHUB_INGEST__UPSTREAM_POLL_IDLE_SECS", "1"),
    ])
    .unwrap();
    assert_eq!(config.ingest.upstream_long_poll_secs, 300);
    for (key, value, named) in [
        (
            "SETHUB_INGEST__UPSTREAM_LONG_POLL_SECS",
            "0",
            "ingest.upstream_long_poll_secs",
        ),
        (
            "SETHUB_INGEST__UPSTREAM_LONG_POLL_SECS",
            "301",
            "ingest.upstream_long_poll_secs",
        ),
        (
            "SETHUB_INGEST__UPSTREAM_POLL_IDLE_SECS",
            "0",
            "ingest.upstream_poll_idle_secs",
        ),
        (
            "SETHUB_INGEST__UPSTREAM_POLL_IDLE_SECS",
            "3601",
            "ingest.upstream_poll_idle_secs",
        ),
    ] {
        let err = Config::from_vars([(key, value)]).unwrap_err().to_string();
        assert!(err.contains(named), "{key}={value}: {err}");
    }
}

#[test]
fn event_shards_default_to_eight_and_stay_within_one_to_sixty_four() {
    Jail::expect_with(|jail| {
        assert_eq!(load_in_jail(jail, None).unwrap().bus.event_shards, 8);
        jail.set_env("SETHUB_BUS__EVENT_SHARDS", "64");
        assert_eq!(load_in_jail(jail, None).unwrap().bus.event_shards, 64);
        for bad in ["0", "65"] {
            jail.set_env("SETHUB_BUS__EVENT_SHARDS", bad);
            let err = load_in_jail(jail, None).unwrap_err().to_string();
            assert!(err.contains("bus.event_shards"), "{bad}: {err}");
        }
        Ok(())
    });
}
