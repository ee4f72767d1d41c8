//! Two-factor sign-in: TOTP codes (RFC 6238: HMAC-SHA1, 6 digits, 30 s
//! steps, one step of clock drift either way), each usable once; recovery
//! codes; and the sealing of secrets at rest.
//!
//! A TOTP secret is stored sealed with ChaCha20-Poly1305 under a key
//! derived (HKDF-SHA256) from the session key, so a copy of the database
//! alone does not give the secrets away. Recovery codes are random and
//! stored as SHA-256 digests, like token secrets.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::ChaCha20Poly1305;
use rand::{Rng, TryRngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;
/// Recovery codes made at a time.
pub const RECOVERY_CODES: usize = 10;
const ISSUER: &str = "whm-tokens";

/// Seals and opens secrets kept at rest.
#[derive(Clone)]
pub struct SecretBox(ChaCha20Poly1305);

impl SecretBox {
    /// The box for `purpose`, keyed from the session key.
    pub fn derive(session_key: &[u8], purpose: &str) -> Self {
        let mut key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(Some(b"whm-tokens"), session_key)
            .expand(purpose.as_bytes(), &mut key)
            .expect("32 bytes is a valid HKDF length");
        Self(ChaCha20Poly1305::new(&key.into()))
    }

    /// Nonce and ciphertext, in one value.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut sealed = nonce.to_vec();
        sealed.extend(
            self.0
                .encrypt(&nonce, plain)
                .expect("sealing in memory does not fail"),
        );
        sealed
    }

    /// What [`Self::seal`] sealed, or `None` for anything else (another
    /// key, a changed byte).
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 12 {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        self.0.decrypt(nonce.into(), ciphertext).ok()
    }
}

/// A TOTP secret: 20 random bytes (160 bits, as RFC 4226 recommends).
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 20];
        rand::rngs::OsRng.unwrap_err().fill(&mut bytes[..]);
        Self(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= 16).then_some(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret in base32, as authenticator apps take it typed in.
    pub fn base32(&self) -> String {
        match Secret::Raw(self.0.clone()).to_encoded() {
            Secret::Encoded(s) => s,
            Secret::Raw(_) => unreachable!("to_encoded encodes"),
        }
    }

    /// The `otpauth://` address a QR code carries.
    pub fn url(&self, account: &str) -> String {
        let label: String = format!("{ISSUER}:{account}")
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b':' || b == b'-' || b == b'_' {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!(
            "otpauth://totp/{label}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            self.base32()
        )
    }

    fn totp(&self) -> TOTP {
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 1, STEP_SECS, self.0.clone())
    }

    /// The code for the step that holds `at` (epoch seconds).
    pub fn code_at(&self, at: u64) -> String {
        self.totp().generate(at)
    }

    /// The time step `code` belongs to, if it is right for `now` or one step
    /// either side, and later than `last_step` (a code works once).
    pub fn check(&self, code: &str, now: u64, last_step: u64) -> Option<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp();
        let current = now / STEP_SECS;
        (current.saturating_sub(1)..=current + 1).find(|step| {
            *step > last_step
                && bool::from(
                    totp.generate(step * STEP_SECS)
                        .as_bytes()
                        .ct_eq(code.as_bytes()),
                )
        })
    }
}

/// The QR code of `url`, as inline SVG.
pub fn qr_svg(url: &str) -> String {
    match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// Ten codes like `k3f9q-7xw2m`, each usable once instead of a TOTP code.
pub fn recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng.unwrap_err();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut code: String = (0..10)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect();
            code.insert(5, '-');
            code
        })
        .collect()
}

/// What the store keeps of a recovery code; as typed, case and dashes
/// aside.
pub fn recovery_digest(code: &str) -> Vec<u8> {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(normal.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors_hold() {
        // RFC 6238, appendix B: the ASCII secret "12345678901234567890".
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        assert_eq!(secret.code_at(59), "287082");
        assert_eq!(secret.code_at(1_111_111_109), "081804");
        assert_eq!(secret.code_at(2_000_000_000), "279037");
    }

    #[test]
    fn a_code_works_once_and_within_one_step_either_side() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_000;
        let code = secret.code_at(now);
        let step = secret.check(&code, now, 0).expect("the current code");
        assert_eq!(secret.check(&code, now, step), None, "used once");
        assert!(secret.check(&secret.code_at(now + 30), now, step).is_some());
        assert!(secret.check(&secret.code_at(now - 30), now, 0).is_some());
        assert_eq!(secret.check(&secret.code_at(now + 90), now, 0), None);
        assert_eq!(secret.check("12345", now, 0), None);
        assert_eq!(secret.check("abcdef", now, 0), None);
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let a = SecretBox::derive(&[7u8; 64], "totp");
        let b = SecretBox::derive(&[8u8; 64], "totp");
        let sealed = a.seal(b"secret");
        assert_eq!(a.open(&sealed).as_deref(), Some(&b"secret"[..]));
        assert_eq!(b.open(&sealed), None);
        let mut changed = sealed.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert_eq!(a.open(&changed), None);
        assert_ne!(a.seal(b"secret"), sealed, "a fresh nonce each time");
    }

    #[test]
    fn recovery_codes_are_distinct_and_digest_whatever_the_typing() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        let code = &codes[0];
        assert_eq!(
            recovery_digest(code),
            recovery_digest(&code.replace('-', "").to_uppercase())
        );
        assert!(TotpSecret::generate()
            .url("bob")
            .starts_with("otpauth://totp/whm-tokens:bob?secret="));
        assert!(qr_svg("otpauth://totp/x").starts_with("<?xml"));
    }
}
