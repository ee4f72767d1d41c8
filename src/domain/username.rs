use std::fmt;

/// An account's user name, as cPanel allows them: 1 to 16 characters,
/// lower-case letters and digits, starting with a letter.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, diesel::AsExpression, diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(transparent)]
pub struct Username(String);

pub const MAX_USERNAME_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("Enter a user name.")]
    Empty,
    #[error("A user name may be at most {MAX_USERNAME_LEN} characters long.")]
    TooLong,
    #[error("A user name must start with a lower-case letter.")]
    BadStart,
    #[error("A user name may contain only lower-case letters and digits.")]
    BadCharacter,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let name = raw.trim();
        let first = name.chars().next().ok_or(UsernameError::Empty)?;
        if name.len() > MAX_USERNAME_LEN {
            return Err(UsernameError::TooLong);
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Err(UsernameError::BadCharacter);
        }
        if !first.is_ascii_lowercase() {
            return Err(UsernameError::BadStart);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn root() -> Self {
        Self("root".to_owned())
    }

    pub fn is_root(&self) -> bool {
        self.0 == "root"
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_cpanel_style_names() {
        for ok in ["root", "bob", "reseller1", "a", "abcdefghijklmnop"] {
            assert_eq!(Username::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_bad_names_with_a_reason() {
        let cases = [
            ("", UsernameError::Empty),
            ("abcdefghijklmnopq", UsernameError::TooLong),
            ("1abc", UsernameError::BadStart),
            ("Bob", UsernameError::BadCharacter),
            ("bo b", UsernameError::BadCharacter),
            ("bob:x", UsernameError::BadCharacter),
            ("bob_1", UsernameError::BadCharacter),
        ];
        for (raw, expected) in cases {
            assert_eq!(Username::parse(raw), Err(expected), "{raw:?}");
        }
    }
}
