//! The name a user gives a passkey ("Laptop", "YubiKey on my keyring"), so
//! that the list tells them apart and the right one can be removed.

/// A passkey's name: 1 to 50 characters once trimmed, none of them hidden
/// (see [`super::text::is_hidden`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyName(String);

pub const MAX_CHARS: usize = 50;

impl PasskeyName {
    /// The name, or what is wrong with it in words for the form.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("Give the passkey a name, such as the device it is on.");
        }
        if name.chars().count() > MAX_CHARS {
            return Err("A passkey's name can be at most 50 characters long.");
        }
        if name.chars().any(super::text::is_hidden) {
            return Err("A passkey's name cannot hold invisible or control characters.");
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PasskeyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_and_must_be_short_visible_text() {
        assert_eq!(PasskeyName::parse("  Laptop ").unwrap().as_str(), "Laptop");
        assert!(PasskeyName::parse("   ").is_err());
        assert!(PasskeyName::parse(&"x".repeat(51)).is_err());
        assert!(PasskeyName::parse(&"é".repeat(50)).is_ok());
        assert!(PasskeyName::parse("key\u{202e}").is_err());
    }
}
