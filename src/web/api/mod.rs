//! The WHM API 1 compatible JSON API: `/json-api/<function>`, optionally
//! after a `/cpsess<digits>` segment, authenticated by `Authorization: whm
//! USER:TOKEN` on every call.

mod accounts;
pub mod call;
pub mod envelope;
pub mod functions;
mod info;
mod policies;
mod tokens;
pub use tokens::STREAM_LIST_FROM;

pub use call::{Call, CallContext};
pub use functions::FUNCTIONS;

use std::time::Instant;

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde_json::json;

use crate::auth::client_ip;
use crate::auth::password::RETRY_AFTER_SECS;
use crate::ops::{self, Actor};
use crate::state::AppState;
use crate::web::context::{self, loggable};
use crate::web::params::Params;
use crate::web::token_check::{self, Checked, Front};
use envelope::{envelope, Answer, ApiError};

/// The function a path calls, if it is an API path.
pub fn function_of_path(path: &str) -> Option<&str> {
    let rest = match path.strip_prefix("/cpsess") {
        Some(after) => {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            &after[digits..]
        }
        None => path,
    };
    let function = rest.strip_prefix("/json-api/")?;
    (!function.is_empty() && !function.contains('/')).then_some(function)
}

/// The API's route patterns: WHM's path, and the same under a session's
/// `cpsess` prefix.
const ROUTE: &str = "/json-api/{function}";
const SESSION_ROUTE: &str = "/cpsess{session:[0-9]+}/json-api/{function}";

/// The route pattern an API path matches (for metrics: found without
/// asking the router again, on the hot path).
pub fn route_of_path(path: &str) -> Option<&'static str> {
    function_of_path(path)?;
    Some(if path.starts_with("/cpsess") {
        SESSION_ROUTE
    } else {
        ROUTE
    })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // WHM's own path is found by its static prefix: a `{function}` segment
    // would cost every call a regular expression in the router (2% of a
    // cached call's CPU). `at_prefix` answers what the pattern did not
    // match as the router did: 404, or 405 for another method.
    cfg.service(web::scope("/json-api").default_service(web::to(at_prefix)));
    cfg.service(
        web::resource(SESSION_ROUTE)
            .route(web::get().to(handle))
            .route(web::post().to(handle)),
    );
}

/// Everything under `/json-api`: a call to one function by GET or POST,
/// or what `ROUTE` does not match.
async fn at_prefix(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    if function_of_path(req.path()).is_none() {
        return HttpResponse::NotFound().finish();
    }
    if req.method() != actix_web::http::Method::GET && req.method() != actix_web::http::Method::POST
    {
        return HttpResponse::MethodNotAllowed().finish();
    }
    handle(req, body, state).await
}

/// Counts a call refused for a missing privilege, as the token's owner
/// sees it in the audit trail.
fn missing_privilege(state: &AppState, actor: &Actor, function: &str, missing: &ops::OpError) {
    let detail = format!("{function}: {missing}");
    token_check::lacking(
        state,
        actor,
        Front::Api,
        crate::metrics::RefusalReason::Privilege,
        &detail,
        &detail,
    );
}

/// Every refused token gets this same answer, whatever the reason.
fn access_denied(command: &str) -> HttpResponse {
    HttpResponse::Forbidden()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(json!({
            // cpsrvd's own form, for clients written against it…
            "cpanelresult": {
                "apiversion": "2",
                "error": "Access denied",
                "data": { "reason": "Access denied", "result": "0" },
                "type": "text",
            },
            // …and WHM API 1's.
            "error": "Access denied",
            "metadata": { "command": command, "reason": "Access denied", "result": 0, "version": 1 },
        }))
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let started = Instant::now();
    let request_id = context::current_id();
    let function = function_of_path(req.path()).unwrap_or_default().to_owned();

    let mut authenticated =
        match token_check::check_request(&state, &req, Front::Api, &function, &request_id).await {
            Checked::Passed(a) => *a,
            Checked::NoCredential | Checked::Refused => return access_denied(&function),
            Checked::Failed(e) => {
                // Unavailable is 503 with its reason; anything else failing
                // here is the server's fault: 500, as before any function ran.
                let mut answer = envelope(&function, Err(ApiError::from(e)), &request_id);
                if answer.status == actix_web::http::StatusCode::OK {
                    answer.status = actix_web::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                return json_answer(answer);
            }
        };
    authenticated.actor.origin.request_id = Some(request_id.clone());
    // Media types are case-insensitive, and may carry parameters.
    let is_form = req.mime_type().ok().flatten().is_some_and(|m| {
        m.essence_str() == actix_web::mime::APPLICATION_WWW_FORM_URLENCODED.essence_str()
    });
    let params = Params::parse(req.query_string(), is_form.then_some(&body[..]));
    // Only create_user_session hands out links; skip the work otherwise.
    let context = CallContext {
        base_url: if function == "create_user_session" {
            base_url(&req, &state)
        } else {
            String::new()
        },
        request_id: request_id.clone(),
    };
    let answer = call(&state, &authenticated.actor, &function, &params, &context).await;
    if state.metrics.is_on() {
        let known = FUNCTIONS
            .iter()
            .find(|f| f.name == function)
            .map(|f| f.name);
        state.metrics.api_call(
            known.unwrap_or("unknown"),
            match (answer.status.is_success(), answer.result) {
                (true, 1) => "ok",
                (true, _) => "refused",
                (false, _) => "error",
            },
        );
    }
    tracing::info!(
        %function, user = %authenticated.actor.account.username,
        token = %authenticated.token.name, client = %authenticated.actor.origin.ip.as_deref().unwrap_or("-"),
        status = answer.status.as_u16(),
        result = answer.result,
        elapsed_us = started.elapsed().as_micros() as u64,
        "API call"
    );
    let mut response = json_answer(answer);
    if let Some(expires) = expiration_header(authenticated.token.expiry) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static(EXPIRATION_HEADER), expires);
    }
    response
}

/// The header that tells a client when the token it used expires, as
/// GitHub's `GitHub-Authentication-Token-Expiration` does; absent for a
/// token that never expires.
pub const EXPIRATION_HEADER: &str = "x-whm-tokens-expiration";

/// The expiry in GitHub's form, `2026-12-31 00:00:00 UTC`.
pub fn expiration_header(expiry: crate::domain::Expiry) -> Option<header::HeaderValue> {
    let at = chrono::DateTime::from_timestamp(expiry.to_column()?, 0)?;
    header::HeaderValue::from_str(&at.format("%Y-%m-%d %H:%M:%S UTC").to_string()).ok()
}

fn json_answer(answer: Answer) -> HttpResponse {
    let mut response = HttpResponse::build(answer.status);
    response
        .content_type(ContentType::json())
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]));
    if answer.status == actix_web::http::StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
    }
    match answer.body {
        envelope::Body::Whole(bytes) => response.body(bytes),
        envelope::Body::Streamed { head, chunks, tail } => {
            use futures_util::StreamExt;
            let pieces = futures_util::stream::iter([Ok(head)])
                .chain(futures_util::stream::unfold(
                    chunks,
                    |mut chunks| async move {
                        envelope::next_bytes(&mut chunks)
                            .await
                            .map(|piece| (piece, chunks))
                    },
                ))
                .chain(futures_util::stream::iter([Ok(tail)]))
                .map(|piece| {
                    piece.map(actix_web::web::Bytes::from).map_err(|e| {
                        // The answer stops here: the client sees a cut
                        // body without its metadata.
                        if let ApiError::Internal(cause) = &e {
                            tracing::error!(error = ?cause, "streamed answer failed");
                        }
                        actix_web::error::ErrorServiceUnavailable(
                            "the answer could not be finished",
                        )
                    })
                });
            response.streaming(pieces)
        }
    }
}

/// Where links the API hands out point: `--public-url`; else what a
/// trusted proxy says (`X-Forwarded-Proto` and `X-Forwarded-Host`, checked);
/// else the address this server listens on. Never the caller's own `Host`:
/// anyone can send one.
fn base_url(req: &HttpRequest, state: &AppState) -> String {
    if let Some(url) = &state.config.public_url {
        return url.clone();
    }
    let from_proxy = req
        .peer_addr()
        .is_some_and(|peer| client_ip::is_trusted(peer.ip(), &state.config.trusted_proxies));
    let forwarded = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
    };
    if from_proxy {
        let proto = match forwarded("x-forwarded-proto") {
            Some("https") => "https",
            _ => "http",
        };
        if let Some(host) = forwarded("x-forwarded-host").filter(|h| is_host(h)) {
            return format!("{proto}://{host}");
        }
    }
    let local = req.app_config().local_addr();
    let host = match local.ip() {
        ip if ip.is_unspecified() => "localhost".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}", local.port())
}

/// A host name or address with an optional port, and nothing else.
fn is_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Runs one function as `actor` and returns the whole envelope. The HTTP
/// handler and the `api` command both come through here.
pub async fn call(
    state: &AppState,
    actor: &Actor,
    function: &str,
    params: &Params,
    context: &CallContext,
) -> Answer {
    if params.get("api.version") != Some("1") {
        return api0(state, actor, function, params, context).await;
    }
    let outcome = match FUNCTIONS.iter().find(|f| f.name == function) {
        None => Err(ApiError::refused(format!("Unknown function “{function}”."))),
        Some(f) => match f.privilege.map(|p| actor.require(p)) {
            Some(Err(missing)) => {
                missing_privilege(state, actor, function, &missing);
                Err(ApiError::Refused(format!("Permission denied: {missing}")))
            }
            _ => {
                let call = Call {
                    state,
                    actor,
                    params,
                    context,
                };
                (f.run)(&call).await.map_err(|e| match f.failure {
                    Some(what) => failed_to(what, e),
                    None => e,
                })
            }
        },
    };
    envelope(function, outcome, &context.request_id)
}

/// Functions that answer WHM API 0 (a call without `api.version=1`), in its
/// shape: the data bare.
const API0: &[&str] = &["applist", "version"];

/// A call in WHM API 0: `applist` and `version` answer in its shape; every
/// other function is refused as API 0 refuses, pointing to API 1.
async fn api0(
    state: &AppState,
    actor: &Actor,
    function: &str,
    params: &Params,
    context: &CallContext,
) -> Answer {
    match FUNCTIONS
        .iter()
        .find(|f| f.name == function && API0.contains(&f.name))
    {
        Some(f) => {
            let call = Call {
                state,
                actor,
                params,
                context,
            };
            envelope::api0((f.run)(&call).await, function)
        }
        None => {
            let shown: String = loggable(function).chars().take(64).collect();
            envelope::api0_refusal(
                function,
                ApiError::refused(format!(
                    "Unknown app (“{shown}”) requested for this version (0) of the API. \
                     This server answers API 0 for applist and version only: add api.version=1 to the call."
                )),
            )
        }
    }
}

/// Prefixes a refusal with what failed, as WHM's reasons do.
fn failed_to(what: &str, e: ApiError) -> ApiError {
    match e {
        ApiError::Refused(reason) => {
            ApiError::Refused(format!("The system failed to {what}: {reason}"))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::{function_of_path, route_of_path, ROUTE, SESSION_ROUTE};

    #[test]
    fn api_paths_with_and_without_a_session_segment() {
        assert_eq!(function_of_path("/json-api/version"), Some("version"));
        assert_eq!(
            function_of_path("/cpsess0123456789/json-api/applist"),
            Some("applist")
        );
        assert_eq!(function_of_path("/cpsess/json-api/applist"), None);
        assert_eq!(function_of_path("/cpsessx1/json-api/applist"), None);
        assert_eq!(function_of_path("/json-api/"), None);
        assert_eq!(function_of_path("/tokens"), None);
        assert_eq!(function_of_path("/json-api/a/b"), None);
        assert_eq!(route_of_path("/json-api/version"), Some(ROUTE));
        assert_eq!(
            route_of_path("/cpsess0123456789/json-api/applist"),
            Some(SESSION_ROUTE)
        );
        assert_eq!(route_of_path("/json-api/"), None);
    }
}
