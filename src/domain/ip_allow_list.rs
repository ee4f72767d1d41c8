use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

pub const MAX_ALLOWED_IPS: usize = 100;

/// The addresses a token may be used from. Empty means any address.
///
/// Entries are kept normalised: a range is stored by its network address
/// (`10.1.2.3/8` becomes `10.0.0.0/8`), a single-host
/// range is the bare address, duplicates are dropped, and entries are
/// sorted as WHM answers them: IPv4 before IPv6, by address.
#[derive(Clone, Debug, PartialEq, Eq, Default, diesel::FromSqlRow)]
pub struct IpAllowList(Vec<IpNet>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpAllowListError {
    /// Every entry that is not an address or range, in the order given.
    BadEntries(Vec<String>),
    /// How many different entries were given.
    TooMany(usize),
}

impl fmt::Display for IpAllowListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadEntries(bad) if bad.len() == 1 => {
                write!(f, "“{}” is not an IPv4 or IPv6 address or range.", bad[0])
            }
            Self::BadEntries(bad) => {
                let quoted: Vec<String> = bad.iter().map(|b| format!("“{b}”")).collect();
                write!(
                    f,
                    "These are not IPv4 or IPv6 addresses or ranges: {}.",
                    quoted.join(", ")
                )
            }
            // WHM's wording.
            Self::TooMany(n) => write!(
                f,
                "You have entered “{n}” IP addresses, which is above the limit of {MAX_ALLOWED_IPS}."
            ),
        }
    }
}

impl std::error::Error for IpAllowListError {}

impl IpAllowList {
    pub fn any() -> Self {
        Self(Vec::new())
    }

    /// Parses the page's textarea: entries separated by commas, spaces or
    /// new lines; blank means any address.
    pub fn parse(raw: &str) -> Result<Self, IpAllowListError> {
        Self::from_entries(raw.split(|c: char| c == ',' || c.is_whitespace()))
    }

    /// Parses a list of entries (the API's repeated `whitelist_ip`); each
    /// entry may itself hold several separated by commas or spaces.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, IpAllowListError> {
        // A set: a body of 256 KiB holds tens of thousands of entries, and
        // comparing each with every earlier one was quadratic.
        let mut nets: std::collections::HashSet<IpNet> = std::collections::HashSet::new();
        let mut bad: Vec<String> = Vec::new();
        for entry in entries
            .into_iter()
            .flat_map(|e| e.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|e| !e.is_empty())
        {
            match parse_entry(entry) {
                // Listing a few is enough to fix a paste of garbage.
                None if bad.len() < 10 => bad.push(entry.chars().take(64).collect()),
                None => {}
                Some(net) => {
                    nets.insert(net);
                }
            }
        }
        if !bad.is_empty() {
            return Err(IpAllowListError::BadEntries(bad));
        }
        if nets.len() > MAX_ALLOWED_IPS {
            return Err(IpAllowListError::TooMany(nets.len()));
        }
        let mut nets: Vec<IpNet> = nets.into_iter().collect();
        nets.sort_by_key(|n| (n.addr(), n.prefix_len()));
        Ok(Self(nets))
    }

    /// Reads the stored form, which this type wrote.
    pub fn from_column(stored: &str) -> Result<Self, IpAllowListError> {
        Self::parse(stored)
    }

    pub fn to_column(&self) -> String {
        self.entries().join(" ")
    }

    pub fn is_any(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every address of IPv4 or of IPv6 gets through: no list, or
    /// entries that together cover a whole family (`0.0.0.0/0`, `::/0`,
    /// `0.0.0.0/1` with `128.0.0.0/1`). A rule that requires an allow-list
    /// is not met by one.
    pub fn allows_a_whole_family(&self) -> bool {
        let v4: Vec<ipnet::Ipv4Net> = self
            .0
            .iter()
            .filter_map(|n| match n {
                IpNet::V4(v) => Some(*v),
                IpNet::V6(_) => None,
            })
            .collect();
        let v6: Vec<ipnet::Ipv6Net> = self
            .0
            .iter()
            .filter_map(|n| match n {
                IpNet::V6(v) => Some(*v),
                IpNet::V4(_) => None,
            })
            .collect();
        self.is_any()
            || ipnet::Ipv4Net::aggregate(&v4)
                .iter()
                .any(|n| n.prefix_len() == 0)
            || ipnet::Ipv6Net::aggregate(&v6)
                .iter()
                .any(|n| n.prefix_len() == 0)
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(display_net).collect()
    }

    pub fn allows(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.is_any() || self.0.iter().any(|net| net.contains(&addr))
    }
}

fn parse_entry(entry: &str) -> Option<IpNet> {
    let net = match entry.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => IpNet::from(entry.parse::<IpAddr>().ok()?),
    };
    let net = match net {
        IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
            // An IPv4-mapped IPv6 entry means the IPv4 address or range.
            Some(v4) if v6.prefix_len() >= 96 => {
                IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).ok()?
            }
            _ => net,
        },
        IpNet::V4(_) => net,
    };
    Some(net.trunc())
}

fn display_net(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

impl fmt::Display for IpAllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            f.write_str("Any")
        } else {
            f.write_str(&self.entries().join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blank_means_any_address() {
        let list = IpAllowList::parse(" \n ,, ").unwrap();
        assert!(list.is_any());
        assert!(list.allows(ip("203.0.113.9")));
        assert_eq!(list.to_string(), "Any");
    }

    #[test]
    fn separators_dedup_and_single_host_ranges() {
        let list =
            IpAllowList::parse("192.0.2.1, 192.0.2.1/32\n2001:db8::1 10.1.2.3/8,2001:db8::/32")
                .unwrap();
        assert_eq!(
            list.entries(),
            vec!["10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "2001:db8::1"]
        );
        assert_eq!(IpAllowList::from_column(&list.to_column()).unwrap(), list);
    }

    #[test]
    fn allows_addresses_inside_and_refuses_outside() {
        let list = IpAllowList::parse("192.0.2.0/24 2001:db8::/64 198.51.100.7").unwrap();
        assert!(list.allows(ip("192.0.2.200")));
        assert!(list.allows(ip("198.51.100.7")));
        assert!(list.allows(ip("2001:db8::abcd")));
        assert!(
            list.allows(ip("::ffff:192.0.2.5")),
            "IPv4-mapped client address"
        );
        assert!(!list.allows(ip("198.51.100.8")));
        assert!(!list.allows(ip("2001:db8:1::1")));
        assert!(!list.allows(ip("10.0.0.1")));
    }

    #[test]
    fn rejects_bad_entries_with_a_reason() {
        for bad in [
            "300.1.1.1",
            "10.0.0.0/33",
            "example.com",
            "1.2.3",
            "::g",
            "any",
        ] {
            assert_eq!(
                IpAllowList::parse(bad),
                Err(IpAllowListError::BadEntries(vec![bad.to_owned()])),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn every_bad_entry_is_named_and_entries_are_sorted_ipv4_first() {
        let err = IpAllowList::parse("10.0.0.300, 10.0.0.1, example.com").unwrap_err();
        assert_eq!(
            err.to_string(),
            "These are not IPv4 or IPv6 addresses or ranges: “10.0.0.300”, “example.com”."
        );
        let list = IpAllowList::parse("2001:db8::1 10.0.0.9 ::1 10.0.0.0/8 192.0.2.1").unwrap();
        assert_eq!(
            list.entries(),
            ["10.0.0.0/8", "10.0.0.9", "192.0.2.1", "::1", "2001:db8::1"]
        );
    }

    #[test]
    fn at_most_one_hundred_entries() {
        let hundred: Vec<String> = (0..100).map(|i| format!("10.0.0.{i}")).collect();
        assert!(IpAllowList::parse(&hundred.join(",")).is_ok());
        let hundred_and_one = format!("{},10.0.1.1", hundred.join(","));
        assert_eq!(
            IpAllowList::parse(&hundred_and_one),
            Err(IpAllowListError::TooMany(101))
        );
        // Duplicates do not count twice.
        let dupes = format!("{},10.0.0.1", hundred.join(","));
        assert!(IpAllowList::parse(&dupes).is_ok());
    }

    #[test]
    fn a_whole_body_of_distinct_addresses_is_counted_once_each_and_refused() {
        // What a 256 KiB form can hold: each entry is looked up in a set,
        // not compared with every earlier one.
        let many: Vec<String> = (0..32_000u32)
            .map(|i| std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string())
            .collect();
        let twice = format!("{},{}", many.join(","), many.join(" "));
        assert_eq!(
            IpAllowList::parse(&twice),
            Err(IpAllowListError::TooMany(32_000))
        );
    }
}
