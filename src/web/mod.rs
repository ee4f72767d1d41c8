//! HTTP: routes, in one place, and the middleware every request passes.
//!
//! One request, from the outside in: [`request::observe`] gives it an id and
//! a span; the page's routes ([`ui::routes`]) add sessions and CSRF, the
//! API's ([`api::routes`]) authenticate the token; an extractor reads the
//! input into typed structs ([`ui::form`], [`params`]); the handler runs an
//! operation from [`crate::ops`] on the blocking pool; the operation runs
//! its Diesel queries ([`crate::db`]) and returns domain types; the handler
//! renders an Askama template (or the API's JSON envelope).

pub mod api;
pub mod assets;
pub mod context;
pub mod deadline;
pub mod forward;
pub mod introspect;
pub mod params;
pub mod report_leaked;
pub mod request;
pub mod token_check;
pub mod ui;

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{web, HttpResponse};

/// What needs no session: the probes, assets and the API. The page's
/// routes ([`ui::routes`]) are mounted behind sessions and CSRF.
pub fn open_routes(cfg: &mut web::ServiceConfig) {
    // The API first: its calls are the hot path, and the router tries
    // routes in this order.
    api::routes(cfg);
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
    assets::routes(cfg);
    forward::routes(cfg);
    introspect::routes(cfg);
    report_leaked::routes(cfg);
}

/// Liveness: the process answers, whatever the database does. A load
/// balancer or Kubernetes restarts what fails this, so it must not fail
/// for an outage a restart cannot cure.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Readiness: this instance can serve now. The database answers, its
/// migrations are the ones this binary expects, and on PostgreSQL the
/// listener that keeps cached token checks fresh is live. A load balancer
/// sends no traffic to an instance that fails this.
async fn readyz(state: web::Data<crate::state::AppState>) -> HttpResponse {
    let checked = state
        .db
        .read(|conn| {
            use diesel::prelude::*;
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("1"))
                .get_result::<i32>(conn)
                .map_err(anyhow::Error::from)?;
            crate::db::migrations_pending(conn)
        })
        .await;
    let not_ready = match checked {
        Err(_) => Some("database unavailable"),
        Ok(true) => Some("migrations pending: run `whm-tokens migrate`"),
        Ok(false) if state.db.changes().current().is_none() => Some("change listener not live"),
        Ok(false) => None,
    };
    match not_ready {
        None => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Some(why) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(why),
    }
}

/// Security headers on every answer. Pages carry no inline script, so the
/// policy allows scripts from this origin only.
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 6] = [
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    ),
    (
        header::CROSS_ORIGIN_OPENER_POLICY,
        HeaderValue::from_static("same-origin"),
    ),
    (
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    ),
];

/// Adds the security headers an answer does not set itself; called by
/// [`request::observe`] for every answer (a middleware of its own cost a
/// static asset a few per cent).
pub fn add_security_headers(headers: &mut header::HeaderMap) {
    for (name, value) in &SECURITY_HEADERS {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
}
