//! WHM's access-control list: the 64 privileges of `acls.tsv`, and one of
//! our own after them (`introspect-tokens`), and sets of
//! them as bit masks (so intersecting an owner's and a token's privileges on
//! every API call costs nothing).

use std::fmt;
use std::sync::LazyLock;

pub struct AclEntry {
    pub key: &'static str,
    pub label: &'static str,
    pub category: &'static str,
    pub group: &'static str,
    pub initial: bool,
}

static CATALOGUE: LazyLock<Vec<AclEntry>> = LazyLock::new(|| {
    include_str!("acls.tsv")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&'static str> = line.split('\t').collect();
            assert_eq!(f.len(), 5, "acls.tsv: bad line {line:?}");
            AclEntry {
                key: f[0],
                label: f[1],
                category: f[2],
                group: f[3],
                initial: f[4] == "1",
            }
        })
        .collect()
});

pub fn catalogue() -> &'static [AclEntry] {
    let entries = &*CATALOGUE;
    assert!(entries.len() <= 128, "privilege sets are 128-bit masks");
    entries
}

/// One privilege of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Privilege(u8);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivilegeError {
    /// Every key given that is not a privilege, in the order given.
    Unknown(Vec<String>),
    Empty,
}

impl std::fmt::Display for PrivilegeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(keys) if keys.len() == 1 => {
                write!(f, "“{}” is not a known privilege.", keys[0])
            }
            Self::Unknown(keys) => {
                write!(f, "These are not known privileges: {}.", keys.join(", "))
            }
            Self::Empty => f.write_str("Select at least one privilege."),
        }
    }
}

impl std::error::Error for PrivilegeError {}

impl Privilege {
    // The privileges the code names, by their place in acls.tsv: a
    // misspelt name does not compile, and a unit test checks each against
    // the catalogue's key.
    /// `all`.
    pub const ALL: Privilege = Privilege(63);
    /// `manage-api-tokens`.
    pub const MANAGE_API_TOKENS: Privilege = Privilege(11);
    /// `list-accts`.
    pub const LIST_ACCOUNTS: Privilege = Privilege(20);
    /// `create-acct`.
    pub const CREATE_ACCOUNT: Privilege = Privilege(22);
    /// `suspend-acct`.
    pub const SUSPEND_ACCOUNT: Privilege = Privilege(24);
    /// `kill-acct`.
    pub const KILL_ACCOUNT: Privilege = Privilege(23);
    /// `edit-account`.
    pub const EDIT_ACCOUNT: Privilege = Privilege(56);
    /// `create-user-session`.
    pub const CREATE_USER_SESSION: Privilege = Privilege(7);
    /// `passwd`.
    pub const PASSWD: Privilege = Privilege(30);
    /// `cpanel-api`.
    pub const CPANEL_API: Privilege = Privilege(5);
    /// `introspect-tokens`: whm-tokens' own, after WHM's 64; RFC 7662
    /// introspection, for root's tokens only.
    pub const INTROSPECT_TOKENS: Privilege = Privilege(64);

    pub fn parse(key: &str) -> Result<Self, PrivilegeError> {
        catalogue()
            .iter()
            .position(|e| e.key == key.trim())
            .map(|i| Self(i as u8))
            .ok_or_else(|| PrivilegeError::Unknown(vec![key.chars().take(60).collect()]))
    }

    /// A privilege named in a test; panics on a typo.
    pub fn named(key: &str) -> Self {
        Self::parse(key).unwrap_or_else(|_| panic!("no privilege {key:?} in acls.tsv"))
    }

    /// Every privilege of the catalogue, in its order.
    pub fn every() -> impl Iterator<Item = Privilege> {
        (0..catalogue().len() as u8).map(Privilege)
    }

    pub fn entry(self) -> &'static AclEntry {
        &catalogue()[self.0 as usize]
    }

    pub fn key(self) -> &'static str {
        self.entry().key
    }

    /// Why granting this to a token deserves a second thought.
    pub fn warning(self) -> Option<&'static str> {
        Some(match self {
            Self::ALL => "A token with this privilege can do everything that you can do, root included.",
            Self::PASSWD => "A token with this privilege can change account passwords and then sign in with them.",
            Self::CREATE_USER_SESSION => "A token with this privilege can open a signed-in session, which gets around the token's own restrictions.",
            Self::MANAGE_API_TOKENS => "A token with this privilege can create other tokens, which gets around the token's own restrictions.",
            Self::CPANEL_API => "A token with this privilege can call cPanel and UAPI functions for accounts.",
            Self::INTROSPECT_TOKENS => "A token with this privilege can look up any token by its secret and learn its owner and privileges (root's tokens only).",
            _ => return None,
        })
    }

    fn bit(self) -> u128 {
        1u128 << self.0
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A set of privileges. `all` is an ordinary member; [`PrivilegeSet::expanded`]
/// turns it into every privilege when deciding what is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, diesel::FromSqlRow)]
pub struct PrivilegeSet(u128);

impl PrivilegeSet {
    pub fn empty() -> Self {
        Self(0)
    }

    pub fn everything() -> Self {
        Self::empty().with(Privilege::ALL)
    }

    fn every_bit() -> Self {
        let n = catalogue().len();
        Self(if n == 128 {
            u128::MAX
        } else {
            (1u128 << n) - 1
        })
    }

    /// The 20 Initial Privileges that new resellers start with.
    pub fn initial() -> Self {
        Self::from_iter(Self::every_bit().iter().filter(|p| p.entry().initial))
    }

    /// Parses privilege keys; unknown keys are an error, duplicates are fine,
    /// and at least one is required.
    pub fn parse<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<Self, PrivilegeError> {
        let mut set = Self::empty();
        let mut unknown: Vec<String> = Vec::new();
        for key in keys
            .into_iter()
            .flat_map(|k| k.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|k| !k.is_empty())
        {
            match Privilege::parse(key) {
                Ok(p) => set = set.with(p),
                Err(PrivilegeError::Unknown(mut keys)) if unknown.len() < 10 => {
                    unknown.append(&mut keys)
                }
                Err(_) => {}
            }
        }
        if !unknown.is_empty() {
            return Err(PrivilegeError::Unknown(unknown));
        }
        if set.is_empty() {
            return Err(PrivilegeError::Empty);
        }
        Ok(set)
    }

    /// Reads the stored form, which [`PrivilegeSet::to_column`] wrote.
    /// Keys no longer in the catalogue are dropped rather than failing.
    pub fn from_column(stored: &str) -> Self {
        Self::from_iter(
            stored
                .split_whitespace()
                .filter_map(|k| Privilege::parse(k).ok()),
        )
    }

    pub fn to_column(self) -> String {
        self.keys().join(" ")
    }

    pub fn with(self, p: Privilege) -> Self {
        Self(self.0 | p.bit())
    }

    pub fn without(self, p: Privilege) -> Self {
        Self(self.0 & !p.bit())
    }

    /// The same permissions, written plainly: a set holding `all` becomes
    /// `{all}`, and a set that names every privilege becomes `{all}` too.
    pub fn normalized(self) -> Self {
        if self.contains(Privilege::ALL) || self == Self::every_bit() {
            Self::everything()
        } else {
            self
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether `p` is literally a member (no expansion of `all`).
    pub fn contains(self, p: Privilege) -> bool {
        self.0 & p.bit() != 0
    }

    /// What the set permits: every privilege when it holds `all`.
    pub fn expanded(self) -> Self {
        if self.contains(Privilege::ALL) {
            Self::every_bit()
        } else {
            self
        }
    }

    /// Whether this set permits `p` (`all` permits everything).
    pub fn allows(self, p: Privilege) -> bool {
        self.expanded().contains(p)
    }

    pub fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// Members of `self` that `holder` does not permit.
    pub fn not_permitted_by(self, holder: Self) -> Vec<Privilege> {
        let permitted = holder.expanded();
        self.iter().filter(|p| !permitted.contains(*p)).collect()
    }

    /// What a token may do: its owner's current privileges cut down to the
    /// token's own list.
    pub fn effective(owner: Self, token: Self) -> Self {
        Self(owner.expanded().0 & token.expanded().0)
    }

    pub fn iter(self) -> impl Iterator<Item = Privilege> {
        Privilege::every().filter(move |p| self.contains(*p))
    }

    pub fn keys(self) -> Vec<&'static str> {
        self.iter().map(Privilege::key).collect()
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
}

impl FromIterator<Privilege> for PrivilegeSet {
    fn from_iter<I: IntoIterator<Item = Privilege>>(iter: I) -> Self {
        iter.into_iter().fold(Self::empty(), Self::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(keys: &str) -> PrivilegeSet {
        PrivilegeSet::parse([keys]).unwrap()
    }

    #[test]
    fn the_privileges_named_in_code_are_the_catalogues() {
        for (p, key) in [
            (Privilege::ALL, "all"),
            (Privilege::INTROSPECT_TOKENS, "introspect-tokens"),
            (Privilege::MANAGE_API_TOKENS, "manage-api-tokens"),
            (Privilege::LIST_ACCOUNTS, "list-accts"),
            (Privilege::CREATE_ACCOUNT, "create-acct"),
            (Privilege::SUSPEND_ACCOUNT, "suspend-acct"),
            (Privilege::KILL_ACCOUNT, "kill-acct"),
            (Privilege::EDIT_ACCOUNT, "edit-account"),
            (Privilege::CREATE_USER_SESSION, "create-user-session"),
            (Privilege::PASSWD, "passwd"),
            (Privilege::CPANEL_API, "cpanel-api"),
        ] {
            assert_eq!(p.key(), key);
            assert_eq!(Privilege::parse(key), Ok(p));
        }
    }

    #[test]
    fn the_catalogue_has_whms_64_privileges_and_ours_and_20_initial_ones() {
        assert_eq!(catalogue().len(), 65);
        assert_eq!(catalogue()[64].key, "introspect-tokens");
        assert_eq!(PrivilegeSet::initial().len(), 20);
        assert!(PrivilegeSet::initial().contains(Privilege::named("manage-api-tokens")));
        assert!(!PrivilegeSet::initial().contains(Privilege::named("list-accts")));
    }

    #[test]
    fn warnings_name_the_dangerous_privileges() {
        for key in [
            "all",
            "passwd",
            "create-user-session",
            "manage-api-tokens",
            "cpanel-api",
        ] {
            assert!(Privilege::named(key).warning().is_some(), "{key}");
        }
        assert!(Privilege::named("list-accts").warning().is_none());
    }

    #[test]
    fn parse_rejects_unknown_and_empty_lists() {
        assert_eq!(
            PrivilegeSet::parse(["list-accts", "fly"]),
            Err(PrivilegeError::Unknown(vec!["fly".into()]))
        );
        assert_eq!(
            PrivilegeSet::parse(["fly", "list-accts swim"]),
            Err(PrivilegeError::Unknown(vec!["fly".into(), "swim".into()]))
        );
        assert_eq!(PrivilegeSet::parse(["", " "]), Err(PrivilegeError::Empty));
        assert_eq!(
            PrivilegeSet::parse(Vec::<&str>::new()),
            Err(PrivilegeError::Empty)
        );
        assert_eq!(set("list-accts,kill-acct list-accts").len(), 2);
    }

    #[test]
    fn all_expands_to_every_privilege() {
        let everything = PrivilegeSet::everything();
        assert!(everything.allows(Privilege::named("kill-acct")));
        assert_eq!(everything.expanded().len(), 65);
        assert!(!set("list-accts").allows(Privilege::named("kill-acct")));
    }

    #[test]
    fn effective_is_the_owner_cut_down_to_the_token() {
        let owner = set("list-accts kill-acct manage-api-tokens");
        assert_eq!(
            PrivilegeSet::effective(owner, set("list-accts suspend-acct")),
            set("list-accts")
        );
        assert_eq!(
            PrivilegeSet::effective(owner, PrivilegeSet::everything()),
            owner
        );
        let root = PrivilegeSet::everything();
        assert_eq!(
            PrivilegeSet::effective(root, set("kill-acct")),
            set("kill-acct")
        );
    }

    #[test]
    fn not_permitted_by_lists_what_the_owner_lacks() {
        let owner = set("list-accts");
        assert_eq!(
            set("list-accts kill-acct").not_permitted_by(owner),
            vec![Privilege::named("kill-acct")]
        );
        assert_eq!(
            PrivilegeSet::everything().not_permitted_by(owner),
            vec![Privilege::ALL]
        );
        assert!(set("kill-acct")
            .not_permitted_by(PrivilegeSet::everything())
            .is_empty());
    }

    #[test]
    fn normalized_writes_everything_as_all() {
        assert_eq!(set("all passwd").normalized(), PrivilegeSet::everything());
        assert_eq!(
            PrivilegeSet::every_bit().normalized(),
            PrivilegeSet::everything()
        );
        assert_eq!(set("passwd").normalized(), set("passwd"));
    }

    #[test]
    fn stored_form_round_trips_in_catalogue_order() {
        let s = set("kill-acct acct-summary");
        assert_eq!(s.to_column(), "acct-summary kill-acct");
        assert_eq!(PrivilegeSet::from_column(&s.to_column()), s);
    }
}
