//! Account functions: `listaccts`, `createacct`, `suspendacct`,
//! `unsuspendacct`, `removeacct`, `modifyacct`.

use serde::Serialize;

use crate::domain::{AccountKind, EmailAddress, Password, Username};
use crate::ops::accounts::{self as account_ops, NewAccount};
use crate::ops::{Account, OpError};
use crate::web::params::Params;

use super::call::{required, Call};
use super::envelope::{ApiError, Data, Outcome};

/// An account as `listaccts` and `createacct` give it.
#[derive(Serialize)]
struct AccountEntry<'a> {
    /// Empty for root, which has no owner.
    owner: &'a str,
    reseller: u8,
    suspended: u8,
    unix_startdate: i64,
    user: &'a Username,
    /// The contact address (where expiry notices go); empty when none.
    email: &'a str,
}

impl<'a> AccountEntry<'a> {
    fn of(a: &'a Account, owner: Option<&'a Username>, email: Option<&'a EmailAddress>) -> Self {
        let owner = owner.map_or("", Username::as_str);
        Self {
            email: email.map_or("", EmailAddress::as_str),
            owner,
            reseller: u8::from(a.kind == AccountKind::Reseller),
            suspended: u8::from(a.suspended),
            unix_startdate: a.created_at,
            user: &a.username,
        }
    }
}

#[derive(Serialize)]
struct Listed<'a> {
    acct: Vec<AccountEntry<'a>>,
}

/// `{"user": …}`, and whether it is suspended where that changed.
#[derive(Serialize)]
struct Changed<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    suspended: Option<u8>,
    user: &'a Username,
}

/// `contactemail`: absent says nothing; empty clears the address.
fn contact_email(params: &Params) -> Result<Option<Option<EmailAddress>>, ApiError> {
    params
        .get("contactemail")
        .map(|raw| EmailAddress::parse_optional(raw).map_err(|e| ApiError::refused(e.to_string())))
        .transpose()
}

fn username(raw: &str) -> Result<Username, ApiError> {
    Username::parse(raw).map_err(|e| ApiError::refused(e.to_string()))
}

/// The account a call names: a name that cannot be a user name names no
/// account, and says so the same way.
fn named_account(params: &Params, key: &str) -> Result<Username, ApiError> {
    let raw = required(params, key)?;
    Username::parse(raw).map_err(|_| OpError::AccountNotFound(raw.to_owned()).into())
}

pub async fn list(call: &Call<'_>) -> Outcome {
    let accounts = call
        .state
        .read_as(call.actor, crate::ops::account_listing::list)
        .await?;
    Data::json(&Listed {
        acct: accounts
            .iter()
            .map(|s| AccountEntry::of(&s.account, s.owner.as_ref(), s.contact_email.as_ref()))
            .collect(),
    })
    .map(Some)
}

pub async fn create(call: &Call<'_>) -> Outcome {
    let params = call.params;
    let name = username(required(params, "username")?)?;
    let password = Password::for_account(required(params, "password")?, &name)
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
    let email = contact_email(params)?.flatten();
    let hash = call.state.passwords.hash_now(password).await?;
    let now = call.state.clock.now();
    let created = call
        .state
        .write_as(call.actor, move |conn, actor| {
            let new = NewAccount {
                username: name,
                kind,
                owner,
                password_hash: Some(hash),
                privileges: None,
                contact_email: email.clone(),
            };
            let account = account_ops::create(conn, actor, new, now)?;
            let owner = account_ops::load(conn, account.owner_id.unwrap_or(actor.id()))?;
            Ok((account, owner.username, email))
        })
        .await?;
    let (account, owner, email) = created;
    Ok(Some(Data::json(&AccountEntry::of(
        &account,
        Some(&owner),
        email.as_ref(),
    ))?))
}

async fn set_suspended(call: &Call<'_>, suspended: bool) -> Outcome {
    let user = named_account(call.params, "user")?;
    // WHM's `disallowun`: whether the owner may lift root's suspension.
    let lock = match call.params.get("disallowun") {
        None | Some("") => None,
        Some("1") => Some(true),
        Some("0") => Some(false),
        Some(_) => return Err(ApiError::refused("“disallowun” must be 0 or 1.")),
    };
    let account = call
        .state
        .write_as(call.actor, move |conn, actor| {
            account_ops::set_suspended(conn, actor, &user, suspended, lock)
        })
        .await?;
    Data::json(&Changed {
        suspended: Some(u8::from(account.suspended)),
        user: &account.username,
    })
    .map(Some)
}

pub async fn suspend(call: &Call<'_>) -> Outcome {
    set_suspended(call, true).await
}

pub async fn unsuspend(call: &Call<'_>) -> Outcome {
    set_suspended(call, false).await
}

pub async fn remove(call: &Call<'_>) -> Outcome {
    // WHM takes `user`, and `username` too.
    let key = match required(call.params, "user") {
        Ok(_) => "user",
        Err(_) => "username",
    };
    let user = named_account(call.params, key)?;
    let removed = call
        .state
        .write_as(call.actor, move |conn, actor| {
            account_ops::delete(conn, actor, &user)
        })
        .await?;
    Data::json(&Changed {
        suspended: None,
        user: &removed.username,
    })
    .map(Some)
}

/// Renames an account (`newuser`) and sets its contact address
/// (`contactemail`, empty to clear it), in one transaction.
pub async fn modify(call: &Call<'_>) -> Outcome {
    let user = named_account(call.params, "user")?;
    let new_name = call
        .params
        .get("newuser")
        .filter(|n| !n.is_empty())
        .map(username)
        .transpose()?;
    let email = contact_email(call.params)?;
    if new_name.is_none() && email.is_none() {
        return Err(ApiError::refused(
            "Specify a new user name (“newuser”) or a contact address (“contactemail”).",
        ));
    }
    let account = call
        .state
        .write_as(call.actor, move |conn, actor| {
            let mut account = None;
            if let Some(email) = &email {
                account = Some(account_ops::set_contact_email(
                    conn,
                    actor,
                    &user,
                    email.as_ref(),
                )?);
            }
            if let Some(new_name) = &new_name {
                account = Some(account_ops::rename(conn, actor, &user, new_name)?);
            }
            Ok(account.expect("one change was asked for"))
        })
        .await?;
    Data::json(&Changed {
        suspended: None,
        user: &account.username,
    })
    .map(Some)
}
