//! Where passkeys are offered (the relying party, at the host the browser
//! asked for) and how the page shows one: what the Two-factor page, the
//! sign-in pages and the passkey handlers share.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

use crate::auth::passkeys::RelyingParty;
use crate::ops::passkeys::StoredPasskey;
use crate::state::AppState;

/// A passkey as the page lists it.
pub struct PasskeyView {
    pub id: i64,
    pub name: String,
    pub added: String,
    pub last_used: String,
}

impl PasskeyView {
    pub fn of(stored: &StoredPasskey, state: &AppState) -> Self {
        Self {
            id: stored.id,
            name: stored.name.clone(),
            added: state.clock.format(stored.created_at),
            last_used: stored
                .last_used_at
                .map_or_else(|| "Never".to_owned(), |at| state.clock.format(at)),
        }
    }
}

/// The host the browser asked for (the Host header; never a forwarded
/// one, which anyone could send).
fn host_of(req: &HttpRequest) -> &str {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default()
}

/// The relying party, when this page may offer passkeys.
pub(super) fn relying_party<'a>(
    req: &HttpRequest,
    state: &'a AppState,
) -> Option<&'a RelyingParty> {
    state
        .passkeys
        .as_deref()
        .filter(|rp| rp.offered_at(host_of(req)))
}

/// Whether this page offers passkeys, and if not, why, in words.
pub(super) fn offered(req: &HttpRequest, state: &AppState) -> (bool, String) {
    match &state.passkeys {
        Some(rp) if rp.offered_at(host_of(req)) => (true, String::new()),
        Some(_) => (
            false,
            "Passkeys need a domain name: open this page at http://localhost:PORT, or set \
             WHM_TOKENS_PUBLIC_URL to the address users sign in at."
                .to_owned(),
        ),
        None => (
            false,
            "Passkeys are off: WHM_TOKENS_PUBLIC_URL must name a host (not an IP address)."
                .to_owned(),
        ),
    }
}

/// A refusal as the passkey script reads it: which field, and why.
pub(super) fn json_refusal(
    status: StatusCode,
    field: &str,
    message: impl std::fmt::Display,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "field": field, "message": message.to_string() }))
}

/// A ceremony's options for the browser.
pub(super) fn options_answer(options: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(options)
}
