//! The names of our cookies. Over HTTPS every one takes the `__Host-`
//! prefix: the browser then keeps it only if it is Secure, for this host
//! alone and the whole site, so a sibling subdomain can plant none of them
//! (a sign-in form's token, a known-device list or a session of its
//! choosing). Over plain HTTP (development, tests) the prefix would be
//! refused, so the plain names serve.

pub const SESSION: &str = "whm_tokens_session";
pub const LOGIN: &str = "whm_tokens_login";
pub const DEVICE: &str = "whm_tokens_device";
/// A passwordless sign-in under way: its sealed WebAuthn state.
pub const PASSKEY: &str = "whm_tokens_passkey";

/// Which names this server uses; registered as app data so that
/// middleware can read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieNames {
    pub secure: bool,
}

impl CookieNames {
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    fn named(self, base: &'static str) -> &'static str {
        match (self.secure, base) {
            (false, _) => base,
            (true, SESSION) => "__Host-whm_tokens_session",
            (true, LOGIN) => "__Host-whm_tokens_login",
            (true, DEVICE) => "__Host-whm_tokens_device",
            (true, PASSKEY) => "__Host-whm_tokens_passkey",
            (true, other) => unreachable!("no cookie named {other}"),
        }
    }

    pub fn session(self) -> &'static str {
        self.named(SESSION)
    }

    pub fn login(self) -> &'static str {
        self.named(LOGIN)
    }

    pub fn device(self) -> &'static str {
        self.named(DEVICE)
    }

    pub fn passkey(self) -> &'static str {
        self.named(PASSKEY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cookie_takes_the_host_prefix_when_secure() {
        let secure = CookieNames::new(true);
        for name in [
            secure.session(),
            secure.login(),
            secure.device(),
            secure.passkey(),
        ] {
            assert!(name.starts_with("__Host-whm_tokens_"), "{name}");
        }
        let plain = CookieNames::new(false);
        assert_eq!(
            [plain.session(), plain.login(), plain.device()],
            [SESSION, LOGIN, DEVICE]
        );
    }
}
