use std::fmt;

/// What a token is for, in the owner's words: up to 255 characters of any
/// printable text, with no control, format (zero-width, direction-changing)
/// or line-separator characters; empty when none was given.
#[derive(Clone, Debug, Default, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct Description(String);

pub const MAX_DESCRIPTION_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptionError {
    #[error("The description may be at most {MAX_DESCRIPTION_LEN} characters long.")]
    TooLong,
    #[error("The description may not contain control characters such as line breaks, nor invisible or direction-changing ones.")]
    HiddenCharacter,
}

impl Description {
    pub fn parse(raw: &str) -> Result<Self, DescriptionError> {
        let text = raw.trim();
        if text.chars().count() > MAX_DESCRIPTION_LEN {
            return Err(DescriptionError::TooLong);
        }
        if text.chars().any(super::text::is_hidden) {
            return Err(DescriptionError::HiddenCharacter);
        }
        Ok(Self(text.to_owned()))
    }

    /// A description as stored: valid under the rule of its day, which
    /// may have been looser than [`Description::parse`]'s.
    pub fn from_column(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_printable_text_up_to_255_characters() {
        assert_eq!(
            Description::parse("  CI deploys, prod ✓ ")
                .unwrap()
                .as_str(),
            "CI deploys, prod ✓"
        );
        assert!(Description::parse("").unwrap().is_empty());
        assert!(Description::parse(&"é".repeat(255)).is_ok());
        assert_eq!(
            Description::parse(&"é".repeat(256)),
            Err(DescriptionError::TooLong)
        );
        for bad in [
            "a\nb",
            "a\u{0}b",
            "a\u{1b}[31m",
            "a\u{85}b",
            "gpj.\u{202e}exe",
            "line\u{2028}break",
            "para\u{2029}graph",
            "zero\u{200b}width",
            "join\u{200d}er",
            "\u{feff}bom",
        ] {
            assert_eq!(
                Description::parse(bad),
                Err(DescriptionError::HiddenCharacter),
                "{bad:?}"
            );
        }
    }
}
