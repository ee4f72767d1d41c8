//! Root's rules for tokens: one policy for everyone, with overrides per
//! reseller. Each rule is off at 0 (or an empty privilege list):
//!
//! - **maximum lifetime** (days): a token must expire, and no later than
//!   that many days from now. A token made before the rule that expires
//!   later is *blocked* (refused, kept) until it comes within the limit,
//!   is edited to, or the rule is relaxed;
//! - **allow-list required for** chosen privileges: a token that holds any
//!   of them (a full-access token holds them all) must have an IP
//!   allow-list;
//! - **disable unused** (days): a token unused that long (or, never used,
//!   made that long ago) is disabled by the server;
//! - **remove expired** (days): a token expired that long ago is removed
//!   by the server.
//!
//! The first two decide each call (see [`TokenPolicy::breach`]); the last
//! two are the server's housekeeping.

use std::fmt;

use super::expiry::Expiry;
use super::ip_allow_list::IpAllowList;
use super::privileges::PrivilegeSet;

pub const DAY: i64 = 86_400;
/// The longest any rule may count: ten years.
pub const MAX_DAYS: u32 = 3650;

/// A policy in force: everyone's, with an account's override applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TokenPolicy {
    pub max_lifetime_days: u32,
    pub require_ip_for: PrivilegeSet,
    pub disable_unused_days: u32,
    pub delete_expired_days: u32,
}

/// A reseller's override: each rule set here replaces everyone's; `None`
/// keeps everyone's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyOverride {
    pub max_lifetime_days: Option<u32>,
    pub require_ip_for: Option<PrivilegeSet>,
    pub disable_unused_days: Option<u32>,
    pub delete_expired_days: Option<u32>,
}

/// Which rule a token breaks, in the words users see.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PolicyBreach {
    /// It never expires, and the policy sets a maximum lifetime.
    NeverExpires { max_days: u32 },
    /// It expires later than the maximum lifetime allows.
    TooLong { max_days: u32 },
    /// It holds privileges that require an allow-list, and has none.
    NeedsAllowList { privileges: PrivilegeSet },
}

impl fmt::Display for PolicyBreach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NeverExpires { max_days } => write!(
                f,
                "The token policy requires every token to expire within {max_days} days: “never” is not allowed."
            ),
            Self::TooLong { max_days } => write!(
                f,
                "The token policy requires every token to expire within {max_days} days."
            ),
            Self::NeedsAllowList { privileges } => write!(
                f,
                "The token policy requires an IP allow-list (one that does not let every address in) for tokens with these privileges: {}.",
                privileges.keys().join(", ")
            ),
        }
    }
}

impl PolicyBreach {
    /// The rule, short, for the table's badge.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::NeverExpires { .. } | Self::TooLong { .. } => "maximum lifetime",
            Self::NeedsAllowList { .. } => "allow-list required",
        }
    }

    /// Whether it is about the expiry (else the allow-list): where a form
    /// shows it.
    pub fn is_about_expiry(&self) -> bool {
        !matches!(self, Self::NeedsAllowList { .. })
    }
}

impl TokenPolicy {
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }

    /// Everyone's policy with `over` applied.
    pub fn with(self, over: &PolicyOverride) -> Self {
        Self {
            max_lifetime_days: over.max_lifetime_days.unwrap_or(self.max_lifetime_days),
            require_ip_for: over.require_ip_for.unwrap_or(self.require_ip_for),
            disable_unused_days: over.disable_unused_days.unwrap_or(self.disable_unused_days),
            delete_expired_days: over.delete_expired_days.unwrap_or(self.delete_expired_days),
        }
    }

    /// The latest expiry a token may have now, if the policy limits it.
    pub fn latest_expiry(&self, now: i64) -> Option<i64> {
        (self.max_lifetime_days > 0).then(|| now + i64::from(self.max_lifetime_days) * DAY)
    }

    /// The first rule a token with these settings breaks at `now`, if any.
    pub fn breach(
        &self,
        expiry: Expiry,
        ips: &IpAllowList,
        privileges: PrivilegeSet,
        now: i64,
    ) -> Option<PolicyBreach> {
        if let Some(latest) = self.latest_expiry(now) {
            let max_days = self.max_lifetime_days;
            match expiry {
                Expiry::Never => return Some(PolicyBreach::NeverExpires { max_days }),
                Expiry::At(at) if at > latest => return Some(PolicyBreach::TooLong { max_days }),
                Expiry::At(_) => {}
            }
        }
        let held: PrivilegeSet = privileges
            .expanded()
            .iter()
            .filter(|p| self.require_ip_for.allows(*p))
            .collect();
        (!held.is_empty() && ips.allows_a_whole_family()).then(|| PolicyBreach::NeedsAllowList {
            privileges: if privileges.expanded() == held {
                self.require_ip_for
            } else {
                held
            },
        })
    }
}

/// A rule's days as given (API, command line, form): a number, `0` or
/// empty for off, or `inherit` (an override keeps everyone's: `None`).
pub fn parse_days(raw: &str) -> Result<Option<u32>, String> {
    match raw.trim() {
        "inherit" => Ok(None),
        "" => Ok(Some(0)),
        n => match n.parse::<u32>() {
            Ok(d) if d <= MAX_DAYS => Ok(Some(d)),
            _ => Err(format!(
                "“{}” is not a number of days from 0 to {MAX_DAYS} (or “inherit”).",
                n.chars().take(20).collect::<String>()
            )),
        },
    }
}

/// A privilege list as given: keys separated by commas or spaces, empty
/// for off, or `inherit`.
pub fn parse_privileges(raw: &str) -> Result<Option<PrivilegeSet>, String> {
    match raw.trim() {
        "inherit" => Ok(None),
        "" => Ok(Some(PrivilegeSet::empty())),
        keys => PrivilegeSet::parse([keys])
            .map(|set| Some(set.normalized()))
            .map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 2_000_000_000;

    fn set(keys: &str) -> PrivilegeSet {
        PrivilegeSet::parse([keys]).unwrap()
    }

    #[test]
    fn a_maximum_lifetime_forbids_never_and_later_expiries() {
        let policy = TokenPolicy {
            max_lifetime_days: 90,
            ..Default::default()
        };
        let any = IpAllowList::any();
        let p = set("list-accts");
        assert_eq!(
            policy.breach(Expiry::Never, &any, p, NOW),
            Some(PolicyBreach::NeverExpires { max_days: 90 })
        );
        assert_eq!(
            policy.breach(Expiry::At(NOW + 90 * DAY + 1), &any, p, NOW),
            Some(PolicyBreach::TooLong { max_days: 90 })
        );
        assert_eq!(
            policy.breach(Expiry::At(NOW + 90 * DAY), &any, p, NOW),
            None
        );
        // Blocked today, allowed once within the limit.
        assert_eq!(
            policy.breach(Expiry::At(NOW + 100 * DAY), &any, p, NOW + 10 * DAY),
            None
        );
        assert!(TokenPolicy::default()
            .breach(Expiry::Never, &any, p, NOW)
            .is_none());
    }

    #[test]
    fn an_allow_list_is_required_for_tokens_holding_chosen_privileges() {
        let policy = TokenPolicy {
            require_ip_for: set("create-user-session manage-api-tokens"),
            ..Default::default()
        };
        let any = IpAllowList::any();
        let listed = IpAllowList::parse("192.0.2.0/24").unwrap();
        assert_eq!(
            policy.breach(
                Expiry::Never,
                &any,
                set("list-accts manage-api-tokens"),
                NOW
            ),
            Some(PolicyBreach::NeedsAllowList {
                privileges: set("manage-api-tokens")
            })
        );
        assert_eq!(
            policy.breach(Expiry::Never, &listed, set("manage-api-tokens"), NOW),
            None
        );
        assert_eq!(
            policy.breach(Expiry::Never, &any, set("list-accts"), NOW),
            None
        );
        // A list that lets every address of a family in is no allow-list.
        for everyone in ["0.0.0.0/0", "::/0 192.0.2.1", "0.0.0.0/1 128.0.0.0/1"] {
            let ips = IpAllowList::parse(everyone).unwrap();
            assert!(
                policy
                    .breach(Expiry::Never, &ips, set("manage-api-tokens"), NOW)
                    .is_some(),
                "{everyone}"
            );
        }
        let halves = IpAllowList::parse("0.0.0.0/1 192.0.2.0/24").unwrap();
        assert_eq!(
            policy.breach(Expiry::Never, &halves, set("manage-api-tokens"), NOW),
            None
        );
        // A full-access token holds them all.
        let breach = policy
            .breach(Expiry::Never, &any, PrivilegeSet::everything(), NOW)
            .unwrap();
        assert!(breach
            .to_string()
            .contains("create-user-session, manage-api-tokens"));
        // `all` in the policy means every privilege.
        let all = TokenPolicy {
            require_ip_for: PrivilegeSet::everything(),
            ..Default::default()
        };
        assert!(all
            .breach(Expiry::Never, &any, set("list-accts"), NOW)
            .is_some());
    }

    #[test]
    fn settings_read_numbers_off_and_inherit() {
        assert_eq!(parse_days("90"), Ok(Some(90)));
        assert_eq!(parse_days(""), Ok(Some(0)));
        assert_eq!(parse_days("0"), Ok(Some(0)));
        assert_eq!(parse_days("inherit"), Ok(None));
        assert!(parse_days("-1").is_err() && parse_days("3651").is_err());
        assert_eq!(parse_privileges(""), Ok(Some(PrivilegeSet::empty())));
        assert_eq!(
            parse_privileges("all,create-user-session"),
            Ok(Some(PrivilegeSet::everything()))
        );
        assert!(parse_privileges("nope").is_err());
    }

    #[test]
    fn an_override_replaces_only_the_rules_it_sets() {
        let everyone = TokenPolicy {
            max_lifetime_days: 365,
            require_ip_for: set("all"),
            disable_unused_days: 90,
            delete_expired_days: 0,
        };
        let bob = PolicyOverride {
            max_lifetime_days: Some(30),
            require_ip_for: Some(PrivilegeSet::empty()),
            ..Default::default()
        };
        assert_eq!(
            everyone.with(&bob),
            TokenPolicy {
                max_lifetime_days: 30,
                require_ip_for: PrivilegeSet::empty(),
                disable_unused_days: 90,
                delete_expired_days: 0,
            }
        );
        assert_eq!(everyone.with(&PolicyOverride::default()), everyone);
    }
}
