use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::auth::password::{Busy, PasswordError, RETRY_AFTER_SECS};
use crate::db::Unavailable;
use crate::ops::OpError;
use crate::web::context;

use super::chrome::Chrome;
use super::toast::Toast;

/// Why a page could not be shown, for people in a browser. Form mistakes
/// are not errors here: handlers re-render the form (422) themselves.
///
/// A page request gets an error page; an htmx request gets the message as
/// a toast, with the real status and `HX-Retarget`/`HX-Reswap` sending it
/// to the toast area instead of the element that asked.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("sign-in required")]
    SignInRequired,
    /// Root requires two-factor sign-in of resellers, and this one has not
    /// set it up: every page leads to the set-up.
    #[error("two-factor sign-in must be set up first")]
    TwoFactorSetupRequired,
    /// Signed in, but without every Initial Privilege: the tokens pages
    /// explain instead of showing the table.
    #[error("the Initial Privileges are required")]
    NoTokenAccess(Box<Chrome>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Refused(String),
    /// The server cannot do this now (database unreachable, password
    /// workers full): 503 with Retry-After.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for UiError {
    fn from(e: anyhow::Error) -> Self {
        if e.is::<Unavailable>() {
            Self::Unavailable(crate::web::context::UNAVAILABLE.to_owned())
        } else {
            Self::Internal(e)
        }
    }
}

impl From<Busy> for UiError {
    fn from(e: Busy) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<PasswordError> for UiError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy(busy) => busy.into(),
            PasswordError::Internal(cause) => cause.into(),
        }
    }
}

impl From<OpError> for UiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Internal(cause) => Self::from(cause),
            OpError::TokenNotFound(_) | OpError::AccountNotFound(_) => {
                Self::NotFound(e.to_string())
            }
            OpError::MissingPrivilege(_) | OpError::NotAllowed(_) => Self::Forbidden(e.to_string()),
            other => Self::Refused(other.to_string()),
        }
    }
}

impl From<actix_web::Error> for UiError {
    fn from(e: actix_web::Error) -> Self {
        Self::Internal(anyhow::anyhow!("{e}"))
    }
}

#[derive(Template)]
#[template(path = "tokens/no_access.html")]
pub struct NoAccessPage {
    pub chrome: super::chrome::Chrome,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    /// The normal top bar (with Sign out) when someone is signed in.
    chrome: Chrome,
}

impl UiError {
    fn title(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "That could not be read",
            Self::NotFound(_) => "Not found",
            Self::Forbidden(_) => "Not allowed",
            Self::Refused(_) => "That did not work",
            Self::Unavailable(_) => "Unavailable for a moment",
            _ => "Something went wrong",
        }
    }

    /// What the person is told; an internal fault is logged here, under
    /// the request's id, and only that id is shown.
    fn message(&self) -> String {
        match self {
            Self::Internal(cause) => {
                tracing::error!(error = ?cause, "page failed");
                format!(
                    "The server could not do this. The log has the details under request id {}.",
                    context::current_id()
                )
            }
            other => other.to_string(),
        }
    }
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignInRequired | Self::TwoFactorSetupRequired => StatusCode::SEE_OTHER,
            Self::NoTokenAccess(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let htmx = context::current().is_some_and(|c| c.htmx);
        match self {
            // htmx follows redirects itself and would swap the sign-in page
            // into the table; tell it to navigate instead.
            Self::SignInRequired if htmx => {
                return HttpResponse::Ok()
                    .insert_header(("HX-Redirect", "/login"))
                    .finish()
            }
            Self::SignInRequired => return see_other("/login"),
            Self::TwoFactorSetupRequired if htmx => {
                return HttpResponse::Ok()
                    .insert_header(("HX-Redirect", "/account/two-factor"))
                    .finish()
            }
            Self::TwoFactorSetupRequired => return see_other("/account/two-factor"),
            Self::NoTokenAccess(chrome) if !htmx => {
                let page = NoAccessPage {
                    chrome: (**chrome).clone(),
                };
                return match page.render() {
                    Ok(body) => HttpResponse::build(self.status_code())
                        .content_type("text/html; charset=utf-8")
                        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
                        .body(body),
                    Err(e) => UiError::Internal(anyhow::anyhow!("template: {e}")).error_response(),
                };
            }
            _ => {}
        }
        let message = self.message();
        let mut answer = HttpResponse::build(self.status_code());
        answer
            .content_type("text/html; charset=utf-8")
            .insert_header(CacheControl(vec![CacheDirective::NoStore]));
        if let Self::Unavailable(_) = self {
            answer.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        if htmx {
            return answer
                .insert_header(("HX-Retarget", "#toasts"))
                .insert_header(("HX-Reswap", "beforeend"))
                .body(Toast::error(&message).render().unwrap_or(message));
        }
        let page = ErrorPage {
            title: self.title(),
            message: &message,
            chrome: Chrome::of_request(),
        };
        answer.body(page.render().unwrap_or_else(|_| message.clone()))
    }
}

/// A redirect, for the errors that lead elsewhere.
fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .finish()
}
