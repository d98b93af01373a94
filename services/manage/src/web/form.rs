//! Form fields as the templates show them: a value kept as typed, and the error beside it;
//! the form extractor of the console and the portal, which refuses a NUL in any field, and the
//! middleware refusing one in the path or the query.

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::future::LocalBoxFuture;
use sethub_http::nul;

use super::{Home, PageError};

/// One input of a form.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `email`, `password`.
    pub kind: &'static str,
    pub autocomplete: &'static str,
    /// What the user typed (never a password).
    pub value: String,
    pub error: Option<String>,
    pub hint: &'static str,
    /// Whether the field must be filled (the template marks it `required`).
    pub required: bool,
}

impl Field {
    pub fn new(name: &'static str, label: &'static str, kind: &'static str) -> Self {
        Self {
            name,
            label,
            kind,
            autocomplete: "off",
            value: String::new(),
            error: None,
            hint: "",
            required: true,
        }
    }

    pub fn autocomplete(mut self, a: &'static str) -> Self {
        self.autocomplete = a;
        self
    }

    /// A field that may be left empty.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    pub fn hint(mut self, h: &'static str) -> Self {
        self.hint = h;
        self
    }

    /// Keeps what was typed (passwords are never sent back).
    pub fn value(mut self, v: &str) -> Self {
        if self.kind != "password" {
            v.clone_into(&mut self.value);
        }
        self
    }
}

/// Puts each error next to its field.
pub fn attach(fields: &mut [Field], errors: &[sethub_app::console::FieldError]) {
    for e in errors {
        if let Some(f) = fields.iter_mut().find(|f| f.name == e.field) {
            f.error = Some(e.message.clone());
        }
    }
}

/// A submitted form (`application/x-www-form-urlencoded`, as `web::Form` reads it) whose
/// fields hold no NUL (U+0000): PostgreSQL cannot store one and no value the console or the
/// portal takes holds one. A field holding one refuses the whole form before the handler
/// runs (400, the surface's error page naming the field; nothing changed).
#[derive(Debug)]
pub struct Form<T>(pub T);

impl<T> Form<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Form<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: FromIterator<(String, String)> + 'static> FromRequest for Form<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let fields = web::Form::<Vec<(String, String)>>::from_request(&req, payload);
        Box::pin(async move {
            let fields = fields.await?.into_inner();
            let named = fields.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            if let Some(name) = nul::in_fields(named) {
                let page = nul_refused(&req, &format!("The field `{name}`"));
                return Err(InternalError::from_response(nul::NUL_REFUSED, page).into());
            }
            Ok(Self(fields.into_iter().collect()))
        })
    }
}

/// A submitted form a person types into, shown again when something is wrong with it. Unlike
/// [`Form`], a NUL (U+0000) in a field does not refuse the request before the handler runs:
/// every value comes without its NULs, and [`EditForm::nul_error`] says which field held
/// one, so the handler shows the form again with the error beside that field and everything
/// else as typed (and changes nothing).
#[derive(Debug)]
pub struct EditForm<T> {
    fields: T,
    /// The first field that held a NUL, by its name.
    nul: Option<String>,
    home: Home,
}

impl<T> std::ops::Deref for EditForm<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.fields
    }
}

/// What a field that held a NUL says beside it.
pub const NUL_IN_FIELD: &str = "This held the NUL character (U+0000), which no value may \
     contain; it is removed here: check the value and send the form again.";

impl<T> EditForm<T> {
    /// The fields, without their NULs.
    pub fn into_inner(self) -> T {
        self.fields
    }

    /// `Ok(Some(error))` when a field the form shows (one of `shown`) held a NUL: the error to
    /// show beside it, instead of doing anything. `Err(page)` when another field held one (a
    /// hidden one or a choice: nothing a person types), the same 400 page [`Form`] answers.
    /// `Ok(None)` when no field held one.
    pub fn nul_error(
        &self,
        shown: &[&'static str],
    ) -> Result<Option<sethub_app::console::FieldError>, PageError> {
        let Some(name) = &self.nul else {
            return Ok(None);
        };
        match shown.iter().find(|s| **s == name.as_str()) {
            Some(field) => Ok(Some(sethub_app::console::FieldError {
                field,
                message: NUL_IN_FIELD.to_owned(),
            })),
            None => Err(nul_refused_at(self.home, &format!("The field `{name}`"))),
        }
    }
}

impl<T: FromIterator<(String, String)> + 'static> FromRequest for EditForm<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let home = home_of(req);
        let fields = web::Form::<Vec<(String, String)>>::from_request(req, payload);
        Box::pin(async move {
            let fields = fields.await?.into_inner();
            let named = fields.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            let nul = nul::in_fields(named);
            let fields = fields
                .into_iter()
                .map(|(k, v)| (k.replace('\0', ""), v.replace('\0', "")))
                .collect();
            Ok(Self { fields, nul, home })
        })
    }
}

/// The console or the portal, by the request's path.
fn home_of(req: &HttpRequest) -> Home {
    if req.path().starts_with("/portal") {
        Home::Portal
    } else {
        Home::Console
    }
}

/// The page refusing a request with a NUL in `what` ("The field `name`"), for the console or
/// the portal (by the request's path).
fn nul_refused(req: &HttpRequest, what: &str) -> HttpResponse {
    nul_refused_at(home_of(req), what).into()
}

/// [`nul_refused`] on the console or the portal.
fn nul_refused_at(home: Home, what: &str) -> PageError {
    PageError::bad_request(
        home,
        format!(
            "{what} {}. Go back, correct it and send it again.",
            nul::NUL_REFUSED
        ),
    )
}

/// Middleware of the console's and the portal's scopes: a NUL in the path (`%00`) or in a
/// query parameter is refused (400, the error page naming it) before any handler looks
/// anything up with it.
pub async fn refuse_nul_in_target<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse, actix_web::Error> {
    if let Some(name) = nul::in_target(req.request()) {
        let what = if name == "path" {
            "The address".to_owned()
        } else {
            format!("The parameter `{name}`")
        };
        let page = nul_refused(req.request(), &what);
        return Ok(req.into_response(page));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}
