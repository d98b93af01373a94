//! `POST /t/{slug}/events`: publish one event.
//!
//! Order of checks: the API key (401/403, [`Publisher`]), the rate limit (429), the
//! `Idempotency-Key` header, the content type (415), the size (413), the JSON (400), the
//! request's fields (400 naming the field); then store and publish (`202 {"event_id"}`, or 503
//! when a backend is down). Nothing is stored or published on a 4xx.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use sethub_app::AppContext;
use sethub_domain::EventId;
use sethub_http::ApiError;
use sethub_telemetry::trace::{self, Span};

use crate::accept::accept;
use crate::auth::Publisher;
use crate::metrics::{Counter, Outcome};
use crate::request::PublishRequest;
use crate::{body, idempotency, limit};

/// The answer to an accepted event.
#[derive(Debug, Serialize)]
pub struct AcceptedBody {
    pub event_id: EventId,
}

/// The outcome label of a refusal: 5xx is a backend failing, anything else the client's.
pub(crate) fn refusal(e: &ApiError) -> Outcome {
    if e.code().status().is_server_error() {
        Outcome::Failed
    } else {
        Outcome::Rejected
    }
}

pub async fn publish(
    ctx: web::Data<AppContext>,
    counter: web::Data<Counter>,
    publisher: Publisher,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let span = Span::root("ingest.publish");
    span.set("sethub.tenant", || publisher.tenant.to_string());
    limit::charge(&ctx, &counter, publisher.tenant, 1).await?;
    let result = trace::within(span.traceparent(), async {
        let key = idempotency::from_request(&req)?;
        let object = body::read_object(&req, payload, ctx.config.ingest.max_body_bytes).await?;
        let request = PublishRequest::parse(object, publisher.subject_list_items)?;
        request.check_profile(publisher.profile)?;
        let key = key.as_deref().map(idempotency::stored_key);
        match req.app_data::<web::Data<crate::group::Committer>>() {
            Some(c) => c.accept(&ctx, publisher.tenant, request, key).await,
            None => accept(&ctx, publisher.tenant, request, key).await,
        }
    })
    .await;
    match result {
        Ok(accepted) => {
            span.set("sethub.event_id", || accepted.event_id.to_string());
            counter.record(&ctx, accepted.outcome, 1);
            Ok(HttpResponse::Accepted().json(AcceptedBody {
                event_id: accepted.event_id,
            }))
        }
        Err(e) => {
            counter.record(&ctx, refusal(&e), 1);
            if span.is_recording() {
                span.fail(e.code().status().to_string());
            }
            Err(e)
        }
    }
}
