//! `api_token_*`: the token functions, in exactly WHM's shapes.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};

use crate::domain::privileges::catalogue;
use crate::domain::{Expiry, IpAllowList, Privilege, PrivilegeSet, TokenName, TokenSecret};
use crate::ops::tokens::{self as token_ops, NewToken, Token, TokenChanges};
use crate::ops::{Actor, OpError};
use crate::state::AppState;

use super::envelope::{ApiError, Data, Outcome};
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
    Ok(Some(Value::Object(data).into()))
}

pub async fn list(state: &AppState, actor: &Actor) -> Outcome {
    let _turn = state
        .large_answers
        .acquire()
        .await
        .map_err(anyhow::Error::from)?;
    let owner = actor.account.privileges;
    let reader = actor.clone();
    let mut tokens = state
        .db
        .read(move |conn| token_ops::all(conn, &reader))
        .await
        .map_err(|e: OpError| failed_to("list the API tokens", e))?;
    // WHM's `tokens` is a map by name, which serde_json writes sorted.
    tokens.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    let listed = TokenList {
        tokens: &tokens,
        shown: ShownAcls::of(owner),
    };
    // Written straight out, not built as a tree: a list of thousands of
    // tokens, each with its map of every privilege, stays one buffer.
    let mut written = Vec::with_capacity(64 + tokens.len() * (96 + listed.shown.0.len() * 24));
    serde_json::to_writer(&mut written, &listed).map_err(anyhow::Error::from)?;
    Ok(Some(Data::Written(written)))
}

/// `{"tokens": {name: entry, …}}`, in the same bytes as the tree WHM's
/// shape would give.
struct TokenList<'a> {
    tokens: &'a [Token],
    shown: ShownAcls,
}

/// The privileges a list shows (every one for root, those held for a
/// reseller), in key order, with the owner's set to cut tokens down by.
struct ShownAcls(Vec<(&'static str, Privilege)>, PrivilegeSet);

impl ShownAcls {
    fn of(owner: PrivilegeSet) -> Self {
        let shown = owner.expanded();
        let mut keys: Vec<(&'static str, Privilege)> = catalogue()
            .iter()
            .map(|e| (e.key, Privilege::named(e.key)))
            .filter(|(_, p)| shown.contains(*p))
            .collect();
        keys.sort_unstable_by_key(|(k, _)| *k);
        Self(keys, owner)
    }
}

struct Entry<'a> {
    token: &'a Token,
    shown: &'a ShownAcls,
}

struct AclFlags<'a>(&'a Token, &'a ShownAcls);

impl Serialize for TokenList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct ByName<'a>(&'a TokenList<'a>);
        impl Serialize for ByName<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.0.tokens.len()))?;
                for token in self.0.tokens {
                    let entry = Entry {
                        token,
                        shown: &self.0.shown,
                    };
                    map.serialize_entry(&token.name, &entry)?;
                }
                map.end()
            }
        }
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("tokens", &ByName(self))?;
        map.end()
    }
}

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.token;
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry("acls", &AclFlags(t, self.shown))?;
        map.serialize_entry("create_time", &t.created_at)?;
        map.serialize_entry(
            "expires_at",
            &match t.expiry {
                Expiry::Never => None,
                Expiry::At(at) => Some(at),
            },
        )?;
        map.serialize_entry("name", &t.name)?;
        map.serialize_entry("whitelist_ips", &(!t.ips.is_any()).then(|| t.ips.entries()))?;
        map.end()
    }
}

impl Serialize for AclFlags<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (token, shown) = (self.0, self.1);
        let granted = PrivilegeSet::effective(shown.1, token.privileges);
        let mut map = s.serialize_map(Some(shown.0.len()))?;
        for (key, p) in &shown.0 {
            map.serialize_entry(key, &u8::from(granted.contains(*p)))?;
        }
        map.end()
    }
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
    Ok(token.map(|t| Value::Object(details(&t)).into()))
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
    Ok(Some(Value::Object(details(&token)).into()))
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
