//! The admin CLI, end to end: the real `sethub` binary against a fresh PostgreSQL database
//! prints JSON for each command, the API key it prints authenticates at the tenant REST API
//! of a running `sethub manage`, and mistakes end with one error line and exit code 1.

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use sethub_tests::backends::Production;
use sethub_tests::{SethubProcess, init_crypto, random_suffix};

const BIN: &str = env!("CARGO_BIN_EXE_sethub");
const PUBLIC_URL: &str = "https://hub.example.test";

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn json(&self) -> Value {
        assert_eq!(
            self.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Exit code 1 and exactly one stderr line, starting `sethub: error:` and containing `what`.
    fn assert_error(&self, what: &str) {
        assert_eq!(
            self.code,
            Some(1),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one error line: {:?}", lines);
        assert!(lines[0].starts_with("sethub: error: "), "{}", lines[0]);
        assert!(lines[0].contains(what), "`{what}` in {}", lines[0]);
        assert!(self.stdout.is_empty(), "nothing on stdout: {}", self.stdout);
    }
}

fn env(prod: &Production) -> BTreeMap<String, String> {
    let mut env = prod.env();
    env.insert(
        "SETHUB_SERVER__PUBLIC_URL".to_owned(),
        PUBLIC_URL.to_owned(),
    );
    env
}

async fn sethub(env: &BTreeMap<String, String>, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args);
    for (k, _) in
        std::env::vars().filter(|(k, _)| k.starts_with("SETHUB_") && !k.starts_with("SETHUB_TEST"))
    {
        cmd.env_remove(k);
    }
    let out = cmd
        .envs(env)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn get_tenant(hub: &SethubProcess, key: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(hub.url("/api/v1/tenant"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_admin_command_prints_json_and_the_printed_key_works_at_the_rest_api() {
    init_crypto();
    let prod = Production::new().await;
    let env = env(&prod);
    let slug = format!("cli-{}", random_suffix());

    let tenant = sethub(
        &env,
        &["tenant", "create", "--slug", &slug, "--name", "CLI Corp"],
    )
    .await
    .json();
    assert!(tenant["tenant_id"].as_str().unwrap().starts_with("tnt_"));
    assert_eq!(tenant["slug"], slug.as_str());
    assert_eq!(tenant["issuer"], format!("{PUBLIC_URL}/t/{slug}"));
    let api_key = tenant["api_key"].as_str().unwrap().to_owned();
    assert!(api_key.starts_with("sh_"));

    let receiver = sethub(
        &env,
        &["receiver", "create", "--tenant", &slug, "--name", "SIEM"],
    )
    .await
    .json();
    assert!(
        receiver["receiver_id"]
            .as_str()
            .unwrap()
            .starts_with("rcv_")
    );
    assert!(receiver["client_id"].is_string());
    assert_eq!(receiver["client_secret"].as_str().unwrap().len(), 43);
    assert_eq!(
        receiver["token_endpoint"],
        format!("{PUBLIC_URL}/t/{slug}/oauth/token")
    );

    let rotated = sethub(&env, &["key", "rotate", "--tenant", &slug])
        .await
        .json();
    assert_eq!(rotated["action"], "published_next");
    let next = rotated["next_kid"].as_str().unwrap().to_owned();
    let forced = sethub(&env, &["key", "rotate", "--tenant", &slug, "--now"])
        .await
        .json();
    assert_eq!(forced["action"], "promoted");
    assert_eq!(forced["active_kid"], next.as_str());
    assert_eq!(
        forced["retiring_kids"],
        serde_json::json!([rotated["active_kid"]])
    );

    let created = sethub(
        &env,
        &[
            "apikey", "create", "--tenant", &slug, "--name", "ops", "--scope", "admin",
        ],
    )
    .await
    .json();
    assert_eq!(created["scopes"], serde_json::json!(["admin"]));
    let second_key = created["api_key"].as_str().unwrap().to_owned();
    let second_id = created["api_key_id"].as_str().unwrap().to_owned();

    let dir = std::env::temp_dir();
    let hub = SethubProcess::start(Path::new(BIN), &["manage"], &env, &dir)
        .await
        .unwrap_or_else(|f| panic!("sethub manage did not start: {f:?}"));
    let (status, body) = get_tenant(&hub, &api_key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["slug"], slug.as_str());
    assert_eq!(body["tenant_id"], tenant["tenant_id"]);
    assert_eq!(get_tenant(&hub, &second_key).await.0, 200);

    let revoked = sethub(
        &env,
        &["apikey", "revoke", "--tenant", &slug, "--id", &second_id],
    )
    .await
    .json();
    assert_eq!(revoked["api_key_id"], second_id.as_str());
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(get_tenant(&hub, &second_key).await.0, 401);
    assert_eq!(get_tenant(&hub, &api_key).await.0, 200);
}

#[tokio::test]
async fn a_taken_slug_a_bad_slug_and_an_unknown_tenant_give_one_error_line_and_exit_1() {
    let prod = Production::new().await;
    let env = env(&prod);
    let slug = format!("dup-{}", random_suffix());
    sethub(&env, &["tenant", "create", "--slug", &slug])
        .await
        .json();

    sethub(&env, &["tenant", "create", "--slug", &slug])
        .await
        .assert_error("is taken");
    sethub(&env, &["tenant", "create", "--slug", "admin"])
        .await
        .assert_error("reserved");
    sethub(&env, &["tenant", "create", "--slug", "Bad_Slug"])
        .await
        .assert_error("--slug");
    sethub(
        &env,
        &[
            "receiver",
            "create",
            "--tenant",
            "no-such-tenant",
            "--name",
            "x",
        ],
    )
    .await
    .assert_error("no tenant has the slug `no-such-tenant`");
    sethub(&env, &["key", "rotate", "--tenant", "no-such-tenant"])
        .await
        .assert_error("no-such-tenant");
    sethub(
        &env,
        &["apikey", "create", "--tenant", &slug, "--scope", "root"],
    )
    .await
    .assert_error("unknown scope `root`");
    sethub(
        &env,
        &[
            "apikey",
            "revoke",
            "--tenant",
            &slug,
            "--id",
            "key_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f",
        ],
    )
    .await
    .assert_error("no API key");
}

#[tokio::test]
async fn the_operator_raises_and_lowers_a_tenants_quota_with_the_cli_and_it_applies_at_once() {
    let prod = Production::new().await;
    let env = env(&prod);
    let slug = format!("quota-{}", random_suffix());
    sethub(&env, &["tenant", "create", "--slug", &slug])
        .await
        .json();
    let receiver = |name: &'static str| {
        let env = env.clone();
        let slug = slug.clone();
        async move {
            sethub(
                &env,
                &["receiver", "create", "--tenant", &slug, "--name", name],
            )
            .await
        }
    };

    let shown = sethub(&env, &["tenant", "quotas", "--tenant", &slug])
        .await
        .json();
    assert_eq!(shown["overrides"], serde_json::json!({}));
    assert_eq!(shown["effective"]["receivers_per_tenant"], 100);
    assert_eq!(shown["effective"]["streams_per_receiver"], 10);

    // Lowered to 1: the second receiver is refused, naming the quota.
    let lowered = sethub(
        &env,
        &[
            "tenant",
            "quotas",
            "--tenant",
            &slug,
            "--receivers-per-tenant",
            "1",
        ],
    )
    .await
    .json();
    assert_eq!(
        lowered["overrides"],
        serde_json::json!({"receivers_per_tenant": 1})
    );
    assert_eq!(lowered["effective"]["receivers_per_tenant"], 1);
    receiver("first").await.json();
    receiver("second")
        .await
        .assert_error("quota receivers_per_tenant reached");

    // Raised to 2 (another limit changed beside it keeps the first): the second one passes.
    let raised = sethub(
        &env,
        &[
            "tenant",
            "quotas",
            "--tenant",
            &slug,
            "--receivers-per-tenant",
            "2",
        ],
    )
    .await
    .json();
    assert_eq!(raised["effective"]["receivers_per_tenant"], 2);
    sethub(
        &env,
        &[
            "tenant",
            "quotas",
            "--tenant",
            &slug,
            "--streams-per-receiver",
            "20",
        ],
    )
    .await
    .json();
    receiver("second").await.json();
    receiver("third").await.assert_error("receivers_per_tenant");

    // A zero limit is refused and changes nothing; --reset returns to the defaults.
    sethub(
        &env,
        &[
            "tenant",
            "quotas",
            "--tenant",
            &slug,
            "--streams-per-tenant",
            "0",
        ],
    )
    .await
    .assert_error("streams_per_tenant: must be at least 1");
    let kept = sethub(&env, &["tenant", "quotas", "--tenant", &slug])
        .await
        .json();
    assert_eq!(
        kept["overrides"],
        serde_json::json!({"receivers_per_tenant": 2, "streams_per_receiver": 20})
    );
    let reset = sethub(&env, &["tenant", "quotas", "--tenant", &slug, "--reset"])
        .await
        .json();
    assert_eq!(reset["overrides"], serde_json::json!({}));
    assert_eq!(reset["effective"]["receivers_per_tenant"], 100);
    receiver("third").await.json();
}
