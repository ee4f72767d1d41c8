/// What an account is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum AccountKind {
    Root,
    Reseller,
    /// A plain cPanel account: owned by root or a reseller, cannot sign in to
    /// WHM or own WHM API tokens.
    User,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown account kind {0:?}")]
pub struct UnknownAccountKind(pub String);

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Reseller => "reseller",
            Self::User => "user",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownAccountKind> {
        match s {
            "root" => Ok(Self::Root),
            "reseller" => Ok(Self::Reseller),
            "user" => Ok(Self::User),
            other => Err(UnknownAccountKind(other.chars().take(20).collect())),
        }
    }

    pub fn may_own_tokens(self) -> bool {
        matches!(self, Self::Root | Self::Reseller)
    }

    /// How the page names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Root => "Root",
            Self::Reseller => "Reseller",
            Self::User => "Account",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_what_they_write() {
        for kind in [AccountKind::Root, AccountKind::Reseller, AccountKind::User] {
            assert_eq!(AccountKind::parse(kind.as_str()), Ok(kind));
        }
        assert!(AccountKind::parse("admin").is_err());
    }
}
