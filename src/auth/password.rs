//! argon2id password hashes. Both functions are slow on purpose: call them
//! from a blocking thread, never from an async one.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::domain::Password;

pub fn hash(password: &Password) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("could not hash a password: {e}"))
}

/// A hash of nothing in particular, verified against when the account does
/// not exist, so that an unknown user takes as long as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash(&Password::parse("not-a-real-password").expect("valid")).expect("hashing works")
});

/// Whether `candidate` matches `stored`; with no stored hash, burns the
/// same time and says no.
pub fn verify(stored: Option<&str>, candidate: &str) -> bool {
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (DUMMY_HASH.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(candidate.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

/// A random password for accounts created from the command line.
pub fn generate() -> Password {
    use rand::distr::{Alphanumeric, SampleString};
    use rand::TryRngCore;
    let mut rng = rand::rngs::OsRng.unwrap_err();
    Password::parse(&Alphanumeric.sample_string(&mut rng, 20)).expect("long enough")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let p = Password::parse("correct horse").unwrap();
        let h = hash(&p).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(Some(&h), "correct horse"));
        assert!(!verify(Some(&h), "wrong horse"));
        assert!(!verify(None, "not-a-real-password"));
        assert!(!verify(Some("garbage"), "correct horse"));
    }

    #[test]
    fn generated_passwords_differ() {
        assert_ne!(generate().expose(), generate().expose());
    }
}
