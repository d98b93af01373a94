//! Signing keys, dead letters, upstream transmitters and the retry schedule.

use actix_web::http::StatusCode;

use crate::api_support::Hub;
use crate::support::*;

#[tokio::test]
async fn signing_keys_are_rotated_by_owners_and_not_by_viewers() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let page = b.get("/console/signing-keys").await;
    assert_eq!(page.html.matches("class=\"key-active\"").count(), 1);
    // Rotating now asks first: without `confirmed=yes` nothing changes.
    let asked = b
        .post(
            "/console/signing-keys/rotate",
            &[("csrf", &page.csrf()), ("mode", "now")],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.html.contains("Rotate the signing key now?"));
    let unchanged = b.get("/console/signing-keys").await;
    assert_eq!(unchanged.html.matches("class=\"key-retiring\"").count(), 0);
    let p = b
        .post(
            "/console/signing-keys/rotate",
            &[
                ("csrf", &page.csrf()),
                ("mode", "now"),
                ("confirmed", "yes"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let after = b.get("/console/signing-keys").await;
    assert!(
        after.html.contains("Done: the active key is"),
        "{}",
        after.html
    );
    assert_eq!(after.html.matches("class=\"key-active\"").count(), 1);
    assert_eq!(after.html.matches("class=\"key-retiring\"").count(), 1);
    // A viewer's rotation is refused.
    let tenant = tenant_of(&hub, &slug).await;
    let mut v = signed_in_viewer(&hub, &slug, "v@example.com").await;
    let csrf = v.get("/console/signing-keys").await.csrf();
    let p = v
        .post(
            "/console/signing-keys/rotate",
            &[("csrf", &csrf), ("mode", "now")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let keys = sethub_app::keys::overview(&hub.ctx, tenant.id, chrono::Utc::now())
        .await
        .unwrap()
        .0;
    assert_eq!(keys.len(), 2, "no third key");
}

#[tokio::test]
async fn a_streams_dead_letters_are_listed_and_redriven_from_the_console_with_an_audit_entry() {
    use sethub_store::{Change, DeliveryKind, DeliveryState, NewDelivery, Update};
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let tenant = tenant_of(&hub, &slug).await;
    let rx = sethub_app::admin::create_receiver(&hub.ctx, tenant.id, &"Beta".parse().unwrap())
        .await
        .unwrap();
    let scope = hub.ctx.store.scope(tenant.id);
    let id = sethub_domain::StreamId::new();
    scope
        .streams()
        .create(
            id,
            rx.receiver_id,
            sethub_store::StreamFields {
                aud: vec!["rcv".into()],
                delivery_method: sethub_domain::DeliveryMethod::Push,
                endpoint_url: Some("https://rx.example.com/e".into()),
                authorization_sealed: None,
                events_requested: None,
                events_delivered: vec!["https://example.com/e".into()],
                description: None,
                min_verification_interval: 30,
                inactivity_timeout: None,
            },
        )
        .await
        .unwrap();
    let new: Vec<NewDelivery> = (0..2)
        .map(|_| NewDelivery {
            id: sethub_domain::DeliveryId::new(),
            stream_id: id,
            event_id: Some(sethub_domain::EventId::new()),
            kind: DeliveryKind::Event,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            set_token: "a.b.c".into(),
            state: DeliveryState::Pending,
            next_attempt_at: Some(chrono::Utc::now()),
        })
        .collect();
    let d = scope.deliveries();
    d.insert_many(&new).await.unwrap();
    let dead: Vec<Update> = new
        .iter()
        .map(|n| Update {
            id: n.id,
            at: chrono::Utc::now(),
            attempted: true,
            change: Change::Dead {
                status: Some(503),
                error: "gave up after 3 attempts".into(),
            },
        })
        .collect();
    d.apply(&dead, &[]).await.unwrap();
    let list = b.get("/console/streams").await;
    assert!(list.html.contains("2 dead"), "{}", list.html);
    let page = b.get(&format!("/console/streams/{id}")).await;
    assert_eq!(page.html.matches("class=\"dead\"").count(), 2);
    assert!(page.html.contains("gave up after 3 attempts"));
    // Without `confirmed=yes` the server asks first and redrives nothing.
    let asked = b
        .post(
            &format!("/console/streams/{id}/redrive"),
            &[("csrf", &page.csrf()), ("which", "all")],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(
        asked
            .html
            .contains("Send every dead letter of this stream again?")
    );
    for n in &new {
        assert_eq!(d.get(n.id).await.unwrap().state, DeliveryState::Dead);
    }
    let p = b
        .post(
            &format!("/console/streams/{id}/redrive"),
            &[("csrf", &page.csrf()), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let after = b.get(&format!("/console/streams/{id}")).await;
    assert!(
        after.html.contains("2 dead deliveries redriven."),
        "{}",
        after.html
    );
    assert!(after.html.contains("Nothing is dead-lettered"));
    for n in &new {
        assert_eq!(d.get(n.id).await.unwrap().state, DeliveryState::Pending);
    }
    let log = scope
        .audit()
        .list(Some(&id.to_string()), None, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert!(log[0].actor.starts_with("member:mbr_"), "{}", log[0].actor);
    // The stream's rate limit: checked like the API's, saved, cleared.
    let csrf = after.csrf();
    let rate = format!("/console/streams/{id}/rate");
    for bad in ["abc", "-1"] {
        let p = b
            .post(&rate, &[("csrf", &csrf), ("max_rate_per_second", bad)])
            .await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            p.error("max_rate_per_second").is_some(),
            "{bad}: {}",
            p.html
        );
        assert!(p.html.contains(&format!("value=\"{bad}\"")), "kept");
    }
    let settings = || async { scope.streams().get(id).await.unwrap().delivery_settings };
    assert!(settings().await.is_none());
    assert_eq!(
        b.post(&rate, &[("csrf", &csrf), ("max_rate_per_second", "4")])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(settings().await.unwrap()["max_rate_per_second"], 4.0);
    assert_eq!(
        b.post(&rate, &[("csrf", &csrf), ("max_rate_per_second", "")])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    assert!(settings().await.is_none());
    // Deleted after a yes, audited as the member.
    let p = b
        .post(
            &format!("/console/streams/{id}/delete"),
            &[("csrf", &csrf), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(matches!(
        scope.streams().get(id).await,
        Err(sethub_store::StoreError::NotFound)
    ));
    let log = scope
        .audit()
        .list(Some(&id.to_string()), None, 10)
        .await
        .unwrap();
    assert_eq!(log[0].action, "stream.delete");
    assert!(log[0].actor.starts_with("member:mbr_"), "{}", log[0].actor);
    // Another tenant's stream is not found.
    let other = hub.tenant("other").await;
    let _ = other;
    let p = b
        .get(&format!(
            "/console/streams/{}",
            sethub_domain::StreamId::new()
        ))
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn upstream_transmitters_are_registered_and_removed_from_the_console_with_the_apis_rules() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let page = b.get("/console/upstreams").await;
    assert!(page.html.contains(&format!("/t/{slug}/sets")));
    let csrf = page.csrf();
    let key = sethub_jose::SigningKey::generate(sethub_jose::Alg::Es256).unwrap();
    let jwks = serde_json::json!({ "keys": [key.public_jwk().to_json()] }).to_string();
    for (form, field) in [
        (
            vec![("issuer", ""), ("audience", "a"), ("jwks", jwks.as_str())],
            "issuer",
        ),
        (
            vec![("issuer", "https://idp.example"), ("audience", "a")],
            "jwks_url",
        ),
        (
            vec![
                ("issuer", "https://idp.example"),
                ("audience", "a"),
                ("jwks", "{nope"),
            ],
            "jwks",
        ),
        (
            vec![
                ("issuer", "https://idp.example"),
                ("audience", "a"),
                ("jwks_url", "https://idp.example/jwks"),
                ("jwks", jwks.as_str()),
            ],
            "jwks",
        ),
    ] {
        let mut form = form;
        form.push(("csrf", &csrf));
        let p = b.post("/console/upstreams", &form).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(p.error(field).is_some(), "{field}: {}", p.html);
    }
    let good = [
        ("csrf", csrf.as_str()),
        ("issuer", "https://idp.example"),
        ("audience", "https://hub.example"),
        ("jwks", jwks.as_str()),
    ];
    assert_eq!(
        b.post("/console/upstreams", &good).await.status,
        StatusCode::SEE_OTHER
    );
    let again = b.post("/console/upstreams", &good).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(
        again
            .error("issuer")
            .unwrap()
            .contains("registered already")
    );
    let tenant = tenant_of(&hub, &slug).await;
    let scope = hub.ctx.store.scope(tenant.id);
    let ups = scope.upstreams().list().await.unwrap();
    assert_eq!(ups.len(), 1);
    // Without `confirmed=yes` the server asks first and keeps the transmitter.
    let asked = b
        .post(
            &format!("/console/upstreams/{}/delete", ups[0].id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.html.contains("Remove the transmitter"));
    assert_eq!(scope.upstreams().list().await.unwrap().len(), 1);
    let p = b
        .post(
            &format!("/console/upstreams/{}/delete", ups[0].id),
            &[("csrf", &csrf), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(scope.upstreams().list().await.unwrap().is_empty());
    let log = scope.audit().list(None, None, 10).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["upstream.delete", "upstream.create"]);
    assert!(log.iter().all(|e| e.actor.starts_with("member:")));
}

#[tokio::test]
async fn the_retry_schedule_form_checks_each_number_by_the_apis_rules_and_saves() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let tenant = tenant_of(&hub, &slug).await;
    let page = b.get("/console/settings").await;
    assert!(page.html.contains("/console/sso/callback"));
    let csrf = page.csrf();
    let form = |initial: &'static str, factor: &'static str| {
        vec![
            ("initial_secs", initial),
            ("factor", factor),
            ("max_delay_secs", "60"),
            ("max_age_secs", "3600"),
            ("jitter", "0.1"),
        ]
    };
    for (fields, bad) in [
        (form("abc", "2"), "initial_secs"),
        (form("1", "11"), "factor"),
    ] {
        let mut fields = fields;
        fields.push(("csrf", &csrf));
        let p = b.post("/console/settings/retry", &fields).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(p.error(bad).is_some(), "{bad}: {}", p.html);
        assert!(
            p.html.contains("value=\"abc\"") || bad != "initial_secs",
            "kept"
        );
    }
    let stored = || async {
        hub.ctx
            .store
            .tenants()
            .get(tenant.id)
            .await
            .unwrap()
            .delivery_settings
    };
    assert!(stored().await.is_none(), "nothing saved");
    let mut fields = form("2", "3");
    fields.push(("csrf", &csrf));
    assert_eq!(
        b.post("/console/settings/retry", &fields).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(stored().await.unwrap()["retry"]["initial_secs"], 2.0);
    let empty = [
        ("csrf", csrf.as_str()),
        ("initial_secs", ""),
        ("factor", ""),
        ("max_delay_secs", ""),
        ("max_age_secs", ""),
        ("jitter", ""),
    ];
    assert_eq!(
        b.post("/console/settings/retry", &empty).await.status,
        StatusCode::SEE_OTHER
    );
    assert!(stored().await.is_none(), "cleared: the operator's defaults");
}

#[tokio::test]
async fn an_events_page_shows_its_sets_and_another_tenants_event_is_not_found() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let tenant = tenant_of(&hub, &slug).await;
    let other = hub.tenant("other").await;
    let new = || sethub_store::NewEvent {
        id: sethub_domain::EventId::new(),
        event_types: vec![
            "https://schemas.openid.net/secevent/caep/event-type/session-revoked".into(),
        ],
        sub_id: Some(serde_json::json!({"format": "email", "email": "carol@example.com"})),
        payload: serde_json::json!({"events": {}}),
        txn: None,
        toe: None,
        source: sethub_store::EventSource::Api,
        idempotency_key: None,
    };
    let mine = hub
        .ctx
        .store
        .scope(tenant.id)
        .events()
        .insert(new())
        .await
        .unwrap();
    let theirs = hub
        .ctx
        .store
        .scope(other.tenant_id)
        .events()
        .insert(new())
        .await
        .unwrap();
    let log = b.get("/console/events").await;
    assert!(log.html.contains(&mine.event().id.to_string()));
    assert!(!log.html.contains(&theirs.event().id.to_string()));
    // Filters: by subject, by another type, by time.
    let by_subject = b.get("/console/events?subject=carol%40example.com").await;
    assert!(by_subject.html.contains(&mine.event().id.to_string()));
    let other_type = b
        .get("/console/events?type=https%3A%2F%2Fschemas.openid.net%2Fsecevent%2Fcaep%2Fevent-type%2Fcredential-change")
        .await;
    assert!(other_type.html.contains("No event matches these filters"));
    let nobody = b
        .get("/console/events?subject=dave%40example.com&hours=24")
        .await;
    assert!(!nobody.html.contains(&mine.event().id.to_string()));
    let page = b.get(&format!("/console/events/{}", mine.event().id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("carol@example.com"));
    assert!(page.html.contains("No stream took this event"));
    let p = b
        .get(&format!("/console/events/{}", theirs.event().id))
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_events_time_window_beyond_a_year_is_refused_beside_its_field_instead_of_panicking() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    sign_up(&mut b, "ann@example.com").await;
    for hours in [
        "4294967295",
        "8785",
        "0",
        "-1",
        "12abc",
        "99999999999999999999",
    ] {
        let p = b.get(&format!("/console/events?hours={hours}")).await;
        assert_eq!(
            p.status,
            StatusCode::BAD_REQUEST,
            "hours={hours}: {}",
            p.html
        );
        let error = p
            .error("hours")
            .unwrap_or_else(|| panic!("hours={hours}: {}", p.html));
        assert!(error.contains("from 1 to 8784"), "{error}");
    }
    for hours in ["", "1", "168", "8784"] {
        let p = b.get(&format!("/console/events?hours={hours}")).await;
        assert_eq!(p.status, StatusCode::OK, "hours={hours}: {}", p.html);
        assert!(p.error("hours").is_none(), "{}", p.html);
    }
}

#[tokio::test]
async fn the_invite_forms_refuse_bad_input_and_create_nothing() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let tenant = tenant_of(&hub, &slug).await;
    let scope = hub.ctx.store.scope(tenant.id);
    let csrf = b.get("/console/receivers").await.csrf();
    let p = b
        .post("/console/receivers", &[("csrf", &csrf), ("name", "   ")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.error("name").is_some(), "{}", p.html);
    assert!(scope.receivers().list().await.unwrap().is_empty());
    let p = b
        .post("/console/team", &[("csrf", &csrf), ("role", "owner")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.html.contains("Choose a role"));
    // A team invite link does not open the portal, and a made-up one opens nothing.
    b.post("/console/team", &[("csrf", &csrf), ("role", "viewer")])
        .await;
    let page = b.get("/console/team").await;
    let at = page.html.find("id=\"invite-link\">").unwrap() + 17;
    let link = &page.html[at..at + page.html[at..].find('<').unwrap()];
    let token = link.rsplit('/').next().unwrap();
    let mut other = browser(&hub).await;
    let p = other.get(&format!("/portal/t/{slug}/invite/{token}")).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let p = other
        .get(&format!("/console/t/{slug}/join/not-a-token"))
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    // The team invite still works where it belongs, and its form checks its fields.
    let path = url::Url::parse(link).unwrap().path().to_owned();
    let join = other.get(&path).await;
    assert_eq!(join.status, StatusCode::OK);
    let p = other
        .post(
            &path,
            &[
                ("csrf", &join.csrf()),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        p.status,
        StatusCode::BAD_REQUEST,
        "the email is taken in this organisation"
    );
    assert!(p.error("email").unwrap().contains("already"));
    assert_eq!(
        scope.members().list().await.unwrap().len(),
        1,
        "nothing created"
    );
}

#[tokio::test]
async fn the_upstreams_page_shows_each_subscriptions_status() {
    let hub = Hub::postgres().await;
    let mut b = browser(&hub).await;
    let (slug, _) = sign_up(&mut b, "ann@example.com").await;
    let tenant = tenant_of(&hub, &slug).await;
    let at = chrono::DateTime::from_timestamp(1_796_637_600, 0).unwrap();
    hub.ctx
        .store
        .scope(tenant.id)
        .upstreams()
        .create_subscribed(
            sethub_domain::UpstreamId::new(),
            sethub_store::NewUpstream {
                issuer: "https://idp.example/t1".into(),
                audience: "sethub".into(),
                jwks_url: Some("https://idp.example/jwks".into()),
                jwks: None,
            },
            sethub_store::Subscription {
                metadata_url: "https://idp.example/.well-known/ssf-configuration/t1".into(),
                client_id: "sethub".into(),
                token_endpoint: "https://idp.example/token".into(),
                configuration_endpoint: "https://idp.example/stream".into(),
                verification_endpoint: None,
                delivery: "push".into(),
                stream_id: "st-9".into(),
                poll_url: None,
                events_requested: vec![],
            },
            "sealed".into(),
            sethub_store::SubscriptionStatus {
                state: "enabled".into(),
                last_set_at: Some(at),
                last_verification_at: None,
                last_error: Some("the token endpoint answered HTTP 401".into()),
                verification_state: None,
            },
        )
        .await
        .unwrap();
    let page = b.get("/console/upstreams").await;
    for want in [
        "push · enabled · stream st-9",
        "last SET 2026-12-07 10:00:00 UTC",
        "verified never",
        "last error: the token endpoint answered HTTP 401",
    ] {
        assert!(page.html.contains(want), "`{want}` in {}", page.html);
    }
}
