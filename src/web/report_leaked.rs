//! Leaked-token reports: `POST /tokens/report-leaked`, open to anyone (a
//! secret scanner, or a person who found a token in a public repository),
//! as GitHub's `POST /credentials/revoke` is. Up to 1,000 secrets, as JSON
//! (`{"tokens": ["…"]}`) or as repeated form fields `token=…`.
//!
//! Every token found is disabled at once, marked leaked and recorded in
//! its owner's activity ([`crate::ops::leaks`]); the owner is told through
//! the notice channels. The answer is the same whatever was found, unless
//! the store fails: a report that found a live token and could not record
//! it is a 503 (send it again), which says no more than the token's own
//! API call would tell whoever holds its secret. What a
//! flood costs is bounded: the body's size, limits per address and in all
//! ([`crate::auth::leak_limits`]), one digest lookup per secret (no
//! password work), and one audit row per address, minute and outcome.

use std::collections::HashSet;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::client_ip;
use crate::auth::leak_limits::MAX_SECRETS;
use crate::auth::refusals::counted;
use crate::domain::{AuditEvent, TokenSecret};
use crate::ops::leaks;
use crate::state::AppState;
use crate::web::context;

pub const PATH: &str = "/tokens/report-leaked";

/// The largest body taken: 1,000 secrets as JSON or form fields, with room.
pub const MAX_BODY: usize = 64 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(PATH)
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .route(web::post().to(report)),
    );
}

#[derive(Deserialize)]
struct JsonReport {
    tokens: Vec<String>,
}

fn answer(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(body)
}

fn bad(message: &str) -> HttpResponse {
    answer(
        StatusCode::BAD_REQUEST,
        serde_json::json!({ "error": message }),
    )
}

/// The secrets the body holds, as given (not yet read as secrets); or
/// the status and reason it cannot be read.
fn secrets_of(req: &HttpRequest, body: &[u8]) -> Result<Vec<String>, (StatusCode, &'static str)> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") {
        serde_json::from_slice::<JsonReport>(body)
            .map(|r| r.tokens)
            .map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    "The body must be JSON of the form {\"tokens\": [\"…\"]}.",
                )
            })
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map(|pairs| {
                pairs
                    .into_iter()
                    .filter(|(k, _)| k == "token")
                    .map(|(_, v)| v)
                    .collect()
            })
            .map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    "The body must be form fields token=…",
                )
            })
    } else {
        Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send application/json or application/x-www-form-urlencoded.",
        ))
    }
}

async fn report(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let request_id = context::current_id();
    let client = client_ip::of_request(&req, &state.config.trusted_proxies);
    let now = state.clock.now();
    let given = match secrets_of(&req, &body) {
        Ok(given) => given,
        Err((status, why)) => {
            state.metrics.decision("leak_report", "malformed");
            return answer(status, serde_json::json!({ "error": why }));
        }
    };
    if given.is_empty() {
        state.metrics.decision("leak_report", "malformed");
        return bad("Give at least one token.");
    }
    if given.len() > MAX_SECRETS {
        state.metrics.decision("leak_report", "too_large");
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            serde_json::json!({ "error": format!("At most {MAX_SECRETS} tokens a report.") }),
        );
    }
    if !state.leak_reports.admit(client, given.len(), now) {
        state.metrics.decision("leak_report", "throttled");
        record(&state, client, "throttled", given.len(), &request_id, now);
        let mut r = answer(
            StatusCode::TOO_MANY_REQUESTS,
            serde_json::json!({ "error": "Too many reports from here or in all; try again in a minute." }),
        );
        r.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(60 - now.rem_euclid(60)),
        );
        return r;
    }
    let digests: Vec<_> = given
        .iter()
        .filter_map(|s| TokenSecret::parse(s.trim()))
        .map(|s| s.digest())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let from = client.map(|ip| ip.to_canonical().to_string());
    // A read first: a report that finds nothing (most of them) takes no
    // write and leaves every cached token check as it is.
    let digests = std::sync::Arc::new(digests);
    let wanted = digests.clone();
    let marked = match state
        .db
        .read(move |conn| leaks::any_unmarked(conn, &wanted))
        .await
    {
        Ok(false) => Ok(0),
        Ok(true) => {
            state
                .db
                .write(move |conn| leaks::report(conn, &digests, from.as_deref(), now))
                .await
        }
        Err(e) => Err(e),
    };
    let outcome = match &marked {
        Ok(0) => "none found",
        Ok(n) => {
            tracing::warn!(tokens = n, ?client, "tokens reported leaked were disabled");
            "tokens found and disabled"
        }
        Err(e) => {
            tracing::error!(error = %e, "a leaked-token report could not be recorded");
            "not recorded (store unavailable)"
        }
    };
    state.metrics.decision("leak_report", "received");
    record(&state, client, outcome, given.len(), &request_id, now);
    if marked.is_err() {
        // Told to send it again: a scanner that took a 202 would not, and
        // the leaked token would stay live.
        let mut r = answer(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "error": "The report could not be recorded now; send it again in a minute." }),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(60));
        return r;
    }
    answer(
        StatusCode::ACCEPTED,
        serde_json::json!({
            "received": given.len(),
            "message": "Thank you. Any of these that is a live token of this server is now disabled, and its owner told.",
        }),
    )
}

/// One audit row per address, minute and outcome, with a count of reports.
fn record(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    outcome: &str,
    secrets: usize,
    request_id: &str,
    now: i64,
) {
    let row = counted(
        AuditEvent::LeakReportReceived,
        now,
        client,
        &[outcome],
        format!("a report of {secrets} secret(s): {outcome}"),
        request_id.to_owned(),
    );
    state.refusals.record(row);
}
