//! Rows as stored, where they differ from what the operations use: an
//! account's row before its kind decides its privileges, and the insert
//! structs. Columns holding domain types are read and written as those
//! types (see [`super::sql_types`]).

use diesel::prelude::*;

use super::schema::{accounts, login_links, sessions, tokens};
use crate::domain::{
    AccountKind, Description, EmailAddress, PrivilegeSet, TokenDigest, TokenName, Username,
};

/// An account without its password hash, which only signing in reads.
#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub id: i64,
    pub username: Username,
    pub kind: AccountKind,
    pub owner_id: Option<i64>,
    pub privileges: PrivilegeSet,
    pub suspended: bool,
    pub created_at: i64,
    /// Whether two-factor sign-in is on: an authenticator app's secret (never
    /// read with the account) or a passkey.
    #[diesel(select_expression = accounts::totp_secret.is_not_null().or(accounts::passkey_count.gt(0)))]
    #[diesel(select_expression_type = diesel::dsl::Or<
        diesel::dsl::IsNotNull<accounts::totp_secret>,
        diesel::dsl::Gt<accounts::passkey_count, i64>,
    >)]
    pub two_factor: bool,
}

#[derive(Insertable)]
#[diesel(table_name = accounts)]
pub struct NewAccountRow<'a> {
    pub username: &'a Username,
    pub kind: AccountKind,
    pub owner_id: Option<i64>,
    pub password_hash: Option<&'a str>,
    pub privileges: &'a str,
    pub suspended: bool,
    pub created_at: i64,
    pub contact_email: Option<&'a EmailAddress>,
}

#[derive(Insertable)]
#[diesel(table_name = tokens)]
pub struct NewTokenRow<'a> {
    pub account_id: i64,
    pub name: &'a TokenName,
    pub digest: &'a TokenDigest,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub allowed_ips: &'a str,
    pub privileges: &'a str,
    pub description: &'a Description,
}

#[derive(Insertable, Queryable, Selectable, Debug)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub key_digest: Vec<u8>,
    pub account_id: Option<i64>,
    pub state: String,
    pub expires_at: i64,
    pub created_at: i64,
    pub last_seen: i64,
}

#[derive(Insertable)]
#[diesel(table_name = login_links)]
pub struct NewLoginLink<'a> {
    pub digest: &'a TokenDigest,
    pub account_id: i64,
    pub expires_at: i64,
}
