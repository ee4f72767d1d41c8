use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::auth::password::{Busy, RETRY_AFTER_SECS};
use crate::db::Unavailable;
use crate::ops::OpError;

/// Why a page could not be shown, for people in a browser. Form mistakes
/// are not errors here: handlers re-render the form (422) themselves.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("sign-in required")]
    SignInRequired { htmx: bool },
    /// Signed in, but without every Initial Privilege: the tokens pages
    /// explain instead of showing the table.
    #[error("the Initial Privileges are required")]
    NoTokenAccess {
        username: String,
        is_root: bool,
        csrf: String,
    },
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
            Self::Unavailable("The database is unavailable. Try again in a few seconds.".to_owned())
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
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    css_url: String,
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignInRequired { .. } => StatusCode::SEE_OTHER,
            Self::NoTokenAccess { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::SignInRequired { htmx } = self {
            return if *htmx {
                // htmx follows redirects itself and would swap the sign-in
                // page into the table; tell it to navigate instead.
                HttpResponse::Ok()
                    .insert_header(("HX-Redirect", "/login"))
                    .finish()
            } else {
                super::redirect("/login")
            };
        }
        if let Self::NoTokenAccess {
            username,
            is_root,
            csrf,
        } = self
        {
            let mut chrome = super::Chrome::anonymous(csrf.clone(), None);
            chrome.username = username.clone();
            chrome.is_root = *is_root;
            return super::render(self.status_code(), &super::tokens::NoAccessPage { chrome })
                .unwrap_or_else(|e| e.error_response());
        }
        let (title, message) = match self {
            Self::NotFound(m) => ("Not found", m.clone()),
            Self::Forbidden(m) => ("Not allowed", m.clone()),
            Self::Refused(m) => ("That did not work", m.clone()),
            Self::Unavailable(m) => ("Unavailable for a moment", m.clone()),
            Self::Internal(cause) => {
                let id = format!("{:016x}", rand::random::<u64>());
                tracing::error!(error_id = %id, error = ?cause, "page failed");
                (
                    "Something went wrong",
                    format!("The server could not do this. The log has the details under {id}."),
                )
            }
            Self::SignInRequired { .. } | Self::NoTokenAccess { .. } => unreachable!(),
        };
        let page = ErrorPage {
            title,
            message: &message,
            css_url: crate::web::assets::url("app.css"),
        };
        let mut answer = HttpResponse::build(self.status_code());
        if let Self::Unavailable(_) = self {
            answer.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        answer
            .content_type("text/html; charset=utf-8")
            .insert_header(CacheControl(vec![CacheDirective::NoStore]))
            .insert_header((header::HeaderName::from_static("hx-reswap"), "none"))
            .body(page.render().unwrap_or_else(|_| message.clone()))
    }
}
