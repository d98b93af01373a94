//! Tracing end to end: with `telemetry.otlp_endpoint` set, one published event makes one
//! trace that spans ingest (the publish request), fan-out (the bus message, whose
//! `traceparent` RabbitMQ carried) and the push attempt, received over OTLP/HTTP (protobuf)
//! by a collector in the test. RabbitMQ carries the trace context in the message headers
//! only (the body has none), so fan-out's span continuing the publish's proves the header.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::json;
use sethub_tests::setup::{self, SESSION_REVOKED, session_revoked};

use crate::world::*;

/// One span as the collector got it.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    name: String,
    trace: String,
    id: String,
    parent: String,
    start_ns: u64,
    end_ns: u64,
    attributes: BTreeMap<String, String>,
}

#[derive(Default)]
struct Collector {
    spans: Mutex<Vec<Got>>,
    requests: Mutex<Vec<String>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(v: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

async fn export(
    collector: web::Data<Collector>,
    req: actix_web::HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    collector
        .requests
        .lock()
        .unwrap()
        .push(format!("{} {content_type}", req.path()));
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut spans = collector.spans.lock().unwrap();
    for rs in request.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
            .map(|a| text(a.value.as_ref()))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                spans.push(Got {
                    service: service.clone(),
                    name: s.name.clone(),
                    trace: hex(&s.trace_id),
                    id: hex(&s.span_id),
                    parent: hex(&s.parent_span_id),
                    start_ns: s.start_time_unix_nano,
                    end_ns: s.end_time_unix_nano,
                    attributes: s
                        .attributes
                        .iter()
                        .map(|a| (a.key.clone(), text(a.value.as_ref())))
                        .collect(),
                });
            }
        }
    }
    // An empty ExportTraceServiceResponse.
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .finish()
}

/// Starts the collector; its base URL (the value of `telemetry.otlp_endpoint`).
fn start_collector(collector: Arc<Collector>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let data = web::Data::from(collector);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
            .route("/v1/traces", web::post().to(export))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    url
}

#[tokio::test]
async fn one_published_event_is_one_trace_from_ingest_through_the_bus_to_the_push() {
    let collector = Arc::new(Collector::default());
    let endpoint = start_collector(collector.clone());
    let w = World::split_with(&[("SETHUB_TELEMETRY__OTLP_ENDPOINT", endpoint.as_str())]).await;
    w.stream("/s/traced", &[SESSION_REVOKED]).await;
    let (_, poll_endpoint) = poll_stream(&w).await;
    let event_id = setup::publish(
        &w.hub.ingest_url,
        &w.tenant.slug,
        &w.tenant.api_key,
        &session_revoked("traced@example.com"),
    )
    .await
    .unwrap();
    w.receiver
        .wait_for_count("/s/traced", 1, LONG)
        .await
        .unwrap();
    // The exporters send in batches (every few seconds): wait for the push's span.
    let trace = sethub_tests::wait_until("the event's trace at the collector", LONG, || {
        let spans = collector.spans.lock().unwrap().clone();
        let event_id = event_id.clone();
        async move {
            let publish = spans.iter().find(|s| {
                s.name == "ingest.publish" && s.attributes.get("sethub.event_id") == Some(&event_id)
            })?;
            let trace: Vec<Got> = spans
                .iter()
                .filter(|s| s.trace == publish.trace)
                .cloned()
                .collect();
            trace
                .iter()
                .any(|s| s.name == "fanout.push")
                .then_some(trace)
        }
    })
    .await;
    // The poll stream's copy is handed out by a poll claim, a span of its own trace.
    let (status, body) = poll(&w, &poll_endpoint, json!({"maxEvents": 10})).await;
    assert_eq!(status, 200);
    assert_eq!(body["sets"].as_object().unwrap().len(), 1, "{body}");
    let claim = sethub_tests::wait_until("the poll claim's span", LONG, || {
        let spans = collector.spans.lock().unwrap().clone();
        async move {
            spans.into_iter().find(|s| {
                s.name == "fanout.poll_claim"
                    && s.attributes.get("sethub.sets").map(String::as_str) == Some("1")
            })
        }
    })
    .await;
    assert_eq!(claim.service, "sethub-fanout");
    assert_eq!(claim.parent, "");
    let requests = collector.requests.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .all(|r| r == "/v1/traces application/x-protobuf"),
        "{requests:?}"
    );
    let one = |name: &str| -> Got {
        let found: Vec<&Got> = trace.iter().filter(|s| s.name == name).collect();
        assert_eq!(found.len(), 1, "{name} in {trace:#?}");
        found[0].clone()
    };
    let publish = one("ingest.publish");
    let fanout = one("fanout.events");
    let push = one("fanout.push");
    assert_eq!(publish.service, "sethub-ingest");
    assert_eq!(publish.parent, "", "the publish request starts the trace");
    assert_eq!(fanout.service, "sethub-fanout");
    assert_eq!(
        fanout.parent, publish.id,
        "fan-out continues the publish's trace"
    );
    assert_eq!(push.service, "sethub-fanout");
    assert_eq!(
        push.parent, fanout.id,
        "the push attempt is inside fan-out's span"
    );
    assert_eq!(push.attributes["http.response.status_code"], "202");
    assert_eq!(push.attributes["sethub.attempt"], "1");
    assert!(fanout.start_ns >= publish.start_ns && push.start_ns >= fanout.start_ns);
    // The trace, printed for the record.
    let mut printed = format!("trace {}\n", publish.trace);
    let mut ordered = trace.clone();
    ordered.sort_by_key(|s| s.start_ns);
    for s in &ordered {
        let depth = if s.id == publish.id {
            0
        } else if s.parent == publish.id {
            1
        } else {
            2
        };
        printed += &format!(
            "{:indent$}{} [{}] +{:.1} ms, {:.1} ms {:?}\n",
            "",
            s.name,
            s.service,
            (s.start_ns - publish.start_ns) as f64 / 1e6,
            (s.end_ns - s.start_ns) as f64 / 1e6,
            s.attributes,
            indent = depth * 2
        );
    }
    eprintln!("{printed}");
}
