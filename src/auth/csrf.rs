//! CSRF protection for the page: a per-session token that every
//! state-changing request must present, in the `X-CSRF-Token` header (htmx
//! sends it on every request) or the `csrf_token` form field. It wraps the
//! page's routes only: the WHM API authenticates with a header, never with
//! cookies.
//!
//! Before signing in there is no session (a stranger's page views must not
//! cost a stored row): the sign-in form's token lives in a cookie of its
//! own, signed by the server, and the form must send the same value back.

use actix_session::{Session, SessionExt};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{http::Method, web, Error, HttpRequest, HttpResponse};
use rand::distr::{Alphanumeric, SampleString};
use rand::TryRngCore;
use subtle::ConstantTimeEq;

const SESSION_KEY: &str = "csrf";
pub const HEADER: &str = "x-csrf-token";
pub const FIELD: &str = "csrf_token";

use super::cookies::CookieNames;

fn new_token() -> String {
    let mut rng = rand::rngs::OsRng.unwrap_err();
    Alphanumeric.sample_string(&mut rng, 43)
}

/// The token in the sign-in form's signed cookie, if it is ours.
fn login_cookie_token(req: &HttpRequest, key: &Key, names: CookieNames) -> Option<String> {
    let mut jar = CookieJar::new();
    jar.add_original(req.cookie(names.login())?);
    jar.signed(key)
        .get(names.login())
        .map(|c| c.value().to_owned())
}

/// The sign-in form's token, and the cookie to set when the browser has
/// none yet.
pub fn login_token(
    req: &HttpRequest,
    key: &Key,
    secure: bool,
) -> (String, Option<Cookie<'static>>) {
    let names = CookieNames::new(secure);
    if let Some(token) = login_cookie_token(req, key, names) {
        return (token, None);
    }
    let token = new_token();
    let mut jar = CookieJar::new();
    jar.signed_mut(key).add(
        Cookie::build(names.login(), token.clone())
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Strict)
            .finish(),
    );
    (token, jar.get(names.login()).cloned())
}

/// The session's token, made on first use.
pub fn token(session: &Session) -> Result<String, actix_web::Error> {
    if let Some(t) = session.get::<String>(SESSION_KEY)? {
        return Ok(t);
    }
    let t = new_token();
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
    // The session's token; while no one is signed in, the sign-in form's
    // too: a signed-out visitor may have a session with a token of its own
    // (a one-time link's page made one, a sign-in waiting for its code
    // expired) and still posts the sign-in form's. Once signed in, only
    // the session's counts (the sign-in cookie outlives the sign-in, and
    // a sibling site could plant one whose token it knows).
    let session = req.get_session();
    let from_session: Option<String> = session.get(SESSION_KEY).unwrap_or(None);
    let signed_in = session
        .get::<i64>(super::session_store::ACCOUNT_ID)
        .ok()
        .flatten()
        .is_some();
    let from_cookie = if signed_in {
        None
    } else {
        req.app_data::<Key>().and_then(|key| {
            let names = req.app_data::<CookieNames>().copied()?;
            login_cookie_token(req.request(), key, names)
        })
    };
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
    let valid = presented.is_some_and(|p| {
        [from_session, from_cookie]
            .into_iter()
            .flatten()
            .fold(false, |any, e| {
                any | bool::from(e.as_bytes().ct_eq(p.as_bytes()))
            })
    });
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
