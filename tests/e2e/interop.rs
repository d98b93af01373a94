//! Interoperability, end to end over a real `sethub all` on PostgreSQL, RabbitMQ and Redis:
//! tenants signing with each algorithm (RS256 2048/3072, ES256, EdDSA), chosen with the admin
//! CLI and switched by rotation, whose delivered SETs PyJWT and jwcrypto verify knowing only
//! the metadata URL and the client id; and the CAEP interoperability profile.

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

#[path = "interop/caep.rs"]
mod caep;
#[path = "interop/hub.rs"]
mod hub;

use serde_json::{Value, json};
use sethub_tests::setup::run_cli;

use hub::*;

/// Publishes one session-revoked event and returns the SET it became on `stream`.
async fn one_set(h: &Hub, t: &TenantRx, stream: &PollStream) -> String {
    t.publish(h, &revoked_with_reason()).await.unwrap();
    stream.next_set(&t.token).await
}

#[tokio::test]
async fn sets_of_each_algorithm_and_across_an_algorithm_rotation_verify_with_pyjwt_and_jwcrypto() {
    let Some(python) = python() else { return };
    let h = Hub::start(&[]).await;
    let mut cases = Vec::new();
    for (args, alg, bits, printed) in [
        (&["--alg", "RS256"][..], "RS256", Some(2048), "RS256-2048"),
        (
            &["--alg", "RS256", "--rsa-bits", "3072"][..],
            "RS256",
            Some(3072),
            "RS256-3072",
        ),
        (&["--alg", "ES256"][..], "ES256", None, "ES256"),
        (&["--alg", "EdDSA"][..], "EdDSA", None, "EdDSA"),
        (&[][..], "ES256", None, "ES256"),
    ] {
        let t = TenantRx::create(&h, args, printed).await;
        let stream = PollStream::create(&h, &t).await;
        assert_eq!(
            stream.aud, t.creds.client_id,
            "the stream's aud is the client id"
        );
        let token = one_set(&h, &t, &stream).await;
        assert_eq!(header(&token)["alg"], alg);
        let mut sets = vec![json!({"token": token, "alg": alg, "bits": bits})];
        if alg == "ES256" && args.is_empty() {
            // The CLI switches the default tenant to RS256: scheduled first (the new key is
            // published next to the old), then at once.
            let slug = &t.tenant.slug;
            let next = run_cli(
                BIN.as_ref(),
                &h.env,
                &["key", "rotate", "--tenant", slug, "--alg", "RS256"],
            )
            .await
            .unwrap();
            assert_eq!(next["action"], "published_next", "{next}");
            assert_eq!(jwks_ktys(&h, slug).await, ["EC", "RSA"]);
            assert_eq!(
                header(&one_set(&h, &t, &stream).await)["alg"],
                "ES256",
                "the active key signs until the promotion"
            );
            let now = run_cli(
                BIN.as_ref(),
                &h.env,
                &["key", "rotate", "--tenant", slug, "--alg", "RS256", "--now"],
            )
            .await
            .unwrap();
            assert_eq!(now["action"], "promoted", "{now}");
            assert_eq!(now["active_kid"], next["next_kid"]);
            let after = set_signed_with(&h, &t, &stream, "RS256", "ES256").await;
            assert_eq!(
                jwks_ktys(&h, slug).await,
                ["EC", "RSA"],
                "both through the overlap"
            );
            sets.push(json!({"token": after, "alg": "RS256", "bits": 2048}));
        }
        if alg == "EdDSA" {
            // The tenant API switches to RS256-3072 at once; the EdDSA key stays published.
            let (status, body) = t
                .api(
                    &h,
                    reqwest::Method::POST,
                    "/signing-keys/rotate",
                    Some(json!({"force": true, "alg": "RS256", "rsa_bits": 3072})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            let after = set_signed_with(&h, &t, &stream, "RS256", "EdDSA").await;
            assert_eq!(jwks_ktys(&h, &t.tenant.slug).await, ["OKP", "RSA"]);
            sets.push(json!({"token": after, "alg": "RS256", "bits": 3072}));
            let (_, keys) = t.api(&h, reqwest::Method::GET, "/signing-keys", None).await;
            let rsa: Vec<&Value> = keys["keys"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|k| k["alg"] == "RS256")
                .collect();
            assert_eq!(rsa.len(), 1, "{keys}");
            assert_eq!(rsa[0]["rsa_bits"], 3072);
            assert_eq!(rsa[0]["state"], "active");
        }
        cases.push(json!({
            "metadata_url": t.metadata_url(&h),
            "client_id": t.creds.client_id.clone(),
            "sets": sets,
        }));
    }
    let out = verify_with_python(&python, &cases).await;
    assert_eq!(
        out.matches("verified by PyJWT and jwcrypto").count(),
        7,
        "{out}"
    );
    assert_eq!(out.matches("refused by both").count(), 7, "{out}");
}

#[tokio::test]
async fn a_kind_of_key_sethub_does_not_generate_is_refused_naming_the_field_and_changes_nothing() {
    let h = Hub::start(&[]).await;
    let t = TenantRx::create(&h, &[], "ES256").await;
    let slug = t.tenant.slug.clone();
    for (body, field) in [
        (json!({"alg": "HS256"}), "alg"),
        (json!({"alg": "RS256", "rsa_bits": 1024}), "rsa_bits"),
        (json!({"alg": "ES256", "rsa_bits": 2048}), "rsa_bits"),
        (json!({"rsa_bits": 1024}), "rsa_bits"),
    ] {
        let (status, problem) = t
            .api(
                &h,
                reqwest::Method::POST,
                "/signing-keys/rotate",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    for args in [
        (&["--alg", "HS256"][..], "HS256"),
        (&["--alg", "RS256", "--rsa-bits", "4096"][..], "4096"),
        (&["--rsa-bits", "1024"][..], "--rsa-bits"),
    ] {
        let mut all = vec!["key", "rotate", "--tenant", slug.as_str()];
        all.extend_from_slice(args.0);
        cli_refuses(&h, &all, args.1).await;
    }
    cli_refuses(
        &h,
        &[
            "tenant",
            "create",
            "--slug",
            "x-no-such-alg",
            "--alg",
            "PS256",
        ],
        "PS256",
    )
    .await;
    assert_eq!(jwks_ktys(&h, &slug).await, ["EC"], "nothing rotated");
}
