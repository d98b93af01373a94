//! Tenant signing keys through `sethub_app::keys` (what the REST API and the CLI call): the
//! first key signs, opened keys are cached, scheduled and forced rotation keep the JWKS
//! ahead of signing, and expired retiring keys leave it. Time is passed in, never slept.

#![allow(clippy::unwrap_used)]

mod api_support;

use std::collections::BTreeSet;
use std::sync::Arc;

use api_support::Hub;
use chrono::{Duration, Utc};
use sethub_app::keys::{self, RotateMode, RotationAction};

fn kids(jwks: &sethub_jose::Jwks) -> BTreeSet<String> {
    jwks.keys.iter().map(|k| k.kid.clone().unwrap()).collect()
}

#[actix_web::test]
async fn a_new_tenant_signs_with_its_first_key_which_is_opened_once_and_cached() {
    let hub = Hub::postgres().await;
    let t = hub.tenant("signer").await;
    let first = keys::active_signing_key(&hub.ctx, t.tenant_id)
        .await
        .unwrap();
    let again = keys::active_signing_key(&hub.ctx, t.tenant_id)
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&first, &again), "the parsed key is reused");
    let jwks = keys::jwks(&hub.ctx, t.tenant_id, Utc::now()).await.unwrap();
    assert_eq!(kids(&jwks), BTreeSet::from([first.kid().to_owned()]));
    assert_eq!(jwks.find(first.kid()).unwrap(), first.public_jwk());
}

#[actix_web::test]
async fn a_scheduled_rotation_publishes_first_and_promotes_after_the_lead_time() {
    let hub = Hub::postgres().await;
    let t = hub.tenant("rotor").await;
    let tenant = t.tenant_id;
    let old = keys::active_signing_key(&hub.ctx, tenant).await.unwrap();
    let now = Utc::now();

    let s = keys::rotate(&hub.ctx, tenant, RotateMode::Scheduled, now)
        .await
        .unwrap();
    assert_eq!(s.action, RotationAction::PublishedNext);
    let next = s.next_kid.clone().unwrap();
    assert!(s.next_ready_at.unwrap() > now + Duration::hours(23));
    let jwks = keys::jwks(&hub.ctx, tenant, now).await.unwrap();
    assert_eq!(
        kids(&jwks),
        BTreeSet::from([old.kid().to_owned(), next.clone()])
    );
    assert_eq!(
        keys::active_signing_key(&hub.ctx, tenant)
            .await
            .unwrap()
            .kid(),
        old.kid()
    );

    let s = keys::rotate(
        &hub.ctx,
        tenant,
        RotateMode::Scheduled,
        now + Duration::hours(1),
    )
    .await
    .unwrap();
    assert_eq!(s.action, RotationAction::Pending);
    assert_eq!(s.next_kid.as_deref(), Some(next.as_str()));

    let later = now + Duration::hours(25);
    let s = keys::rotate(&hub.ctx, tenant, RotateMode::Scheduled, later)
        .await
        .unwrap();
    assert_eq!(s.action, RotationAction::Promoted);
    assert_eq!(s.active_kid.as_deref(), Some(next.as_str()));
    assert_eq!(s.retiring_kids, vec![old.kid().to_owned()]);
    assert_eq!(
        keys::active_signing_key(&hub.ctx, tenant)
            .await
            .unwrap()
            .kid(),
        next
    );
    let jwks = keys::jwks(&hub.ctx, tenant, later).await.unwrap();
    assert!(
        jwks.find(old.kid()).is_some(),
        "the old key stays published for the overlap"
    );

    let after_overlap = later + Duration::days(8);
    let jwks = keys::jwks(&hub.ctx, tenant, after_overlap).await.unwrap();
    assert_eq!(kids(&jwks), BTreeSet::from([next.clone()]));
    let s = keys::rotate(&hub.ctx, tenant, RotateMode::Scheduled, after_overlap)
        .await
        .unwrap();
    assert_eq!(s.retired_kids, vec![old.kid().to_owned()]);
    assert_eq!(s.action, RotationAction::PublishedNext);
}

#[actix_web::test]
async fn a_forced_rotation_signs_with_a_new_key_at_once_and_keeps_the_old_one_published() {
    let hub = Hub::sqlite().await;
    let t = hub.tenant("hurry").await;
    let old = keys::active_signing_key(&hub.ctx, t.tenant_id)
        .await
        .unwrap();
    let s = keys::rotate(&hub.ctx, t.tenant_id, RotateMode::Now, Utc::now())
        .await
        .unwrap();
    assert_eq!(s.action, RotationAction::Promoted);
    assert_eq!(s.next_kid, None);
    let new = keys::active_signing_key(&hub.ctx, t.tenant_id)
        .await
        .unwrap();
    assert_ne!(new.kid(), old.kid());
    assert_eq!(s.active_kid.as_deref(), Some(new.kid()));
    let jwks = keys::jwks(&hub.ctx, t.tenant_id, Utc::now()).await.unwrap();
    assert_eq!(
        kids(&jwks),
        BTreeSet::from([old.kid().to_owned(), new.kid().to_owned()])
    );
}

#[actix_web::test]
async fn a_tenant_without_keys_gets_one_by_a_forced_rotation() {
    let hub = Hub::sqlite().await;
    let t = hub
        .ctx
        .store
        .tenants()
        .create("bare-tenant", "Bare")
        .await
        .unwrap();
    assert!(keys::active_signing_key(&hub.ctx, t.id).await.is_err());
    let s = keys::rotate(&hub.ctx, t.id, RotateMode::Now, Utc::now())
        .await
        .unwrap();
    assert_eq!(s.action, RotationAction::Promoted);
    assert!(s.retiring_kids.is_empty());
    let key = keys::active_signing_key(&hub.ctx, t.id).await.unwrap();
    assert_eq!(s.active_kid.as_deref(), Some(key.kid()));
}
