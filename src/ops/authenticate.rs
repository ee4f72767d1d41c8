//! Checking an API call's token: one indexed lookup by digest, joined to its
//! owner (or the same, kept in memory: [`crate::auth::token_cache`]), then
//! the rules. Every failure looks the same to the caller; the reason is for
//! the log.

use std::net::IpAddr;

use diesel::prelude::*;

use crate::db::models::AccountRow;
use crate::db::schema::{accounts, tokens};
use crate::db::DbConnection;
use crate::domain::{PrivilegeSet, TokenDigest, TokenName};

use super::tokens::Token;
use super::{Account, Actor, OpError};

/// What the log is told about a refused call. Never shown to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    MalformedSecret,
    UnknownToken,
    WrongUser {
        token: TokenName,
    },
    Expired {
        token: TokenName,
    },
    Disabled {
        token: TokenName,
    },
    OwnerSuspended {
        token: TokenName,
    },
    /// `addr: None`: a trusted proxy sent a chain that could not be read.
    AddressNotAllowed {
        token: TokenName,
        addr: Option<IpAddr>,
    },
}

impl Refusal {
    /// The real reason, for the log and the audit trail (never the caller).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MalformedSecret => "not a token this server issues",
            Self::UnknownToken => "unknown token",
            Self::WrongUser { .. } => "the token belongs to another account",
            Self::Expired { .. } => "the token has expired",
            Self::Disabled { .. } => "disabled",
            Self::OwnerSuspended { .. } => "the owner is suspended",
            Self::AddressNotAllowed { .. } => "the address is not allowed",
        }
    }
}

pub struct Authenticated {
    pub actor: Actor,
    pub token: Token,
}

/// A token and its owner as stored.
#[derive(Debug, Clone)]
pub struct Found {
    pub token: Token,
    pub owner: Account,
}

/// The token whose secret has this digest, with its owner.
pub fn lookup(conn: &mut DbConnection, digest: &TokenDigest) -> Result<Option<Found>, OpError> {
    // This runs on every call the cache cannot answer: run it on the
    // concrete connection, whose prepared-statement cache the multi-backend
    // wrapper does not reach.
    macro_rules! by_digest {
        () => {
            tokens::table
                .inner_join(accounts::table)
                .filter(tokens::digest.eq(digest))
                .select((Token::as_select(), AccountRow::as_select()))
        };
    }
    // `load`, not `first`: the digest is unique, and a query with LIMIT is
    // not kept prepared.
    let found: Option<(Token, AccountRow)> = match conn {
        DbConnection::Pg(c) => by_digest!().load(c)?,
        DbConnection::Sqlite(c) => by_digest!().load(c)?,
    }
    .pop();
    Ok(found.map(|(token, owner)| Found {
        token,
        owner: Account::from(owner),
    }))
}

/// The rules, on a token as stored: the caller's name is the owner's, the
/// token has not expired, the owner is not suspended, and the client's
/// address is allowed.
pub fn check(
    found: &Found,
    username: &str,
    client: Option<IpAddr>,
    now: i64,
) -> Result<Authenticated, Refusal> {
    let Found { token, owner } = found;
    let name = || token.name.clone();
    if owner.username.as_str() != username {
        return Err(Refusal::WrongUser { token: name() });
    }
    if token.expiry.is_expired(now) {
        return Err(Refusal::Expired { token: name() });
    }
    if !token.enabled {
        return Err(Refusal::Disabled { token: name() });
    }
    if owner.suspended {
        return Err(Refusal::OwnerSuspended { token: name() });
    }
    if !client.map_or(token.ips.is_any(), |addr| token.ips.allows(addr)) {
        return Err(Refusal::AddressNotAllowed {
            token: name(),
            addr: client,
        });
    }
    let privileges = PrivilegeSet::effective(owner.privileges, token.privileges);
    Ok(Authenticated {
        actor: Actor {
            account: owner.clone(),
            privileges,
            follows_owner: token.privileges == PrivilegeSet::everything(),
            origin: super::actor::Origin {
                ip: client.map(|a| a.to_canonical().to_string()),
                request_id: None,
                token: Some(token.name.to_string()),
            },
        },
        token: token.clone(),
    })
}
