//! The check every token-authenticated request passes (the API, forward
//! auth, introspection's caller): exactly one `Authorization: whm
//! USER:TOKEN` header, the token found by its digest (in the cache or by
//! one indexed lookup), then the rules against the client's address. A
//! refusal is counted in the metrics and, batched, in the audit trail with
//! its real reason; the caller only learns that it was refused.

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::auth::refusals::counted;
use crate::auth::{api_header, client_ip, token_cache};
use crate::domain::{AuditEvent, TokenSecret};
use crate::metrics::RefusalReason;
use crate::ops::authenticate::{check, Authenticated, Found, Refusal};
use crate::ops::{self, Actor};
use crate::state::AppState;
use crate::web::context::loggable;

/// Who is asking, for the log and the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Front {
    Api,
    ForwardAuth,
    Introspection,
}

impl Front {
    fn refused_message(self) -> &'static str {
        match self {
            Self::Api => "API call",
            Self::ForwardAuth => "forward auth",
            Self::Introspection => "introspection",
        }
    }
}

/// How the check ended.
pub enum Checked {
    Passed(Box<Authenticated>),
    /// No `Authorization: whm` header, or one that cannot be read.
    NoCredential,
    /// A token that fails a rule, or none this server knows.
    Refused,
    /// The store could not be asked.
    Failed(ops::OpError),
}

/// Checks the request's token. `what` names the request for the log (the
/// API's function, or forward auth's original path).
pub async fn check_request(
    state: &AppState,
    req: &HttpRequest,
    front: Front,
    what: &str,
    request_id: &str,
) -> Checked {
    let client = client_ip::of_request(req, &state.config.trusted_proxies);
    // Exactly one Authorization header: with two, which one counts would
    // depend on who reads it.
    let mut headers = req.headers().get_all(header::AUTHORIZATION);
    let (first, second) = (headers.next(), headers.next());
    let Some((user, secret)) = first
        .filter(|_| second.is_none())
        .and_then(|v| api_header::parse(v.as_bytes()))
    else {
        tracing::warn!(what = %loggable(what), reason = "no valid whm authorization header", "{} refused", front.refused_message());
        state.metrics.refused(RefusalReason::Malformed);
        refused(
            state,
            front,
            client,
            None,
            None,
            "no valid whm Authorization header",
            request_id,
        );
        return Checked::NoCredential;
    };
    let now = state.clock.now();
    let checked = match TokenSecret::parse(secret) {
        None => Ok((Err(Refusal::MalformedSecret), None)),
        Some(secret) => {
            token_cache::find(&state.db, &state.tokens, &state.metrics, secret.digest())
                .await
                .map(|found| match found {
                    None => (Err(Refusal::UnknownToken), None),
                    Some(found) => (check(&found, user, client, now), Some(found)),
                })
        }
    };
    match checked {
        Ok((Ok(a), _)) => {
            if state.config.record_usage {
                state.usage.record(a.token.id, now, client);
            }
            Checked::Passed(Box::new(a))
        }
        Ok((Err(refusal), found)) => {
            state.metrics.refused(match refusal {
                Refusal::MalformedSecret => RefusalReason::Malformed,
                Refusal::UnknownToken => RefusalReason::UnknownToken,
                Refusal::WrongUser { .. } => RefusalReason::WrongUser,
                Refusal::Expired { .. } => RefusalReason::Expired,
                Refusal::Disabled { .. } => RefusalReason::Disabled,
                Refusal::OwnerSuspended { .. } => RefusalReason::Suspended,
                Refusal::AddressNotAllowed { .. } => RefusalReason::Address,
                Refusal::Blocked { .. } => RefusalReason::Policy,
            });
            tracing::warn!(what = %loggable(what), user = %loggable(user), ?client, ?refusal, "{} refused", front.refused_message());
            refused(
                state,
                front,
                client,
                Some(user),
                found.as_deref(),
                refusal.reason(),
                request_id,
            );
            Checked::Refused
        }
        Err(e) => Checked::Failed(e),
    }
}

/// The reason as the audit trail keeps it: the API's as it always was,
/// the others prefixed with where the token was tried.
fn audit_reason(front: Front, reason: &str) -> String {
    match front {
        Front::Api => reason.to_owned(),
        other => format!("{}: {reason}", other.refused_message()),
    }
}

/// Counts a refused token for the audit trail (in memory; written in
/// batches, one row per address, minute, reason and token). The user name
/// given is the caller's choice: it joins the row's sample of names tried,
/// never its key, unless it is the real token's owner. The token's owner,
/// when the token is known, may see the row.
fn refused(
    state: &AppState,
    front: Front,
    client: Option<std::net::IpAddr>,
    user: Option<&str>,
    found: Option<&Found>,
    reason: &str,
    request_id: &str,
) {
    let at = state.clock.now();
    let reason = audit_reason(front, reason);
    let token = found.map(|f| f.token.name.to_string());
    let token_id = found.map_or_else(|| "-".to_owned(), |f| f.token.id.to_string());
    let owner = found.map(|f| &f.owner);
    let user = user.map(loggable);
    // The owner's own name with a real token: an actor, not a guess.
    let is_owner = owner.is_some_and(|o| user.as_deref() == Some(o.username.as_str()));
    let counted = counted(
        AuditEvent::ApiRefused,
        at,
        client,
        &[&reason, &token_id],
        reason.clone(),
        request_id.to_owned(),
    );
    state.refusals.record(crate::ops::audit::Counted {
        actor: user.clone().filter(|_| is_owner),
        tried: user.filter(|_| !is_owner),
        token,
        target: owner.map(crate::ops::audit::Target::of),
        ..counted
    });
}

/// Counts a valid token refused for what it lacks (a privilege, or no
/// rule allowing the request), as the token's owner sees it in the audit
/// trail. `detail` says what was asked and what it lacks; `key` is what
/// the row is counted by (never a path a caller chooses freely).
pub fn lacking(
    state: &AppState,
    actor: &Actor,
    front: Front,
    reason: RefusalReason,
    key: &str,
    detail: &str,
) {
    state.metrics.refused(reason);
    let at = state.clock.now();
    let detail = audit_reason(front, detail);
    let client = actor.origin.ip.as_deref().and_then(|ip| ip.parse().ok());
    let parts = [key, actor.account.username.as_str()];
    let counted = counted(
        AuditEvent::ApiRefused,
        at,
        client,
        &parts,
        detail,
        actor.origin.request_id.clone().unwrap_or_default(),
    );
    state.refusals.record(crate::ops::audit::Counted {
        actor: Some(actor.account.username.to_string()),
        token: actor.origin.token.clone(),
        target: Some(crate::ops::audit::Target::of(&actor.account)),
        ..counted
    });
}
