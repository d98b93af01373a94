//! Built-in TLS (`server.tls`), end to end against the real binary: TLS 1.0 and 1.1 refused,
//! 1.2 and 1.3 served, HTTP/2 by ALPN, a new certificate served to the next connection after
//! SIGHUP or a change of the files, and a bad key refused at start naming its key. The
//! certificates are made here (`sethub_tests::tls`), never committed.

#![allow(
    clippy::disallowed_methods,
    reason = "the end-to-end tests are the hub's clients: the egress gate is for the hub's own requests"
)]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sethub_tests::backends::Production;
use sethub_tests::tls::{TestCa, Version, client};
use sethub_tests::{SethubProcess, init_crypto, random_suffix, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_sethub");

/// A temporary directory removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        let p = std::env::temp_dir().join(format!("sethub-tls-{}", random_suffix()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tls_env(cert: &Path, key: &Path) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "SETHUB_SERVER__TLS__CERT".to_owned(),
            cert.display().to_string(),
        ),
        (
            "SETHUB_SERVER__TLS__KEY".to_owned(),
            key.display().to_string(),
        ),
    ])
}

/// `sethub all` in the embedded default, serving the leaf of a fresh CA.
async fn start_tls_hub(dir: &Path) -> (SethubProcess, TestCa) {
    let ca = TestCa::new("first CA");
    let (cert, key) = ca.leaf().write(dir);
    let hub = SethubProcess::start(Path::new(BIN), &["all"], &tls_env(&cert, &key), dir)
        .await
        .unwrap_or_else(|f| panic!("{f:?}"));
    assert!(hub.base_url.starts_with("https://"), "{}", hub.base_url);
    (hub, ca)
}

fn host_port(hub: &SethubProcess) -> String {
    hub.base_url.trim_start_matches("https://").to_owned()
}

/// `openssl s_client` with `args`, its exit success and everything it printed.
async fn s_client(hub: &SethubProcess, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(host_port(hub))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("openssl is installed");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn healthz(client: &reqwest::Client, hub: &SethubProcess) -> reqwest::Response {
    client
        .get(hub.url("/healthz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /healthz over TLS: {e:?}"))
}

#[tokio::test]
async fn tls_1_0_and_1_1_clients_are_refused_and_tls_1_2_and_1_3_clients_are_served() {
    init_crypto();
    let dir = Dir::new();
    let (hub, ca) = start_tls_hub(&dir.0).await;
    let ca_file = ca.write_ca(&dir.0);
    let ca_arg = ca_file.to_str().unwrap();

    // OpenSSL 3 itself allows TLS 1.0/1.1 only at security level 0, so the client offers
    // them; the refusal must come from the server: an alert (rustls answers a hello without
    // TLS 1.2 or 1.3 with handshake_failure, 40; protocol_version, 70, would do as well),
    // before any certificate or cipher.
    for old in ["-tls1", "-tls1_1"] {
        let (ok, text) = s_client(&hub, &[old, "-cipher", "DEFAULT@SECLEVEL=0"]).await;
        assert!(!ok, "{old} must be refused:\n{text}");
        assert!(
            text.contains("alert number 40") || text.contains("alert number 70"),
            "{old}: the server must answer with an alert:\n{text}"
        );
        assert!(text.contains("no peer certificate available"), "{text}");
        assert!(text.contains("Cipher is (NONE)"), "{text}");
    }
    for (flag, name) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let (ok, text) = s_client(&hub, &[flag, "-CAfile", ca_arg]).await;
        assert!(ok, "{flag} must be served:\n{text}");
        assert!(
            text.contains(&format!("Protocol  : {name}")) || text.contains(&format!("New, {name}")),
            "{flag}:\n{text}"
        );
        assert!(
            text.contains("Verify return code: 0 (ok)"),
            "{flag}:\n{text}"
        );
    }
    // Only forward-secret AEAD suites: a TLS 1.2 client offering only CBC or RSA key
    // exchange gets no common suite.
    let (ok, text) = s_client(
        &hub,
        &[
            "-tls1_2",
            "-cipher",
            "AES128-SHA:AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA",
        ],
    )
    .await;
    assert!(!ok, "CBC and static-RSA suites must be refused:\n{text}");

    for version in [Version::Tls12, Version::Tls13] {
        let resp = healthz(&client(&ca.ca_pem, version, &["http/1.1"]), &hub).await;
        assert_eq!(resp.status(), 200, "{version:?}");
        assert_eq!(resp.version(), reqwest::Version::HTTP_11, "{version:?}");
    }
    // Plain HTTP on the TLS port gets no page.
    let plain = reqwest::Client::new()
        .get(hub.url("/healthz").replacen("https://", "http://", 1))
        .send()
        .await;
    assert!(
        plain.map(|r| !r.status().is_success()).unwrap_or(true),
        "plain HTTP must not be served on a TLS listener"
    );
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn_and_http1_is_served_to_clients_without_it() {
    init_crypto();
    let dir = Dir::new();
    let (hub, ca) = start_tls_hub(&dir.0).await;
    for version in [Version::Tls12, Version::Tls13] {
        let resp = healthz(&client(&ca.ca_pem, version, &["h2", "http/1.1"]), &hub).await;
        assert_eq!(resp.status(), 200, "{version:?}");
        assert_eq!(resp.version(), reqwest::Version::HTTP_2, "{version:?}");
    }
    let (ok, text) = s_client(&hub, &["-alpn", "h2,http/1.1"]).await;
    assert!(ok, "{text}");
    assert!(text.contains("ALPN protocol: h2"), "{text}");
    let (ok, text) = s_client(&hub, &["-alpn", "http/1.1"]).await;
    assert!(ok, "{text}");
    assert!(text.contains("ALPN protocol: http/1.1"), "{text}");
}

/// The certificate is replaced by one of another CA; a client trusting only that CA is
/// refused before and served after, on a new connection.
async fn replace_and_expect_new_certificate(hub: &SethubProcess, dir: &Path, signal: bool) {
    let second = TestCa::new("second CA");
    let trusts_second = || client(&second.ca_pem, Version::Tls13, &["http/1.1"]);
    assert!(
        trusts_second()
            .get(hub.url("/healthz"))
            .send()
            .await
            .is_err(),
        "before the reload the first CA's certificate is served"
    );
    second.leaf().write(dir);
    if signal {
        let pid = hub.pid().unwrap().to_string();
        let status = tokio::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .await
            .unwrap();
        assert!(status.success());
    }
    wait_until(
        "the new certificate to be served to a new connection",
        Duration::from_secs(30),
        || async {
            let resp = trusts_second().get(hub.url("/healthz")).send().await.ok()?;
            (resp.status() == 200).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_new_certificate_is_served_to_the_next_connection_after_sighup() {
    init_crypto();
    let dir = Dir::new();
    let (hub, first) = start_tls_hub(&dir.0).await;
    let old_client = client(&first.ca_pem, Version::Tls13, &["http/1.1"]);
    assert_eq!(healthz(&old_client, &hub).await.status(), 200);
    replace_and_expect_new_certificate(&hub, &dir.0, true).await;
    // SIGHUP reloads; it does not end the process.
    let fresh_old = client(&first.ca_pem, Version::Tls13, &["http/1.1"]);
    assert!(
        fresh_old.get(hub.url("/healthz")).send().await.is_err(),
        "the first CA's certificate is no longer served"
    );
}

#[tokio::test]
async fn a_new_certificate_is_served_to_the_next_connection_when_the_files_change() {
    init_crypto();
    let dir = Dir::new();
    let (hub, _first) = start_tls_hub(&dir.0).await;
    replace_and_expect_new_certificate(&hub, &dir.0, false).await;
}

#[tokio::test]
async fn a_key_that_does_not_match_its_certificate_is_refused_at_start_naming_the_key() {
    init_crypto();
    let dir = Dir::new();
    let ca = TestCa::new("CA");
    let (cert, _) = ca.leaf().write(&dir.0);
    let other = ca.leaf();
    let key = dir.0.join("other-key.pem");
    std::fs::write(&key, &other.key_pem).unwrap();
    let failure =
        match SethubProcess::start(Path::new(BIN), &["all"], &tls_env(&cert, &key), &dir.0).await {
            Ok(_) => panic!("a mismatched key must stop the start"),
            Err(f) => f,
        };
    assert_eq!(failure.status, Some(1), "{failure:?}");
    assert!(failure.stderr.contains("server.tls.key"), "{failure:?}");
    let mut env = tls_env(&cert, &key);
    env.remove("SETHUB_SERVER__TLS__KEY");
    let failure = SethubProcess::start(Path::new(BIN), &["all"], &env, &dir.0)
        .await
        .err()
        .expect("a certificate without a key must stop the start");
    assert!(failure.stderr.contains("server.tls.key"), "{failure:?}");
}

#[tokio::test]
async fn each_service_of_a_production_deployment_serves_tls() {
    init_crypto();
    let dir = Dir::new();
    let prod = Production::new().await;
    let ca = TestCa::new("CA");
    let (cert, key) = ca.leaf().write(&dir.0);
    let mut env = prod.env();
    env.extend(tls_env(&cert, &key));
    let https = client(&ca.ca_pem, Version::Tls12, &["h2", "http/1.1"]);
    for service in ["ingest", "fanout", "manage"] {
        let hub = SethubProcess::start(Path::new(BIN), &[service], &env, &dir.0)
            .await
            .unwrap_or_else(|f| panic!("{service}: {f:?}"));
        let resp = https.get(hub.url("/readyz")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{service}");
        assert_eq!(resp.version(), reqwest::Version::HTTP_2, "{service}");
    }
}
