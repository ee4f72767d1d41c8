//! Rows as stored. Insert structs (`New*`) are apart from row structs, and
//! both are apart from what the page and the API show.

use diesel::prelude::*;

use super::schema::{accounts, login_links, sessions, tokens};

#[derive(Queryable, Selectable, Identifiable, Debug, Clone)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub id: i64,
    pub username: String,
    pub kind: String,
    pub owner_id: Option<i64>,
    pub password_hash: Option<String>,
    pub privileges: String,
    pub suspended: bool,
    pub created_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = accounts)]
pub struct NewAccountRow<'a> {
    pub username: &'a str,
    pub kind: &'a str,
    pub owner_id: Option<i64>,
    pub password_hash: Option<&'a str>,
    pub privileges: &'a str,
    pub suspended: bool,
    pub created_at: i64,
}

#[derive(Queryable, Selectable, Identifiable, Associations, Debug, Clone)]
#[diesel(table_name = tokens, belongs_to(AccountRow, foreign_key = account_id))]
pub struct TokenRow {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub allowed_ips: String,
    pub privileges: String,
}

#[derive(Insertable)]
#[diesel(table_name = tokens)]
pub struct NewTokenRow<'a> {
    pub account_id: i64,
    pub name: &'a str,
    pub digest: &'a [u8],
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub allowed_ips: &'a str,
    pub privileges: &'a str,
}

#[derive(Insertable, Queryable, Selectable, Debug)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub key_digest: Vec<u8>,
    pub account_id: Option<i64>,
    pub state: String,
    pub expires_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = login_links)]
pub struct NewLoginLink<'a> {
    pub digest: &'a [u8],
    pub account_id: i64,
    pub expires_at: i64,
}
