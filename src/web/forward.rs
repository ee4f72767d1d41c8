//! Forward auth: `/auth/forward`, which a proxy (nginx `auth_request`,
//! Caddy `forward_auth`, Traefik `ForwardAuth`) asks before it passes a
//! request on to a backend. The token is checked exactly as an API call's
//! is, against the *original* client's address, and the original request
//! must be allowed by a rule ([`crate::domain::forward_rules`]).
//!
//! The original method and path are read from `X-Original-Method` and
//! `X-Original-URI` (nginx, as the recipe sets them), else
//! `X-Forwarded-Method` and `X-Forwarded-Uri` (Traefik, Caddy), and only
//! from a trusted proxy: from anyone else the original request is unknown,
//! and no rule allows it. A request with both families is refused: the
//! proxy set one, and the other came from the client. The query string is
//! never logged nor kept (it may carry a password or a secret).

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::client_ip;
use crate::domain::forward_rules::Need;
use crate::domain::PrivilegeSet;
use crate::metrics::RefusalReason;
use crate::ops::authenticate::Authenticated;
use crate::state::AppState;
use crate::web::api::{self, expiration_header, EXPIRATION_HEADER, FUNCTIONS};
use crate::web::context::{self, loggable};
use crate::web::token_check::{self, Checked, Front};

pub const PATH: &str = "/auth/forward";

/// Headers of a permitted request, for the proxy to pass on.
pub const USER_HEADER: &str = "x-whm-user";
pub const TOKEN_HEADER: &str = "x-whm-token";
pub const PRIVILEGES_HEADER: &str = "x-whm-privileges";

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Any method: nginx's subrequest keeps the original one.
    cfg.route(PATH, web::route().to(forward));
}

/// Why the original request is unknown: no proxy we trust said it.
const UNKNOWN: &str =
    "the original request is unknown (no X-Original-URI or X-Forwarded-Uri from a trusted proxy)";

/// The original request, as a trusted proxy describes it, or why it is
/// unknown.
fn original(req: &HttpRequest, state: &AppState) -> Result<(String, String), &'static str> {
    let trusted = req
        .peer_addr()
        .is_some_and(|peer| client_ip::is_trusted(peer.ip(), &state.config.trusted_proxies));
    if !trusted {
        return Err(UNKNOWN);
    }
    let one = |names: [&str; 2]| {
        names.iter().find_map(|name| {
            let mut values = req.headers().get_all(*name);
            let (first, second) = (values.next(), values.next());
            // Two values: which one the backend sees is unclear.
            first
                .filter(|_| second.is_none())
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
    };
    // One family or the other, never both: a proxy sets its own (nginx
    // `X-Original-*`, Caddy and Traefik `X-Forwarded-*`) and passes on the
    // client's other headers, so the second family in a request is the
    // client's own, and believing it would check another call than the
    // one the backend runs.
    let has = |names: [&str; 2]| names.iter().any(|n| req.headers().contains_key(*n));
    let original_family = has(["x-original-method", "x-original-uri"]);
    let forwarded_family = has(["x-forwarded-method", "x-forwarded-uri"]);
    if original_family && forwarded_family {
        return Err(
            "the original request is unknown (both X-Original-* and X-Forwarded-* were sent: one family is the client's own)",
        );
    }
    let method = one(["x-original-method", "x-forwarded-method"]).ok_or(UNKNOWN)?;
    let uri = one(["x-original-uri", "x-forwarded-uri"]).ok_or(UNKNOWN)?;
    Ok((method, uri))
}

/// Every refusal looks the same; 401 (with a challenge) only says that no
/// credential was given.
fn denied(no_credential: bool) -> HttpResponse {
    let mut response = if no_credential {
        let mut r = HttpResponse::Unauthorized();
        r.insert_header((header::WWW_AUTHENTICATE, "whm realm=\"whm-tokens\""));
        r
    } else {
        HttpResponse::Forbidden()
    };
    response
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .content_type("text/plain; charset=utf-8")
        .body("Access denied\n")
}

async fn forward(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let request_id = context::current_id();
    let original = original(&req, &state);
    // The path only: a query string may carry secrets (a password, a
    // token), and is never logged nor kept in the audit trail.
    let shown = original.as_ref().map_or_else(
        |_| "(unknown)".to_owned(),
        |(m, u)| format!("{m} {}", u.split(['?', '#']).next().unwrap_or_default()),
    );
    let authenticated =
        match token_check::check_request(&state, &req, Front::ForwardAuth, &shown, &request_id)
            .await
        {
            Checked::Passed(a) => a,
            Checked::NoCredential => {
                state.metrics.decision("forward_auth", "no_credential");
                return denied(true);
            }
            Checked::Refused => {
                state.metrics.decision("forward_auth", "refused");
                return denied(false);
            }
            Checked::Failed(e) => {
                tracing::error!(error = %e, "forward auth could not check a token");
                state.metrics.decision("forward_auth", "error");
                return HttpResponse::ServiceUnavailable()
                    .insert_header((
                        header::RETRY_AFTER,
                        crate::auth::password::RETRY_AFTER_SECS.to_string(),
                    ))
                    .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
                    .content_type("text/plain; charset=utf-8")
                    .body("The token store is unavailable; try again shortly.\n");
            }
        };
    let mut authenticated = *authenticated;
    authenticated.actor.origin.request_id = Some(request_id);
    match permitted(
        &state,
        original.as_ref().map_err(|why| *why),
        &authenticated,
    ) {
        Ok(()) => {
            state.metrics.decision("forward_auth", "allowed");
            tracing::info!(
                request = %loggable(&shown),
                user = %authenticated.actor.account.username,
                token = %authenticated.token.name,
                client = %authenticated.actor.origin.ip.as_deref().unwrap_or("-"),
                "forward auth allowed"
            );
            allowed(&authenticated)
        }
        Err((key, detail)) => {
            let reason = if key == NO_RULE {
                RefusalReason::NoRule
            } else {
                RefusalReason::Privilege
            };
            token_check::lacking(
                &state,
                &authenticated.actor,
                Front::ForwardAuth,
                reason,
                &key,
                &detail,
            );
            tracing::warn!(
                request = %loggable(&shown),
                user = %authenticated.actor.account.username,
                token = %authenticated.token.name,
                reason = %detail,
                "forward auth refused"
            );
            state.metrics.decision("forward_auth", "refused");
            denied(false)
        }
    }
}

/// The counted key of every refusal for want of a rule.
const NO_RULE: &str = "no rule";

/// Whether a rule allows the original request to this token. The error
/// is what the row is counted by, and what the audit trail says.
fn permitted(
    state: &AppState,
    original: Result<&(String, String), &'static str>,
    authenticated: &Authenticated,
) -> Result<(), (String, String)> {
    let no_rule = |why: String| Err((NO_RULE.to_owned(), why));
    let (method, uri) = match original {
        Ok(found) => found,
        Err(why) => return no_rule(why.to_owned()),
    };
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    let shown: String = loggable(&format!("{method} {path}"))
        .chars()
        .take(200)
        .collect();
    let rules = &state.config.forward_rules;
    let Some(rule) = rules.find(method, uri) else {
        return no_rule(format!("no rule allows {shown}"));
    };
    let actor = &authenticated.actor;
    let need = match &rule.need {
        Need::Token => return Ok(()),
        Need::Deny => {
            return no_rule(format!(
                "{shown}: denied by rule {} of {}",
                rule.line, rules.source
            ))
        }
        Need::Privileges(set) => *set,
        Need::WhmApi => {
            let path = uri.split('?').next().unwrap_or_default();
            let function = api::function_of_path(path).unwrap_or_default();
            match FUNCTIONS.iter().find(|f| f.name == function) {
                None => return no_rule(format!("{shown}: not a function of the WHM API table")),
                Some(f) => match f.privilege {
                    None => return Ok(()),
                    Some(p) => PrivilegeSet::empty().with(p),
                },
            }
        }
    };
    let missing = need.not_permitted_by(actor.privileges);
    if missing.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = missing.iter().map(|p| p.key()).collect();
    Err((
        format!("rule {} lacks {}", rule.line, keys.join(",")),
        format!(
            "{shown}: rule {} of {} needs {}",
            rule.line,
            rules.source,
            keys.join(", ")
        ),
    ))
}

fn allowed(authenticated: &Authenticated) -> HttpResponse {
    let actor = &authenticated.actor;
    let mut response = HttpResponse::Ok();
    response.insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]));
    let mut put = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.insert_header((HeaderName::from_static(name), value));
        }
    };
    put(USER_HEADER, actor.account.username.as_str());
    put(TOKEN_HEADER, authenticated.token.name.as_str());
    put(
        PRIVILEGES_HEADER,
        &actor.privileges.normalized().keys().join(","),
    );
    if let Some(expires) = expiration_header(authenticated.token.expiry) {
        response.insert_header((HeaderName::from_static(EXPIRATION_HEADER), expires));
    }
    response.finish()
}
