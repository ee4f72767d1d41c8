//! OAuth 2.0 token introspection (RFC 7662): `POST /oauth/introspect` with
//! `token=SECRET` in a form body, for gateways (Kong, APISIX, Envoy) that
//! ask an auth service whether a token is good.
//!
//! The caller authenticates with `Authorization: whm root:TOKEN`, a token
//! of root's holding `introspect-tokens` (or `all`): the answer names any
//! account's token, so only root may ask. Each caller's token may ask
//! `WHM_TOKENS_INTROSPECT_PER_MINUTE` times a minute; past that, 429.
//!
//! The introspected token is active when an API call with it would pass:
//! not expired, not disabled, its owner not suspended, and, when it has an
//! IP allow-list, `client_address` (an extension parameter: the address
//! the gateway's client called from) inside it. Anything else is only
//! `{"active": false}`. Every introspection is counted in the audit trail
//! (one row per caller, minute and outcome).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::auth::refusals::counted;
use crate::auth::token_cache;
use crate::domain::{AccountKind, AuditEvent, Privilege, TokenSecret};
use crate::metrics::RefusalReason;
use crate::ops::authenticate::{check, Authenticated};
use crate::state::AppState;
use crate::web::context;
use crate::web::params::Params;
use crate::web::token_check::{self, Checked, Front};

pub const PATH: &str = "/oauth/introspect";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::post().to(introspect));
}

/// RFC 7662's answer for an active token. `exp` is absent for a token
/// that never expires.
#[derive(Serialize)]
struct Active<'a> {
    active: bool,
    username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    iat: i64,
    scope: String,
    client_id: &'a str,
    token_type: &'static str,
}

fn json(status: actix_web::http::StatusCode, body: impl Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

fn error(status: actix_web::http::StatusCode, code: &str) -> HttpResponse {
    json(status, serde_json::json!({ "error": code }))
}

async fn introspect(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let request_id = context::current_id();
    let caller =
        match token_check::check_request(&state, &req, Front::Introspection, PATH, &request_id)
            .await
        {
            Checked::Passed(a) => *a,
            Checked::NoCredential | Checked::Refused => {
                state.metrics.decision("introspection", "refused");
                let mut r = error(StatusCode::UNAUTHORIZED, "invalid_client");
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("whm realm=\"whm-tokens\""),
                );
                return r;
            }
            Checked::Failed(e) => {
                tracing::error!(error = %e, "introspection could not check its caller");
                return error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
            }
        };
    let mut caller = caller;
    caller.actor.origin.request_id = Some(request_id.clone());
    let actor = &caller.actor;
    if actor.account.kind != AccountKind::Root
        || actor.require(Privilege::INTROSPECT_TOKENS).is_err()
    {
        token_check::lacking(
            &state,
            actor,
            Front::Introspection,
            RefusalReason::Privilege,
            "introspect-tokens",
            "needs a token of root's with introspect-tokens",
        );
        state.metrics.decision("introspection", "refused");
        return error(StatusCode::FORBIDDEN, "insufficient_scope");
    }
    let now = state.clock.now();
    if !state.introspections.take(
        &caller.token.id,
        1,
        u64::from(state.config.introspect_per_minute),
        now,
    ) {
        state.metrics.decision("introspection", "throttled");
        record(&state, &caller, "throttled", now);
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "slow_down");
        r.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(60 - now.rem_euclid(60)),
        );
        return r;
    }
    // The secret comes in the body only: a query string ends up in logs.
    let params = Params::parse("", Some(&body));
    let client = match params.get("client_address").filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => match a.parse::<std::net::IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => return error(StatusCode::BAD_REQUEST, "invalid_request"),
        },
    };
    let Some(secret) = params.get("token") else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let found = match TokenSecret::parse(secret) {
        None => None,
        Some(secret) => {
            match token_cache::find(&state.db, &state.tokens, &state.metrics, secret.digest()).await
            {
                Ok(found) => found,
                Err(e) => {
                    tracing::error!(error = %e, "introspection could not look a token up");
                    return error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
                }
            }
        }
    };
    let checked = found
        .as_deref()
        .and_then(|f| check(f, f.owner.username.as_str(), client, now).ok());
    let outcome = if checked.is_some() {
        "active"
    } else {
        "inactive"
    };
    if let (Some(a), true) = (&checked, state.config.record_usage) {
        // A gateway let its client in with this token: that is a use.
        state.usage.record(a.token.id, now, client);
    }
    state.metrics.decision("introspection", outcome);
    record(&state, &caller, outcome, now);
    match checked {
        None => json(StatusCode::OK, serde_json::json!({ "active": false })),
        Some(a) => json(
            StatusCode::OK,
            Active {
                active: true,
                username: a.actor.account.username.as_str(),
                exp: a.token.expiry.to_column(),
                iat: a.token.created_at,
                scope: a.actor.privileges.normalized().keys().join(" "),
                client_id: a.token.name.as_str(),
                token_type: "whm",
            },
        ),
    }
}

/// One audit row per caller's token, minute and outcome, with a count.
fn record(state: &AppState, caller: &Authenticated, outcome: &str, now: i64) {
    let actor = &caller.actor;
    let client = actor.origin.ip.as_deref().and_then(|ip| ip.parse().ok());
    let token_id = caller.token.id.to_string();
    let row = counted(
        AuditEvent::TokenIntrospected,
        now,
        client,
        &[outcome, &token_id],
        format!("a token introspected: {outcome}"),
        actor.origin.request_id.clone().unwrap_or_default(),
    );
    state.refusals.record(crate::ops::audit::Counted {
        actor: Some(actor.account.username.to_string()),
        token: Some(caller.token.name.to_string()),
        target: Some(crate::ops::audit::Target::of(&actor.account)),
        ..row
    });
}
