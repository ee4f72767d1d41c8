//! Confirmations: one template, shown as a page to browsers without
//! JavaScript and, to htmx, as the content of the page's dialog. Either
//! way it names exactly what will go, and Continue posts the change.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use super::{render, wants_partial, Chrome, SignedIn, UiError};

/// What is being confirmed.
pub struct Confirmation {
    pub title: String,
    /// "Are you sure that you want to revoke", before [`Self::what`].
    pub question: &'static str,
    /// What will go, shown in bold: "the token “deploy”".
    pub what: String,
    /// After the question: what happens next.
    pub consequence: String,
    /// Where Continue posts.
    pub action: String,
    /// Values Continue posts with it (the selected tokens).
    pub hidden: Vec<(&'static str, String)>,
    /// Where Cancel leads without JavaScript.
    pub back: &'static str,
    /// With htmx, Continue posts with htmx and swaps this element (the
    /// tokens table); `None` posts the form as a page does.
    pub swaps: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    chrome: Chrome,
    c: &'a Confirmation,
    dialog: bool,
}

#[derive(Template)]
#[template(path = "confirm.html", block = "confirm")]
struct ConfirmDialog<'a> {
    chrome: Chrome,
    c: &'a Confirmation,
    dialog: bool,
}

/// The confirmation as a dialog's content for htmx, or as a page.
pub fn respond(
    user: &SignedIn,
    session: &Session,
    c: &Confirmation,
) -> Result<HttpResponse, UiError> {
    let chrome = Chrome::for_user(user, session);
    if wants_partial() {
        render(
            StatusCode::OK,
            &ConfirmDialog {
                chrome,
                c,
                dialog: true,
            },
        )
    } else {
        render(
            StatusCode::OK,
            &ConfirmPage {
                chrome,
                c,
                dialog: false,
            },
        )
    }
}
