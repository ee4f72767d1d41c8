use std::fmt;

/// A token's name: 1 to 50 characters from `A-Z a-z 0-9 - _`.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(transparent)]
pub struct TokenName(String);

pub const MAX_TOKEN_NAME_LEN: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenNameError {
    #[error("Enter a name for the token.")]
    Empty,
    #[error("The name may be at most {MAX_TOKEN_NAME_LEN} characters long.")]
    TooLong,
    #[error("The name may contain only letters, digits, dashes (-) and underscores (_).")]
    BadCharacter,
}

impl TokenName {
    pub fn parse(raw: &str) -> Result<Self, TokenNameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(TokenNameError::Empty);
        }
        if name.chars().count() > MAX_TOKEN_NAME_LEN {
            return Err(TokenNameError::TooLong);
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(TokenNameError::BadCharacter);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TokenName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_digits_dash_and_underscore() {
        for ok in [
            "a",
            "deploy",
            "CI-bot_2",
            "A".repeat(50).as_str(),
            " padded ",
        ] {
            assert!(TokenName::parse(ok).is_ok(), "{ok:?} should parse");
        }
        assert_eq!(TokenName::parse(" padded ").unwrap().as_str(), "padded");
    }

    #[test]
    fn rejects_bad_names_with_a_reason() {
        let cases = [
            ("", TokenNameError::Empty),
            ("   ", TokenNameError::Empty),
            (&"a".repeat(51), TokenNameError::TooLong),
            ("has space", TokenNameError::BadCharacter),
            ("dot.name", TokenNameError::BadCharacter),
            ("ünïcode", TokenNameError::BadCharacter),
            ("semi;colon", TokenNameError::BadCharacter),
            ("<script>", TokenNameError::BadCharacter),
        ];
        for (raw, expected) in cases {
            assert_eq!(TokenName::parse(raw), Err(expected), "{raw:?}");
        }
    }
}
