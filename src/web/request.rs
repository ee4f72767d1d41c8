//! The middleware every request passes first: it gives the request its id
//! and span (see [`super::context`]), reads its body in time (see
//! [`super::deadline`]), logs one line for it, adds the security headers
//! and turns an unreachable database into a clear 503.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderName;
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};
use tracing::Instrument;

use super::context::{self, Current, RequestId, REQUEST_ID_HEADER};
use super::ui::UiError;

/// Opens the request's span, serves it inside, logs one line for it (its
/// method, path, status and time; routine ones at debug level) and returns
/// the id in `X-Request-Id`. Query strings are not logged: they may carry
/// parameters of API calls.
pub async fn observe<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = RequestId::new();
    let headers = req.headers();
    let current = Current {
        id,
        htmx: headers.contains_key("hx-request")
            && !headers.contains_key("hx-history-restore-request"),
    };
    let metrics = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .filter(|state| state.metrics.is_on())
        .map(|state| state.metrics.clone());
    // Assets and health checks log nothing while they are served: they go
    // without a span, which was a tenth of an asset's cost (its line below
    // carries the id instead).
    let quiet = is_quiet_path(req.path());
    let span = if quiet {
        tracing::Span::none()
    } else {
        tracing::info_span!("request", request_id = %id)
    };
    let started = Instant::now();
    let served = match super::assets::answer(&req) {
        // An asset is answered here, before the router, the body deadline
        // and the request's context: it needs none of them (skipping them
        // saved about 5% of an asset's CPU).
        Some(asset) => Ok(req.into_response(asset).map_into_right_body()),
        // The body is read in time (see `deadline`) inside this span,
        // called here rather than as a middleware of its own: each layer
        // costs.
        None => {
            context::scope(
                current,
                super::deadline::read_body_in_time(req, next).instrument(span.clone()),
            )
            .await
        }
    };
    let _entered = span.enter();
    let mut res = match served {
        Ok(res) => res,
        // The session middleware turns every store failure into an opaque
        // 500 whose cause's type it does not let us reach (actix-session
        // keeps it inside a private error): only its text still says that
        // the store was unreachable, which is a 503 with a clear message.
        Err(e) if format!("{e:?}").contains(crate::db::faults::UNAVAILABLE_PREFIX) => {
            tracing::info!(htmx = current.htmx, status = 503, "request");
            let error = UiError::Unavailable(context::UNAVAILABLE.to_owned());
            let mut response = context::sync_scope(current, || error.error_response());
            super::add_security_headers(response.headers_mut());
            response.headers_mut().insert(
                HeaderName::from_static(REQUEST_ID_HEADER),
                id.header_value(),
            );
            return Err(actix_web::error::InternalError::from_response(error, response).into());
        }
        // Any other error a layer below answered with (a body that could
        // not be read, say): its answer, with the security headers and
        // the request id every answer carries.
        Err(e) => {
            let mut response = e.error_response();
            tracing::info!(status = response.status().as_u16(), error = %e, "request");
            super::add_security_headers(response.headers_mut());
            response.headers_mut().insert(
                HeaderName::from_static(REQUEST_ID_HEADER),
                id.header_value(),
            );
            return Err(actix_web::error::InternalError::from_response(e, response).into());
        }
    };
    let (method, path) = (res.request().method(), res.request().path());
    let status = res.status();
    let elapsed_us = started.elapsed().as_micros() as u64;
    if let Some(metrics) = &metrics {
        // The API's pattern is known without asking the router again;
        // other routes' patterns come from the router.
        let route = match super::api::route_of_path(path) {
            Some(pattern) => Some(std::borrow::Cow::Borrowed(pattern)),
            // Assets are answered before the router: one label for them
            // all.
            None if path.starts_with("/static/") => {
                Some(std::borrow::Cow::Borrowed("/static/{fingerprint}/{name}"))
            }
            None => res.request().match_pattern().map(std::borrow::Cow::Owned),
        };
        metrics.http(
            route,
            method.as_str(),
            status.as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    // API calls get one line of their own from the API (with user, token
    // and result); fingerprinted assets and health checks that succeed are
    // noise at info level, and their log line was a tenth of their cost.
    let routine = !status.is_server_error()
        && (super::api::function_of_path(path).is_some() || (status.is_success() && quiet));
    if quiet {
        // No span: the id goes on the line itself.
        if routine {
            tracing::debug!(request_id = %id, %method, %path, status = status.as_u16(), elapsed_us, "request");
        } else {
            tracing::info!(request_id = %id, %method, %path, status = status.as_u16(), elapsed_us, "request");
        }
    } else if routine {
        tracing::debug!(%method, %path, htmx = current.htmx, status = status.as_u16(), elapsed_us, "request");
    } else {
        tracing::info!(%method, %path, htmx = current.htmx, status = status.as_u16(), elapsed_us, "request");
    }
    super::add_security_headers(res.headers_mut());
    res.headers_mut().insert(
        HeaderName::from_static(REQUEST_ID_HEADER),
        id.header_value(),
    );
    Ok(res)
}

/// Fingerprinted assets and health checks: nothing logs while they are
/// served, so they need no span.
fn is_quiet_path(path: &str) -> bool {
    path.starts_with("/static/")
        || path == "/healthz"
        || path == "/readyz"
        || path == "/favicon.ico"
}
