//! Tokens reported leaked (`POST /tokens/report-leaked`): each one found
//! is disabled at once (the change reaches every instance's cache like any
//! other), marked with the time and the reporter's address, and recorded
//! in its owner's activity. A token already marked is left as it is, so a
//! token reported again and again is one event and one notice. Regenerate
//! ([`super::tokens::regenerate`]) clears the mark and enables it again.

use diesel::prelude::*;

use crate::db::schema::{accounts, tokens};
use crate::db::DbConnection;
use crate::domain::{AuditEvent, TokenDigest, TokenName, Username};

use super::audit::{self, About, Target};
use super::OpError;

/// Whether any token not yet marked leaked has one of these digests: a
/// read, so that the many reports that find nothing take no write (nor
/// make every instance's token checks stale).
pub fn any_unmarked(conn: &mut DbConnection, digests: &[TokenDigest]) -> Result<bool, OpError> {
    if digests.is_empty() {
        return Ok(false);
    }
    Ok(diesel::select(diesel::dsl::exists(
        tokens::table
            .filter(tokens::digest.eq_any(digests))
            .filter(tokens::leaked_at.is_null()),
    ))
    .get_result(conn)?)
}

/// Marks the tokens whose secrets have these digests as leaked, in one
/// transaction (the caller's). Returns how many were newly marked. Cost:
/// one indexed lookup per digest (one query), one update.
pub fn report(
    conn: &mut DbConnection,
    digests: &[TokenDigest],
    from: Option<&str>,
    now: i64,
) -> Result<usize, OpError> {
    if digests.is_empty() {
        return Ok(0);
    }
    let found: Vec<(i64, TokenName, i64, Option<i64>, Username)> = tokens::table
        .inner_join(accounts::table)
        .filter(tokens::digest.eq_any(digests))
        .filter(tokens::leaked_at.is_null())
        .select((
            tokens::id,
            tokens::name,
            accounts::id,
            accounts::owner_id,
            accounts::username,
        ))
        .load(conn)?;
    if found.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = found.iter().map(|f| f.0).collect();
    // Only those this report marks: of two reports at once, one does.
    let marked: Vec<i64> = diesel::update(tokens::table.filter(tokens::id.eq_any(&ids)))
        .filter(tokens::leaked_at.is_null())
        .set((
            tokens::enabled_before_leak.eq(tokens::enabled.nullable()),
            tokens::enabled.eq(false),
            tokens::leaked_at.eq(now),
            tokens::leaked_from.eq(from),
        ))
        .returning(tokens::id)
        .get_results(conn)?;
    let reporter = from.unwrap_or("an unknown address");
    let mut n = 0;
    for (_, token, account_id, owner_id, account) in found.iter().filter(|f| marked.contains(&f.0))
    {
        n += 1;
        audit::record_system(
            conn,
            now,
            AuditEvent::TokenReportedLeaked,
            About {
                token: Some(token.to_string()),
                target: Some(Target {
                    name: account.to_string(),
                    id: *account_id,
                    owner_id: *owner_id,
                }),
                detail: format!("reported leaked from {reporter}; the token is disabled until it is regenerated"),
            },
        )?;
    }
    Ok(n)
}
