//! Passkeys (WebAuthn) through webauthn-rs's safe API: the relying party
//! this server is, and the ceremonies of registering a passkey, using one
//! as a second factor, and signing in with one alone.
//!
//! **The relying party id** is the host of `WHM_TOKENS_PUBLIC_URL`, and
//! browsers bind every passkey to it: changing the public URL's host makes
//! the passkeys registered before it useless. Without a public URL the
//! server offers passkeys only to pages served as `localhost` (any port),
//! the one host browsers treat as secure without TLS.
//!
//! Every result is checked: webauthn-rs verifies the challenge, the origin,
//! the signature, user verification (required) and the signature counter
//! (a counter that goes back is refused as a cloned authenticator), and we
//! refuse anything it does not return as a success, then store the updated
//! counter and backup state it hands back.

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

/// How long a ceremony may take, from its options to its answer.
pub const CEREMONY_SECS: i64 = 300;

/// A passkey answer that was not accepted, with what to tell the user (the
/// real reason goes to the log).
#[derive(Debug)]
pub struct Refused(pub &'static str);

pub const NOT_VERIFIED: Refused = Refused("The passkey could not be verified. Try again.");

/// Base64url without padding, as WebAuthn writes binary values.
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// This server as a WebAuthn relying party.
pub struct RelyingParty {
    webauthn: Webauthn,
    /// The relying party id (a host name).
    pub id: String,
    /// Passkeys only for pages served as `localhost` (no public URL).
    local_only: bool,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("id", &self.id)
            .field("local_only", &self.local_only)
            .finish()
    }
}

impl RelyingParty {
    /// The relying party for `public_url` (`None`: localhost only). A public
    /// URL whose host is an IP address cannot have passkeys (WebAuthn needs a
    /// domain name): `None`, with the reason logged.
    pub fn new(public_url: Option<&str>) -> Option<Self> {
        let (origin, local_only) = match public_url {
            Some(url) => (Url::parse(url).ok()?, false),
            None => (Url::parse("http://localhost").expect("a valid URL"), true),
        };
        let id = match origin.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            _ => {
                tracing::warn!(
                    "passkeys are off: WHM_TOKENS_PUBLIC_URL's host is not a domain name"
                );
                return None;
            }
        };
        let webauthn = WebauthnBuilder::new(&id, &origin)
            .and_then(|b| b.rp_name("whm-tokens").allow_any_port(local_only).build());
        match webauthn {
            Ok(webauthn) => Some(Self {
                webauthn,
                id,
                local_only,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "passkeys are off: the public URL cannot be a WebAuthn origin");
                None
            }
        }
    }

    /// Whether a page asked for at `host` (the Host header) may offer
    /// passkeys: any, with a public URL; else only `localhost`.
    pub fn offered_at(&self, host: &str) -> bool {
        if !self.local_only {
            return true;
        }
        let name = host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        });
        name.eq_ignore_ascii_case("localhost")
    }

    /// Starts registering a passkey for the account whose WebAuthn user id
    /// is `handle`, excluding the credentials it has. Returns the options
    /// for the browser and the state to keep on the server.
    pub fn start_registration(
        &self,
        handle: Uuid,
        username: &str,
        existing: &[Passkey],
    ) -> Result<(Value, String), Refused> {
        let exclude: Vec<_> = existing.iter().map(|p| p.cred_id().clone()).collect();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(handle, username, username, Some(exclude))
            .map_err(|e| failed("start a registration", e))?;
        let mut options = serde_json::to_value(options).map_err(|_| NOT_VERIFIED)?;
        // Asked to be discoverable (but not required, so any authenticator
        // works), so that it can sign in without a user name.
        // webauthn-rs's passkey registration asks "discouraged" and checks
        // nothing of it when finishing.
        if let Some(selection) = options["publicKey"]["authenticatorSelection"].as_object_mut() {
            selection.insert("residentKey".into(), "preferred".into());
        }
        Ok((options, to_json(&state)?))
    }

    /// Finishes a registration: the new passkey, and its credential id.
    pub fn finish_registration(
        &self,
        answer: &str,
        state: &str,
    ) -> Result<(Passkey, String), Refused> {
        let answer: RegisterPublicKeyCredential = from_json(answer)?;
        let state: PasskeyRegistration = from_json(state)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&answer, &state)
            .map_err(|e| failed("finish a registration", e))?;
        let id = b64url(passkey.cred_id().as_ref());
        Ok((passkey, id))
    }

    /// Starts a sign-in with one of `passkeys` (the second factor).
    pub fn start_authentication(&self, passkeys: &[Passkey]) -> Result<(Value, String), Refused> {
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(passkeys)
            .map_err(|e| failed("start a sign-in", e))?;
        Ok((
            serde_json::to_value(options).map_err(|_| NOT_VERIFIED)?,
            to_json(&state)?,
        ))
    }

    /// Finishes a second-factor sign-in: which credential answered, and the
    /// verified result.
    pub fn finish_authentication(
        &self,
        answer: &str,
        state: &str,
    ) -> Result<(String, AuthenticationResult), Refused> {
        let answer: PublicKeyCredential = from_json(answer)?;
        let state: PasskeyAuthentication = from_json(state)?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&answer, &state)
            .map_err(|e| failed("finish a sign-in", e))?;
        verified(result).map(|r| (b64url(r.cred_id().as_ref()), r))
    }

    /// Starts a sign-in without a user name: the browser offers the
    /// passkeys it holds for this site. Returns the options, the state and
    /// the challenge (base64url) that the answer must be the first to use.
    pub fn start_discoverable(&self) -> Result<(Value, String, String), Refused> {
        let (mut options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| failed("start a passwordless sign-in", e))?;
        // A button asks for it, not the browser's autofill.
        options.mediation = None;
        let options = serde_json::to_value(options).map_err(|_| NOT_VERIFIED)?;
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .ok_or(NOT_VERIFIED)?
            .to_owned();
        Ok((options, to_json(&state)?, challenge))
    }

    /// Which account's user id and which credential (base64url) an answer
    /// to a passwordless sign-in names: to be looked up before it is
    /// verified.
    pub fn identify(&self, answer: &str) -> Result<(Uuid, String), Refused> {
        let answer: PublicKeyCredential = from_json(answer)?;
        let (handle, id) = self
            .webauthn
            .identify_discoverable_authentication(&answer)
            .map_err(|e| failed("identify a passwordless sign-in", e))?;
        Ok((handle, b64url(id)))
    }

    /// Finishes a passwordless sign-in with the passkey it named.
    pub fn finish_discoverable(
        &self,
        answer: &str,
        state: &str,
        passkey: &Passkey,
    ) -> Result<AuthenticationResult, Refused> {
        let answer: PublicKeyCredential = from_json(answer)?;
        let state: DiscoverableAuthentication = from_json(state)?;
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(&answer, state, passkey)
            .map_err(|e| failed("finish a passwordless sign-in", e))?;
        verified(result)
    }
}

/// A stored passkey's record as webauthn-rs reads it.
pub fn passkey_from_store(json: &str) -> Option<Passkey> {
    serde_json::from_str(json).ok()
}

/// Applies a sign-in's result to the stored passkey: its new record as JSON
/// when the counter or the backup state changed.
pub fn updated_record(stored: &str, result: &AuthenticationResult) -> Option<String> {
    let mut passkey = passkey_from_store(stored)?;
    match passkey.update_credential(result) {
        Some(true) => serde_json::to_string(&passkey).ok(),
        _ => None,
    }
}

/// Whether a sign-in's signature counter fails to move past the one
/// stored now (a cloned authenticator, or an answer that raced another):
/// when either is non-zero, the answer's must be higher. A record whose
/// counter cannot be read is taken as gone back.
pub fn counter_went_back(stored: &str, result: &AuthenticationResult) -> bool {
    let stored = serde_json::from_str::<Value>(stored)
        .ok()
        .and_then(|v| v["cred"]["counter"].as_u64());
    let Some(stored) = stored else {
        return true;
    };
    let answered = u64::from(result.counter());
    (stored != 0 || answered != 0) && answered <= stored
}

/// The digest a used challenge is kept under.
pub fn challenge_digest(challenge: &str) -> Vec<u8> {
    Sha256::digest(challenge.as_bytes()).to_vec()
}

/// webauthn-rs returns a success only for a verified answer; user
/// verification is required by the options, and asserted here once more.
fn verified(result: AuthenticationResult) -> Result<AuthenticationResult, Refused> {
    if result.user_verified() {
        Ok(result)
    } else {
        tracing::warn!("a passkey answer without user verification was refused");
        Err(NOT_VERIFIED)
    }
}

fn failed(what: &str, e: webauthn_rs::prelude::WebauthnError) -> Refused {
    tracing::warn!(error = %e, "could not {what} with a passkey");
    NOT_VERIFIED
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Refused> {
    serde_json::to_string(value).map_err(|_| NOT_VERIFIED)
}

/// An answer from the browser: at most 16 KiB of JSON of the expected
/// shape.
fn from_json<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, Refused> {
    if raw.len() > 16 * 1024 {
        return Err(Refused("The passkey's answer is too large."));
    }
    serde_json::from_str(raw).map_err(|e| {
        tracing::warn!(error = %e, "a passkey answer that is not WebAuthn's JSON");
        Refused("The passkey's answer could not be read. Try again.")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered_with(counter: u32) -> AuthenticationResult {
        serde_json::from_value(serde_json::json!({
            "cred_id": "AAAA",
            "needs_update": false,
            "user_verified": true,
            "backup_state": false,
            "backup_eligible": false,
            "counter": counter,
            "extensions": {},
        }))
        .unwrap()
    }

    #[test]
    fn a_counter_that_does_not_move_past_the_stored_one_went_back() {
        let stored = |n: u32| format!(r#"{{"cred":{{"counter":{n}}}}}"#);
        // Authenticators without a counter answer 0 every time.
        assert!(!counter_went_back(&stored(0), &answered_with(0)));
        assert!(!counter_went_back(&stored(4), &answered_with(5)));
        assert!(!counter_went_back(&stored(0), &answered_with(1)));
        assert!(counter_went_back(&stored(5), &answered_with(5)));
        assert!(counter_went_back(&stored(5), &answered_with(3)));
        assert!(counter_went_back(&stored(5), &answered_with(0)));
        // A record whose counter cannot be read refuses.
        assert!(counter_went_back("{}", &answered_with(9)));
        assert!(counter_went_back("not json", &answered_with(9)));
    }

    #[test]
    fn without_a_public_url_passkeys_are_offered_only_on_localhost() {
        let rp = RelyingParty::new(None).unwrap();
        assert_eq!(rp.id, "localhost");
        assert!(rp.offered_at("localhost:8080"));
        assert!(rp.offered_at("LOCALHOST"));
        assert!(!rp.offered_at("127.0.0.1:8080"));
        assert!(!rp.offered_at("panel.example.com"));
    }

    #[test]
    fn the_relying_party_id_is_the_public_urls_host_and_not_an_address() {
        let rp = RelyingParty::new(Some("https://panel.example.com:2087")).unwrap();
        assert_eq!(rp.id, "panel.example.com");
        assert!(rp.offered_at("anything"));
        assert!(RelyingParty::new(Some("https://192.0.2.7:2087")).is_none());
    }

    #[test]
    fn registration_options_ask_for_a_discoverable_verified_credential() {
        let rp = RelyingParty::new(None).unwrap();
        let (options, state) = rp.start_registration(Uuid::new_v4(), "root", &[]).unwrap();
        let selection = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "preferred");
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
        assert!(!state.is_empty());
    }

    #[test]
    fn an_answer_that_is_not_webauthn_json_is_refused() {
        let rp = RelyingParty::new(None).unwrap();
        let (_, state) = rp.start_registration(Uuid::new_v4(), "root", &[]).unwrap();
        assert!(rp.finish_registration("{}", &state).is_err());
        assert!(rp.finish_registration(&"x".repeat(20_000), &state).is_err());
        assert!(rp.identify("not json").is_err());
    }
}
