//! HTTP: routes, in one place, and the middleware every request passes.

pub mod api;
pub mod assets;
pub mod params;
pub mod ui;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{web, Error, HttpMessage, HttpRequest, HttpResponse};
use rand::Rng;

/// What needs no session: the health check, assets and the API. The page's
/// routes ([`ui::routes`]) are mounted behind sessions and CSRF.
pub fn open_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz));
    assets::routes(cfg);
    api::routes(cfg);
}

async fn healthz(state: web::Data<crate::state::AppState>) -> HttpResponse {
    let db_ok = state
        .db
        .read(|conn| {
            use diesel::prelude::*;
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("1"))
                .get_result::<i32>(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .is_ok();
    if db_ok {
        HttpResponse::Ok().content_type("text/plain").body("ok")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unavailable")
    }
}

/// How [`crate::db::Unavailable`] reads, wherever it ends up wrapped.
const UNAVAILABLE_PREFIX: &str = "the database is unavailable";

#[derive(Clone, Copy)]
struct RequestId(u64);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The id under which this request's log lines are filed.
pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "-".to_owned())
}

/// Gives each request an id and logs its method, path, status and time
/// (routine ones at debug level, see below). Query strings are not logged:
/// they may carry parameters of API calls.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    // A number now; written out in hex only when a line is logged.
    let id = RequestId(rand::rng().random::<u64>());
    req.extensions_mut().insert(id);
    let started = Instant::now();
    let htmx = req.headers().contains_key("hx-request");
    let res = match next.call(req).await {
        Ok(res) => res,
        // The session middleware turns every store failure into an opaque
        // 500; an unreachable database is a 503 with a clear page instead.
        Err(e) if format!("{e:?}").contains(UNAVAILABLE_PREFIX) => {
            tracing::info!(request_id = %id, htmx, status = 503, "request");
            return Err(ui::UiError::Unavailable(
                "The database is unavailable. Try again in a few seconds.".to_owned(),
            )
            .into());
        }
        Err(e) => return Err(e),
    };
    let (method, path) = (res.request().method(), res.request().path());
    let status = res.status();
    let elapsed_us = started.elapsed().as_micros() as u64;
    // API calls get one line of their own from the API (with user, token
    // and result); fingerprinted assets and health checks that succeed are
    // noise at info level, and their log line was a tenth of their cost.
    let routine = !status.is_server_error()
        && (api::function_of_path(path).is_some()
            || (status.is_success() && (path.starts_with("/static/") || path == "/healthz")));
    if routine {
        tracing::debug!(request_id = %id, %method, %path, htmx, status = status.as_u16(), elapsed_us, "request");
    } else {
        tracing::info!(request_id = %id, %method, %path, htmx, status = status.as_u16(), elapsed_us, "request");
    }
    Ok(res)
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
