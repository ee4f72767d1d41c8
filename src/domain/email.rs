use std::fmt;

/// An account's contact address, where its expiry notices go: one mailbox
/// (`name@domain`), at most 254 characters, as SMTP takes it.
#[derive(Clone, Debug, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct EmailAddress(String);

pub const MAX_EMAIL_LEN: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("The email address may be at most {MAX_EMAIL_LEN} characters long.")]
    TooLong,
    #[error("“{0}” is not an email address such as admin@example.com.")]
    Invalid(String),
}

impl EmailAddress {
    /// An address, or `None` for an empty field (no address).
    pub fn parse_optional(raw: &str) -> Result<Option<Self>, EmailError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        Self::parse(raw).map(Some)
    }

    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let raw = raw.trim();
        if raw.len() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        // lettre's parser follows RFC 5321's mailbox; a display name or a
        // second address is not one.
        match raw.parse::<lettre::Address>() {
            Ok(address) if address.domain().contains('.') || address.domain() == "localhost" => {
                Ok(Self(address.to_string()))
            }
            _ => Err(EmailError::Invalid(raw.chars().take(80).collect())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailbox_is_an_email_address_and_an_empty_field_is_none() {
        assert_eq!(
            EmailAddress::parse(" ops@example.com ").unwrap().as_str(),
            "ops@example.com"
        );
        assert_eq!(EmailAddress::parse_optional("  ").unwrap(), None);
        assert!(EmailAddress::parse("root@localhost").is_ok());
        for bad in [
            "ops",
            "ops@",
            "@example.com",
            "Ops <ops@example.com>",
            "a@example.com, b@example.com",
            "ops@example",
            "ops@exa mple.com",
            "ops@example.com\r\nBcc: x@evil.test",
        ] {
            assert!(
                matches!(EmailAddress::parse(bad), Err(EmailError::Invalid(_))),
                "{bad:?}"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&long), Err(EmailError::TooLong));
    }
}
