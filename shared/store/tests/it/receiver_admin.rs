//! What the console's receiver page changes, on PostgreSQL and SQLite: disabling and enabling
//! a receiver, and re-issuing its portal invitation.

use chrono::{Duration, Utc};
use sethub_store::testing::TestDb;
use sethub_store::{Invite, Role, StoreError};

use crate::support::{new_receiver, tenant};

contract!(
    a_receiver_is_disabled_and_enabled_again_keeping_the_first_disable_time,
    reissuing_a_receivers_invitation_withdraws_its_open_one_and_no_other,
);

async fn a_receiver_is_disabled_and_enabled_again_keeping_the_first_disable_time(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let other = tenant(db.store(), "b").await;
    let receivers = db.store().scope(t.id).receivers();
    let r = receivers.create(new_receiver("rx")).await.unwrap();
    assert_eq!(r.disabled_at, None);
    let off = receivers.set_disabled(r.id, true).await.unwrap();
    let at = off.disabled_at.expect("disabled");
    assert_eq!(receivers.get(r.id).await.unwrap().disabled_at, Some(at));
    // Disabling again keeps the first time.
    assert_eq!(
        receivers
            .set_disabled(r.id, true)
            .await
            .unwrap()
            .disabled_at,
        Some(at)
    );
    assert_eq!(
        receivers
            .set_disabled(r.id, false)
            .await
            .unwrap()
            .disabled_at,
        None
    );
    // Another tenant's receiver is not found, and not changed.
    assert!(matches!(
        db.store()
            .scope(other.id)
            .receivers()
            .set_disabled(r.id, true)
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(receivers.get(r.id).await.unwrap().disabled_at, None);
}

fn receiver_invite(r: sethub_domain::ReceiverId) -> Invite {
    Invite {
        role: Role::Receiver,
        receiver_id: Some(r),
        expires_at: Utc::now() + Duration::hours(1),
        email: None,
    }
}

async fn reissuing_a_receivers_invitation_withdraws_its_open_one_and_no_other(db: TestDb) {
    let t = tenant(db.store(), "a").await;
    let scope = db.store().scope(t.id);
    let a = scope.receivers().create(new_receiver("a")).await.unwrap();
    let b = scope.receivers().create(new_receiver("b")).await.unwrap();
    let members = scope.members();
    members
        .invite("first-a", &receiver_invite(a.id))
        .await
        .unwrap();
    members
        .invite("first-b", &receiver_invite(b.id))
        .await
        .unwrap();
    let team = Invite {
        role: Role::Admin,
        receiver_id: None,
        expires_at: Utc::now() + Duration::hours(1),
        email: None,
    };
    members.invite("team", &team).await.unwrap();

    members
        .reissue_receiver_invite("second-a", &receiver_invite(a.id))
        .await
        .unwrap();
    assert!(matches!(
        members.open_invite("first-a").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        members.open_invite("second-a").await.unwrap().receiver_id,
        Some(a.id)
    );
    // The other receiver's and the team's invitations stay open.
    assert!(members.open_invite("first-b").await.is_ok());
    assert!(members.open_invite("team").await.is_ok());
    assert_eq!(members.open_invites(Some(a.id)).await.unwrap().len(), 1);
    // A team invite cannot be re-issued as a receiver's.
    assert!(matches!(
        members.reissue_receiver_invite("x", &team).await,
        Err(StoreError::Config(_))
    ));
}
