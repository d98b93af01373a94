//! `/api/v1/receivers`: the organisations that hold client credentials for the tenant's
//! streams. The client secret is shown once, on creation. One receiver's read says whether
//! its people joined the portal; its invitation can be issued again, and it can be disabled
//! (its streams hold their SETs meanwhile) and enabled (`sethub_app::receivers`).

use actix_web::http::StatusCode;
use actix_web::{
    HttpRequest, HttpResponse, get, post,
    web::{Json, Path},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sethub_app::admin::{self, DisplayName};
use sethub_app::receivers::{self, Joined, Overview};
use sethub_domain::ReceiverId;
use sethub_http::ApiError;
use sethub_store::Receiver;
use utoipa::ToSchema;

use crate::api::auth::AdminKey;
use crate::api::body::{FromFields, JsonBody, context};
use crate::api::recovery::actor;
use crate::api::{Problem, no_store};

/// A receiver (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiverView {
    #[schema(example = "rcv_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f")]
    pub receiver_id: String,
    pub name: String,
    pub client_id: String,
    pub created_at: DateTime<Utc>,
    /// Since when it is disabled (no tokens, no portal; its streams hold their SETs), or null.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Where it stands with its portal (only on the single-receiver read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portal: Option<PortalView>,
    /// Its streams, by name (only on the single-receiver read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streams: Option<Vec<ReceiverStreamView>>,
}

/// Where a receiver stands with its portal.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalView {
    /// `joined` (one of its people joined), `pending` (an invitation is open) or
    /// `no_invitation` (none open: issue one).
    #[schema(example = "pending", pattern = "^(joined|pending|no_invitation)$")]
    pub state: String,
    /// How many of its people joined.
    pub people: u64,
    /// Until when the open invitation works (`pending` only), or null.
    pub invitation_expires_at: Option<DateTime<Utc>>,
}

/// One stream of a receiver.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiverStreamView {
    #[schema(example = "str_0194f0c3a1b27c6e9d1f2a3b4c5d6e7f")]
    pub stream_id: String,
    /// Its description, else its id.
    pub name: String,
    /// `enabled`, `paused` or `disabled` (its own status: while the receiver is disabled an
    /// `enabled` stream holds its SETs).
    pub status: String,
}

impl From<Overview> for ReceiverView {
    fn from(o: Overview) -> Self {
        let (state, invitation_expires_at) = match o.joined() {
            Joined::Joined => ("joined", None),
            Joined::Pending(until) => ("pending", Some(until)),
            Joined::NoInvitation => ("no_invitation", None),
        };
        let portal = PortalView {
            state: state.to_owned(),
            people: o.people.len() as u64,
            invitation_expires_at,
        };
        let streams = o
            .streams
            .iter()
            .map(|s| ReceiverStreamView {
                stream_id: s.id.to_string(),
                name: sethub_app::streams::name_of(s),
                status: s.status.as_str().to_owned(),
            })
            .collect();
        Self {
            portal: Some(portal),
            streams: Some(streams),
            ..ReceiverView::from(o.receiver)
        }
    }
}

/// A portal invitation just issued; `invitation_url` is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub receiver_id: String,
    /// Where the receiver's people join the portal.
    #[schema(example = "https://sethub.example.com/portal/t/acme/invite/…")]
    pub invitation_url: String,
    pub expires_at: DateTime<Utc>,
}

impl From<Receiver> for ReceiverView {
    fn from(r: Receiver) -> Self {
        Self {
            receiver_id: r.id.to_string(),
            name: r.name,
            client_id: r.client_id,
            created_at: r.created_at,
            disabled_at: r.disabled_at,
            portal: None,
            streams: None,
        }
    }
}

/// A new receiver with its client credentials; `client_secret` is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedReceiverView {
    pub receiver_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub token_endpoint: String,
}

/// Creates a receiver.
#[derive(Debug, ToSchema)]
pub struct CreateReceiver {
    /// 1–200 characters.
    #[schema(value_type = String, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Example SIEM")]
    pub name: DisplayName,
}

impl FromFields for CreateReceiver {
    fn from_fields(f: &mut crate::api::body::Fields) -> Result<Self, ApiError> {
        let name: String = f.required("name")?;
        Ok(Self {
            name: name
                .parse()
                .map_err(|e: String| ApiError::invalid("name", e))?,
        })
    }
}

/// Creates a receiver with client credentials for the tenant's token endpoint.
#[utoipa::path(
    tag = "receivers",
    request_body = CreateReceiver,
    responses(
        (status = 201, description = "Created; the secret is shown only now", body = CreatedReceiverView),
        (status = 400, description = "Invalid body", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope, or the tenant has as many receivers as its `receivers_per_tenant` quota allows (code `quota_exceeded`, `field` the quota)", body = Problem),
        (status = 413, description = "Body over 64 KiB", body = Problem),
    ),
    security(("api_key" = []))
)]
#[post("/receivers")]
pub async fn create_receiver(
    req: HttpRequest,
    caller: AdminKey,
    body: JsonBody<CreateReceiver>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req)?;
    let r = admin::create_receiver(&ctx, caller.tenant, &body.0.name).await?;
    Ok(no_store(StatusCode::CREATED).json(CreatedReceiverView {
        receiver_id: r.receiver_id.to_string(),
        client_id: r.client_id,
        client_secret: r.client_secret,
        token_endpoint: r.token_endpoint,
    }))
}

/// The tenant's receivers, oldest first.
#[utoipa::path(
    tag = "receivers",
    responses(
        (status = 200, description = "The receivers", body = [ReceiverView]),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/receivers")]
pub async fn list_receivers(
    req: HttpRequest,
    caller: AdminKey,
) -> Result<Json<Vec<ReceiverView>>, ApiError> {
    let ctx = context(&req)?;
    let list = admin::list_receivers(&ctx, caller.tenant).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// One receiver of the tenant, with where it stands with its portal and its streams.
#[utoipa::path(
    tag = "receivers",
    params(("id" = String, Path, description = "Receiver id (`rcv_…`)")),
    responses(
        (status = 200, description = "The receiver", body = ReceiverView),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such receiver in this tenant", body = Problem),
    ),
    security(("api_key" = []))
)]
#[get("/receivers/{id}")]
pub async fn get_receiver(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
) -> Result<Json<ReceiverView>, ApiError> {
    let ctx = context(&req)?;
    let id = parse_receiver(&id)?;
    Ok(Json(
        receivers::overview(&ctx, caller.tenant, id).await?.into(),
    ))
}

fn parse_receiver(raw: &str) -> Result<ReceiverId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("no receiver with this id"))
}

/// Disables a receiver: its client credentials get no token, the tokens it holds are refused
/// and its people are signed out of the portal. Its streams keep their status but deliver
/// nothing: their SETs are held (each enabled stream is first told `paused` with a
/// stream-updated SET) until the receiver is enabled. Disabling a disabled receiver changes
/// nothing.
#[utoipa::path(
    tag = "receivers",
    params(("id" = String, Path, description = "Receiver id (`rcv_…`)")),
    responses(
        (status = 200, description = "The receiver, disabled", body = ReceiverView),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such receiver in this tenant", body = Problem),
        (status = 503, description = "Disabled, but fan-out could not be told yet; send it again", body = Problem),
    ),
    security(("api_key" = []))
)]
#[post("/receivers/{id}/disable")]
pub async fn disable_receiver(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(&req, &caller, &id, true).await
}

/// Enables a disabled receiver again: its credentials, tokens and portal work again, and the
/// SETs its streams held are delivered, oldest first (each enabled stream is told `enabled`
/// with a stream-updated SET). Enabling an enabled receiver changes nothing.
#[utoipa::path(
    tag = "receivers",
    params(("id" = String, Path, description = "Receiver id (`rcv_…`)")),
    responses(
        (status = 200, description = "The receiver, enabled", body = ReceiverView),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such receiver in this tenant", body = Problem),
        (status = 503, description = "Enabled, but fan-out could not be told yet; send it again", body = Problem),
    ),
    security(("api_key" = []))
)]
#[post("/receivers/{id}/enable")]
pub async fn enable_receiver(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(&req, &caller, &id, false).await
}

async fn set_disabled(
    req: &HttpRequest,
    caller: &AdminKey,
    raw: &str,
    disabled: bool,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(req)?;
    let id = parse_receiver(raw)?;
    let r = receivers::set_disabled(&ctx, caller.tenant, actor(caller), id, disabled).await?;
    Ok(no_store(StatusCode::OK).json(ReceiverView::from(r)))
}

/// Issues a new portal invitation for the receiver; every earlier open link of it stops
/// working. The link is shown only in this answer.
#[utoipa::path(
    tag = "receivers",
    params(("id" = String, Path, description = "Receiver id (`rcv_…`)")),
    responses(
        (status = 201, description = "Issued; the link is shown only now", body = InvitationView),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 403, description = "The key lacks the admin scope", body = Problem),
        (status = 404, description = "No such receiver in this tenant", body = Problem),
    ),
    security(("api_key" = []))
)]
#[post("/receivers/{id}/invitation")]
pub async fn reissue_invitation(
    req: HttpRequest,
    caller: AdminKey,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req)?;
    let id = parse_receiver(&id)?;
    let invitation = receivers::reissue_invite(&ctx, caller.tenant, actor(&caller), id).await?;
    Ok(no_store(StatusCode::CREATED).json(InvitationView {
        receiver_id: id.to_string(),
        invitation_url: invitation.link,
        expires_at: invitation.expires_at,
    }))
}
