//! Checking an API call's token: one indexed lookup by digest, joined to its
//! owner, then the rules. Every failure looks the same to the caller; the
//! reason is for the log.

use std::net::IpAddr;

use diesel::prelude::*;

use crate::db::models::{AccountRow, TokenRow};
use crate::db::schema::{accounts, tokens};
use crate::db::DbConnection;
use crate::domain::{PrivilegeSet, TokenSecret};

use super::tokens::Token;
use super::{Account, Actor, OpError};

/// What the log is told about a refused call. Never shown to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    MalformedSecret,
    UnknownToken,
    WrongUser {
        token: String,
    },
    Expired {
        token: String,
    },
    OwnerSuspended {
        token: String,
    },
    /// `addr: None`: a trusted proxy sent a chain that could not be read.
    AddressNotAllowed {
        token: String,
        addr: Option<IpAddr>,
    },
}

pub struct Authenticated {
    pub actor: Actor,
    pub token: Token,
}

pub fn authenticate(
    conn: &mut DbConnection,
    username: &str,
    secret: &str,
    client: Option<IpAddr>,
    now: i64,
) -> Result<Result<Authenticated, Refusal>, OpError> {
    let Some(secret) = TokenSecret::parse(secret) else {
        return Ok(Err(Refusal::MalformedSecret));
    };
    let digest = secret.digest();
    // This runs on every API call: run it on the concrete connection, whose
    // prepared-statement cache the multi-backend wrapper does not reach.
    macro_rules! by_digest {
        () => {
            tokens::table
                .inner_join(accounts::table)
                .filter(tokens::digest.eq(digest.as_bytes()))
                .select((TokenRow::as_select(), AccountRow::as_select()))
        };
    }
    // `load`, not `first`: the digest is unique, and a query with LIMIT is
    // not kept prepared.
    let found: Option<(TokenRow, AccountRow)> = match conn {
        DbConnection::Pg(c) => by_digest!().load(c)?,
        DbConnection::Sqlite(c) => by_digest!().load(c)?,
    }
    .pop();
    let Some((token_row, account_row)) = found else {
        return Ok(Err(Refusal::UnknownToken));
    };
    let token = Token::try_from(token_row)?;
    let account = Account::try_from(account_row)?;
    let name = || token.name.clone();
    if account.username != username {
        return Ok(Err(Refusal::WrongUser { token: name() }));
    }
    if token.expiry.is_expired(now) {
        return Ok(Err(Refusal::Expired { token: name() }));
    }
    if account.suspended {
        return Ok(Err(Refusal::OwnerSuspended { token: name() }));
    }
    if !client.map_or(token.ips.is_any(), |addr| token.ips.allows(addr)) {
        return Ok(Err(Refusal::AddressNotAllowed {
            token: name(),
            addr: client,
        }));
    }
    let privileges = PrivilegeSet::effective(account.privileges, token.privileges);
    Ok(Ok(Authenticated {
        actor: Actor {
            account,
            privileges,
        },
        token,
    }))
}
