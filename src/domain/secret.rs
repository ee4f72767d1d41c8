use std::fmt;

use rand::{rngs::OsRng, Rng, TryRngCore};
use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub const SECRET_LEN: usize = 32;

/// A token's secret: 32 characters from `0-9 A-Z` (about 165 bits), drawn
/// from the operating system's CSPRNG. It is shown to its owner once and
/// never stored; `Debug` and `Display` do not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    pub fn generate() -> Self {
        let mut rng = OsRng.unwrap_err();
        let secret = (0..SECRET_LEN)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        Self(secret)
    }

    /// Reads a secret presented by a client. Anything that is not exactly
    /// 32 characters of `0-9 A-Z` cannot be a secret we issued.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == SECRET_LEN && raw.bytes().all(|b| ALPHABET.contains(&b)))
            .then(|| Self(raw.to_owned()))
    }

    pub fn digest(&self) -> TokenDigest {
        TokenDigest(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The secret itself, for the one answer that hands it to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// SHA-256 of a secret: what the store keeps, behind a unique index. A fast
/// digest is right here because the secret is long and random, not a
/// password a person chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Binary)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// Names this secret (and so the token's current one) without telling
    /// anything of it: a form that replaces a secret carries it, so that of
    /// two such forms sent at once only the first replaces it.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"whm-tokens secret fingerprint\0");
        h.update(self.0);
        hex::encode(&h.finalize()[..12])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_by_secret_and_are_not_the_digest() {
        let (a, b) = (TokenSecret::generate(), TokenSecret::generate());
        let (fa, fb) = (a.digest().fingerprint(), b.digest().fingerprint());
        assert_eq!(fa.len(), 24);
        assert_ne!(fa, fb);
        assert_eq!(fa, a.digest().fingerprint());
        assert!(!hex::encode(a.digest().as_bytes()).contains(&fa));
    }

    #[test]
    fn generated_secrets_have_the_whm_shape_and_differ() {
        let a = TokenSecret::generate();
        let b = TokenSecret::generate();
        assert_eq!(a.expose().len(), 32);
        assert!(a
            .expose()
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_ne!(a, b);
        assert_eq!(TokenSecret::parse(a.expose()), Some(a));
    }

    #[test]
    fn parse_refuses_anything_we_could_not_have_issued() {
        let good = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
        assert!(TokenSecret::parse(good).is_some());
        for bad in [
            "",
            "0123456789ABCDEFGHIJKLMNOPQRSTU",
            "0123456789ABCDEFGHIJKLMNOPQRSTUVW",
            "0123456789abcdefghijklmnopqrstuv",
            "0123456789ABCDEFGHIJKLMNOPQRST-V",
        ] {
            assert!(TokenSecret::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = TokenSecret::generate();
        assert!(!format!("{s:?}").contains(s.expose()));
    }

    #[test]
    fn digest_is_sha256_of_the_secret() {
        let s = TokenSecret::parse("0123456789ABCDEFGHIJKLMNOPQRSTUV").unwrap();
        assert_eq!(
            hex::encode(s.digest().as_bytes()),
            hex::encode(Sha256::digest(b"0123456789ABCDEFGHIJKLMNOPQRSTUV"))
        );
        assert_eq!(
            TokenDigest::from_bytes(s.digest().as_bytes()),
            Some(s.digest())
        );
    }
}
