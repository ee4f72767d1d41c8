//! Notices by email, through the SMTP server the settings name.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::domain::EmailAddress;

use crate::config::notices::{MailSettings, SmtpSecurity};

/// A connection, an answer or the whole message past this counts as failed
/// (and is tried again next round).
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(settings: &MailSettings) -> anyhow::Result<Self> {
        let host = settings.host.as_str();
        let mut builder = match settings.security {
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
            SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        }
        .port(settings.port)
        .timeout(Some(TIMEOUT));
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from: settings.from.clone(),
        })
    }

    /// Why mail can never go to `to`, if it cannot: an address stored
    /// before addresses were checked with the mailer's own parser. Such a
    /// notice is given up, not tried every round.
    pub fn unmailable(to: &EmailAddress) -> Option<String> {
        to.as_str()
            .parse::<Mailbox>()
            .err()
            .map(|e| format!("the contact address cannot be mailed ({e})"))
    }

    /// Sends one mail; `Ok` once the server accepted it.
    pub async fn send(&self, to: &EmailAddress, subject: &str, text: String) -> anyhow::Result<()> {
        let to: Mailbox = to.as_str().parse()?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text)?;
        self.transport.send(message).await?;
        Ok(())
    }
}
