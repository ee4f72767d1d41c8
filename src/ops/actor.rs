use crate::db::models::AccountRow;
use crate::domain::{Privilege, PrivilegeSet};

use super::OpError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    Root,
    Reseller,
    /// A plain cPanel account: owned by root or a reseller, cannot sign in to
    /// WHM or own WHM API tokens.
    User,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Reseller => "reseller",
            Self::User => "user",
        }
    }

    pub fn from_column(s: &str) -> Result<Self, OpError> {
        match s {
            "root" => Ok(Self::Root),
            "reseller" => Ok(Self::Reseller),
            "user" => Ok(Self::User),
            other => Err(anyhow::anyhow!("unknown account kind {other:?} in the store").into()),
        }
    }

    pub fn may_own_tokens(self) -> bool {
        matches!(self, Self::Root | Self::Reseller)
    }
}

/// An account as the operations see it.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub kind: AccountKind,
    pub owner_id: Option<i64>,
    /// What the account holds: everything for root, nothing for a plain
    /// account, the granted list for a reseller.
    pub privileges: PrivilegeSet,
    pub suspended: bool,
    pub created_at: i64,
}

impl TryFrom<AccountRow> for Account {
    type Error = OpError;

    fn try_from(row: AccountRow) -> Result<Self, OpError> {
        let kind = AccountKind::from_column(&row.kind)?;
        let privileges = match kind {
            AccountKind::Root => PrivilegeSet::everything(),
            AccountKind::Reseller => PrivilegeSet::from_column(&row.privileges),
            AccountKind::User => PrivilegeSet::empty(),
        };
        Ok(Self {
            id: row.id,
            username: row.username,
            kind,
            owner_id: row.owner_id,
            privileges,
            suspended: row.suspended,
            created_at: row.created_at,
        })
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
}

impl Actor {
    pub fn signed_in(account: Account) -> Self {
        let privileges = account.privileges;
        Self {
            account,
            privileges,
        }
    }

    pub fn require(&self, key: &'static str) -> Result<(), OpError> {
        if self.privileges.allows(Privilege::named(key)) {
            Ok(())
        } else {
            Err(OpError::MissingPrivilege(key))
        }
    }

    pub fn id(&self) -> i64 {
        self.account.id
    }
}
