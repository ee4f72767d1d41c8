use crate::db::models::AccountRow;
use crate::domain::{AccountKind, Privilege, PrivilegeSet, Username};

use super::OpError;

/// An account as the operations see it.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: i64,
    pub username: Username,
    pub kind: AccountKind,
    pub owner_id: Option<i64>,
    /// What the account holds: everything for root, nothing for a plain
    /// account, the granted list for a reseller.
    pub privileges: PrivilegeSet,
    pub suspended: bool,
    pub created_at: i64,
    /// Signing in asks for a code from an authenticator app too.
    pub two_factor: bool,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        let privileges = match row.kind {
            AccountKind::Root => PrivilegeSet::everything(),
            AccountKind::Reseller => row.privileges,
            AccountKind::User => PrivilegeSet::empty(),
        };
        Self {
            id: row.id,
            username: row.username,
            kind: row.kind,
            owner_id: row.owner_id,
            privileges,
            suspended: row.suspended,
            created_at: row.created_at,
            two_factor: row.two_factor,
        }
    }
}

impl Account {
    pub fn is_root(&self) -> bool {
        self.kind == AccountKind::Root
    }

    /// WHM shows the API Tokens table only to those who hold every one of
    /// the Initial Privileges.
    pub fn holds_initial_privileges(&self) -> bool {
        PrivilegeSet::initial().is_subset_of(self.privileges.expanded())
    }
}

/// Who is acting, and with what privileges: a signed-in account acts with
/// its own privileges, an API token with its effective ones.
#[derive(Clone, Debug)]
pub struct Actor {
    pub account: Account,
    pub privileges: PrivilegeSet,
    /// Whether it acts with whatever its account holds, now and later (a
    /// signed-in account, or a full-access token): only such an actor can
    /// make a token that follows its owner.
    pub follows_owner: bool,
    /// Where the request came from, for the audit trail.
    pub origin: Origin,
}

/// Where and when an actor acts: the moment its request began (the "now"
/// of the operation, which the audit trail records), the client's address,
/// the request's id, and the token it calls with (for API calls).
#[derive(Clone, Debug)]
pub struct Origin {
    pub at: i64,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub token: Option<String>,
}

impl Default for Origin {
    /// Acting now, from nowhere in particular (the command line).
    fn default() -> Self {
        Self {
            at: chrono::Utc::now().timestamp(),
            ip: None,
            request_id: None,
            token: None,
        }
    }
}

impl Actor {
    pub fn signed_in(account: Account) -> Self {
        let privileges = account.privileges;
        Self {
            account,
            privileges,
            follows_owner: true,
            origin: Origin::default(),
        }
    }

    /// The same actor, acting from `origin`.
    pub fn acting_from(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    pub fn require(&self, privilege: Privilege) -> Result<(), OpError> {
        if self.privileges.allows(privilege) {
            Ok(())
        } else {
            Err(OpError::MissingPrivilege(privilege))
        }
    }

    pub fn id(&self) -> i64 {
        self.account.id
    }
}
