//! Account functions: `listaccts`, `createacct`, `suspendacct`,
//! `unsuspendacct`, `removeacct`, `modifyacct`.

use serde_json::{json, Value};

use crate::domain::{Password, Username};
use crate::ops::accounts::{self as account_ops, NewAccount};
use crate::ops::{Account, AccountKind, Actor, OpError};
use crate::state::AppState;

use super::envelope::{ApiError, Outcome};
use super::{failed_to, required};
use crate::web::params::Params;

fn account_json(a: &Account, owner: &str) -> Value {
    json!({
        "user": a.username,
        "owner": owner,
        "reseller": u8::from(a.kind == AccountKind::Reseller),
        "suspended": u8::from(a.suspended),
        "unix_startdate": a.created_at,
    })
}

pub async fn list(state: &AppState, actor: &Actor) -> Outcome {
    let reader = actor.clone();
    let accounts = state
        .db
        .read(move |conn| account_ops::list(conn, &reader))
        .await
        .map_err(|e: OpError| failed_to("list the accounts", e))?;
    let acct: Vec<Value> = accounts
        .iter()
        .map(|s| account_json(&s.account, &s.owner))
        .collect();
    Ok(Some(json!({ "acct": acct }).into()))
}

fn username(raw: &str) -> Result<Username, ApiError> {
    Username::parse(raw).map_err(|e| ApiError::refused(e.to_string()))
}

pub async fn create(state: &AppState, actor: &Actor, params: &Params) -> Outcome {
    const WHAT: &str = "create the account";
    let parsed = (|| {
        let name = username(required(params, "username")?)?;
        let password = Password::parse(required(params, "password")?)
            .map_err(|e| ApiError::refused(e.to_string()))?;
        let owner = params
            .get("owner")
            .filter(|o| !o.is_empty())
            .map(username)
            .transpose()?;
        let kind = match params.get("reseller") {
            Some("1") => AccountKind::Reseller,
            None | Some("0") | Some("") => AccountKind::User,
            Some(_) => return Err(ApiError::refused("“reseller” must be 0 or 1.")),
        };
        Ok((name, password, owner, kind))
    })()
    .map_err(|e| failed_to(WHAT, e))?;
    let (name, password, owner, kind) = parsed;
    let hash = state.passwords.hash_now(password).await??;
    let actor = actor.clone();
    let now = state.clock.now();
    let created = state
        .db
        .write(move |conn| {
            let new = NewAccount {
                username: name,
                kind,
                owner,
                password_hash: Some(hash),
                privileges: None,
            };
            let account = account_ops::create(conn, &actor, new, now)?;
            let owner = account_ops::load(conn, account.owner_id.unwrap_or(actor.id()))?;
            Ok::<_, OpError>((account, owner.username))
        })
        .await
        .map_err(|e: OpError| failed_to(WHAT, e))?;
    Ok(Some(account_json(&created.0, &created.1).into()))
}

pub async fn suspend(state: &AppState, actor: &Actor, params: &Params, suspended: bool) -> Outcome {
    let what = if suspended {
        "suspend the account"
    } else {
        "unsuspend the account"
    };
    let user = required(params, "user")
        .map_err(|e| failed_to(what, e))?
        .to_owned();
    let actor = actor.clone();
    let account = state
        .db
        .write(move |conn| account_ops::set_suspended(conn, &actor, &user, suspended))
        .await
        .map_err(|e: OpError| failed_to(what, e))?;
    Ok(Some(
        json!({ "user": account.username, "suspended": u8::from(account.suspended) }).into(),
    ))
}

pub async fn remove(state: &AppState, actor: &Actor, params: &Params) -> Outcome {
    const WHAT: &str = "remove the account";
    let user = required(params, "user")
        .or_else(|_| required(params, "username"))
        .map_err(|e| failed_to(WHAT, e))?
        .to_owned();
    let actor = actor.clone();
    let removed = state
        .db
        .write(move |conn| account_ops::delete(conn, &actor, &user))
        .await
        .map_err(|e: OpError| failed_to(WHAT, e))?;
    Ok(Some(json!({ "user": removed.username }).into()))
}

pub async fn modify(state: &AppState, actor: &Actor, params: &Params) -> Outcome {
    const WHAT: &str = "modify the account";
    let (user, new_name) = (|| {
        let user = required(params, "user")?.to_owned();
        let new_name = username(required(params, "newuser")?)?;
        Ok::<_, ApiError>((user, new_name))
    })()
    .map_err(|e| failed_to(WHAT, e))?;
    let actor = actor.clone();
    let account = state
        .db
        .write(move |conn| account_ops::rename(conn, &actor, &user, &new_name))
        .await
        .map_err(|e: OpError| failed_to(WHAT, e))?;
    Ok(Some(json!({ "user": account.username }).into()))
}
