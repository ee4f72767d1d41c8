//! `version`, `applist`, `myprivs` and `create_user_session`.

use std::collections::BTreeMap;

use rand::Rng;
use serde::Serialize;

use crate::domain::Privilege;
use crate::ops::login_links;

use super::call::{required, Call};
use super::envelope::{ApiError, Data, Outcome};

#[derive(Serialize)]
struct Version {
    version: &'static str,
}

pub async fn version(_: &Call<'_>) -> Outcome {
    Data::json(&Version {
        version: env!("CARGO_PKG_VERSION"),
    })
    .map(Some)
}

#[derive(Serialize)]
struct MyPrivs {
    /// WHM gives one map of every privilege to 1 or 0, in a list.
    privileges: [BTreeMap<&'static str, u8>; 1],
}

pub async fn myprivs(call: &Call<'_>) -> Outcome {
    let granted = call.actor.privileges.expanded();
    let flags = Privilege::every()
        .map(|p| (p.key(), u8::from(granted.contains(p))))
        .collect();
    Data::json(&MyPrivs {
        privileges: [flags],
    })
    .map(Some)
}

#[derive(Serialize)]
struct UserSession<'a> {
    cp_security_token: &'a str,
    expires: i64,
    service: &'static str,
    session: &'a str,
    url: String,
}

pub async fn create_user_session(call: &Call<'_>) -> Outcome {
    let user = required(call.params, "user")?;
    if user != call.actor.account.username.as_str() {
        return Err(ApiError::refused(
            "You can create a session only for your own account.",
        ));
    }
    if call.params.get("service") != Some("whostmgrd") {
        return Err(ApiError::refused(
            "The only service offered is “whostmgrd”.",
        ));
    }
    let now = call.state.clock.now();
    let secret = call
        .state
        .write_as(call.actor, move |conn, actor| {
            login_links::create(conn, actor, now)
        })
        .await?;
    let cpsess = format!(
        "/cpsess{:010}",
        rand::rng().random_range(0..10_000_000_000u64)
    );
    Data::json(&UserSession {
        url: format!(
            "{}{}/login/once?session={}",
            call.context.base_url,
            cpsess,
            secret.expose()
        ),
        cp_security_token: &cpsess,
        expires: now + login_links::LINK_LIFETIME_SECS,
        service: "whostmgrd",
        session: secret.expose(),
    })
    .map(Some)
}
