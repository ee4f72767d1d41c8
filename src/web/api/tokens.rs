//! `api_token_*`: the token functions, in exactly WHM's shapes.

use serde_json::{json, Map, Value};

use crate::domain::privileges::catalogue;
use crate::domain::{Expiry, IpAllowList, PrivilegeSet, TokenName, TokenSecret};
use crate::ops::tokens::{self as token_ops, NewToken, Token, TokenChanges};
use crate::ops::{Actor, OpError};
use crate::state::AppState;

use super::envelope::{ApiError, Outcome};
use super::{failed_to, required};
use crate::web::params::Params;

fn expires_json(expiry: Expiry) -> Value {
    match expiry {
        Expiry::Never => Value::Null,
        Expiry::At(t) => json!(t),
    }
}

fn ips_json(ips: &IpAllowList) -> Value {
    if ips.is_any() {
        Value::Null
    } else {
        json!(ips.entries())
    }
}

/// The details shape of create, get_details and update.
fn details(token: &Token) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), json!(token.name));
    m.insert("create_time".into(), json!(token.created_at));
    m.insert("expires_at".into(), expires_json(token.expiry));
    m.insert("acls".into(), json!(token.privileges.keys()));
    m.insert("whitelist_ips".into(), ips_json(&token.ips));
    m
}

/// The list's `acls`: privilege → 0/1, over every privilege for root and
/// over those the reseller holds otherwise.
fn acl_flags(token: &Token, owner: PrivilegeSet) -> Map<String, Value> {
    let shown = owner.expanded();
    let granted = PrivilegeSet::effective(owner, token.privileges);
    catalogue()
        .iter()
        .filter_map(|e| {
            let p = crate::domain::Privilege::named(e.key);
            shown
                .contains(p)
                .then(|| (e.key.to_owned(), json!(u8::from(granted.contains(p)))))
        })
        .collect()
}

fn parse_name(raw: &str) -> Result<TokenName, ApiError> {
    TokenName::parse(raw).map_err(|e| ApiError::refused(e.to_string()))
}

fn parse_acls(params: &Params) -> Result<Option<PrivilegeSet>, ApiError> {
    params
        .list("acl")
        .map(|keys| PrivilegeSet::parse(keys).map_err(|e| ApiError::refused(e.to_string())))
        .transpose()
}

fn parse_expiry(params: &Params, now: i64) -> Result<Option<Expiry>, ApiError> {
    params
        .get("expires_at")
        .map(|raw| Expiry::parse_epoch(raw, now).map_err(|e| ApiError::refused(e.to_string())))
        .transpose()
}

fn parse_ips(params: &Params) -> Result<Option<IpAllowList>, ApiError> {
    let Some(entries) = params.list("whitelist_ip") else {
        return Ok(None);
    };
    if entries.iter().any(|e| e.trim().eq_ignore_ascii_case("any")) {
        return Ok(Some(IpAllowList::any()));
    }
    IpAllowList::from_entries(entries)
        .map(Some)
        .map_err(|e| ApiError::refused(e.to_string()))
}

pub async fn create(state: &AppState, actor: &Actor, params: &Params) -> Outcome {
    const WHAT: &str = "create the API token";
    let now = state.clock.now();
    let new = (|| {
        Ok::<_, ApiError>(NewToken {
            name: parse_name(required(params, "token_name")?)?,
            expiry: parse_expiry(params, now)?.unwrap_or(Expiry::Never),
            ips: parse_ips(params)?.unwrap_or_default(),
            privileges: parse_acls(params)?,
        })
    })()
    .map_err(|e| failed_to(WHAT, e))?;
    let actor = actor.clone();
    let created = state
        .db
        .write(move |conn| token_ops::create(conn, &actor, new, now))
        .await
        .map_err(|e: OpError| failed_to(WHAT, e))?;
    let mut data = details(&created.token);
    data.insert("token".into(), json!(created.secret.expose()));
    Ok(Some(Value::Object(data)))
}

pub async fn list(state: &AppState, actor: &Actor) -> Outcome {
    let owner = actor.account.privileges;
    let reader = actor.clone();
    let tokens = state
        .db
        .read(move |conn| token_ops::all(conn, &reader))
        .await
        .map_err(|e: OpError| failed_to("list the API tokens", e))?;
    let listed: Map<String, Value> = tokens
        .iter()
        .map(|t| {
            let entry = json!({
                "name": t.name,
                "create_time": t.created_at,
                "expires_at": expires_json(t.expiry),
                "whitelist_ips": ips_json(&t.ips),
                "acls": acl_flags(t, owner),
            });
            (t.name.clone(), entry)
        })
        .collect();
    Ok(Some(json!({ "tokens": listed })))
}

pub async fn get_details(state: &AppState, actor: &Actor, params: &Params) -> Outcome {
    let raw = required(params, "token").map_err(|e| failed_to("get the API token's details", e))?;
    // A string that cannot be a secret is simply a token that does not exist.
    let Some(secret) = TokenSecret::parse(raw.trim()) else {
        return Ok(None);
    };
    let now = state.clock.now();
    let actor = actor.clone();
    let token = state
        .db
        .read(move |conn| token_ops::get_by_secret(conn, &actor, &secret, now))
        .await
        .map_err(|e: OpError| failed_to("get the API token's details", e))?;
    Ok(token.map(|t| Value::Object(details(&t))))
}

pub async fn update(state: &AppState, actor: &Actor, params: &Params) -> Outcome {
    const WHAT: &str = "update the API token";
    let now = state.clock.now();
    let (name, changes) = (|| {
        let name = parse_name(required(params, "token_name")?)?;
        let changes = TokenChanges {
            new_name: params.get("new_name").map(parse_name).transpose()?,
            expiry: parse_expiry(params, now)?,
            ips: parse_ips(params)?,
            privileges: parse_acls(params)?,
        };
        Ok::<_, ApiError>((name, changes))
    })()
    .map_err(|e| failed_to(WHAT, e))?;
    let actor = actor.clone();
    let token = state
        .db
        .write(move |conn| token_ops::update(conn, &actor, &name, changes))
        .await
        .map_err(|e: OpError| failed_to(WHAT, e))?;
    Ok(Some(Value::Object(details(&token))))
}

pub async fn revoke(state: &AppState, actor: &Actor, params: &Params) -> Outcome {
    const WHAT: &str = "revoke the API tokens";
    let raw = params
        .list("token_name")
        .filter(|names| names.iter().any(|n| !n.trim().is_empty()))
        .ok_or_else(|| failed_to(WHAT, ApiError::refused("Give at least one “token_name”.")))?;
    // A name that cannot be valid cannot exist: skipped like any unknown name.
    let names: Vec<TokenName> = raw
        .into_iter()
        .filter_map(|n| TokenName::parse(n).ok())
        .collect();
    let actor = actor.clone();
    state
        .db
        .write(move |conn| token_ops::revoke(conn, &actor, &names))
        .await
        .map_err(|e: OpError| failed_to(WHAT, e))?;
    Ok(None)
}
