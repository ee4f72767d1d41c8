use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use super::Username;

/// A new password that an account may be given (ASVS 2.1: at least 12
/// characters, not a common password, not the user name). Checking a
/// password at sign-in takes any string: this type is only for setting one.
#[derive(Clone)]
pub struct Password(String);

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 1024;

/// The 10,000 most common passwords, most common first: the head of the
/// list zxcvbn ships (MIT licence), compared without regard to case.
static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common_passwords.txt").lines().collect());

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("The password must be at least {MIN_PASSWORD_LEN} characters long.")]
    TooShort,
    #[error("The password may be at most {MAX_PASSWORD_LEN} characters long.")]
    TooLong,
    #[error("That password is one of the most common ones: choose another.")]
    Common,
    #[error("The password may not be the user name.")]
    IsUsername,
    #[error("The password may not be only spaces.")]
    OnlyWhitespace,
    #[error("The password may not contain control characters (such as tabs, line breaks or NUL).")]
    ControlCharacter,
}

impl Password {
    /// A password for the account `username`: the one rule for the page,
    /// the API and the command line.
    pub fn for_account(raw: &str, username: &Username) -> Result<Self, PasswordError> {
        let password = Self::parse(raw)?;
        if raw.trim().eq_ignore_ascii_case(username.as_str()) {
            return Err(PasswordError::IsUsername);
        }
        Ok(password)
    }

    /// A password whose account is not known yet (root's first one).
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        // Control characters cannot be typed the same way twice (and some
        // interfaces drop or turn them), and a password of blanks is one
        // that a trimming interface would see as none: refused everywhere,
        // so that the page, the API and the environment agree.
        if raw.chars().any(char::is_control) {
            return Err(PasswordError::ControlCharacter);
        }
        if raw.trim().is_empty() && !raw.is_empty() {
            return Err(PasswordError::OnlyWhitespace);
        }
        let len = raw.chars().count();
        if len < MIN_PASSWORD_LEN {
            return Err(PasswordError::TooShort);
        }
        if len > MAX_PASSWORD_LEN {
            return Err(PasswordError::TooLong);
        }
        if COMMON.contains(raw.to_lowercase().as_str()) {
            return Err(PasswordError::Common);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforces_length_bounds() {
        assert_eq!(
            Password::parse("short").err(),
            Some(PasswordError::TooShort)
        );
        assert_eq!(
            Password::parse(&"x".repeat(1025)).err(),
            Some(PasswordError::TooLong)
        );
        assert_eq!(
            Password::parse("elevenchars").err(),
            Some(PasswordError::TooShort)
        );
        assert!(Password::parse("twelve chars").is_ok());
    }

    #[test]
    fn refuses_blank_passwords_and_control_characters() {
        for (raw, expected) in [
            ("            ", PasswordError::OnlyWhitespace),
            ("\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}", PasswordError::OnlyWhitespace),
            ("long enough\0password", PasswordError::ControlCharacter),
            ("long enough\tpassword", PasswordError::ControlCharacter),
            ("long enough\npassword", PasswordError::ControlCharacter),
            ("long enough\u{7f}password", PasswordError::ControlCharacter),
            ("long enough\u{85}password", PasswordError::ControlCharacter),
            ("", PasswordError::TooShort),
        ] {
            assert_eq!(Password::parse(raw).err(), Some(expected), "{raw:?}");
        }
        assert!(Password::parse("  spaces around are kept  ").is_ok());
    }

    #[test]
    fn refuses_common_passwords_whatever_their_case() {
        assert_eq!(COMMON.len(), 10_000);
        for common in ["1qaz2wsx3edc", "1QAZ2wsx3EDC", "qazwsxedcrfv"] {
            assert_eq!(
                Password::parse(common).err(),
                Some(PasswordError::Common),
                "{common}"
            );
        }
    }

    #[test]
    fn refuses_the_user_name() {
        let name = Username::parse("reseller12345").unwrap();
        assert_eq!(
            Password::for_account("Reseller12345", &name).err(),
            Some(PasswordError::IsUsername)
        );
        assert!(Password::for_account("reseller12345 and more", &name).is_ok());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = Password::parse("hunter22hunter22").unwrap();
        assert!(!format!("{p:?}").contains("hunter"));
    }
}
