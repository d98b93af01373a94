//! The calls sethub makes to an upstream SSF transmitter, as its receiver: discovery (with
//! SSF's path insertion), an OAuth client-credentials token, and the stream API (create, read
//! status, verify, delete). Every call goes through the egress gate's client it is handed;
//! every stream API call carries the bearer token; what comes back is checked (the metadata's
//! and the stream's `issuer`/`iss` equal the issuer sethub was given).

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use sethub_egress::{Answer, GuardedClient};
use url::Url;

/// Why talking to the transmitter failed; the texts are safe to show to the operator.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {source}")]
    Fetch {
        what: &'static str,
        source: sethub_egress::FetchError,
    },
    #[error("{what} answered HTTP {status}")]
    Status { what: &'static str, status: u16 },
    #[error("{what}: {problem}")]
    Answer { what: &'static str, problem: String },
    /// The transmitter does not know the stream (any more).
    #[error("the transmitter has no stream `{0}`")]
    StreamGone(String),
}

/// The metadata URL of `issuer` (SSF §3.1): `/.well-known/ssf-configuration` inserted between
/// the host and the issuer's path, its trailing `/` removed first.
pub fn metadata_url(issuer: &str) -> Result<Url, RemoteError> {
    let url = Url::parse(issuer)
        .map_err(|e| RemoteError::Invalid(format!("the issuer is not a URL: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(RemoteError::Invalid(
            "the issuer must not have a query or fragment".into(),
        ));
    }
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(RemoteError::Invalid("the issuer must name a host".into()));
    }
    let path = url.path().trim_end_matches('/');
    let mut out = url.clone();
    out.set_path(&format!("/.well-known/ssf-configuration{path}"));
    Ok(out)
}

/// What sethub uses of a transmitter's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub issuer: String,
    pub jwks_uri: String,
    pub configuration_endpoint: String,
    pub status_endpoint: Option<String>,
    pub verification_endpoint: Option<String>,
    pub delivery_methods_supported: Vec<String>,
    /// The OAuth token endpoint: the metadata's `token_endpoint` member (sethub's own metadata
    /// has one), else the issuer's OAuth authorization server metadata (RFC 8414, the same
    /// path insertion).
    pub token_endpoint: String,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn json_answer(what: &'static str, answer: &Answer) -> Result<Value, RemoteError> {
    serde_json::from_slice(&answer.body).map_err(|e| RemoteError::Answer {
        what,
        problem: format!("not JSON ({e})"),
    })
}

fn fetch(what: &'static str) -> impl FnOnce(sethub_egress::FetchError) -> RemoteError {
    move |source| RemoteError::Fetch { what, source }
}

/// The answer's JSON when its status is one of `ok`.
fn expect_json(what: &'static str, answer: &Answer, ok: &[u16]) -> Result<Value, RemoteError> {
    let status = answer.status.as_u16();
    if !ok.contains(&status) {
        return Err(RemoteError::Status { what, status });
    }
    json_answer(what, answer)
}

/// `GET url` for a JSON document (200 only).
async fn get_document(
    client: &GuardedClient,
    what: &'static str,
    url: &str,
) -> Result<Value, RemoteError> {
    let answer = client
        .get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(fetch(what))?;
    expect_json(what, &answer, &[200])
}

/// `member` of `v` as text, else an error naming it.
fn member(what: &'static str, v: &Value, member: &str) -> Result<String, RemoteError> {
    text(v, member).ok_or_else(|| RemoteError::Answer {
        what,
        problem: format!("no `{member}`"),
    })
}

/// Fetches and checks the metadata of `issuer`.
pub async fn discover(client: &GuardedClient, issuer: &str) -> Result<Metadata, RemoteError> {
    const WHAT: &str = "the transmitter's metadata";
    let v = get_document(client, WHAT, metadata_url(issuer)?.as_str()).await?;
    let found = member(WHAT, &v, "issuer")?;
    if found != issuer {
        return Err(RemoteError::Answer {
            what: WHAT,
            problem: format!("its `issuer` is `{found}`, not the issuer asked for"),
        });
    }
    Ok(Metadata {
        issuer: found,
        jwks_uri: member(WHAT, &v, "jwks_uri")?,
        configuration_endpoint: member(WHAT, &v, "configuration_endpoint")?,
        status_endpoint: text(&v, "status_endpoint"),
        verification_endpoint: text(&v, "verification_endpoint"),
        delivery_methods_supported: v
            .get("delivery_methods_supported")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        token_endpoint: match text(&v, "token_endpoint") {
            Some(t) => t,
            None => oauth_token_endpoint(client, issuer).await?,
        },
    })
}

/// The `token_endpoint` of the issuer's RFC 8414 authorization server metadata.
async fn oauth_token_endpoint(client: &GuardedClient, issuer: &str) -> Result<String, RemoteError> {
    const WHAT: &str = "the OAuth authorization server metadata";
    let mut url = metadata_url(issuer)?;
    let path = url.path().replacen(
        "/.well-known/ssf-configuration",
        "/.well-known/oauth-authorization-server",
        1,
    );
    url.set_path(&path);
    let v = get_document(client, WHAT, url.as_str()).await?;
    member(WHAT, &v, "token_endpoint")
}

/// An access token by the client-credentials grant (RFC 6749 §4.4, client authentication
/// by HTTP Basic).
pub async fn access_token(
    client: &GuardedClient,
    token_endpoint: &str,
    client_id: &str,
    client_secret: &str,
) -> Result<String, RemoteError> {
    const WHAT: &str = "the token endpoint";
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        enc(client_id),
        enc(client_secret)
    ));
    let answer = client
        .post(token_endpoint)
        .header("Authorization", &format!("Basic {basic}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json")
        .body(b"grant_type=client_credentials".to_vec())
        .send()
        .await
        .map_err(fetch(WHAT))?;
    let v = expect_json(WHAT, &answer, &[200])?;
    member(WHAT, &v, "access_token")
}

/// A stream API call with the bearer token: its answer.
async fn call(
    client: &GuardedClient,
    what: &'static str,
    method: Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> Result<Answer, RemoteError> {
    let mut req = client
        .request(method, url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Accept", "application/json");
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string().into_bytes());
    }
    req.send().await.map_err(fetch(what))
}

/// What sethub keeps of the stream the transmitter made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStream {
    pub stream_id: String,
    /// The stream's `aud` (its first value when an array): what its SETs must name.
    pub audience: String,
    /// A poll stream's `endpoint_url`.
    pub poll_url: Option<String>,
}

/// Creates a stream (SSF §5.2) with only receiver-supplied members: `delivery` and
/// `events_requested` (and a `description`), and checks the answer's `iss`.
pub async fn create_stream(
    client: &GuardedClient,
    meta: &Metadata,
    token: &str,
    delivery: Value,
    events_requested: &[String],
) -> Result<RemoteStream, RemoteError> {
    const WHAT: &str = "stream creation";
    let body = json!({
        "delivery": delivery,
        "events_requested": events_requested,
        "description": "sethub",
    });
    let answer = call(
        client,
        WHAT,
        Method::POST,
        &meta.configuration_endpoint,
        token,
        Some(&body),
    )
    .await?;
    let v = expect_json(WHAT, &answer, &[200, 201])?;
    let bad = |problem: String| RemoteError::Answer {
        what: WHAT,
        problem,
    };
    if text(&v, "iss").as_deref() != Some(meta.issuer.as_str()) {
        return Err(bad(
            "the stream's `iss` is not the transmitter's issuer".into()
        ));
    }
    let audience = match v.get("aud") {
        Some(Value::String(a)) => a.clone(),
        Some(Value::Array(a)) => a
            .first()
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad("the stream's `aud` is empty".into()))?,
        _ => return Err(bad("the stream has no `aud`".into())),
    };
    Ok(RemoteStream {
        stream_id: member(WHAT, &v, "stream_id")?,
        audience,
        poll_url: v
            .get("delivery")
            .and_then(|d| text(d, "endpoint_url"))
            .filter(|_| v["delivery"]["method"].as_str() == Some(super::POLL_METHOD)),
    })
}

fn with_stream_id(endpoint: &str, stream_id: &str) -> Result<String, RemoteError> {
    let mut url = Url::parse(endpoint)
        .map_err(|e| RemoteError::Invalid(format!("the transmitter's endpoint: {e}")))?;
    url.query_pairs_mut().append_pair("stream_id", stream_id);
    Ok(url.into())
}

/// The stream's status (SSF §7.1), `StreamGone` on 404.
pub async fn stream_status(
    client: &GuardedClient,
    status_endpoint: &str,
    token: &str,
    stream_id: &str,
) -> Result<String, RemoteError> {
    const WHAT: &str = "the stream's status";
    let url = with_stream_id(status_endpoint, stream_id)?;
    let answer = call(client, WHAT, Method::GET, &url, token, None).await?;
    if answer.status.as_u16() == 404 {
        return Err(RemoteError::StreamGone(stream_id.to_owned()));
    }
    let v = expect_json(WHAT, &answer, &[200])?;
    member(WHAT, &v, "status")
}

/// Asks for a verification SET carrying `state` (SSF §8.1.4.2).
pub async fn request_verification(
    client: &GuardedClient,
    verification_endpoint: &str,
    token: &str,
    stream_id: &str,
    state: &str,
) -> Result<(), RemoteError> {
    const WHAT: &str = "the verification request";
    let body = json!({ "stream_id": stream_id, "state": state });
    let answer = call(
        client,
        WHAT,
        Method::POST,
        verification_endpoint,
        token,
        Some(&body),
    )
    .await?;
    match answer.status.as_u16() {
        200 | 202 | 204 => Ok(()),
        404 => Err(RemoteError::StreamGone(stream_id.to_owned())),
        status => Err(RemoteError::Status { what: WHAT, status }),
    }
}

/// Deletes the stream (SSF §5.6); a stream the transmitter does not know is gone already.
pub async fn delete_stream(
    client: &GuardedClient,
    configuration_endpoint: &str,
    token: &str,
    stream_id: &str,
) -> Result<(), RemoteError> {
    const WHAT: &str = "stream deletion";
    let url = with_stream_id(configuration_endpoint, stream_id)?;
    let answer = call(client, WHAT, Method::DELETE, &url, token, None).await?;
    match answer.status.as_u16() {
        200 | 202 | 204 | 404 => Ok(()),
        status => Err(RemoteError::Status { what: WHAT, status }),
    }
}

/// One long poll (RFC 8936, `returnImmediately: false`): acknowledges `ack`, reports
/// `set_errs`, and returns up to `max_events` SETs as `(jti, compact SET)` once the
/// transmitter has some or its wait ends (empty). `client`'s timeout bounds the wait (a
/// [`RemoteError::Fetch`] with [`sethub_egress::FetchError::Timeout`] when it is reached).
pub async fn poll(
    client: &GuardedClient,
    poll_url: &str,
    token: &str,
    ack: &[String],
    set_errs: &serde_json::Map<String, Value>,
    max_events: u32,
) -> Result<Vec<(String, String)>, RemoteError> {
    const WHAT: &str = "the poll endpoint";
    let body = json!({
        "maxEvents": max_events,
        "returnImmediately": false,
        "ack": ack,
        "setErrs": set_errs,
    });
    let mut req = client
        .post(poll_url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Accept", "application/json")
        .header("Content-Type", "application/json");
    if !set_errs.is_empty() {
        req = req.header("Content-Language", "en");
    }
    let answer = req
        .body(body.to_string().into_bytes())
        .send()
        .await
        .map_err(fetch(WHAT))?;
    if answer.status.as_u16() == 404 {
        return Err(RemoteError::StreamGone(poll_url.to_owned()));
    }
    let v = expect_json(WHAT, &answer, &[200])?;
    let sets = v
        .get("sets")
        .and_then(Value::as_object)
        .ok_or_else(|| RemoteError::Answer {
            what: WHAT,
            problem: "no `sets` object".into(),
        })?;
    Ok(sets
        .iter()
        .filter_map(|(jti, set)| Some((jti.clone(), set.as_str()?.to_owned())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_url_inserts_the_well_known_path_before_the_issuers_path() {
        for (issuer, want) in [
            (
                "https://tr.example.com",
                "https://tr.example.com/.well-known/ssf-configuration",
            ),
            (
                "https://tr.example.com/",
                "https://tr.example.com/.well-known/ssf-configuration",
            ),
            (
                "https://tr.example.com/issuer1",
                "https://tr.example.com/.well-known/ssf-configuration/issuer1",
            ),
            (
                "https://tr.example.com:8443/t/acme/",
                "https://tr.example.com:8443/.well-known/ssf-configuration/t/acme",
            ),
        ] {
            assert_eq!(metadata_url(issuer).unwrap().as_str(), want, "{issuer}");
        }
        for bad in [
            "not a url",
            "https://tr.example.com/?q=1",
            "https://tr.example.com/#f",
            "mailto:a@b",
        ] {
            assert!(metadata_url(bad).is_err(), "{bad}");
        }
    }
}
