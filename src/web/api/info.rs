//! `version`, `applist`, `myprivs` and `create_user_session`.

use rand::Rng;
use serde_json::{json, Map, Value};

use crate::domain::privileges::catalogue;
use crate::domain::Privilege;
use crate::ops::{login_links, Actor, OpError};
use crate::state::AppState;

use super::envelope::{ApiError, Outcome};
use super::{failed_to, required, CallContext, FUNCTIONS};
use crate::web::params::Params;

pub fn version() -> Outcome {
    Ok(Some(json!({ "version": env!("CARGO_PKG_VERSION") }).into()))
}

pub fn applist(actor: &Actor) -> Outcome {
    let app: Vec<&str> = FUNCTIONS
        .iter()
        .filter(|(_, privilege)| privilege.is_none_or(|p| actor.require(p).is_ok()))
        .map(|(name, _)| *name)
        .collect();
    Ok(Some(json!({ "app": app }).into()))
}

pub fn myprivs(actor: &Actor) -> Outcome {
    let granted = actor.privileges.expanded();
    let flags: Map<String, Value> = catalogue()
        .iter()
        .map(|e| {
            (
                e.key.to_owned(),
                json!(u8::from(granted.contains(Privilege::named(e.key)))),
            )
        })
        .collect();
    Ok(Some(json!({ "privileges": [flags] }).into()))
}

pub async fn create_user_session(
    state: &AppState,
    actor: &Actor,
    params: &Params,
    context: &CallContext,
) -> Outcome {
    const WHAT: &str = "create the user session";
    let user = required(params, "user").map_err(|e| failed_to(WHAT, e))?;
    if user != actor.account.username {
        return Err(failed_to(
            WHAT,
            ApiError::refused("You can create a session only for your own account."),
        ));
    }
    match params.get("service") {
        Some("whostmgrd") => {}
        _ => {
            return Err(failed_to(
                WHAT,
                ApiError::refused("The only service offered is “whostmgrd”."),
            ))
        }
    }
    let now = state.clock.now();
    let creator = actor.clone();
    let secret = state
        .db
        .write(move |conn| login_links::create(conn, &creator, now))
        .await
        .map_err(|e: OpError| failed_to(WHAT, e))?;
    let cpsess = format!(
        "/cpsess{:010}",
        rand::rng().random_range(0..10_000_000_000u64)
    );
    Ok(Some(
        json!({
            "url": format!("{}{}/login/once?session={}", context.base_url, cpsess, secret.expose()),
            "cp_security_token": cpsess,
            "expires": now + login_links::LINK_LIFETIME_SECS,
            "service": "whostmgrd",
            "session": secret.expose(),
        })
        .into(),
    ))
}
