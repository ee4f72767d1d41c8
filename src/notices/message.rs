//! What a notice says: the mail's subject and text, and the webhook's JSON.
//! Names and dates only: a notice never holds a secret (none is kept).

use serde::Serialize;

use crate::domain::ServerClock;
use crate::ops::notices::{Due, Threshold, DAY};

/// One notice, as every channel tells it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Notice {
    /// `token_expiring`, `token_expired`, `token_leaked` or `token_unused`.
    pub event: &'static str,
    pub account: String,
    pub token: String,
    /// Unix time, as the API gives expiry (not in `token_leaked`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Whole days left, rounded up; 0 once expired (not in `token_leaked`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
    /// `token_leaked`: when it was reported (Unix time), and from where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported_from: Option<String>,
    /// `token_unused`: when root's policy will disable it (Unix time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disables_at: Option<i64>,
}

impl Notice {
    pub fn of(due: &Due, now: i64) -> Self {
        let event = match due.threshold {
            Threshold::Expired => "token_expired",
            Threshold::Week | Threshold::Day => "token_expiring",
            Threshold::Leaked => "token_leaked",
            Threshold::Unused => "token_unused",
        };
        let left = due.expires_at - now;
        let leaked = due.threshold == Threshold::Leaked;
        let unused = due.threshold == Threshold::Unused;
        let expiry = due.threshold.is_expiry();
        Self {
            event,
            account: due.account.to_string(),
            token: due.token.to_string(),
            expires_at: expiry.then_some(due.expires_at),
            days_left: (!leaked).then_some(if left <= 0 { 0 } else { (left + DAY - 1) / DAY }),
            disables_at: unused.then_some(due.expires_at),
            reported_at: leaked.then_some(due.expires_at),
            reported_from: if leaked {
                due.reported_from.clone()
            } else {
                None
            },
        }
    }

    pub fn subject(&self) -> String {
        match (self.event, self.days_left.unwrap_or(0)) {
            ("token_unused", n) => format!(
                "API token “{}” will be disabled in {n} day{} unless used",
                self.token,
                if n == 1 { "" } else { "s" }
            ),
            ("token_leaked", _) => format!("API token “{}” was reported leaked", self.token),
            ("token_expired", _) => format!("API token “{}” has expired", self.token),
            (_, n) if n <= 1 => format!("API token “{}” expires within a day", self.token),
            (_, n) => format!("API token “{}” expires in {n} days", self.token),
        }
    }

    /// The mail's text. `page` is where the tokens page is, when known.
    pub fn text(&self, clock: &ServerClock, page: Option<&str>) -> String {
        let when = clock.format(
            self.expires_at
                .or(self.reported_at)
                .or(self.disables_at)
                .unwrap_or(0),
        );
        let zone = clock.zone_name();
        let mut text = if self.event == "token_unused" {
            format!(
                "The API token “{}” of the account {} has not been used for a long time. \
                 Root's token policy disables unused tokens: it will be disabled on {when} ({zone}).\n\n\
                 If a script still needs it, use it before then (any successful call counts). \
                 If nothing does, revoke it.\n",
                self.token, self.account
            )
        } else if self.event == "token_leaked" {
            format!(
                "The API token “{}” of the account {} was reported leaked on {when} ({zone}), \
                 from {}.\n\n\
                 It has been disabled: calls made with it are refused. Anyone who found its \
                 secret could have used it. Regenerate the token to give it a new secret, which \
                 enables it again, and put the new secret in the scripts that use it.\n",
                self.token,
                self.account,
                self.reported_from
                    .as_deref()
                    .unwrap_or("an unknown address")
            )
        } else if self.event == "token_expired" {
            format!(
                "The API token “{}” of the account {} expired on {when} ({zone}).\n\n\
                 Calls made with it are refused. If a script still needs it, edit the \
                 token to give it a new expiry, or generate a new one.\n",
                self.token, self.account
            )
        } else {
            format!(
                "The API token “{}” of the account {} expires on {when} ({zone}).\n\n\
                 After that, calls made with it are refused. To keep a script working, \
                 edit the token to give it a later expiry, or generate a new one before then.\n",
                self.token, self.account
            )
        };
        if let Some(page) = page {
            text.push_str(&format!("\nManage your tokens: {page}/tokens\n"));
        }
        text.push_str("\nThis notice was sent by whm-tokens because this address is the account's contact address.\n");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{TokenName, Username};

    fn due(expires_at: i64, threshold: Threshold) -> Due {
        Due {
            token_id: 1,
            token: TokenName::parse("deploy").unwrap(),
            expires_at,
            account_id: 2,
            owner_id: None,
            account: Username::parse("alice").unwrap(),
            contact_email: None,
            threshold,
            reported_from: None,
        }
    }

    #[test]
    fn a_notice_counts_whole_days_left_rounded_up_and_none_once_expired() {
        let now = 1_800_000_000;
        let week = Notice::of(&due(now + 6 * DAY + 5, Threshold::Week), now);
        assert_eq!((week.event, week.days_left), ("token_expiring", Some(7)));
        assert_eq!(week.subject(), "API token “deploy” expires in 7 days");
        let day = Notice::of(&due(now + 6 * 3600, Threshold::Day), now);
        assert_eq!(day.days_left, Some(1));
        assert_eq!(day.subject(), "API token “deploy” expires within a day");
        let gone = Notice::of(&due(now - 60, Threshold::Expired), now);
        assert_eq!((gone.event, gone.days_left), ("token_expired", Some(0)));
        let text = gone.text(
            &ServerClock::new(chrono_tz::UTC),
            Some("https://whm.example.com"),
        );
        assert!(text.contains("alice") && text.contains("https://whm.example.com/tokens"));
        let leaked = Notice::of(
            &Due {
                reported_from: Some("198.51.100.7".to_owned()),
                ..due(now - 60, Threshold::Leaked)
            },
            now,
        );
        assert_eq!(
            (leaked.event, leaked.expires_at, leaked.reported_at),
            ("token_leaked", None, Some(now - 60))
        );
        assert_eq!(leaked.subject(), "API token “deploy” was reported leaked");
        let text = leaked.text(&ServerClock::new(chrono_tz::UTC), None);
        assert!(
            text.contains("198.51.100.7") && text.contains("Regenerate"),
            "{text}"
        );
    }
}
