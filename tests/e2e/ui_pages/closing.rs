//! Closing an organisation (issue 16, "Leaving"), in a real headless Chromium against
//! `sethub all` over PostgreSQL, RabbitMQ and Redis: only an owner closes (a confirmation page
//! that works without script names what happens), the receivers get stream-updated SETs at a
//! real HTTP receiver, publishes are refused in the ingest API's problem shape, the SSF API,
//! the portal and the console say the organisation is closed, an owner reopens within the
//! grace period, and after it nothing of the tenant is left in any table (every table of the
//! schema, from `information_schema`) or in Redis. Screenshots under
//! `$CARGO_TARGET_TMPDIR/screenshots/closing/`.

use sethub_tests::receiver::TestReceiver;
use sethub_tests::setup::{SESSION_REVOKED, create_push_stream, session_revoked};

use super::*;

/// The grace period of this test: long enough for the browser steps before the reopening.
const GRACE_SECS: &str = "30";

/// Publishes one event with `key`: the status and the body.
async fn publish(w: &World, slug: &str, key: &str, email: &str) -> (u16, String, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/t/{slug}/events", w.hub.ingest_url))
        .bearer_auth(key)
        .json(&session_revoked(email))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, resp.json().await.unwrap_or(Value::Null))
}

/// Waits until `rx` got `n` stream-updated SETs on `path` with `status`; returns the last
/// one's events.
async fn stream_updated(rx: &TestReceiver, path: &str, status: &str, n: usize) -> Value {
    sethub_tests::wait_until(
        &format!("{n} stream-updated SETs `{status}` at {path}"),
        LONG,
        || async {
            let told: Vec<Value> = rx
                .received(path)
                .into_iter()
                .map(|s| s.events)
                .filter(|e| e[STREAM_UPDATED]["status"] == status)
                .collect();
            (told.len() >= n).then(|| told[n - 1].clone())
        },
    )
    .await
}

/// Signs in to the console as `email` of the organisation `slug`.
async fn sign_in(b: &Browser, console: &str, slug: &str, email: &str, password: &str) {
    b.driver.goto(format!("{console}/login")).await.unwrap();
    b.fill("slug", slug).await.unwrap();
    b.fill("email", email).await.unwrap();
    b.fill("password", password).await.unwrap();
    b.click_button("Sign in").await.unwrap();
    b.wait_for_text("Dashboard").await.unwrap();
}

/// The settings of both runs: a short grace period, and publishes refused from the next
/// request on (a cached key would take its time).
const SETTINGS: [(&str, &str); 2] = [
    ("SETHUB_CLOSING__GRACE_SECS", GRACE_SECS),
    ("SETHUB_INGEST__API_KEY_CACHE_SECS", "0"),
];

#[tokio::test]
async fn an_owner_closes_the_organisation_its_receivers_are_told_and_after_the_grace_period_nothing_of_it_remains()
 {
    leaving(World::all_production_with(&SETTINGS).await, "closing").await;
}

#[tokio::test]
async fn an_owner_closes_the_embedded_organisation_and_after_the_grace_period_no_table_holds_a_row_of_it()
 {
    leaving(World::embedded_with(&SETTINGS).await, "closing_embedded").await;
}

/// The rows of `uuid` (32 hex digits) left in each table, by `sql(query)` answering one
/// number; a table without `tenant_id` other than the known global ones fails, naming it.
fn rows_left(tables: &str, uuid: &str, sql: impl Fn(&str) -> String) -> usize {
    let mut checked = 0;
    for line in tables.lines() {
        let (table, owned) = line.split_once(':').unwrap();
        let column = match (table, owned) {
            (_, "true" | "1") => "tenant_id",
            ("tenants", _) => "id",
            ("seaql_migrations", _) => continue,
            (other, _) => panic!("table `{other}` has no tenant_id: classify it"),
        };
        let left = sql(&format!(
            r#"SELECT count(*) FROM "{table}" WHERE {column} = '{uuid}'"#
        ));
        assert_eq!(
            left, "0",
            "`{table}` still holds rows of the deleted tenant"
        );
        checked += 1;
    }
    checked
}

async fn leaving(w: World, shots_dir: &str) {
    let production = w.backend_prefix().is_some();
    let base = w.hub.manage_url.clone();
    let console = format!("{base}/console");
    let mut b = Browser::start(&shots().join("screenshots"), shots_dir)
        .await
        .unwrap();
    let (slug, key) = sign_up(&b, &console, "closing", "Acme Leaving").await;
    let (link, creds) = invite(&b, &w, &slug, "Beta Corp").await;
    let token = setup::token(&creds).await.unwrap();
    let rx = TestReceiver::start(
        w.hub.jwks_url(&slug),
        format!("{}/t/{slug}", w.hub.public_url),
    )
    .await;
    let stream = create_push_stream(
        &base,
        &slug,
        &token,
        &rx.url("/closing"),
        None,
        &[SESSION_REVOKED],
    )
    .await
    .unwrap()
    .stream_id;
    let (status, _, _) = publish(&w, &slug, &key, "before@example.com").await;
    assert_eq!(status, 202);
    rx.wait_for_count("/closing", 1, LONG).await.unwrap();
    let (_, tenant) = setup::tenant_api(&base, &key, reqwest::Method::GET, "/tenant", None).await;
    let tenant_id = tenant["tenant_id"].as_str().unwrap().to_owned();
    assert!(tenant["closed_at"].is_null());

    // A non-owner (an admin) is told only an owner can close, and a forced post is refused.
    b.driver.goto(format!("{console}/team")).await.unwrap();
    b.click("input[name=role][value=admin]").await.unwrap();
    b.click_button("Make invite link").await.unwrap();
    let team_link = b
        .text_of("invite-link")
        .await
        .unwrap()
        .replacen(&w.hub.public_url, &base, 1);
    b.click_button("Sign out").await.unwrap();
    b.wait_for_text("You are signed out").await.unwrap();
    b.driver.goto(&team_link).await.unwrap();
    b.fill("email", "adam@acme.example").await.unwrap();
    b.fill("password", "an admin's password").await.unwrap();
    b.click_button("Join").await.unwrap();
    b.wait_for_text("Dashboard").await.unwrap();
    b.driver
        .goto(format!("{console}/organisation"))
        .await
        .unwrap();
    assert_eq!(
        b.text_of("owners-only").await.unwrap(),
        "Only an owner can close the organisation."
    );
    assert!(b.driver.find(By::Id("close-organisation")).await.is_err());
    b.js("const f = document.createElement('form'); f.method = 'post'; \
          f.action = '/console/organisation/close'; \
          for (const [n, v] of [['csrf', document.querySelector('input[name=csrf]').value], ['confirmed', 'yes']]) { \
            const i = document.createElement('input'); i.type = 'hidden'; i.name = n; i.value = v; f.appendChild(i); } \
          document.body.appendChild(f); f.submit(); return true;")
        .await
        .unwrap();
    b.wait_for_text("Only an owner can do this").await.unwrap();
    b.shot("admin-refused").await.unwrap();
    let (_, still) = setup::tenant_api(&base, &key, reqwest::Method::GET, "/tenant", None).await;
    assert!(still["closed_at"].is_null(), "an admin closed nothing");
    b.driver.goto(format!("{console}/dashboard")).await.unwrap();
    b.click_button("Sign out").await.unwrap();
    b.wait_for_text("You are signed out").await.unwrap();

    // The owner closes: without script the server asks on a page naming what happens.
    sign_in(
        &b,
        &console,
        &slug,
        "ann@acme.example",
        "correct horse battery",
    )
    .await;
    b.driver.goto(format!("{console}/settings")).await.unwrap();
    b.click("#organisation-link").await.unwrap();
    b.wait_for_text("Close the organisation").await.unwrap();
    both_widths(&mut b, "organisation").await;
    submit_without_script(&b, "#close-organisation").await;
    assert_eq!(asked(&b).await, "Close the organisation Acme Leaving?");
    let detail = b.text_of("confirm-detail").await.unwrap();
    for said in [
        "ingest API refuses",
        "stream-updated",
        "read-only",
        "30 seconds",
        "deleted",
    ] {
        assert!(detail.contains(said), "`{said}` not in: {detail}");
    }
    b.shot("close-confirm").await.unwrap();
    b.click("#confirm-yes").await.unwrap();
    b.wait_for_text("The organisation is closed").await.unwrap();
    assert!(b.text_of("org-status").await.unwrap().contains("closed"));
    assert!(
        b.text_of("closed-banner")
            .await
            .unwrap()
            .contains("read-only")
    );
    both_widths(&mut b, "closed").await;

    // Its receiver is told (a stream-updated SET, pushed to the disabled stream), the SSF API
    // says the stream is disabled and why, publishes are refused in the problem shape, the
    // tenant API only reads, the console offers no changes.
    let told = stream_updated(&rx, "/closing", "disabled", 1).await;
    let reason = told[STREAM_UPDATED]["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("closed its account"), "{reason}");
    let ssf: Value = reqwest::Client::new()
        .get(format!("{base}/t/{slug}/ssf/status?stream_id={stream}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ssf["status"], "disabled");
    assert_eq!(ssf["reason"], reason);
    let (status, kind, problem) = publish(&w, &slug, &key, "after@example.com").await;
    assert_eq!(status, 403, "{problem}");
    assert!(kind.starts_with("application/problem+json"), "{kind}");
    assert!(
        problem["detail"].as_str().unwrap().contains("is closed"),
        "{problem}"
    );
    let (status, refused) = setup::tenant_api(
        &base,
        &key,
        reqwest::Method::POST,
        "/receivers",
        Some(json!({"name": "Gamma"})),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("closed"),
        "{refused}"
    );
    let (_, closed) = setup::tenant_api(&base, &key, reqwest::Method::GET, "/tenant", None).await;
    assert!(closed["purge_after"].is_string(), "{closed}");
    b.driver.goto(format!("{console}/api-keys")).await.unwrap();
    b.text_of("closed-banner").await.unwrap();
    assert!(
        b.driver.find(By::Name("name")).await.is_err(),
        "no form to create a key"
    );

    // The portal tells its people.
    join_portal(&b, &link, "Acme Leaving").await;
    let banner = b.text_of("closed-banner").await.unwrap();
    assert!(banner.contains("has closed its organisation"), "{banner}");
    b.shot("portal-closed").await.unwrap();

    // The owner reopens within the grace period: the stream is enabled and its receiver
    // told, and publishing works again.
    b.driver
        .goto(format!("{console}/organisation"))
        .await
        .unwrap();
    b.click("#reopen").await.unwrap();
    b.wait_for_text("The organisation is open again")
        .await
        .unwrap();
    assert!(b.driver.find(By::Id("closed-banner")).await.is_err());
    stream_updated(&rx, "/closing", "enabled", 1).await;
    let before = rx.count("/closing");
    let (status, _, _) = publish(&w, &slug, &key, "reopened@example.com").await;
    assert_eq!(status, 202);
    rx.wait_for_count("/closing", before + 1, LONG)
        .await
        .unwrap();

    // Closed again through the tenant API (which wants the slug as a confirmation), and
    // left: after the grace period fan-out deletes everything.
    let (status, wrong) = setup::tenant_api(
        &base,
        &key,
        reqwest::Method::POST,
        "/tenant/close",
        Some(json!({"confirm": "not-the-slug"})),
    )
    .await;
    assert_eq!(status, 400, "{wrong}");
    assert_eq!(wrong["field"], "confirm");
    let (status, closed) = setup::tenant_api(
        &base,
        &key,
        reqwest::Method::POST,
        "/tenant/close",
        Some(json!({"confirm": slug})),
    )
    .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["streams_disabled"], 1);
    stream_updated(&rx, "/closing", "disabled", 2).await;

    let uuid = tenant_id.trim_start_matches("tnt_").to_owned();
    let checked = if production {
        let db = w.database_admin_url().unwrap();
        sethub_tests::wait_until("the closed tenant to be deleted", LONG, || {
            let (db, uuid) = (db.clone(), uuid.clone());
            async move {
                (psql(
                    &db,
                    &format!("SELECT count(*) FROM tenants WHERE id = '{uuid}'"),
                ) == "0")
                    .then_some(())
            }
        })
        .await;
        // Every table of the schema: none holds a row of the tenant.
        let tables = psql(
            &db,
            "SELECT t.table_name || ':' || EXISTS (SELECT 1 FROM information_schema.columns c \
               WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name \
               AND c.column_name = 'tenant_id') \
             FROM information_schema.tables t \
             WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' ORDER BY 1",
        );
        rows_left(&tables, &uuid, |q| psql(&db, q))
    } else {
        // SQLite keeps UUIDs as text with hyphens or as 16 bytes: compare both spellings.
        let file = std::path::Path::new(&w.hub.env["SETHUB_DATA_DIR"]).join("sethub.sqlite");
        let sqlite = move |q: &str| -> String {
            let out = std::process::Command::new("sqlite3")
                .arg(&file)
                .arg(q)
                .output()
                .expect("sqlite3 must be installed");
            assert!(
                out.status.success(),
                "{q}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        let hyphenated = format!(
            "{}-{}-{}-{}-{}",
            &uuid[..8],
            &uuid[8..12],
            &uuid[12..16],
            &uuid[16..20],
            &uuid[20..]
        );
        let spelled = |q: &str| {
            q.replace(
                &format!("= '{uuid}'"),
                &format!("IN ('{hyphenated}', X'{uuid}')"),
            )
        };
        sethub_tests::wait_until("the closed tenant to be deleted", LONG, || {
            let count = sqlite(&spelled(&format!(
                "SELECT count(*) FROM tenants WHERE id = '{uuid}'"
            )));
            async move { (count == "0").then_some(()) }
        })
        .await;
        let tables = sqlite(
            "SELECT m.name || ':' || (SELECT count(*) FROM pragma_table_info(m.name) p \
               WHERE p.name = 'tenant_id') FROM sqlite_master m \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY 1",
        );
        rows_left(&tables, &uuid, |q| sqlite(&spelled(q)))
    };
    assert!(checked >= 14, "{checked} tables checked");

    // Redis: no key names the tenant or its slug (its members' sessions went with it).
    if let Some(prefix) = w.backend_prefix() {
        for needle in [tenant_id.as_str(), slug.as_str()] {
            let out = std::process::Command::new("redis-cli")
                .args([
                    "-u",
                    &sethub_tests::backends::redis_url(),
                    "--scan",
                    "--pattern",
                    &format!("{prefix}:*{needle}*"),
                ])
                .output()
                .unwrap();
            assert!(out.status.success());
            let keys = String::from_utf8_lossy(&out.stdout);
            assert!(keys.trim().is_empty(), "keys of the deleted tenant: {keys}");
        }
    }
    // RabbitMQ holds no queue per tenant: the hub's shared queues carry tenant-tagged
    // messages, and a message about a deleted tenant is acknowledged as skipped (see
    // ARCHITECTURE.md, "Closing an organisation").

    // The owner's session ended with the tenant: the console asks to sign in.
    b.driver.goto(format!("{console}/dashboard")).await.unwrap();
    b.wait_for_text("Sign in").await.unwrap();
    b.quit().await.unwrap();
}
