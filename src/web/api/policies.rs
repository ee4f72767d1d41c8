//! `api_token_policy_get` and `api_token_policy_set`: root's token policy
//! (everyone's, or a reseller's override with `user`).

use serde::Serialize;

use crate::domain::token_policy::{parse_days, parse_privileges, PolicyOverride, TokenPolicy};
use crate::domain::Username;
use crate::ops::policies::{self, Changes, Shown};
use crate::web::params::Params;

use super::call::Call;
use super::envelope::{ApiError, Data, Outcome};

#[derive(Serialize)]
struct Rules {
    max_lifetime_days: u32,
    require_ip_for: Vec<&'static str>,
    disable_unused_days: u32,
    delete_expired_days: u32,
}

impl Rules {
    fn of(p: &TokenPolicy) -> Self {
        Self {
            max_lifetime_days: p.max_lifetime_days,
            require_ip_for: p.require_ip_for.keys(),
            disable_unused_days: p.disable_unused_days,
            delete_expired_days: p.delete_expired_days,
        }
    }
}

/// An override as stored: `null` for a rule it leaves to everyone's.
#[derive(Serialize)]
struct Override {
    max_lifetime_days: Option<u32>,
    require_ip_for: Option<Vec<&'static str>>,
    disable_unused_days: Option<u32>,
    delete_expired_days: Option<u32>,
}

#[derive(Serialize)]
struct Answer {
    /// The rules in force for `user`, or everyone's.
    policy: Rules,
    user: Option<String>,
    everyone: Rules,
    #[serde(rename = "override")]
    over: Option<Override>,
    overridden: Vec<String>,
}

fn answer(shown: &Shown) -> Outcome {
    Data::json(&Answer {
        policy: Rules::of(&shown.in_force),
        user: shown.user.as_ref().map(ToString::to_string),
        everyone: Rules::of(&shown.everyone),
        over: shown.over.as_ref().map(|o: &PolicyOverride| Override {
            max_lifetime_days: o.max_lifetime_days,
            require_ip_for: o.require_ip_for.map(|p| p.keys()),
            disable_unused_days: o.disable_unused_days,
            delete_expired_days: o.delete_expired_days,
        }),
        overridden: shown.overridden.iter().map(ToString::to_string).collect(),
    })
    .map(Some)
}

fn user_of(params: &Params) -> Result<Option<Username>, ApiError> {
    match params.get("user").filter(|u| !u.is_empty()) {
        None => Ok(None),
        Some(u) => Username::parse(u)
            .map(Some)
            .map_err(|e| ApiError::refused(e.to_string())),
    }
}

pub async fn get(call: &Call<'_>) -> Outcome {
    let user = user_of(call.params)?;
    let shown = call
        .state
        .read_as(call.actor, move |conn, actor| {
            policies::show(conn, actor, user.as_ref())
        })
        .await?;
    answer(&shown)
}

/// The changes the parameters ask for (absent: unchanged).
pub fn changes_of(params: &Params) -> Result<Changes, ApiError> {
    let days = |name: &str| {
        params
            .get(name)
            .map(|raw| parse_days(raw).map_err(|e| ApiError::refused(format!("{name}: {e}"))))
            .transpose()
    };
    Ok(Changes {
        max_lifetime_days: days("max_lifetime_days")?,
        // A list like every other (`x=a,b`, `x=a&x=b`, `x-0=a`, `x[]=a`).
        require_ip_for: params
            .list("require_ip_for")
            .map(|entries| {
                let given: Vec<&str> = entries
                    .iter()
                    .map(|e| e.trim())
                    .filter(|e| !e.is_empty())
                    .collect();
                if given.len() > 1 && given.contains(&"inherit") {
                    return Err("“inherit” must be on its own".to_owned());
                }
                parse_privileges(&given.join(","))
            })
            .transpose()
            .map_err(|e| ApiError::refused(format!("require_ip_for: {e}")))?,
        disable_unused_days: days("disable_unused_days")?,
        delete_expired_days: days("delete_expired_days")?,
    })
}

pub async fn set(call: &Call<'_>) -> Outcome {
    let user = user_of(call.params)?;
    let changes = changes_of(call.params)?;
    let shown = call
        .state
        .write_as(call.actor, move |conn, actor| {
            policies::set(conn, actor, user.as_ref(), &changes)
        })
        .await?;
    answer(&shown)
}
