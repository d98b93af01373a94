//! What a delivery's outcome means, in words: "connection refused" for
//! `tcp connect error: Connection refused (os error 111)`, "HTTP 500" for a status. The raw
//! text stays available to the page (its `title`).

/// The outcome of a push attempt or of a delivery's last one: its HTTP status, else its
/// transport error in words, else nothing.
pub fn outcome(status: Option<u16>, error: Option<&str>) -> String {
    match (status, error) {
        (Some(s), _) => format!("HTTP {s}"),
        (None, Some(e)) => transport(e),
        (None, None) => String::new(),
    }
}

/// A warning when the latest push attempt of a stream (attempts newest first) failed: what
/// went wrong, in words.
pub fn failing(latest: Option<&sethub_store::Attempt>) -> Option<String> {
    let a = latest.filter(|a| a.outcome != "delivered")?;
    let what = outcome(a.status, a.error.as_deref());
    Some(if what.is_empty() {
        "the latest push failed".to_owned()
    } else {
        format!("the latest push failed: {what}")
    })
}

/// A transport error in words.
pub fn transport(raw: &str) -> String {
    let e = raw.to_ascii_lowercase();
    let said = if e.contains("os error 111") || e.contains("connection refused") {
        "connection refused: nothing listens at the endpoint"
    } else if e.contains("dns") || e.contains("failed to lookup") || e.contains("resolve") {
        "the endpoint's host name does not resolve"
    } else if e.contains("timed out") || e.contains("timeout") || e.contains("deadline") {
        "the endpoint did not answer in time"
    } else if e.contains("certificate") || e.contains("tls") || e.contains("ssl") {
        "the TLS connection failed (is the endpoint's certificate valid?)"
    } else if e.contains("reset") || e.contains("broken pipe") || e.contains("closed") {
        "the endpoint closed the connection"
    } else if e.contains("not a public address") || e.contains("egress") {
        "the endpoint is not a public address"
    } else {
        return raw.to_owned();
    };
    said.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_errors_read_as_words_and_statuses_as_http() {
        assert_eq!(
            outcome(
                None,
                Some("error sending request: tcp connect error: Connection refused (os error 111)")
            ),
            "connection refused: nothing listens at the endpoint"
        );
        assert_eq!(outcome(Some(503), Some("ignored")), "HTTP 503");
        assert_eq!(
            outcome(None, Some("operation timed out")),
            "the endpoint did not answer in time"
        );
        assert_eq!(outcome(None, Some("something new")), "something new");
        assert_eq!(outcome(None, None), "");
    }
}
