//! What a notice says: the mail's subject and text, and the webhook's JSON.
//! Names and dates only: a notice never holds a secret (none is kept).

use serde::Serialize;

use crate::domain::ServerClock;
use crate::ops::notices::{Due, Threshold, DAY};

/// One notice, as every channel tells it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Notice {
    /// `token_expiring` or `token_expired`.
    pub event: &'static str,
    pub account: String,
    pub token: String,
    /// Unix time, as the API gives expiry.
    pub expires_at: i64,
    /// Whole days left, rounded up; 0 once expired.
    pub days_left: i64,
}

impl Notice {
    pub fn of(due: &Due, now: i64) -> Self {
        let event = match due.threshold {
            Threshold::Expired => "token_expired",
            Threshold::Week | Threshold::Day => "token_expiring",
        };
        let left = due.expires_at - now;
        Self {
            event,
            account: due.account.to_string(),
            token: due.token.to_string(),
            expires_at: due.expires_at,
            days_left: if left <= 0 { 0 } else { (left + DAY - 1) / DAY },
        }
    }

    pub fn subject(&self) -> String {
        match (self.event, self.days_left) {
            ("token_expired", _) => format!("API token “{}” has expired", self.token),
            (_, n) if n <= 1 => format!("API token “{}” expires within a day", self.token),
            (_, n) => format!("API token “{}” expires in {n} days", self.token),
        }
    }

    /// The mail's text. `page` is where the tokens page is, when known.
    pub fn text(&self, clock: &ServerClock, page: Option<&str>) -> String {
        let when = clock.format(self.expires_at);
        let zone = clock.zone_name();
        let mut text = if self.event == "token_expired" {
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
        }
    }

    #[test]
    fn a_notice_counts_whole_days_left_rounded_up_and_none_once_expired() {
        let now = 1_800_000_000;
        let week = Notice::of(&due(now + 6 * DAY + 5, Threshold::Week), now);
        assert_eq!((week.event, week.days_left), ("token_expiring", 7));
        assert_eq!(week.subject(), "API token “deploy” expires in 7 days");
        let day = Notice::of(&due(now + 6 * 3600, Threshold::Day), now);
        assert_eq!(day.days_left, 1);
        assert_eq!(day.subject(), "API token “deploy” expires within a day");
        let gone = Notice::of(&due(now - 60, Threshold::Expired), now);
        assert_eq!((gone.event, gone.days_left), ("token_expired", 0));
        let text = gone.text(
            &ServerClock::new(chrono_tz::UTC),
            Some("https://whm.example.com"),
        );
        assert!(text.contains("alice") && text.contains("https://whm.example.com/tokens"));
    }
}
