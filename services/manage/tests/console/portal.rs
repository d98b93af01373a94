//! The receiver portal.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;

use crate::api_support::Hub;
use crate::support::*;

/// A poll stream of `receiver` for session-revoked events, made in the store.
async fn poll_stream(
    hub: &Hub,
    tenant: sethub_domain::TenantId,
    receiver: sethub_domain::ReceiverId,
) -> sethub_domain::StreamId {
    let id = sethub_domain::StreamId::new();
    hub.ctx
        .store
        .scope(tenant)
        .streams()
        .create(
            id,
            receiver,
            sethub_store::StreamFields {
                aud: vec!["x".into()],
                delivery_method: sethub_domain::DeliveryMethod::Poll,
                endpoint_url: None,
                authorization_sealed: None,
                events_requested: None,
                events_delivered: vec![
                    "https://schemas.openid.net/secevent/caep/event-type/session-revoked".into(),
                ],
                description: None,
                min_verification_interval: 30,
                inactivity_timeout: None,
            },
        )
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn the_portal_creates_streams_through_the_ssf_rules_and_shows_only_its_own() {
    let hub = Hub::postgres().await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let mut portal = browser(&hub).await;
    portal_user(&hub, &mut owner, &mut portal).await;
    let page = portal.get("/portal").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("No streams yet"));
    let csrf = page.csrf();
    let revoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
    // No event type; then a push URL the SSF API refuses (not https): errors beside fields.
    let p = portal
        .post(
            "/portal/streams",
            &[
                ("csrf", &csrf),
                ("method", "push"),
                ("endpoint_url", "https://rx.example.com/e"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.error("events").is_some());
    let p = portal
        .post(
            "/portal/streams",
            &[
                ("csrf", &csrf),
                ("method", "push"),
                ("endpoint_url", "ftp://x"),
                ("event", revoked),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST, "{}", p.html);
    assert!(p.error("endpoint_url").is_some(), "{}", p.html);
    assert!(p.html.contains("value=\"ftp://x\""), "kept");
    // A poll stream.
    let p = portal
        .post(
            "/portal/streams",
            &[
                ("csrf", &csrf),
                ("method", "poll"),
                ("event", revoked),
                ("description", "mine"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let stream_page = portal.get(p.location.as_deref().unwrap()).await;
    assert!(stream_page.html.contains("/ssf/poll/str_"));
    // Pause it through the SSF status handler.
    let id = p.location.unwrap().rsplit('/').next().unwrap().to_owned();
    let p = portal
        .post(
            &format!("/portal/streams/{id}/status"),
            &[("csrf", &csrf), ("status", "paused"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(
        portal
            .get(&format!("/portal/streams/{id}"))
            .await
            .html
            .contains("id=\"status\">paused")
    );
    // A long delivery log comes in pages.
    let tenant_id = tenant_of(&hub, &slug).await.id;
    let sid: sethub_domain::StreamId = id.parse().unwrap();
    let many: Vec<sethub_store::NewDelivery> = (0..55)
        .map(|_| sethub_store::NewDelivery {
            id: sethub_domain::DeliveryId::new(),
            stream_id: sid,
            event_id: Some(sethub_domain::EventId::new()),
            kind: sethub_store::DeliveryKind::Event,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            set_token: "a.b.c".into(),
            state: sethub_store::DeliveryState::Held,
            next_attempt_at: None,
        })
        .collect();
    hub.ctx
        .store
        .scope(tenant_id)
        .deliveries()
        .insert_many(&many)
        .await
        .unwrap();
    let first = portal.get(&format!("/portal/streams/{id}")).await;
    assert_eq!(first.html.matches("class=\"delivery\"").count(), 50);
    let at = first.html.find("?before=").unwrap();
    let next = &first.html
        [first.html[..at].rfind('"').unwrap() + 1..at + first.html[at..].find('"').unwrap()];
    let second = portal.get(next).await;
    assert_eq!(second.html.matches("class=\"delivery\"").count(), 5);
    assert!(!second.html.contains("Older deliveries"));
    // What the open page fetches to update itself: its health and its log's first page as
    // JSON, by element id, with the page's filters; the tenant's console answers the same.
    for live in [
        portal.get(&format!("/portal/streams/{id}/live")).await,
        owner.get(&format!("/console/streams/{id}/live")).await,
    ] {
        assert_eq!(live.status, StatusCode::OK, "{}", live.html);
        let parts: serde_json::Value = serde_json::from_str(&live.html).unwrap();
        let rows = parts["live-deliveries"].as_str().unwrap();
        assert!(rows.starts_with("<div id=\"live-deliveries\""), "{rows}");
        assert_eq!(rows.matches("class=\"delivery\"").count(), 50);
        assert!(rows.contains("Older deliveries"));
        let health = parts["health"].as_str().unwrap();
        assert!(
            health.starts_with("<section class=\"card\" id=\"health\""),
            "{health}"
        );
    }
    let live = portal
        .get(&format!("/portal/streams/{id}/live?state=dead"))
        .await;
    let parts: serde_json::Value = serde_json::from_str(&live.html).unwrap();
    assert!(
        parts["live-deliveries"]
            .as_str()
            .unwrap()
            .contains("No delivery is dead."),
        "{parts}"
    );
    // Another tenant's stream is not found; so is a stream of another receiver of this tenant.
    let other = hub.tenant("other").await;
    let rx = sethub_app::admin::create_receiver(&hub.ctx, other.tenant_id, &"x".parse().unwrap())
        .await
        .unwrap();
    let theirs = poll_stream(&hub, other.tenant_id, rx.receiver_id).await;
    assert_eq!(
        portal
            .get(&format!("/portal/streams/{theirs}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let p = portal
        .post(
            &format!("/portal/streams/{theirs}/status"),
            &[
                ("csrf", &csrf),
                ("status", "disabled"),
                ("confirmed", "yes"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let s = hub
        .ctx
        .store
        .scope(other.tenant_id)
        .streams()
        .get(theirs)
        .await
        .unwrap();
    assert_eq!(s.status, sethub_domain::StreamStatus::Enabled, "unchanged");
    // Nor is a confirmation page shown for a stream that is not the receiver's, whether of
    // another tenant or of another receiver of this tenant: the same "No such stream" page
    // answers before anything is asked.
    let ours = tenant_of(&hub, &slug).await;
    let neighbour =
        sethub_app::admin::create_receiver(&hub.ctx, ours.id, &"neighbour".parse().unwrap())
            .await
            .unwrap();
    let next_door = poll_stream(&hub, ours.id, neighbour.receiver_id).await;
    for stream in [theirs, next_door] {
        let live = portal.get(&format!("/portal/streams/{stream}/live")).await;
        assert_eq!(live.status, StatusCode::NOT_FOUND, "{}", live.html);
        assert!(live.html.contains("No such stream"));
        for (action, form) in [
            ("status", [("status", "paused"), ("format", "email")]),
            ("status", [("status", "disabled"), ("format", "email")]),
            ("subjects", [("action", "remove"), ("value", "a@b.example")]),
        ] {
            let mut fields = vec![("csrf", csrf.as_str())];
            fields.extend(form);
            let p = portal
                .post(&format!("/portal/streams/{stream}/{action}"), &fields)
                .await;
            assert_eq!(p.status, StatusCode::NOT_FOUND, "{action} {fields:?}");
            assert!(
                p.html.contains("No such stream") && !p.html.contains("confirm-title"),
                "{action} {fields:?}: {}",
                p.html
            );
        }
    }
    let s = hub
        .ctx
        .store
        .scope(ours.id)
        .streams()
        .get(next_door)
        .await
        .unwrap();
    assert_eq!(s.status, sethub_domain::StreamStatus::Enabled, "unchanged");
    let live = owner.get(&format!("/console/streams/{theirs}/live")).await;
    assert_eq!(
        live.status,
        StatusCode::NOT_FOUND,
        "another tenant's: {}",
        live.html
    );
    // Nor does the console ask to confirm an action on another tenant's stream.
    let owner_csrf = owner.get("/console/streams").await.csrf();
    for (action, form) in [
        ("status", [("status", "disabled")]),
        ("redrive", [("which", "all")]),
        ("delete", [("which", "all")]),
    ] {
        let mut fields = vec![("csrf", owner_csrf.as_str())];
        fields.extend(form);
        let p = owner
            .post(&format!("/console/streams/{theirs}/{action}"), &fields)
            .await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{action}: {}", p.html);
        assert!(!p.html.contains("confirm-title"), "{action}: {}", p.html);
    }
    // A portal user cannot use the console.
    assert_eq!(
        portal.get("/console/dashboard").await.location.as_deref(),
        Some("/console/login")
    );
    // Each signs in at its own door only: the portal user's password opens the portal, not
    // the console; the owner's opens the console, not the portal.
    let mut b = browser(&hub).await;
    let csrf = b.get("/console/login").await.csrf();
    let console_rx = b
        .post(
            "/console/login",
            &[
                ("csrf", csrf.as_str()),
                ("slug", &slug),
                ("email", "rx@beta.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(console_rx.status, StatusCode::UNAUTHORIZED);
    let csrf = b.get("/portal/login").await.csrf();
    let portal_owner = b
        .post(
            "/portal/login",
            &[
                ("csrf", csrf.as_str()),
                ("slug", &slug),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(portal_owner.status, StatusCode::UNAUTHORIZED);
    let portal_rx = b
        .post(
            "/portal/login",
            &[
                ("csrf", csrf.as_str()),
                ("slug", &slug),
                ("email", "rx@beta.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(portal_rx.location.as_deref(), Some("/portal"));
}

#[tokio::test]
async fn the_set_decoder_shows_a_set_and_whether_it_verifies() {
    let hub = Hub::postgres().await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    let mut portal = browser(&hub).await;
    portal_user(&hub, &mut owner, &mut portal).await;
    let tenant = tenant_of(&hub, &slug).await;
    let key = sethub_app::keys::active_signing_key(&hub.ctx, tenant.id)
        .await
        .unwrap();
    let claims = sethub_jose::SetClaims::new(
        sethub_app::admin::issuer(&hub.ctx, &slug),
        sethub_domain::subject::Subject::for_stream("str_x".to_owned()),
    )
    .audience("rcv".to_owned())
    .event(
        "https://schemas.openid.net/secevent/ssf/event-type/verification",
        serde_json::json!({}),
    );
    let token = sethub_jose::sign_set(&key, &claims).unwrap();
    let csrf = portal.get("/portal/decoder").await.csrf();
    let p = portal
        .post("/portal/decoder", &[("csrf", &csrf), ("token", &token)])
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("Verifies: signed by"), "{}", p.html);
    assert!(p.html.contains("secevent+jwt"), "the header is shown");
    // One changed character of the signature: shown, but it does not verify.
    let mut bad = token.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'B' } else { 'A' });
    let p = portal
        .post("/portal/decoder", &[("csrf", &csrf), ("token", &bad)])
        .await;
    assert!(p.html.contains("Does not verify"), "{}", p.html);
    let p = portal
        .post("/portal/decoder", &[("csrf", &csrf), ("token", "garbage")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.error("token").is_some());
}

#[tokio::test]
async fn a_portal_user_rotates_its_client_secret_and_removes_and_adds_subjects() {
    use base64::Engine as _;
    let hub = Hub::postgres().await;
    let mut owner = browser(&hub).await;
    let (slug, _) = sign_up(&mut owner, "ann@example.com").await;
    // Keep the receiver's first secret, from the invite page.
    let csrf = owner.get("/console/receivers").await.csrf();
    owner
        .post("/console/receivers", &[("csrf", &csrf), ("name", "Gamma")])
        .await;
    let page = owner.get("/console/receivers").await;
    let grab = |id: &str| {
        let m = format!("id=\"{id}\">");
        let at = page.html.find(&m).unwrap() + m.len();
        page.html[at..at + page.html[at..].find('<').unwrap()].to_owned()
    };
    let (client_id, first_secret, link) = (
        grab("client-id"),
        grab("client-secret"),
        grab("invite-link"),
    );
    let mut portal = browser(&hub).await;
    let path = url::Url::parse(&link).unwrap().path().to_owned();
    let join = portal.get(&path).await;
    portal
        .post(
            &path,
            &[
                ("csrf", &join.csrf()),
                ("email", "g@gamma.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let token_status = |secret: String| {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
        TestRequest::post()
            .uri(&format!("/t/{slug}/oauth/token"))
            .insert_header(("Authorization", format!("Basic {basic}")))
            .set_form([("grant_type", "client_credentials")])
    };
    assert_eq!(
        portal.send(token_status(first_secret.clone())).await.status,
        StatusCode::OK
    );
    let page = portal.get("/portal/credentials").await;
    assert!(page.html.contains(&client_id));
    let p = portal
        .post(
            "/portal/credentials/rotate",
            &[("csrf", &page.csrf()), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let shown = portal.get("/portal/credentials").await;
    let at = shown.html.find("id=\"client-secret\">").unwrap() + 19;
    let new_secret = shown.html[at..at + shown.html[at..].find('<').unwrap()].to_owned();
    assert_ne!(new_secret, first_secret);
    assert_eq!(
        portal.send(token_status(first_secret)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        portal.send(token_status(new_secret)).await.status,
        StatusCode::OK
    );

    // Subjects: remove one, add it back, through the SSF handlers.
    let revoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
    let csrf = portal.get("/portal").await.csrf();
    let p = portal
        .post(
            "/portal/streams",
            &[("csrf", &csrf), ("method", "poll"), ("event", revoked)],
        )
        .await;
    let stream = p.location.unwrap();
    let id: sethub_domain::StreamId = stream.rsplit('/').next().unwrap().parse().unwrap();
    let subjects = format!("{stream}/subjects");
    portal
        .post(
            &subjects,
            &[
                ("csrf", &csrf),
                ("format", "email"),
                ("value", "Bob@Example.com"),
                ("action", "remove"),
                ("confirmed", "yes"),
            ],
        )
        .await;
    let tenant = tenant_of(&hub, &slug).await;
    let stored = hub
        .ctx
        .store
        .scope(tenant.id)
        .streams()
        .subjects(id)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].added);
    let page = portal.get(&stream).await;
    assert!(page.html.contains("no longer sent"), "{}", page.html);
    portal
        .post(
            &subjects,
            &[
                ("csrf", &csrf),
                ("format", "email"),
                ("value", "bob@example.com"),
                ("action", "add"),
            ],
        )
        .await;
    let stored = hub
        .ctx
        .store
        .scope(tenant.id)
        .streams()
        .subjects(id)
        .await
        .unwrap();
    assert!(stored[0].added);
    // A malformed subject is refused with the API's message, and changes nothing.
    portal
        .post(
            &subjects,
            &[
                ("csrf", &csrf),
                ("format", "email"),
                ("value", "not an email"),
                ("action", "remove"),
            ],
        )
        .await;
    assert!(portal.get(&stream).await.html.contains("Not changed"));
    assert_eq!(
        hub.ctx
            .store
            .scope(tenant.id)
            .streams()
            .subjects(id)
            .await
            .unwrap()
            .len(),
        1
    );
    // Other formats: a phone number.
    portal
        .post(
            &subjects,
            &[
                ("csrf", &csrf),
                ("format", "phone_number"),
                ("value", "+12065550100"),
                ("action", "remove"),
                ("confirmed", "yes"),
            ],
        )
        .await;
    let stored = hub
        .ctx
        .store
        .scope(tenant.id)
        .streams()
        .subjects(id)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .any(|s| s.subject["phone_number"] == "+12065550100")
    );
}
