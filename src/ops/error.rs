/// Why an operation was refused. The messages are for people; the page and
/// the API decide how to show them. `Internal` is never shown: its cause is
/// logged and the user is told something went wrong.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("You already have a token named “{0}”.")]
    TokenNameTaken(String),
    #[error("You have no token named “{0}”.")]
    TokenNotFound(String),
    #[error("The account “{0}” is suspended.")]
    AccountSuspended(String),
    #[error("The account “{0}” cannot own WHM API tokens.")]
    CannotOwnTokens(String),
    #[error("You cannot grant privileges that you do not hold: {}.", keys(.0))]
    PrivilegesNotHeld(Vec<crate::domain::Privilege>),
    /// A form that replaces a secret came for one that was replaced since
    /// (the same form sent twice, or two at once).
    #[error("The API token “{0}” already has a new secret.")]
    SecretAlreadyReplaced(String),
    /// Enabling a token reported leaked: its secret is public.
    #[error("The API token “{0}” was reported leaked. Regenerate it to give it a new secret; that enables it again.")]
    TokenLeaked(String),
    /// A new or edited token that breaks root's token policy.
    #[error("{0}")]
    Policy(crate::domain::token_policy::PolicyBreach),
    /// A token acting on a token whose privileges its own do not cover.
    #[error("The API token “{0}” has privileges that this token does not have, so this token cannot change it.")]
    TokenBroaderThanCaller(String),
    #[error("This requires the “{0}” privilege.")]
    MissingPrivilege(crate::domain::Privilege),
    #[error("No account named “{0}” exists among those you manage.")]
    AccountNotFound(String),
    #[error("The user name “{0}” is already taken.")]
    UsernameTaken(String),
    #[error("Nothing to change: give at least one new value.")]
    NothingToChange,
    #[error("{0}")]
    NotAllowed(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Privileges by key, for a message: "list-accts, kill-acct".
fn keys(privileges: &[crate::domain::Privilege]) -> String {
    privileges
        .iter()
        .map(|p| p.key())
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<diesel::result::Error> for OpError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Internal(crate::db::classify(e))
    }
}

impl OpError {
    /// Whether the database was unavailable (a connection that died, a
    /// lock held too long), rather than at fault: worth trying again.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Internal(e) if e.is::<crate::db::Unavailable>())
    }
}

impl From<diesel::r2d2::PoolError> for OpError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Self::Internal(e.into())
    }
}

/// Whether a Diesel error is a unique-index violation.
pub(crate) fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error};

    struct Info(&'static str);

    impl diesel::result::DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn error(kind: DatabaseErrorKind, message: &'static str) -> OpError {
        Error::DatabaseError(kind, Box::new(Info(message))).into()
    }

    #[test]
    fn locks_and_ended_connections_are_unavailable_and_faults_are_not() {
        for (kind, message, unavailable) in [
            (DatabaseErrorKind::Unknown, "database is locked", true),
            (
                DatabaseErrorKind::ClosedConnection,
                "server closed the connection unexpectedly",
                true,
            ),
            (
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
                true,
            ),
            (
                DatabaseErrorKind::Unknown,
                "the database system is shutting down",
                true,
            ),
            (
                DatabaseErrorKind::UniqueViolation,
                "duplicate key value",
                false,
            ),
            (DatabaseErrorKind::Unknown, "syntax error at or near", false),
        ] {
            assert_eq!(
                error(kind, message).is_unavailable(),
                unavailable,
                "{message}"
            );
        }
        assert!(!OpError::from(Error::NotFound).is_unavailable());
    }
}
