//! `api_token_*`: the token functions, in exactly WHM's shapes.

use serde::Serialize;

use crate::domain::ip_allow_list::IpAllowListError;
use crate::domain::privileges::PrivilegeError;
use crate::domain::{
    Description, Expiry, IpAllowList, Privilege, PrivilegeSet, TokenName, TokenSecret,
};
use crate::ops::tokens::{self as token_ops, NewToken, Token, TokenChanges};
use crate::ops::{Actor, OpError};
use crate::state::AppState;
use crate::web::params::Params;

use super::call::{required, Call};
use super::envelope::{ApiError, Data, Outcome, Piece};

/// The details shape of create, get_details and update (keys in the order
/// serde_json writes a map: sorted).
#[derive(serde::Serialize)]
struct Details<'a> {
    acls: Vec<&'static str>,
    create_time: i64,
    /// Additions to WHM's shape: `null` when there is none.
    description: Option<&'a str>,
    enabled: u8,
    expires_at: Option<i64>,
    /// Additions to WHM's shape (clients ignore keys they do not know).
    last_used_at: Option<i64>,
    last_used_ip: Option<&'a str>,
    name: &'a TokenName,
    /// Only when the token was just made: its secret, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    use_count: i64,
    whitelist_ips: Option<Vec<String>>,
}

impl<'a> Details<'a> {
    /// `owner`: the privileges its owner holds now, which a full-access
    /// token (one made without `acl`) follows.
    fn of(token: &'a Token, owner: PrivilegeSet) -> Self {
        // What it may do now: its list (or, made without one, everything)
        // cut down to what its owner holds, as `api_token_list` shows it.
        let mut acls = PrivilegeSet::effective(owner, token.privileges)
            .normalized()
            .keys();
        // WHM answers them sorted.
        acls.sort_unstable();
        Self {
            acls,
            create_time: token.created_at,
            description: (!token.description.is_empty()).then(|| token.description.as_str()),
            enabled: u8::from(token.enabled),
            expires_at: token.expiry.to_column(),
            last_used_at: token.last_used_at,
            last_used_ip: token.last_used_ip.as_deref(),
            name: &token.name,
            token: None,
            use_count: token.use_count,
            whitelist_ips: (!token.ips.is_any()).then(|| token.ips.entries()),
        }
    }
}

/// WHM's words for a list: "a", "a and b", "a, b, and c".
fn list_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    }
}

fn invalid_acls(keys: &[String]) -> ApiError {
    ApiError::refused(format!(
        "Invalid or unauthorized ACL(s) specified: {}",
        list_and(keys)
    ))
}

/// A refusal of the token functions, in WHM's words where WHM's are known.
fn whm(e: OpError) -> ApiError {
    match e {
        OpError::TokenNameTaken(name) => ApiError::refused(format!(
            "A conflicting API token with the name “{name}” already exists."
        )),
        OpError::TokenNotFound(name) => {
            ApiError::refused(format!("The API token “{name}” does not exist."))
        }
        OpError::PrivilegesNotHeld(missing) => {
            let keys: Vec<String> = missing.iter().map(|p| p.key().to_owned()).collect();
            invalid_acls(&keys)
        }
        OpError::NothingToChange => ApiError::refused("Specify a new name, updated ACLs, or IPs."),
        other => other.into(),
    }
}

fn parse_description(params: &Params) -> Result<Option<Description>, ApiError> {
    params
        .get("description")
        .map(|raw| Description::parse(raw).map_err(|e| ApiError::refused(e.to_string())))
        .transpose()
}

fn parse_name(raw: &str) -> Result<TokenName, ApiError> {
    TokenName::parse(raw).map_err(|_| {
        let shown: String = raw.chars().take(64).collect();
        ApiError::refused(format!("“{shown}” is not a valid API token name."))
    })
}

fn parse_acls(params: &Params) -> Result<Option<PrivilegeSet>, ApiError> {
    params
        .list("acl")
        .map(|keys| {
            PrivilegeSet::parse(keys).map_err(|e| match e {
                PrivilegeError::Unknown(keys) => invalid_acls(&keys),
                PrivilegeError::Empty => ApiError::refused(e.to_string()),
            })
        })
        .transpose()
}

fn parse_expiry(params: &Params, now: i64) -> Result<Option<Expiry>, ApiError> {
    params
        .get("expires_at")
        .map(|raw| Expiry::parse_epoch(raw, now).map_err(|e| ApiError::refused(e.to_string())))
        .transpose()
}

/// What an empty `whitelist_ip` means: on a new token, none (any address,
/// as leaving it out); on an update it is refused, since lifting a
/// token's restriction takes `whitelist_ip=any` (an empty value is more
/// often a script's unset variable than a wish).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Blank {
    MeansAny,
    Refused,
}

fn parse_ips(params: &Params, blank: Blank) -> Result<Option<IpAllowList>, ApiError> {
    let Some(entries) = params.list("whitelist_ip") else {
        return Ok(None);
    };
    if blank == Blank::Refused && entries.iter().all(|e| e.trim().is_empty()) {
        return Err(ApiError::refused(
            "“whitelist_ip” is empty: to let every address use the token, send whitelist_ip=any.",
        ));
    }
    // `any` means any address only on its own: beside addresses it would
    // silently lift the restriction they ask for.
    let given: Vec<&str> = entries
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .collect();
    if given.iter().any(|e| e.eq_ignore_ascii_case("any")) {
        return if given.len() == 1 {
            Ok(Some(IpAllowList::any()))
        } else {
            Err(ApiError::refused(
                "“any” must be the only entry of “whitelist_ip”: it allows every address.",
            ))
        };
    }
    IpAllowList::from_entries(entries)
        .map(Some)
        .map_err(|e| match e {
            IpAllowListError::BadEntries(bad) => ApiError::refused(format!(
                "Invalid IP address or CIDR range specified: {}",
                bad.join(", ")
            )),
            too_many => ApiError::refused(too_many.to_string()),
        })
}

pub async fn create(call: &Call<'_>) -> Outcome {
    let (params, now) = (call.params, call.state.clock.now());
    let new = NewToken {
        name: parse_name(required(params, "token_name")?)?,
        description: parse_description(params)?.unwrap_or_default(),
        expiry: parse_expiry(params, now)?.unwrap_or(Expiry::Never),
        ips: parse_ips(params, Blank::MeansAny)?.unwrap_or_default(),
        privileges: parse_acls(params)?,
    };
    let created = call
        .state
        .write_as(call.actor, move |conn, actor| {
            token_ops::create(conn, actor, new, now)
        })
        .await
        .map_err(whm)?;
    let mut details = Details::of(&created.token, call.actor.account.privileges);
    details.token = Some(created.secret.expose());
    Ok(Some(Data::json(&details)?))
}

/// Lists longer than this are streamed, a piece at a time.
pub const STREAM_LIST_FROM: usize = 1_000;

/// Tokens read and written per piece of a streamed list.
const LIST_PIECE: usize = 1_000;

pub async fn list(call: &Call<'_>) -> Outcome {
    // A list long enough to be streamed waits for its account's turn
    // first, holding nothing: an account holds one list's pieces however
    // many it asks for, and a client of its that stops reading holds up
    // only its own lists.
    let count = call
        .state
        .read_as(call.actor, |conn, actor| {
            crate::ops::accounts::token_count(conn, actor.id())
        })
        .await?;
    let mine = if count >= STREAM_LIST_FROM as i64 {
        Some(call.state.streamed_lists.take(call.actor.account.id).await)
    } else {
        None
    };
    let turn = call
        .state
        .large_answers
        .clone()
        .acquire_owned()
        .await
        .map_err(anyhow::Error::from)?;
    let owner = call.actor.account.privileges;
    // WHM's `tokens` is a map by name, which serde_json writes sorted: the
    // names (from the owner's (account, name) index) give the order.
    let mut names = call.state.read_as(call.actor, token_ops::names).await?;
    names.sort_unstable();
    if names.len() < STREAM_LIST_FROM {
        let mut tokens = call.state.read_as(call.actor, token_ops::all).await?;
        tokens.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let mut writer = ListWriter::new(owner);
        let mut written = Vec::with_capacity(64 + tokens.len() * 1024);
        written.extend_from_slice(b"{\"tokens\":{");
        for token in &tokens {
            writer
                .entry(&mut written, token)
                .map_err(anyhow::Error::from)?;
        }
        written.extend_from_slice(b"}}");
        return Ok(Some(Data::written(written)));
    }
    // A long list: read a piece of tokens by id, write it, and send it
    // while the client reads the last; two pieces at most wait. Each piece
    // is read on its own, so a token changed meanwhile shows as it is when
    // its piece is read, and one deleted meanwhile is left out. The turn
    // is kept while the client keeps up (lists are served one after
    // another, not all slowly at once), and given back while a piece waits
    // for a client that does not: a client that stops reading holds up no
    // other account's list, and one that takes no piece for the config's
    // `stalled_reader_cut` is cut off.
    let (sender, chunks) = tokio::sync::mpsc::channel(2);
    let (state, actor) = (call.state.clone(), call.actor.clone());
    let cut = state.config.stalled_reader_cut;
    actix_web::rt::spawn(async move {
        let _mine = mine;
        let mut turn = Some(turn);
        let mut writer = ListWriter::new(owner);
        let mut out = b"{\"tokens\":{".to_vec();
        for piece in names.chunks(LIST_PIECE) {
            if turn.is_none() {
                match state.large_answers.clone().acquire_owned().await {
                    Ok(t) => turn = Some(t),
                    Err(_) => return,
                }
            }
            let ids: Vec<i64> = piece.iter().map(|(_, id)| *id).collect();
            let written = write_piece(&state, &actor, &mut writer, ids, &mut out).await;
            let failed = written.is_err();
            let piece = written.map(|()| Piece::Bytes(std::mem::take(&mut out)));
            let sent = match sender.try_send(piece) {
                Ok(()) => Ok(()),
                Err(tokio::sync::mpsc::error::TrySendError::Full(piece)) => {
                    turn = None;
                    offer(&sender, piece, cut).await
                }
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => Err(()),
            };
            if sent.is_err() || failed {
                return;
            }
        }
        drop(turn);
        if offer(&sender, Ok(Piece::Bytes(b"}}".to_vec())), cut)
            .await
            .is_ok()
        {
            let _ = offer(&sender, Ok(Piece::End), cut).await;
        }
    });
    Ok(Some(Data::Streamed(chunks)))
}

/// Reads the tokens with these ids and writes their entries after `out`.
async fn write_piece(
    state: &AppState,
    actor: &Actor,
    writer: &mut ListWriter,
    ids: Vec<i64>,
    out: &mut Vec<u8>,
) -> Result<(), ApiError> {
    let mut tokens = state
        .read_as(actor, move |conn, actor| {
            token_ops::by_ids(conn, actor, &ids)
        })
        .await?;
    tokens.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    out.reserve(tokens.len() * 1024);
    for token in &tokens {
        writer
            .entry(out, token)
            .map_err(|e| ApiError::Internal(e.into()))?;
    }
    Ok(())
}

/// Hands a piece to the client's stream; `Err` when the client went away
/// or took nothing for `cut` (the answer then ends cut, without its
/// [`Piece::End`]).
async fn offer(
    sender: &tokio::sync::mpsc::Sender<Result<Piece, ApiError>>,
    piece: Result<Piece, ApiError>,
    cut: std::time::Duration,
) -> Result<(), ()> {
    match actix_web::rt::time::timeout(cut, sender.send(piece)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(()),
        Err(_) => {
            tracing::info!(waited = ?cut, "a streamed answer's client took none of it: cut off");
            Err(())
        }
    }
}

/// The privileges a list shows (every one for root, those held for a
/// reseller), in key order, with the owner's set to cut tokens down by.
struct ShownAcls(Vec<(&'static str, Privilege)>, PrivilegeSet);

impl ShownAcls {
    fn of(owner: PrivilegeSet) -> Self {
        let shown = owner.expanded();
        let mut keys: Vec<(&'static str, Privilege)> = Privilege::every()
            .filter(|p| shown.contains(*p))
            .map(|p| (p.key(), p))
            .collect();
        keys.sort_unstable_by_key(|(k, _)| *k);
        Self(keys, owner)
    }
}

/// Writes the entries of `api_token_list`, `name: {…}`, in the bytes
/// serde_json gives a map (keys sorted). Not [`Details`] again: WHM's list
/// gives `acls` as a map of every shown privilege to 1 or 0 (where the
/// other functions give a list). That map is most of an entry's bytes and
/// tokens share a few sets of privileges, so each set's map is written
/// once per list and copied after.
struct ListWriter {
    shown: ShownAcls,
    acl_maps: std::collections::HashMap<PrivilegeSet, Vec<u8>>,
    /// Whether an entry has been written (the next takes a comma).
    started: bool,
}

impl ListWriter {
    fn new(owner: PrivilegeSet) -> Self {
        Self {
            shown: ShownAcls::of(owner),
            acl_maps: std::collections::HashMap::new(),
            started: false,
        }
    }

    fn acl_map(&mut self, privileges: PrivilegeSet) -> &[u8] {
        let shown = &self.shown;
        let granted = PrivilegeSet::effective(shown.1, privileges);
        self.acl_maps.entry(granted).or_insert_with(|| {
            let mut map = Vec::with_capacity(shown.0.len() * 24);
            map.push(b'{');
            for (i, (key, p)) in shown.0.iter().enumerate() {
                if i > 0 {
                    map.push(b',');
                }
                map.push(b'"');
                map.extend_from_slice(key.as_bytes());
                map.extend_from_slice(if granted.contains(*p) {
                    b"\":1"
                } else {
                    b"\":0"
                });
            }
            map.push(b'}');
            map
        })
    }

    /// `"name":{…}`, after a comma unless it is the first.
    fn entry(&mut self, out: &mut Vec<u8>, t: &Token) -> serde_json::Result<()> {
        if std::mem::replace(&mut self.started, true) {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, &t.name)?;
        out.extend_from_slice(b":{\"acls\":");
        out.extend_from_slice(self.acl_map(t.privileges));
        field(out, b",\"create_time\":", &t.created_at)?;
        field(
            out,
            b",\"description\":",
            &(!t.description.is_empty()).then(|| t.description.as_str()),
        )?;
        field(out, b",\"enabled\":", &u8::from(t.enabled))?;
        field(out, b",\"expires_at\":", &t.expiry.to_column())?;
        field(out, b",\"last_used_at\":", &t.last_used_at)?;
        field(out, b",\"last_used_ip\":", &t.last_used_ip)?;
        field(out, b",\"name\":", &t.name)?;
        field(out, b",\"use_count\":", &t.use_count)?;
        field(
            out,
            b",\"whitelist_ips\":",
            &(!t.ips.is_any()).then(|| t.ips.entries()),
        )?;
        out.push(b'}');
        Ok(())
    }
}

/// `key` (with its comma and colon) and `value` as JSON.
fn field<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    key: &[u8],
    value: &T,
) -> serde_json::Result<()> {
    out.extend_from_slice(key);
    serde_json::to_writer(out, value)
}

pub async fn get_details(call: &Call<'_>) -> Outcome {
    let raw = required(call.params, "token")?;
    // A string that cannot be a secret is simply a token that does not exist.
    let Some(secret) = TokenSecret::parse(raw.trim()) else {
        return Ok(None);
    };
    let now = call.state.clock.now();
    let token = call
        .state
        .read_as(call.actor, move |conn, actor| {
            token_ops::get_by_secret(conn, actor, &secret, now)
        })
        .await?;
    let owner = call.actor.account.privileges;
    token
        .map(|t| Data::json(&Details::of(&t, owner)))
        .transpose()
}

pub async fn update(call: &Call<'_>) -> Outcome {
    let (params, now) = (call.params, call.state.clock.now());
    let name = parse_name(required(params, "token_name")?)?;
    let enabled = match params.get("enabled") {
        None => None,
        Some("1") => Some(true),
        Some("0") => Some(false),
        Some(_) => return Err(ApiError::refused("“enabled” must be 0 or 1.")),
    };
    let changes = TokenChanges {
        new_name: params.get("new_name").map(parse_name).transpose()?,
        enabled,
        description: parse_description(params)?,
        expiry: parse_expiry(params, now)?,
        ips: parse_ips(params, Blank::Refused)?,
        privileges: parse_acls(params)?,
    };
    let token = call
        .state
        .write_as(call.actor, move |conn, actor| {
            token_ops::update(conn, actor, &name, changes)
        })
        .await
        .map_err(whm)?;
    Ok(Some(Data::json(&Details::of(
        &token,
        call.actor.account.privileges,
    ))?))
}

/// `api_token_regenerate`: a new secret for `token_name`, everything else
/// kept; answers as `api_token_create` does, with the new `token`.
pub async fn regenerate(call: &Call<'_>) -> Outcome {
    let name = parse_name(required(call.params, "token_name")?)?;
    let made = call
        .state
        .write_as(call.actor, move |conn, actor| {
            token_ops::regenerate(conn, actor, &name, None)
        })
        .await
        .map_err(whm)?;
    let mut details = Details::of(&made.token, call.actor.account.privileges);
    details.token = Some(made.secret.expose());
    Ok(Some(Data::json(&details)?))
}

pub async fn revoke(call: &Call<'_>) -> Outcome {
    let raw = call
        .params
        .list("token_name")
        .filter(|names| names.iter().any(|n| !n.trim().is_empty()))
        .ok_or_else(|| ApiError::refused("Provide at least one “token_name” argument."))?;
    // A name that cannot be valid cannot exist: skipped like any unknown name.
    let names: Vec<TokenName> = raw
        .into_iter()
        .filter_map(|n| TokenName::parse(n).ok())
        .collect();
    call.state
        .write_as(call.actor, move |conn, actor| {
            token_ops::revoke(conn, actor, &names)
        })
        .await?;
    Ok(None)
}
