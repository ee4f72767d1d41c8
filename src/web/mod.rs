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
pub mod params;
pub mod request;
pub mod ui;

use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpResponse};

/// What needs no session: the probes, assets and the API. The page's
/// routes ([`ui::routes`]) are mounted behind sessions and CSRF.
pub fn open_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
    assets::routes(cfg);
    api::routes(cfg);
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
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=()",
        ))
}
