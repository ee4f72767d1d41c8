//! A token as a row of the table shows it: its state (colour), what it may
//! do in words, and its use.

use crate::domain::{Expiry, ServerClock};
use crate::ops::tokens::Token;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    Current,
    ExpiresSoon,
    Expired,
}

pub struct RowView {
    pub id: i64,
    pub description: String,
    pub enabled: bool,
    /// On `/tokens/all`: the owning account.
    pub owner: String,
    pub name: String,
    pub created: String,
    pub expires: String,
    pub ips: String,
    pub state: RowState,
    /// What the token may do at a glance: "Everything", or "List
    /// Accounts, Suspend Accounts +3".
    pub privileges: String,
    /// Every privilege it holds, for hover and focus.
    pub privileges_full: String,
    /// "Never", or how long ago ("3 minutes ago").
    pub last_used: String,
    /// The exact time, the address and the count, for hover and focus.
    pub last_used_detail: String,
    /// "" or, for a token reported leaked, when and from where.
    pub leaked: String,
    /// "" or, for a token root's policy blocks, the rule it breaks.
    pub blocked: String,
}

/// A privilege set in words: "Everything", or the first `shown` labels and
/// how many more.
pub fn privilege_summary(set: crate::domain::PrivilegeSet, shown: usize) -> String {
    if set.contains(crate::domain::Privilege::ALL) {
        return "Everything".to_owned();
    }
    let labels: Vec<&str> = set.iter().map(|p| p.entry().label).collect();
    let more = labels.len().saturating_sub(shown);
    let head = labels[..labels.len().min(shown)].join(", ");
    if more > 0 {
        format!("{head} +{more}")
    } else {
        head
    }
}

/// How long ago `then` was, in words.
pub fn ago(then: i64, now: i64) -> String {
    let secs = (now - then).max(0);
    let (n, unit) = match secs {
        0..60 => return "just now".to_owned(),
        60..3600 => (secs / 60, "minute"),
        3600..86_400 => (secs / 3600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// A token's use, in words: when, from where, how often.
pub fn usage_detail(token: &Token, clock: &ServerClock) -> String {
    match token.last_used_at {
        None => "Never used".to_owned(),
        Some(at) => format!(
            "Last used {} from {}; {} call{} in all",
            clock.format(at),
            token
                .last_used_ip
                .as_deref()
                .unwrap_or("an unknown address"),
            token.use_count,
            if token.use_count == 1 { "" } else { "s" }
        ),
    }
}

impl RowView {
    pub(super) fn of(token: &Token, clock: &ServerClock, now: i64) -> Self {
        let state = if token.expiry.is_expired(now) {
            RowState::Expired
        } else if token.expiry.expires_soon(now) {
            RowState::ExpiresSoon
        } else {
            RowState::Current
        };
        Self {
            id: token.id,
            description: token.description.to_string(),
            enabled: token.enabled,
            owner: String::new(),
            name: token.name.to_string(),
            created: clock.format(token.created_at),
            expires: match token.expiry {
                Expiry::Never => String::new(),
                Expiry::At(t) => clock.format(t),
            },
            ips: token.ips.to_string(),
            state,
            privileges: privilege_summary(token.privileges, 2),
            privileges_full: privilege_summary(token.privileges, usize::MAX),
            last_used: token
                .last_used_at
                .map_or_else(|| "Never".to_owned(), |at| ago(at, now)),
            last_used_detail: usage_detail(token, clock),
            blocked: String::new(),
            leaked: token.leaked_at.map_or_else(String::new, |at| {
                format!(
                    "Reported leaked on {} from {}: disabled until you regenerate it",
                    clock.format(at),
                    token.leaked_from.as_deref().unwrap_or("an unknown address")
                )
            }),
        }
    }

    pub fn row_class(&self) -> &'static str {
        if !self.enabled {
            return "disabled";
        }
        match self.state {
            RowState::Current => "",
            RowState::ExpiresSoon => "expiring",
            RowState::Expired => "expired",
        }
    }

    pub fn notice(&self) -> &'static str {
        match self.state {
            RowState::Current => "",
            RowState::ExpiresSoon => "Expires in less than 24 hours",
            RowState::Expired => "Expired",
        }
    }

    pub fn status_class(&self) -> &'static str {
        match self.state {
            RowState::Current => "",
            RowState::ExpiresSoon => "expiring",
            RowState::Expired => "expired",
        }
    }

    /// The visible word beside the colour ("Expires soon", "Expired").
    pub fn status(&self) -> &'static str {
        match self.state {
            RowState::Current => "",
            RowState::ExpiresSoon => "Expires soon",
            RowState::Expired => "Expired",
        }
    }
}
