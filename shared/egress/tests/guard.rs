//! The guard over real sockets: a local server stands in for a receiver.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sethub_egress::{ClientOptions, EgressError, EgressPolicy, FetchError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-shot HTTP server answering every connection with `response`; returns its port.
async fn server(response: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let _ = sock.write_all(response.as_bytes()).await;
        }
    });
    port
}

fn strict() -> EgressPolicy {
    EgressPolicy {
        allow_http: true,
        ..EgressPolicy::default()
    }
}

fn options() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_loopback_ip_literal_is_refused_before_any_connection() {
    let port = server("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
    let err = strict()
        .check_url(&format!("http://127.0.0.1:{port}/push"))
        .unwrap_err();
    assert!(matches!(err, EgressError::Forbidden { .. }), "{err}");
}

#[tokio::test]
async fn a_host_name_that_resolves_to_loopback_is_refused_by_the_client() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = server("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
    let policy = strict();
    let url = format!("http://localhost:{port}/push");
    // The form is fine; the name's addresses are not.
    policy.check_url(&url).unwrap();
    assert!(matches!(
        policy.check_url_resolving(&url).await,
        Err(EgressError::Forbidden { .. })
    ));
    let client = policy.client(&options()).unwrap();
    let err = client.post(&url).send().await.unwrap_err();
    assert!(
        matches!(err, FetchError::Refused(EgressError::Forbidden { .. })),
        "the guard, not the network, must refuse it: {err:?}"
    );
}

#[tokio::test]
async fn loopback_is_reachable_when_the_operator_allows_private_targets() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = server("HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n").await;
    let policy = EgressPolicy {
        allow_private: true,
        allow_http: true,
        ..Default::default()
    };
    let client = policy.client(&options()).unwrap();
    let resp = client
        .post(&format!("http://localhost:{port}/push"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status, 202);
}

#[tokio::test]
async fn an_allow_listed_network_is_reachable_without_allowing_all_private_targets() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = server("HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n").await;
    let policy = EgressPolicy {
        allowed_networks: vec!["127.0.0.0/8".parse().unwrap()],
        allow_http: true,
        ..Default::default()
    };
    let url = policy
        .check_url(&format!("http://127.0.0.1:{port}/"))
        .unwrap();
    let resp = policy
        .client(&options())
        .unwrap()
        .post(url.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status, 202);
    assert!(!policy.allows("10.0.0.1".parse().unwrap()));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = server("HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest/meta-data\r\ncontent-length: 0\r\n\r\n").await;
    let policy = EgressPolicy {
        allow_private: true,
        allow_http: true,
        ..Default::default()
    };
    let resp = policy
        .client(&options())
        .unwrap()
        .get(&format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status, 302, "the redirect is returned, not followed");
}

#[test]
fn urls_with_credentials_other_schemes_or_fragments_are_refused() {
    let p = EgressPolicy::default();
    assert_eq!(
        p.check_url("http://example.com/").unwrap_err(),
        EgressError::Scheme("http".into())
    );
    assert_eq!(
        p.check_url("https://u:p@example.com/").unwrap_err(),
        EgressError::Credentials
    );
    assert_eq!(
        p.check_url("https://example.com/#x").unwrap_err(),
        EgressError::Fragment
    );
    assert_eq!(
        p.check_url("file:///etc/passwd").unwrap_err(),
        EgressError::Scheme("file".into())
    );
    assert!(matches!(
        p.check_url("not a url").unwrap_err(),
        EgressError::NotAUrl(_)
    ));
    assert!(matches!(
        p.check_url("https://[::ffff:169.254.169.254]/")
            .unwrap_err(),
        EgressError::Forbidden { .. }
    ));
    assert!(p.check_url("https://example.com/events").is_ok());
}
