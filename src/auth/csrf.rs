//! CSRF protection for the page: a per-session token that every
//! state-changing request must present, in the `X-CSRF-Token` header (htmx
//! sends it on every request) or the `csrf_token` form field. It wraps the
//! page's routes only: the WHM API authenticates with a header, never with
//! cookies.

use actix_session::{Session, SessionExt};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{http::Method, web, Error, HttpResponse};
use rand::distr::{Alphanumeric, SampleString};
use rand::TryRngCore;
use subtle::ConstantTimeEq;

const SESSION_KEY: &str = "csrf";
pub const HEADER: &str = "x-csrf-token";
pub const FIELD: &str = "csrf_token";

/// The session's token, made on first use.
pub fn token(session: &Session) -> Result<String, actix_web::Error> {
    if let Some(t) = session.get::<String>(SESSION_KEY)? {
        return Ok(t);
    }
    let mut rng = rand::rngs::OsRng.unwrap_err();
    let t = Alphanumeric.sample_string(&mut rng, 43);
    session.insert(SESSION_KEY, &t)?;
    Ok(t)
}

pub async fn require_token(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let expected: Option<String> = req.get_session().get(SESSION_KEY).unwrap_or(None);
    let mut presented = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if presented.is_none() {
        let body = req.extract::<web::Bytes>().await?;
        presented = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .ok()
            .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == FIELD).map(|(_, v)| v));
        req.set_payload(Payload::from(body));
    }
    let valid = match (expected, presented) {
        (Some(e), Some(p)) => bool::from(e.as_bytes().ct_eq(p.as_bytes())),
        _ => false,
    };
    if valid {
        next.call(req)
            .await
            .map(ServiceResponse::map_into_left_body)
    } else {
        tracing::warn!(
            path = req.path(),
            "request refused: missing or wrong CSRF token"
        );
        let response = HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body("This form has expired or did not come from this site. Reload the page and try again.");
        Ok(req.into_response(response).map_into_right_body())
    }
}
