//! Notices by webhook: a JSON POST per notice, signed when a secret is set.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::notices::WebhookSettings;

pub const SIGNATURE_HEADER: &str = "X-WHM-Tokens-Signature";
pub const DELIVERY_HEADER: &str = "X-WHM-Tokens-Delivery";

/// Tries per round, with these waits between them; a notice that still
/// fails is tried again next round.
const BACK_OFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(4)];
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Webhook {
    client: awc::Client,
    settings: WebhookSettings,
}

impl Webhook {
    /// Made on the task that uses it (the client belongs to its thread).
    pub fn new(settings: &WebhookSettings) -> Self {
        let client = awc::Client::builder()
            .timeout(TIMEOUT)
            .disable_redirects()
            .finish();
        Self {
            client,
            settings: settings.clone(),
        }
    }

    /// Posts `body`; `Ok` once the receiver answered 2xx. Tries up to three
    /// times, waiting longer each time.
    pub async fn send(&self, delivery: &str, body: Vec<u8>) -> anyhow::Result<()> {
        let signature = self.settings.secret.as_deref().map(|key| sign(key, &body));
        let mut last = None;
        for wait in std::iter::once(None).chain(BACK_OFF.into_iter().map(Some)) {
            if let Some(wait) = wait {
                actix_web::rt::time::sleep(wait).await;
            }
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

/// `sha256=` and the hex HMAC-SHA256 of the body under the secret, as
/// GitHub's webhooks sign theirs.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_are_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            super::sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
