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
        let invalid = || EmailError::Invalid(raw.chars().take(80).collect());
        if raw.chars().any(super::text::is_hidden) {
            return Err(invalid());
        }
        // Only what the mailer can send: lettre's address parser follows
        // RFC 5321 loosely, and accepts quoted local parts and address
        // literals that its own mailbox parser (which sending uses) then
        // refuses; such an address would be retried forever. A display name
        // or a second address is not one either.
        let address = raw.parse::<lettre::Address>().map_err(|_| invalid())?;
        let mailbox = raw
            .parse::<lettre::message::Mailbox>()
            .map_err(|_| invalid())?;
        let domain = address.domain();
        let plain_domain = domain.contains('.') || domain == "localhost";
        if mailbox.name.is_some()
            || mailbox.email != address
            || !plain_domain
            || domain.starts_with('[')
        {
            return Err(invalid());
        }
        Ok(Self(address.to_string()))
    }

    /// An address as stored: valid under the rule of its day, which may
    /// have been looser than [`EmailAddress::parse`]'s (see
    /// `notices::mail::Mailer::unmailable`).
    pub fn from_column(stored: String) -> Self {
        Self(stored)
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
            "\"a b\"@example.com",
            "\"x>y\"@example.com",
            "ops@[127.0.0.1]",
            "ops@exam\u{2028}ple.com",
            "ops@example.com\u{202e}",
            "o\u{200b}ps@example.com",
        ] {
            assert!(
                matches!(EmailAddress::parse(bad), Err(EmailError::Invalid(_))),
                "{bad:?}"
            );
        }
        // Every address accepted is one the mailer takes.
        for good in [
            "ops@example.com",
            "first.last+tag@sub.example.org",
            "root@localhost",
        ] {
            let parsed = EmailAddress::parse(good).unwrap();
            assert!(
                parsed.as_str().parse::<lettre::message::Mailbox>().is_ok(),
                "{good}"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&long), Err(EmailError::TooLong));
    }
}
