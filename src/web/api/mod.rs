//! The WHM API 1 compatible JSON API: `/json-api/<function>`, optionally
//! after a `/cpsess<digits>` segment, authenticated by `Authorization: whm
//! USER:TOKEN` on every call.

mod accounts;
pub mod envelope;
mod info;

mod tokens;

use std::time::Instant;

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::auth::password::RETRY_AFTER_SECS;
use crate::auth::{api_header, client_ip, token_cache};
use crate::domain::TokenSecret;
use crate::ops::authenticate::{check, Refusal};
use crate::ops::{self, Actor, OpError};
use crate::state::AppState;
use crate::web::params::Params;
use envelope::{envelope, Answer, ApiError, Outcome};

/// A function of the API and the privilege it needs (`None`: any valid
/// login). `applist` reads this table, and the dispatcher enforces it.
pub const FUNCTIONS: &[(&str, Option<&str>)] = &[
    ("version", None),
    ("applist", None),
    ("myprivs", None),
    ("api_token_create", Some(ops::tokens::MANAGE_TOKENS)),
    ("api_token_list", Some(ops::tokens::MANAGE_TOKENS)),
    ("api_token_get_details", Some(ops::tokens::MANAGE_TOKENS)),
    ("api_token_update", Some(ops::tokens::MANAGE_TOKENS)),
    ("api_token_revoke", Some(ops::tokens::MANAGE_TOKENS)),
    ("listaccts", Some(ops::accounts::LIST_ACCOUNTS)),
    ("createacct", Some(ops::accounts::CREATE_ACCOUNT)),
    ("suspendacct", Some(ops::accounts::SUSPEND_ACCOUNT)),
    ("unsuspendacct", Some(ops::accounts::SUSPEND_ACCOUNT)),
    ("removeacct", Some(ops::accounts::DELETE_ACCOUNT)),
    ("modifyacct", Some(ops::accounts::MODIFY_ACCOUNT)),
    (
        "create_user_session",
        Some(ops::login_links::CREATE_USER_SESSION),
    ),
];

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

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource([
            "/json-api/{function}",
            "/cpsess{session:[0-9]+}/json-api/{function}",
        ])
        .route(web::get().to(handle))
        .route(web::post().to(handle)),
    );
}

/// Where a call came from, for the answers that hand out links.
pub struct CallContext {
    pub base_url: String,
    pub request_id: String,
}

/// Every refused token gets this same answer, whatever the reason.
fn access_denied(command: &str) -> HttpResponse {
    HttpResponse::Forbidden()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(json!({
            "error": "Access denied",
            "metadata": { "command": command, "reason": "Access denied", "result": 0, "version": 1 },
        }))
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let started = Instant::now();
    let request_id = crate::web::request_id(&req);
    let function = function_of_path(req.path()).unwrap_or_default().to_owned();

    let Some((user, secret)) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| api_header::parse(v.as_bytes()))
    else {
        tracing::warn!(%request_id, %function, reason = "no valid whm authorization header", "API call refused");
        return access_denied(&function);
    };
    let client = client_ip::of_request(&req, &state.config.trusted_proxies);
    let checked = match TokenSecret::parse(secret) {
        None => Ok(Err(Refusal::MalformedSecret)),
        Some(secret) => token_cache::find(&state.db, &state.tokens, secret.digest())
            .await
            .map(|found| match found {
                None => Err(Refusal::UnknownToken),
                Some(found) => check(&found, user, client, state.clock.now()),
            }),
    };
    let authenticated = match checked {
        Ok(Ok(a)) => a,
        Ok(Err(refusal)) => {
            tracing::warn!(%request_id, %function, %user, ?client, ?refusal, "API call refused");
            return access_denied(&function);
        }
        Err(e) => {
            // Unavailable is 503 with its reason; anything else failing here
            // is the server's fault: 500, as before any function ran.
            let mut answer = envelope(&function, Err(ApiError::from(e)), &request_id);
            if answer.status == actix_web::http::StatusCode::OK {
                answer.status = actix_web::http::StatusCode::INTERNAL_SERVER_ERROR;
            }
            return json_answer(answer);
        }
    };

    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
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
    tracing::info!(
        %request_id, %function, user = %authenticated.actor.account.username,
        token = %authenticated.token.name, ?client,
        status = answer.status.as_u16(),
        result = answer.result,
        elapsed_us = started.elapsed().as_micros() as u64,
        "API call"
    );
    json_answer(answer)
}

fn json_answer(answer: Answer) -> HttpResponse {
    let mut response = HttpResponse::build(answer.status);
    response
        .content_type(ContentType::json())
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]));
    if answer.status == actix_web::http::StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
    }
    response.body(answer.body)
}

fn base_url(req: &HttpRequest, state: &AppState) -> String {
    if let Some(url) = &state.config.public_url {
        return url.clone();
    }
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
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
    let outcome = if params.get("api.version") != Some("1") {
        Err(ApiError::refused(
            "This server speaks WHM API 1 only: add api.version=1 to the call.",
        ))
    } else {
        match FUNCTIONS.iter().find(|(name, _)| *name == function) {
            None => Err(ApiError::refused(format!("Unknown function “{function}”."))),
            Some((_, Some(privilege))) if actor.require(privilege).is_err() => {
                Err(ApiError::Refused(format!(
                    "Permission denied: {}",
                    OpError::MissingPrivilege(privilege)
                )))
            }
            Some(_) => run(state, actor, function, params, context).await,
        }
    };
    envelope(function, outcome, &context.request_id)
}

async fn run(
    state: &AppState,
    actor: &Actor,
    function: &str,
    params: &Params,
    context: &CallContext,
) -> Outcome {
    match function {
        "version" => info::version(),
        "applist" => info::applist(actor),
        "myprivs" => info::myprivs(actor),
        "api_token_create" => tokens::create(state, actor, params).await,
        "api_token_list" => tokens::list(state, actor).await,
        "api_token_get_details" => tokens::get_details(state, actor, params).await,
        "api_token_update" => tokens::update(state, actor, params).await,
        "api_token_revoke" => tokens::revoke(state, actor, params).await,
        "listaccts" => accounts::list(state, actor).await,
        "createacct" => accounts::create(state, actor, params).await,
        "suspendacct" => accounts::suspend(state, actor, params, true).await,
        "unsuspendacct" => accounts::suspend(state, actor, params, false).await,
        "removeacct" => accounts::remove(state, actor, params).await,
        "modifyacct" => accounts::modify(state, actor, params).await,
        "create_user_session" => info::create_user_session(state, actor, params, context).await,
        other => Err(ApiError::refused(format!("Unknown function “{other}”."))),
    }
}

/// A required parameter, or the refusal that names it.
fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    params
        .get(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::refused(format!("The parameter “{name}” is required.")))
}

/// Prefixes a refusal with what failed, as WHM's reasons do.
fn failed_to(what: &str, e: impl Into<ApiError>) -> ApiError {
    match e.into() {
        ApiError::Refused(reason) => {
            ApiError::Refused(format!("The system failed to {what}: {reason}"))
        }
        internal => internal,
    }
}

#[cfg(test)]
mod tests {
    use super::function_of_path;

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
    }
}
