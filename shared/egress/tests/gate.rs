//! The egress gate over real sockets: every spelling of a forbidden address, names resolving to
//! one, and a redirect to one are refused, and the victim listener on loopback sees no
//! connection; answers are bounded in size; errors carry nothing the target answered.

#![allow(clippy::unwrap_used)]

use sethub_egress::{ClientOptions, EgressError, EgressPolicy, FetchError, GuardedClient};
use sethub_tests::victim::{self, Listener, forbidden_urls, loopback_names, respond};
use tokio::net::TcpListener;

fn client(policy: &EgressPolicy, max_response_bytes: usize) -> GuardedClient {
    policy
        .client(&ClientOptions {
            max_response_bytes,
            ..ClientOptions::default()
        })
        .unwrap()
}

/// Private targets refused, plain http allowed (so the address is what is refused).
fn guard_on() -> EgressPolicy {
    EgressPolicy {
        allow_private: false,
        allowed_networks: Vec::new(),
        allow_http: true,
    }
}

#[tokio::test]
async fn every_spelling_of_a_forbidden_address_and_every_name_resolving_to_one_is_refused_unconnected()
 {
    sethub_tests::init_crypto();
    let victim = Listener::victim().await;
    let port = victim.port();
    let gate = client(&guard_on(), 1024);
    for url in &forbidden_urls(port, "/anything") {
        for send in [
            gate.get(url).send().await,
            gate.post(url).send_truncating().await,
        ] {
            match send {
                Err(FetchError::Refused(EgressError::Forbidden { .. })) => {}
                other => panic!("{url} must be refused by the policy, got {other:?}"),
            }
        }
    }
    assert_eq!(victim.accepted(), 0, "the victim saw a connection");

    // The control: the same gate with loopback allowed reaches the victim.
    let open = client(
        &EgressPolicy {
            allowed_networks: vec!["127.0.0.0/8".parse().unwrap()],
            ..guard_on()
        },
        1024,
    );
    let answer = open
        .get(&format!("http://0x7f.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status.as_u16(), 200);
    assert_eq!(victim.accepted(), 1);
}

#[tokio::test]
async fn the_guarded_resolver_refuses_a_name_that_resolves_to_loopback() {
    sethub_tests::init_crypto();
    let policy = guard_on();
    for name in loopback_names() {
        match policy.resolve(name, 80).await {
            Err(EgressError::Forbidden { host, .. }) => assert_eq!(host, name),
            other => panic!("{name} must be refused, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn plain_http_is_refused_unless_allowed_even_to_an_allowed_address() {
    sethub_tests::init_crypto();
    let victim = Listener::victim().await;
    let policy = EgressPolicy {
        allow_private: true,
        allowed_networks: Vec::new(),
        allow_http: false,
    };
    let url = format!("http://127.0.0.1:{}/", victim.port());
    match client(&policy, 1024).get(&url).send().await {
        Err(FetchError::Refused(EgressError::Scheme(s))) => assert_eq!(s, "http"),
        other => panic!("plain http must be refused, got {other:?}"),
    }
    for bad in [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://x/",
        "https://user:pw@example.com/",
    ] {
        assert!(
            matches!(
                client(&policy, 1024).get(bad).send().await,
                Err(FetchError::Refused(_))
            ),
            "{bad} must be refused"
        );
    }
    assert_eq!(victim.accepted(), 0);
}

#[tokio::test]
async fn a_redirect_to_a_forbidden_address_is_not_followed() {
    sethub_tests::init_crypto();
    let victim = Listener::victim().await;
    // The one allowed target (127.0.0.2) redirects to the victim (127.0.0.1).
    let location = format!("http://127.0.0.1:{}/latest/meta-data/", victim.port());
    let redirector = Listener::answering("127.0.0.2:0", victim::redirect(&location)).await;
    let policy = EgressPolicy {
        allowed_networks: vec!["127.0.0.2/32".parse().unwrap()],
        ..guard_on()
    };
    let answer = client(&policy, 1024)
        .get(&format!("http://{}/", redirector.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status.as_u16(), 302, "the redirect is handed back");
    assert_eq!(redirector.accepted(), 1);
    assert_eq!(victim.accepted(), 0, "the redirect was followed");
}

#[tokio::test]
async fn an_answer_larger_than_the_bound_is_refused_or_cut_and_errors_carry_nothing_of_it() {
    sethub_tests::init_crypto();
    let big = "x".repeat(200_000);
    let sized = Listener::answering("127.0.0.1:0", respond(200, "text/plain", &big)).await;
    // No length announced: the body is read in chunks until the bound.
    let unsized_ = Listener::answering(
        "127.0.0.1:0",
        format!("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{big}"),
    )
    .await;
    let policy = EgressPolicy {
        allow_private: true,
        ..guard_on()
    };
    let gate = client(&policy, 10_000);
    for l in [&sized, &unsized_] {
        let url = format!("http://{}/", l.addr);
        let err = gate.get(&url).send().await.unwrap_err();
        assert_eq!(err, FetchError::TooLarge(10_000));
        let cut = gate.get(&url).send_truncating().await.unwrap();
        assert_eq!(cut.body.len(), 10_000);
    }
    // Errors name a kind, never the target, its address or its answer.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = closed.local_addr().unwrap();
    drop(closed);
    let url = format!("http://{gone}/secret-path");
    let err = gate.get(&url).send().await.unwrap_err();
    assert_eq!(err, FetchError::Unreachable);
    let text = err.to_string();
    assert!(
        !text.contains("127.0.0.1") && !text.contains("secret-path"),
        "{text}"
    );
}
