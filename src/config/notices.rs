//! Where expiry notices go, parsed once from the settings.

use std::fmt;
use std::time::Duration;

use anyhow::Context;
use lettre::message::Mailbox;

/// Expiry notices: how often to look, and where to send them. Both
/// channels off (the default) means no checker runs.
#[derive(Clone, Debug)]
pub struct NoticeSettings {
    pub interval: Duration,
    pub mail: Option<MailSettings>,
    pub webhook: Option<WebhookSettings>,
}

impl Default for NoticeSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3600),
            mail: None,
            webhook: None,
        }
    }
}

/// How mail reaches the SMTP server.
#[derive(Clone, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (smtps://, port 465 by default).
    Tls,
    /// STARTTLS, required: no password or mail goes out in clear.
    StartTls,
    /// No TLS: for a server on this machine, or on request (?tls=none).
    None,
}

#[derive(Clone)]
pub struct MailSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, String)>,
    pub from: Mailbox,
    /// How long one mail may take, connection and answers together; past
    /// it the server counts as unreachable for the rest of the round.
    pub timeout: Duration,
}

/// [`MailSettings::timeout`] unless a test shortens it.
pub const MAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// The URL's password never reaches a log line.
impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("login", &self.credentials.as_ref().map(|(user, _)| user))
            .field("from", &self.from.to_string())
            .finish()
    }
}

#[derive(Clone)]
pub struct WebhookSettings {
    pub url: String,
    pub secret: Option<Vec<u8>>,
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The path and login of a webhook URL are often its credentials.
        let shown = url::Url::parse(&self.url)
            .map(|u| format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")))
            .unwrap_or_default();
        f.debug_struct("WebhookSettings")
            .field("url", &shown)
            .field("signed", &self.secret.is_some())
            .finish()
    }
}

/// The seconds `WHM_TOKENS_NOTIFY_INTERVAL` may be: a second to a week.
pub const INTERVAL_SECS: std::ops::RangeInclusive<u64> = 1..=7 * 86_400;

impl NoticeSettings {
    /// The settings as given; a value out of range, or one that would be
    /// ignored (a secret without a webhook, a sender without a mail
    /// server), stops the start with the variable named.
    pub fn parse(
        interval_secs: u64,
        smtp_url: Option<&str>,
        mail_from: Option<&str>,
        webhook: Option<&str>,
        secret: Option<&str>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            INTERVAL_SECS.contains(&interval_secs),
            "WHM_TOKENS_NOTIFY_INTERVAL: {interval_secs} is not a number of seconds from {} to {} (a week)",
            INTERVAL_SECS.start(),
            INTERVAL_SECS.end()
        );
        anyhow::ensure!(
            given(secret).is_none() || given(webhook).is_some(),
            "WHM_TOKENS_NOTIFY_SECRET is set, but WHM_TOKENS_NOTIFY_WEBHOOK is not: \
             the secret signs webhook deliveries, so set the webhook or drop the secret"
        );
        anyhow::ensure!(
            given(mail_from).is_none() || given(smtp_url).is_some(),
            "WHM_TOKENS_MAIL_FROM is set, but WHM_TOKENS_SMTP_URL is not: \
             no mail would be sent, so set the mail server or drop the sender"
        );
        let mail = given(smtp_url)
            .map(|url| {
                let from = given(mail_from).context(
                    "WHM_TOKENS_MAIL_FROM must say who notices come from when WHM_TOKENS_SMTP_URL is set",
                )?;
                MailSettings::parse(url, from)
            })
            .transpose()?;
        let webhook = given(webhook)
            .map(|raw| {
                let url = url::Url::parse(raw)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .with_context(|| {
                        format!(
                            "WHM_TOKENS_NOTIFY_WEBHOOK: {:?} is not an http(s):// URL",
                            redact(raw)
                        )
                    })?;
                Ok::<_, anyhow::Error>(WebhookSettings {
                    url: url.to_string(),
                    // As given, spaces and all: the receiver checks with the
                    // same bytes.
                    secret: secret
                        .filter(|s| !s.is_empty())
                        .map(|s| s.as_bytes().to_vec()),
                })
            })
            .transpose()?;
        Ok(Self {
            interval: Duration::from_secs(interval_secs),
            mail,
            webhook,
        })
    }

    pub fn is_on(&self) -> bool {
        self.mail.is_some() || self.webhook.is_some()
    }
}

impl MailSettings {
    fn parse(raw: &str, from: &str) -> anyhow::Result<Self> {
        let bad = || {
            format!(
                "WHM_TOKENS_SMTP_URL: {:?} is not smtp://host[:port] or smtps://host[:port] \
                 (percent-encode / ? # @ in the user name and password)",
                redact(raw)
            )
        };
        let url = url::Url::parse(raw).ok().with_context(bad)?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .with_context(bad)?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls_param = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let security = match (url.scheme(), tls_param.as_deref()) {
            ("smtps", None) => SmtpSecurity::Tls,
            ("smtp", Some("none")) => SmtpSecurity::None,
            ("smtp", Some("required")) => SmtpSecurity::StartTls,
            ("smtp", None) if is_loopback(&host) => SmtpSecurity::None,
            ("smtp", None) => SmtpSecurity::StartTls,
            ("smtps", Some(_)) => anyhow::bail!(
                "WHM_TOKENS_SMTP_URL: tls= applies to smtp:// only (smtps:// is always TLS)"
            ),
            ("smtp", Some(other)) => {
                anyhow::bail!("WHM_TOKENS_SMTP_URL: tls={other} is not one of none, required")
            }
            _ => anyhow::bail!(bad()),
        };
        let port = url.port().unwrap_or(match security {
            SmtpSecurity::Tls => 465,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::None => 25,
        });
        let credentials = (!url.username().is_empty()).then(|| {
            (
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or_default()),
            )
        });
        let from: Mailbox = from.parse().map_err(|_| {
            anyhow::anyhow!(
                "WHM_TOKENS_MAIL_FROM: {from:?} is not an address such as \"WHM Tokens <tokens@example.com>\""
            )
        })?;
        Ok(Self {
            host,
            port,
            security,
            credentials,
            from,
            timeout: MAIL_TIMEOUT,
        })
    }
}

/// A setting that was given a value (an empty one counts as none).
fn given(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The URL without its login, for error messages: everything between
/// `://` and the last `@` is hidden, whether or not the URL parses (a
/// password with an unencoded `/` is exactly what fails to parse).
fn redact(raw: &str) -> String {
    match (raw.find("://"), raw.rfind('@')) {
        (Some(start), Some(at)) if at > start + 3 => {
            format!("{}***{}", &raw[..start + 3], &raw[at..])
        }
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(url: &str) -> anyhow::Result<MailSettings> {
        MailSettings::parse(url, "WHM Tokens <tokens@example.com>")
    }

    #[test]
    fn smtp_urls_require_tls_except_on_loopback_or_when_told_otherwise() {
        let m = mail("smtp://mail.example.com").unwrap();
        assert!(m.security == SmtpSecurity::StartTls && m.port == 587);
        let m = mail("smtps://mail.example.com").unwrap();
        assert!(m.security == SmtpSecurity::Tls && m.port == 465);
        let m = mail("smtp://127.0.0.1:2525").unwrap();
        assert!(m.security == SmtpSecurity::None && m.port == 2525);
        let m = mail("smtp://relay.internal:25?tls=none").unwrap();
        assert!(m.security == SmtpSecurity::None);
        assert!(mail("smtp://127.0.0.1?tls=required").unwrap().security == SmtpSecurity::StartTls);
        assert!(mail("http://mail.example.com").is_err());
        assert!(mail("smtp://mail.example.com?tls=maybe").is_err());
    }

    #[test]
    fn smtp_logins_are_decoded_and_never_shown() {
        let m = mail("smtp://alerts%40example.com:p%40ss+w@mail.example.com").unwrap();
        assert_eq!(
            m.credentials,
            Some(("alerts@example.com".into(), "p@ss+w".into()))
        );
        assert!(!format!("{m:?}").contains("p@ss"));
        let err = MailSettings::parse("ftp://u:secret@x", "a@b.c").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        // A password with an unencoded `/` does not parse: still hidden.
        let err =
            MailSettings::parse("smtp://AKIA:ab/cd+ef@email.example.com:587", "a@b.c").unwrap_err();
        assert!(!err.to_string().contains("cd+ef"), "{err}");
        let hook = NoticeSettings::parse(
            60,
            None,
            None,
            Some("https://hooks.example.com/services/T0/B0/SECRETPATH"),
            Some(" key "),
        )
        .unwrap();
        let hook = hook.webhook.unwrap();
        assert!(!format!("{hook:?}").contains("SECRETPATH"));
        assert_eq!(hook.secret.as_deref(), Some(&b" key "[..]), "used as given");
    }

    #[test]
    fn settings_that_would_be_clamped_or_ignored_stop_the_start_naming_the_variable() {
        let hook = Some("https://hooks.example.com/x");
        for (interval, ok) in [(0, false), (1, true), (604_800, true), (604_801, false)] {
            let parsed = NoticeSettings::parse(interval, None, None, hook, None);
            assert_eq!(parsed.is_ok(), ok, "{interval}");
            if let Err(e) = parsed {
                assert!(e.to_string().contains("WHM_TOKENS_NOTIFY_INTERVAL"), "{e}");
            }
        }
        let e = NoticeSettings::parse(60, None, None, None, Some("key")).unwrap_err();
        assert!(
            e.to_string()
                .contains("WHM_TOKENS_NOTIFY_SECRET is set, but WHM_TOKENS_NOTIFY_WEBHOOK is not"),
            "{e}"
        );
        let e = NoticeSettings::parse(60, None, Some("a@b.c"), hook, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("WHM_TOKENS_MAIL_FROM is set, but WHM_TOKENS_SMTP_URL is not"),
            "{e}"
        );
        // Empty counts as not set.
        assert!(NoticeSettings::parse(60, Some(""), Some(""), Some(""), Some("")).is_ok());
    }

    #[test]
    fn mail_needs_a_sender_and_webhooks_an_http_url() {
        assert!(NoticeSettings::parse(60, Some("smtp://127.0.0.1"), None, None, None).is_err());
        assert!(NoticeSettings::parse(60, None, None, Some("ftp://x"), None).is_err());
        let s = NoticeSettings::parse(
            60,
            None,
            None,
            Some("https://hooks.example.com/x"),
            Some("k"),
        )
        .unwrap();
        assert!(s.is_on() && s.mail.is_none());
        assert!(!NoticeSettings::parse(60, Some(""), None, Some(" "), None)
            .unwrap()
            .is_on());
    }
}
