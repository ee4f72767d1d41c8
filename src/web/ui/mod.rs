//! The page: sign-in, the tokens page and root's accounts page. Each view
//! has a partial (what htmx swaps) and a page that wraps the same partial,
//! so the two cannot drift.

mod accounts;
mod activity;
mod all_tokens;
mod confirm;
mod contact_email;
mod error;
pub mod form;
mod password;
mod privileges_form;
mod session;
mod sessions;
mod token_form;
mod tokens;
mod two_factor;

use actix_session::Session;
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

pub use error::UiError;
pub use session::SignedIn;

use crate::web::assets;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { redirect("/tokens") }))
        .service(
            web::resource("/login")
                .route(web::get().to(session::login_form))
                .route(web::post().to(session::login)),
        )
        .service(
            web::resource(["/login/once", "/cpsess{session:[0-9]+}/login/once"])
                .route(web::get().to(session::login_once))
                .route(web::post().to(session::login_once_confirmed)),
        )
        .route("/logout", web::post().to(session::logout))
        .service(
            web::resource("/account/password")
                .route(web::get().to(password::form))
                .route(web::post().to(password::change)),
        )
        .service(
            web::resource("/account/email")
                .route(web::get().to(contact_email::own_form))
                .route(web::post().to(contact_email::own_save)),
        )
        .service(
            web::resource("/account/two-factor")
                .route(web::get().to(two_factor::page))
                .route(web::post().to(two_factor::enable)),
        )
        .route(
            "/account/two-factor/recovery-codes",
            web::post().to(two_factor::new_codes),
        )
        .route(
            "/account/two-factor/off",
            web::post().to(two_factor::disable),
        )
        .service(
            web::resource("/login/two-factor")
                .route(web::get().to(two_factor::code_form))
                .route(web::post().to(two_factor::check_code)),
        )
        .route(
            "/accounts/two-factor-policy",
            web::post().to(accounts::set_two_factor_policy),
        )
        .route("/activity", web::get().to(activity::page))
        .route("/account/sessions", web::get().to(sessions::page))
        .route("/account/sessions/end", web::post().to(sessions::end_one))
        .route(
            "/account/sessions/end-others",
            web::post().to(sessions::end_others),
        )
        .route("/tokens", web::get().to(tokens::page))
        .route("/tokens/all", web::get().to(all_tokens::page))
        .route(
            "/tokens/notices/dismiss",
            web::post().to(tokens::dismiss_notices),
        )
        .service(
            web::resource("/tokens/all/revoke")
                .route(web::get().to(all_tokens::revoke_confirm))
                .route(web::post().to(all_tokens::revoke)),
        )
        .service(
            web::resource("/tokens/new")
                .route(web::get().to(token_form::new_form))
                .route(web::post().to(token_form::create)),
        )
        .service(
            web::resource("/tokens/revoke")
                .route(web::get().to(tokens::revoke_selected_confirm))
                .route(web::post().to(tokens::revoke_selected)),
        )
        .service(
            web::resource("/tokens/revoke-all")
                .route(web::get().to(tokens::revoke_all_confirm))
                .route(web::post().to(tokens::revoke_all)),
        )
        .service(
            web::resource("/tokens/{name}/edit")
                .route(web::get().to(token_form::edit_form))
                .route(web::post().to(token_form::update)),
        )
        .service(
            web::resource("/tokens/disable")
                .route(web::get().to(tokens::disable_selected_confirm))
                .route(web::post().to(tokens::disable_selected)),
        )
        .route(
            "/tokens/{name}/{change:enable|disable}",
            web::post().to(tokens::set_enabled),
        )
        .route(
            "/tokens/{name}/generated",
            web::get().to(token_form::generated),
        )
        .service(
            web::resource("/tokens/{name}/regenerate")
                .route(web::get().to(tokens::regenerate_confirm))
                .route(web::post().to(token_form::regenerate)),
        )
        .service(
            web::resource("/tokens/{name}/revoke")
                .route(web::get().to(tokens::revoke_confirm))
                .route(web::post().to(tokens::revoke_one)),
        )
        .service(
            web::resource("/accounts")
                .route(web::get().to(accounts::page))
                .route(web::post().to(accounts::create)),
        )
        .route("/accounts/{user}", web::get().to(accounts::edit_page))
        .route("/accounts/{user}/rename", web::post().to(accounts::rename))
        .route(
            "/accounts/{user}/email",
            web::post().to(accounts::set_email),
        )
        .route(
            "/accounts/{user}/privileges",
            web::post().to(accounts::set_privileges),
        )
        .route(
            "/accounts/{user}/{change:suspend|unsuspend}",
            web::post().to(accounts::set_suspended),
        )
        .service(
            web::resource("/accounts/{user}/delete")
                .route(web::get().to(accounts::delete_confirm))
                .route(web::post().to(accounts::delete)),
        );
}

/// What every signed-in page shows around its content.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub username: String,
    pub is_root: bool,
    /// Whether the Accounts page has anything for this account.
    pub lists_accounts: bool,
    pub csrf: String,
    pub flash: Option<String>,
    pub htmx_url: String,
    pub css_url: String,
    pub js_url: String,
}

impl Chrome {
    pub fn anonymous(csrf: String, flash: Option<String>) -> Self {
        Self {
            username: String::new(),
            is_root: false,
            lists_accounts: false,
            csrf,
            flash,
            htmx_url: assets::url(&format!("htmx-{}.min.js", assets::HTMX_VERSION)),
            css_url: assets::url("app.css"),
            js_url: assets::url("app.js"),
        }
    }

    pub fn for_user(user: &SignedIn, session: &Session) -> Self {
        let mut chrome = Self::anonymous(user.csrf.clone(), take_flash(session));
        chrome.username = user.actor.account.username.to_string();
        chrome.is_root = user.actor.account.is_root();
        chrome.lists_accounts = lists_accounts(&user.actor);
        chrome
    }

    /// The top bar of the account this request signed in, for pages built
    /// without the extractor (error pages); anonymous when none.
    pub fn of_request() -> Self {
        match crate::web::request::who() {
            Some(who) => {
                let mut chrome = Self::anonymous(who.csrf, None);
                chrome.username = who.username;
                chrome.is_root = who.is_root;
                chrome.lists_accounts = who.lists_accounts;
                chrome
            }
            None => Self::anonymous(String::new(), None),
        }
    }
}

/// Whether the account may see the Accounts page (root, or a reseller with
/// `list-accts`): otherwise the link is not shown.
pub fn lists_accounts(actor: &crate::ops::Actor) -> bool {
    actor.require(crate::ops::accounts::LIST_ACCOUNTS).is_ok()
}

const FLASH: &str = "flash";

/// A message for the next page the user sees (after a redirect).
pub fn flash(session: &Session, message: &str) {
    let _ = session.insert(FLASH, message);
}

fn take_flash(session: &Session) -> Option<String> {
    session.remove_as::<String>(FLASH).and_then(Result::ok)
}

/// Whether htmx asked for a fragment (and not for a history restore, which
/// needs the whole page).
pub fn wants_partial() -> bool {
    crate::web::request::current().is_some_and(|c| c.htmx)
}

/// Renders a template as a private, never-cached HTML answer.
pub fn render(status: StatusCode, template: &impl Template) -> Result<HttpResponse, UiError> {
    let body = template
        .render()
        .map_err(|e| UiError::Internal(anyhow::anyhow!("template: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::VARY, "HX-Request"))
        .body(body))
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .finish()
}

/// A toast: out of band beside a partial that succeeded, or alone (sent to
/// the toast area by `HX-Retarget`) for an htmx request that failed.
#[derive(Template)]
#[template(path = "toast.html")]
pub struct Toast<'a> {
    pub message: &'a str,
    pub error: bool,
    pub oob: bool,
}

impl<'a> Toast<'a> {
    pub fn oob(message: &'a str) -> Self {
        Self {
            message,
            error: false,
            oob: true,
        }
    }

    pub fn error(message: &'a str) -> Self {
        Self {
            message,
            error: true,
            oob: false,
        }
    }
}

/// Renders a partial followed by out-of-band extras (a toast, a cleared
/// dialog), as one never-cached answer.
pub fn render_parts(parts: &[&dyn askama::DynTemplate]) -> Result<HttpResponse, UiError> {
    let mut body = String::new();
    for part in parts {
        body.push_str(
            &part
                .dyn_render()
                .map_err(|e| UiError::Internal(anyhow::anyhow!("template: {e}")))?,
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::VARY, "HX-Request"))
        .body(body))
}
