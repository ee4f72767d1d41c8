//! The kinds of event the audit trail records. Stored (and filtered on)
//! by their snake_case names, shown by their labels. strum writes and
//! reads the names, so a kind is spelt once, here.

use strum::{EnumIter, EnumString, IntoEnumIterator, IntoStaticStr};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumString, IntoStaticStr, EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum AuditEvent {
    TokenCreated,
    TokenUpdated,
    TokenRegenerated,
    TokenRevoked,
    TokenNewAddress,
    ApiRefused,
    SignIn,
    SignInFailed,
    PasswordChanged,
    TwoFactorOn,
    TwoFactorOff,
    TwoFactorReset,
    TwoFactorRequired,
    TwoFactorFailed,
    RecoveryCodesNew,
    PasskeyAdded,
    PasskeyRemoved,
    SessionEnded,
    AccountCreated,
    AccountSuspended,
    AccountUnsuspended,
    AccountRenamed,
    AccountDeleted,
    PrivilegesChanged,
    ContactEmailChanged,
    ExpiryNoticeSent,
    ExpiryNoticeFailed,
    TokenIntrospected,
    TokenReportedLeaked,
    LeakReportReceived,
    PolicyChanged,
}

impl AuditEvent {
    /// Whether the event's token is the one it is about (made, changed,
    /// revoked, used…), rather than the one its actor acted with.
    pub fn is_about_a_token(self) -> bool {
        matches!(
            self,
            Self::TokenCreated
                | Self::TokenUpdated
                | Self::TokenRegenerated
                | Self::TokenRevoked
                | Self::TokenNewAddress
                | Self::ApiRefused
                | Self::ExpiryNoticeSent
                | Self::ExpiryNoticeFailed
                | Self::TokenIntrospected
                | Self::TokenReportedLeaked
                | Self::LeakReportReceived
        )
    }

    /// The name stored in the `event` column.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// What the Activity page calls it.
    pub fn label(self) -> &'static str {
        match self {
            Self::TokenCreated => "Token created",
            Self::TokenUpdated => "Token edited",
            Self::TokenRegenerated => "Token regenerated",
            Self::TokenRevoked => "Token revoked",
            Self::TokenNewAddress => "Token used from a new address",
            Self::ApiRefused => "API call refused",
            Self::SignIn => "Signed in",
            Self::SignInFailed => "Sign-in failed",
            Self::PasswordChanged => "Password changed",
            Self::TwoFactorOn => "Two-factor turned on",
            Self::TwoFactorOff => "Two-factor turned off",
            Self::TwoFactorReset => "Two-factor reset",
            Self::TwoFactorRequired => "Two-factor rule changed",
            Self::TwoFactorFailed => "Wrong second-factor code",
            Self::RecoveryCodesNew => "New recovery codes",
            Self::PasskeyAdded => "Passkey added",
            Self::PasskeyRemoved => "Passkey removed",
            Self::SessionEnded => "Session ended",
            Self::AccountCreated => "Account created",
            Self::AccountSuspended => "Account suspended",
            Self::AccountUnsuspended => "Account unsuspended",
            Self::AccountRenamed => "Account renamed",
            Self::AccountDeleted => "Account deleted",
            Self::PrivilegesChanged => "Privileges changed",
            Self::ContactEmailChanged => "Contact address changed",
            Self::ExpiryNoticeSent => "Expiry notice sent",
            Self::ExpiryNoticeFailed => "Expiry notice undeliverable",
            Self::TokenIntrospected => "Token introspected",
            Self::TokenReportedLeaked => "Token reported leaked",
            Self::LeakReportReceived => "Leaked-token report received",
            Self::PolicyChanged => "Token policy changed",
        }
    }

    /// Every kind, name and label, in the order the Activity filter lists
    /// them.
    pub fn choices() -> impl Iterator<Item = (&'static str, &'static str)> {
        Self::iter().map(|e| (e.as_str(), e.label()))
    }
}

impl std::fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_stored_snake_case_ones_and_read_back() {
        assert_eq!(AuditEvent::TokenCreated.as_str(), "token_created");
        assert_eq!(
            AuditEvent::ExpiryNoticeFailed.as_str(),
            "expiry_notice_failed"
        );
        for event in AuditEvent::iter() {
            assert_eq!(event.as_str().parse::<AuditEvent>(), Ok(event));
            assert!(!event.label().is_empty());
        }
        assert!("token_made".parse::<AuditEvent>().is_err());
        assert_eq!(AuditEvent::choices().count(), 31);
    }
}
