//! How many leaked-token reports, and secrets in them, the server takes a
//! minute: per address (IPv6 by its /64) and in all. Anyone may report, so
//! these bound what a flood costs: a digest lookup per secret admitted, and
//! a counter per address (at most [`MAX_ADDRESSES`] a minute).

use std::net::IpAddr;

use super::per_minute::PerMinute;
use super::refusals::counted_address;

/// The most secrets one report may hold.
pub const MAX_SECRETS: usize = 1000;
/// Reports one address may send a minute.
pub const REPORTS_PER_ADDRESS: u64 = 10;
/// Secrets one address may send a minute.
pub const SECRETS_PER_ADDRESS: u64 = 2_000;
/// Reports a minute from everyone.
pub const REPORTS_IN_ALL: u64 = 300;
/// Secrets a minute from everyone.
pub const SECRETS_IN_ALL: u64 = 20_000;
/// Addresses counted a minute; past it, new addresses wait for the next.
pub const MAX_ADDRESSES: usize = 10_000;

pub struct LeakLimits {
    reports: PerMinute<String>,
    secrets: PerMinute<String>,
    in_all: PerMinute<&'static str>,
}

impl Default for LeakLimits {
    fn default() -> Self {
        Self {
            reports: PerMinute::new(MAX_ADDRESSES),
            secrets: PerMinute::new(MAX_ADDRESSES),
            in_all: PerMinute::new(2),
        }
    }
}

impl LeakLimits {
    /// Whether a report of `n` secrets from `from` is taken now; if it is,
    /// it counts against every limit, and if not, against none.
    pub fn admit(&self, from: Option<IpAddr>, n: usize, now: i64) -> bool {
        let n = n as u64;
        let address = from.map_or_else(|| "-".to_owned(), counted_address);
        let address = &address;
        if !self.reports.take(address, 1, REPORTS_PER_ADDRESS, now) {
            return false;
        }
        if !self.secrets.take(address, n, SECRETS_PER_ADDRESS, now) {
            self.reports.give_back(address, 1, now);
            return false;
        }
        if !self.in_all.take(&"reports", 1, REPORTS_IN_ALL, now) {
            self.reports.give_back(address, 1, now);
            self.secrets.give_back(address, n, now);
            return false;
        }
        if !self.in_all.take(&"secrets", n, SECRETS_IN_ALL, now) {
            self.reports.give_back(address, 1, now);
            self.secrets.give_back(address, n, now);
            self.in_all.give_back(&"reports", 1, now);
            return false;
        }
        true
    }

    /// Addresses counted this minute.
    pub fn addresses(&self) -> usize {
        self.reports.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_ten_reports_a_minute_and_a_refused_one_costs_nothing() {
        let limits = LeakLimits::default();
        let from: Option<IpAddr> = Some("192.0.2.1".parse().unwrap());
        for _ in 0..REPORTS_PER_ADDRESS {
            assert!(limits.admit(from, 1, 60));
        }
        assert!(!limits.admit(from, 1, 61));
        // Another address is not held back by the first.
        assert!(limits.admit(Some("192.0.2.2".parse().unwrap()), 1000, 62));
        // Over the secrets per address: refused, and its report not counted.
        let third: Option<IpAddr> = Some("192.0.2.3".parse().unwrap());
        assert!(limits.admit(third, 1500, 63));
        assert!(!limits.admit(third, 600, 63));
        assert!(limits.admit(third, 500, 63));
        // The next minute starts afresh.
        assert!(limits.admit(from, 1, 120));
    }

    #[test]
    fn everyone_together_gets_the_global_limits() {
        let limits = LeakLimits::default();
        let mut admitted = 0;
        for i in 0..400u32 {
            let from = Some(IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]));
            admitted += u64::from(limits.admit(from, 1, 600));
        }
        assert_eq!(admitted, REPORTS_IN_ALL);
    }
}
