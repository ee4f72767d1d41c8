//! Notices by email, through the SMTP server the settings name.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::domain::EmailAddress;

use crate::config::notices::{MailSettings, SmtpSecurity};

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The server could not be reached, or did not answer within the
    /// timeout: the round's other mail would wait as long, so it is left
    /// to the next round.
    #[error("the mail server is unreachable: {0:#}")]
    Unreachable(anyhow::Error),
    /// This mail failed: the server refused it, or it could not be made.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
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
        .timeout(Some(settings.timeout));
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from: settings.from.clone(),
            timeout: settings.timeout,
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

    /// Sends one mail; `Ok` once the server accepted it. The whole
    /// exchange is bounded by the timeout (the transport's bounds only the
    /// connection: a server that accepts it and never answers would hold
    /// the checker for ever).
    pub async fn send(
        &self,
        to: &EmailAddress,
        subject: &str,
        text: String,
    ) -> Result<(), MailError> {
        let message = self.message(to, subject, text).map_err(MailError::Failed)?;
        match actix_web::rt::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            // A 4xx or 5xx answer: the server is there.
            Ok(Err(e)) if e.is_transient() || e.is_permanent() => Err(MailError::Failed(e.into())),
            Ok(Err(e)) => Err(MailError::Unreachable(e.into())),
            Err(_) => Err(MailError::Unreachable(anyhow::anyhow!(
                "no answer within {} s",
                self.timeout.as_secs_f32()
            ))),
        }
    }

    fn message(&self, to: &EmailAddress, subject: &str, text: String) -> anyhow::Result<Message> {
        let to: Mailbox = to.as_str().parse()?;
        Ok(Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text)?)
    }
}
