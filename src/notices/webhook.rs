//! Notices by webhook: a JSON POST per notice, signed when a secret is set.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::notices::WebhookSettings;
use crate::domain::ServerClock;

pub const SIGNATURE_HEADER: &str = "X-WHM-Tokens-Signature";
pub const DELIVERY_HEADER: &str = "X-WHM-Tokens-Delivery";

/// Tries per round, with these waits between them; a notice that still
/// fails is tried again next round.
const BACK_OFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(4)];
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Webhook {
    client: awc::Client,
    settings: WebhookSettings,
    clock: ServerClock,
}

impl Webhook {
    /// Made on the task that uses it (the client belongs to its thread).
    pub fn new(settings: &WebhookSettings, clock: ServerClock) -> Self {
        let client = awc::Client::builder()
            .timeout(TIMEOUT)
            .disable_redirects()
            .finish();
        Self {
            client,
            settings: settings.clone(),
            clock,
        }
    }

    /// Posts `body`; `Ok` once the receiver answered 2xx. Tries up to three
    /// times, waiting longer each time; each try is signed when it is sent.
    pub async fn send(&self, delivery: &str, body: Vec<u8>) -> anyhow::Result<()> {
        let mut last = None;
        for wait in std::iter::once(None).chain(BACK_OFF.into_iter().map(Some)) {
            if let Some(wait) = wait {
                actix_web::rt::time::sleep(wait).await;
            }
            let signature = self
                .settings
                .secret
                .as_deref()
                .map(|key| sign(key, self.clock.now(), delivery, &body));
            let mut request = self
                .client
                .post(&self.settings.url)
                .insert_header(("Content-Type", "application/json"))
                .insert_header((
                    "User-Agent",
                    concat!("whm-tokens/", env!("CARGO_PKG_VERSION")),
                ))
                .insert_header((DELIVERY_HEADER, delivery));
            if let Some(signature) = &signature {
                request = request.insert_header((SIGNATURE_HEADER, signature.as_str()));
            }
            match request.send_body(body.clone()).await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => last = Some(format!("answered {}", response.status())),
                Err(e) => last = Some(e.to_string()),
            }
        }
        anyhow::bail!(
            "the webhook {}",
            last.unwrap_or_else(|| "failed".to_owned())
        )
    }
}

/// `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<delivery>.<body>">` under
/// the secret (as Stripe signs its webhooks, with the delivery id too): a
/// receiver that refuses an old `t` cannot be sent a recorded delivery
/// again later, nor one with its delivery id changed to pass its
/// de-duplication.
pub fn sign(key: &[u8], at: i64, delivery: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{at}.{delivery}.").as_bytes());
    mac.update(body);
    format!("t={at},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::sign;

    const BODY: &[u8] = br#"{"event":"token_expired","account":"bob","token":"deploy"}"#;

    #[test]
    fn a_signature_is_hmac_sha256_of_the_time_the_delivery_id_and_the_body_in_hex() {
        // As `printf '%s' '1800000000.42-1799999999-expired.{…}' | openssl
        // dgst -sha256 -hmac key` computes it (the README's recipe).
        assert_eq!(
            sign(b"key", 1_800_000_000, "42-1799999999-expired", BODY),
            "t=1800000000,v1=f6fbb9696a3a1f2d88ca615e82243a94080049dc280eac1113b82921df873bc7"
        );
    }

    #[test]
    fn a_signature_does_not_hold_for_another_time_delivery_id_or_body() {
        let signed = sign(b"key", 1_800_000_000, "42-1799999999-expired", BODY);
        let v1 = |s: &str| s.split_once(",v1=").unwrap().1.to_owned();
        for other in [
            sign(b"key", 1_800_000_001, "42-1799999999-expired", BODY),
            sign(b"key", 1_800_000_000, "43-1799999999-expired", BODY),
            sign(b"key", 1_800_000_000, "42-1799999999-expired", b"{}"),
            sign(b"other", 1_800_000_000, "42-1799999999-expired", BODY),
        ] {
            assert_ne!(v1(&other), v1(&signed));
        }
    }
}
