//! Checking an API call's token: one indexed lookup by digest, joined to its
//! owner (or the same, kept in memory: [`crate::auth::token_cache`]), then
//! the rules. Every failure looks the same to the caller; the reason is for
//! the log.

use std::net::IpAddr;

use diesel::prelude::*;

use crate::db::models::AccountRow;
use crate::db::schema::{accounts, tokens};
use crate::db::DbConnection;
use crate::domain::token_policy::{PolicyBreach, TokenPolicy};
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
    /// It breaks root's token policy (made before the rule, or the rule
    /// was tightened since): blocked, not changed.
    Blocked {
        token: TokenName,
        breach: PolicyBreach,
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
            Self::Blocked { breach, .. } => match breach.rule() {
                "maximum lifetime" => "blocked by the token policy (maximum lifetime)",
                _ => "blocked by the token policy (allow-list required)",
            },
        }
    }
}

pub struct Authenticated {
    pub actor: Actor,
    pub token: Token,
}

/// A token and its owner as stored, with the token policy in force for
/// the owner.
#[derive(Debug, Clone)]
pub struct Found {
    pub token: Token,
    pub owner: Account,
    pub policy: TokenPolicy,
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
    let Some((token, owner)) = found else {
        return Ok(None);
    };
    let owner = Account::from(owner);
    let policy = super::policies::for_account(conn, &owner)?;
    Ok(Some(Found {
        token,
        owner,
        policy,
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
    let Found {
        token,
        owner,
        policy,
    } = found;
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
    if let Some(breach) = policy.breach(token.expiry, &token.ips, token.privileges, now) {
        return Err(Refusal::Blocked {
            token: name(),
            breach,
        });
    }
    let privileges = PrivilegeSet::effective(owner.privileges, token.privileges);
    Ok(Authenticated {
        actor: Actor {
            account: owner.clone(),
            privileges,
            follows_owner: token.privileges == PrivilegeSet::everything(),
            origin: super::actor::Origin {
                at: now,
                ip: client.map(|a| a.to_canonical().to_string()),
                request_id: None,
                token: Some(token.name.to_string()),
            },
        },
        token: token.clone(),
    })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::domain::{AccountKind, Description, Expiry, IpAllowList, Username};

    const NOW: i64 = 2_000_000_000;

    /// Root's reseller `bob` (holding `privileges`) and his token `deploy`.
    fn found(token: impl FnOnce(&mut Token), owner: impl FnOnce(&mut Account)) -> Found {
        let mut t = Token {
            id: 7,
            account_id: 2,
            name: TokenName::parse("deploy").unwrap(),
            created_at: NOW - 100,
            expiry: Expiry::Never,
            ips: IpAllowList::any(),
            privileges: PrivilegeSet::parse(["list-accts manage-api-tokens"]).unwrap(),
            last_used_at: None,
            last_used_ip: None,
            use_count: 0,
            leaked_at: None,
            leaked_from: None,
            enabled: true,
            description: Description::default(),
        };
        let mut a = Account {
            id: 2,
            username: Username::parse("bob").unwrap(),
            kind: AccountKind::Reseller,
            owner_id: Some(1),
            privileges: PrivilegeSet::parse(["list-accts manage-api-tokens suspend-acct"]).unwrap(),
            suspended: false,
            created_at: NOW - 1000,
            two_factor: false,
        };
        token(&mut t);
        owner(&mut a);
        Found {
            token: t,
            owner: a,
            policy: TokenPolicy::default(),
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    /// What is checked, as whom and from where, and what it must give.
    type Case = (
        &'static str,
        Found,
        &'static str,
        Option<IpAddr>,
        Result<(), Refusal>,
    );

    #[test]
    fn the_decision_on_a_token_as_stored() {
        let name = || TokenName::parse("deploy").unwrap();
        let keep_token = |_: &mut Token| {};
        let keep_owner = |_: &mut Account| {};
        let cases: Vec<Case> = vec![
            (
                "valid",
                found(keep_token, keep_owner),
                "bob",
                ip("192.0.2.1"),
                Ok(()),
            ),
            (
                "another account's name",
                found(keep_token, keep_owner),
                "root",
                ip("192.0.2.1"),
                Err(Refusal::WrongUser { token: name() }),
            ),
            (
                "expired this second",
                found(|t| t.expiry = Expiry::At(NOW), keep_owner),
                "bob",
                None,
                Err(Refusal::Expired { token: name() }),
            ),
            (
                "expires next second",
                found(|t| t.expiry = Expiry::At(NOW + 1), keep_owner),
                "bob",
                None,
                Ok(()),
            ),
            (
                "disabled",
                found(|t| t.enabled = false, keep_owner),
                "bob",
                None,
                Err(Refusal::Disabled { token: name() }),
            ),
            (
                "suspended owner",
                found(keep_token, |a| a.suspended = true),
                "bob",
                None,
                Err(Refusal::OwnerSuspended { token: name() }),
            ),
            (
                "outside the allow-list",
                found(
                    |t| t.ips = IpAllowList::parse("203.0.113.0/24").unwrap(),
                    keep_owner,
                ),
                "bob",
                ip("192.0.2.1"),
                Err(Refusal::AddressNotAllowed {
                    token: name(),
                    addr: ip("192.0.2.1"),
                }),
            ),
            (
                "inside the allow-list",
                found(
                    |t| t.ips = IpAllowList::parse("203.0.113.0/24").unwrap(),
                    keep_owner,
                ),
                "bob",
                ip("203.0.113.9"),
                Ok(()),
            ),
            (
                "an allow-list and no known client",
                found(
                    |t| t.ips = IpAllowList::parse("203.0.113.9").unwrap(),
                    keep_owner,
                ),
                "bob",
                None,
                Err(Refusal::AddressNotAllowed {
                    token: name(),
                    addr: None,
                }),
            ),
        ];
        for (case, found, user, client, expected) in cases {
            let got = check(&found, user, client, NOW).map(|_| ());
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn a_token_acts_with_its_owners_privileges_cut_down_to_its_own() {
        let p = |keys: &str| PrivilegeSet::parse([keys]).unwrap();
        for (case, token, owner, effective, follows) in [
            (
                "narrowed by the token",
                p("list-accts"),
                p("list-accts manage-api-tokens"),
                p("list-accts"),
                false,
            ),
            (
                "narrowed by the owner since",
                p("list-accts suspend-acct"),
                p("list-accts"),
                p("list-accts"),
                false,
            ),
            (
                "made without acl: follows the owner",
                PrivilegeSet::everything(),
                p("list-accts kill-acct"),
                p("list-accts kill-acct"),
                true,
            ),
        ] {
            let found = found(|t| t.privileges = token, |a| a.privileges = owner);
            let actor = check(&found, "bob", None, NOW).expect(case).actor;
            assert_eq!(actor.privileges, effective.expanded(), "{case}");
            assert_eq!(actor.follows_owner, follows, "{case}");
            assert_eq!(actor.origin.token.as_deref(), Some("deploy"), "{case}");
        }
    }
}
