//! Settings, read once from flags and the environment into one typed struct.

pub mod notices;

pub use notices::NoticeSettings;

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::domain::forward_rules::ForwardRules;
use anyhow::Context;
use chrono_tz::Tz;
use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

#[derive(Parser, Debug)]
#[command(
    name = "whm-tokens",
    version,
    about = "An API-token manager compatible with cPanel WHM's Manage API Tokens and WHM API 1"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(flatten)]
    pub server: ServerSettings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The settings every command reads, the server's (from the `serve`
    /// subcommand, the top level, or the environment alone), and the
    /// command (`serve` by default).
    pub fn into_parts(self) -> anyhow::Result<(Settings, ServerSettings, Command)> {
        // Without a subcommand it serves, with the server's options given
        // here; before a subcommand they would mean nothing.
        if self.command.is_some() && self.server != ServerSettings::from_env()? {
            anyhow::bail!(
                "the server's options go after `serve` (`whm-tokens serve --listen …`), or without a subcommand"
            );
        }
        Ok(match self.command {
            None => {
                let server = self.server;
                (
                    self.settings,
                    server.clone(),
                    Command::Serve(Box::new(server)),
                )
            }
            Some(Command::Serve(server)) => {
                (self.settings, (*server).clone(), Command::Serve(server))
            }
            Some(other) => (self.settings, ServerSettings::from_env()?, other),
        })
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Migrate the database and serve the page and the API (the default).
    Serve(Box<ServerSettings>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an account (a reseller with --reseller); prints its password.
    CreateAccount {
        username: String,
        /// Make it a reseller with the Initial Privileges.
        #[arg(long)]
        reseller: bool,
        /// The owning reseller (default root).
        #[arg(long)]
        owner: Option<String>,
        /// Its contact address, where expiry notices go.
        #[arg(long)]
        email: Option<String>,
    },
    /// Give an account a new random password (printed once) and end its sessions.
    ResetPassword { username: String },
    /// Turn an account's two-factor sign-in off (a lost phone) and end its sessions.
    ResetTwoFactor { username: String },
    /// Print the audit trail, newest first.
    Audit {
        /// Events done by or about this account (under any name it had).
        #[arg(long)]
        user: Option<String>,
        /// Events about this token.
        #[arg(long)]
        token: Option<String>,
        /// From this day on (YYYY-MM-DD, server time).
        #[arg(long)]
        since: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Call a WHM API 1 function locally, as `whmapi1` does: `api [--user NAME] FUNCTION key=value ...`.
    Api {
        /// The account to act as.
        #[arg(long, default_value = "root")]
        user: String,
        function: String,
        /// Parameters as key=value; repeat a key for lists.
        params: Vec<String>,
    },
    /// Show root's token policy, or set it: `policy [--user RESELLER]
    /// [max_lifetime_days=N] [require_ip_for=KEYS] [disable_unused_days=N]
    /// [delete_expired_days=N]` (0 or empty: off; `inherit`: everyone's).
    Policy {
        /// A reseller's override instead of everyone's policy.
        #[arg(long)]
        user: Option<String>,
        /// Rules to set, as key=value.
        settings: Vec<String>,
    },
    /// Write a consistent snapshot of the whole store to FILE (while it serves).
    Backup { file: PathBuf },
    /// Restore FILE (from `backup`) into the store, which must be empty.
    Restore { file: PathBuf },
    /// Copy the whole store into another, empty one (SQLite to PostgreSQL or back).
    Copy {
        /// The store to copy into: postgres://… or an SQLite file.
        #[arg(long)]
        to: String,
        /// The store to copy from (default: DATABASE_URL, or the embedded one).
        #[arg(long)]
        from: Option<String>,
    },
}

/// The embedded store's file in the data folder (when no DATABASE_URL).
pub const SQLITE_FILE: &str = "whm-tokens.sqlite3";

/// What every command reads: where the store is and how to read it.
#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// Database URL: postgres://… for PostgreSQL, or an SQLite file path
    /// (default: whm-tokens.sqlite3 in the data folder).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// A direct PostgreSQL URL (not through a pooler such as PgBouncer in
    /// transaction mode), for what needs a session of its own: the change
    /// listener and migrations. When set, DATABASE_URL is taken to be a
    /// pooler's, and its connections use no prepared statements.
    #[arg(
        long,
        env = "WHM_TOKENS_DATABASE_DIRECT_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_direct_url: Option<String>,
    /// Folder for the embedded database and the generated session key.
    #[arg(
        long,
        env = "WHM_TOKENS_DATA_DIR",
        default_value = "data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Key that signs session cookies: at least 64 bytes, hex or base64.
    /// Required when several instances share a database; otherwise generated
    /// once and kept in the data folder.
    #[arg(
        long,
        env = "WHM_TOKENS_SESSION_KEY",
        hide_env_values = true,
        global = true
    )]
    pub session_key: Option<String>,
    /// Server time zone (IANA name) for expiry dates and displayed times;
    /// default: the system's.
    #[arg(long = "time-zone", env = "TZ", global = true)]
    pub time_zone: Option<String>,
    /// The password root gets on first start (default: a random one, printed once).
    #[arg(
        long,
        env = "WHM_TOKENS_ROOT_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub root_password: Option<String>,
    /// Database connections per instance.
    #[arg(
        long,
        env = "WHM_TOKENS_DB_POOL_SIZE",
        default_value_t = 8,
        global = true
    )]
    pub db_pool_size: u32,
    /// How log lines are written to standard error: `text` (colours only on
    /// a terminal) or `json` (one object per line, with the request's id).
    #[arg(
        long,
        env = "WHM_TOKENS_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,
}

/// What only the server reads (`serve`, or no subcommand); other commands
/// take these from the environment alone.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Address and port to listen on.
    #[arg(long, env = "WHM_TOKENS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Proxies whose X-Forwarded-For is trusted: addresses or CIDR ranges,
    /// separated by commas.
    #[arg(long, env = "WHM_TOKENS_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// The address users reach the page at (for links the API hands out),
    /// e.g. https://whm.example.com. Default: taken from the request.
    #[arg(long, env = "WHM_TOKENS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Mark cookies Secure and give the session cookie the `__Host-`
    /// prefix (default: on when --public-url is https).
    #[arg(
        long,
        env = "WHM_TOKENS_SECURE_COOKIES",
        num_args = 0..=1,
        default_missing_value = "true",
    )]
    pub secure_cookies: Option<bool>,
    /// Hours after signing in that a session ends, however active it is.
    #[arg(long, env = "WHM_TOKENS_SESSION_MAX_HOURS", default_value_t = 24)]
    pub session_max_hours: u64,
    /// Days the audit trail keeps events.
    #[arg(long, env = "WHM_TOKENS_AUDIT_RETENTION_DAYS", default_value_t = 90)]
    pub audit_retention_days: u64,
    /// Record each token's last use (the Last used column). Off only to
    /// measure what recording costs (`cargo bench`).
    #[arg(
        long,
        env = "WHM_TOKENS_RECORD_USAGE",
        default_value_t = true,
        action = clap::ArgAction::Set,
    )]
    pub record_usage: bool,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "WHM_TOKENS_WORKERS")]
    pub workers: Option<usize>,
    /// Password checks (argon2id, about 19 MiB each) run at once; default:
    /// half the cores, at least 1.
    #[arg(long, env = "WHM_TOKENS_PASSWORD_CONCURRENCY")]
    pub password_concurrency: Option<usize>,
    /// Password checks that may wait for a free one; past that, sign-ins and
    /// password changes are refused at once with 503 and Retry-After.
    #[arg(long, env = "WHM_TOKENS_PASSWORD_QUEUE", default_value_t = 8)]
    pub password_queue: usize,
    /// Milliseconds a failed, throttled or refused sign-in waits before it is
    /// answered (counted from its arrival; no thread is held meanwhile).
    #[arg(
        long,
        env = "WHM_TOKENS_FAILED_SIGN_IN_DELAY_MS",
        default_value_t = 1000
    )]
    pub failed_sign_in_delay_ms: u64,
    /// Address for Prometheus metrics (`/metrics`), e.g. 127.0.0.1:9464;
    /// off when unset. Never the public port.
    #[arg(long, env = "WHM_TOKENS_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Forward auth's rules file (`/auth/forward`): methods, path patterns
    /// and what a token needs for each. Default: the ready-made rules for
    /// WHM-style backends (`/json-api/<function>`).
    #[arg(long, env = "WHM_TOKENS_FORWARD_RULES")]
    pub forward_rules: Option<PathBuf>,
    /// Introspection calls one caller's token may make a minute.
    #[arg(long, env = "WHM_TOKENS_INTROSPECT_PER_MINUTE", default_value_t = 600)]
    pub introspect_per_minute: u32,
    /// Seconds that requests under way may take to finish after SIGTERM or
    /// SIGINT, before the server stops anyway.
    #[arg(long, env = "WHM_TOKENS_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout: u64,
    /// Seconds a client has to send a request's head, and again its body;
    /// a connection slower than that is answered 408 and closed, so slow
    /// senders cannot hold connections open.
    #[arg(long, env = "WHM_TOKENS_REQUEST_TIMEOUT", default_value_t = 10)]
    pub request_timeout: u64,
    /// Seconds between two checks for tokens that expire soon (expiry
    /// notices by email and webhook): 1 to 604800.
    #[arg(long, env = "WHM_TOKENS_NOTIFY_INTERVAL", default_value_t = 3600)]
    pub notify_interval: u64,
    /// Mail server for expiry notices: smtp://host:587 (STARTTLS, required
    /// unless the host is a loopback address), smtps://host:465, with
    /// user:password@ when it needs a login; ?tls=none to send in clear.
    #[arg(long, env = "WHM_TOKENS_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The From of expiry notices, e.g. "WHM Tokens <tokens@example.com>".
    #[arg(long, env = "WHM_TOKENS_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// URL that receives a JSON POST per expiry notice.
    #[arg(long, env = "WHM_TOKENS_NOTIFY_WEBHOOK", hide_env_values = true)]
    pub notify_webhook: Option<String>,
    /// Key that signs webhook deliveries (HMAC-SHA256 of the time, the
    /// delivery id and the body, in the X-WHM-Tokens-Signature header).
    #[arg(long, env = "WHM_TOKENS_NOTIFY_SECRET", hide_env_values = true)]
    pub notify_secret: Option<String>,
}

#[derive(Parser)]
struct ServerOnly {
    #[command(flatten)]
    server: ServerSettings,
}

impl ServerSettings {
    /// The server's settings from the environment (and defaults) alone.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(ServerOnly::try_parse_from(["whm-tokens"])
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .server)
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// How long a streamed answer waits for a client that reads none of it.
pub const STALLED_READER_CUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Settings after parsing: what the rest of the program uses.
#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    /// See [`Settings::database_direct_url`].
    pub database_direct_url: Option<String>,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub session_key: Vec<u8>,
    pub time_zone: Tz,
    pub trusted_proxies: Vec<IpNet>,
    pub public_url: Option<String>,
    pub secure_cookies: bool,
    /// However active, a session ends this long after sign-in.
    pub session_max_age: std::time::Duration,
    /// How long the audit trail keeps events.
    pub audit_retention: std::time::Duration,
    /// Whether token use is recorded (the Last used column).
    pub record_usage: bool,
    pub root_password: Option<String>,
    pub db_pool_size: u32,
    pub workers: Option<usize>,
    pub password_concurrency: usize,
    pub password_queue: usize,
    pub failed_sign_in_delay: std::time::Duration,
    /// How long a client may take to send a request's head, and its body.
    pub request_timeout: std::time::Duration,
    /// How long requests under way may take to finish at shutdown.
    pub shutdown_timeout: std::time::Duration,
    /// Where `/metrics` is served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    pub notices: NoticeSettings,
    /// What forward auth requires of each original request.
    pub forward_rules: std::sync::Arc<ForwardRules>,
    pub introspect_per_minute: u32,
    /// How long a streamed answer waits for a client that takes none of it
    /// before cutting it off (60 s; tests shorten it).
    pub stalled_reader_cut: std::time::Duration,
}

/// The rules in `path`, or the ready-made ones; a bad file stops the
/// start with the line at fault.
fn load_forward_rules(path: Option<&std::path::Path>) -> anyhow::Result<ForwardRules> {
    let Some(path) = path.filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(ForwardRules::ready_made());
    };
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "WHM_TOKENS_FORWARD_RULES: could not read {}",
            path.display()
        )
    })?;
    let mut rules = ForwardRules::parse(&text)
        .with_context(|| format!("WHM_TOKENS_FORWARD_RULES: {}", path.display()))?;
    rules.source = path.display().to_string();
    Ok(rules)
}

impl Settings {
    pub fn resolve(self, server: ServerSettings) -> anyhow::Result<Config> {
        let database_url = match self.database_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => url,
            None => {
                crate::private_files::create_dir(&self.data_dir).with_context(|| {
                    format!(
                        "could not create the data folder {}",
                        self.data_dir.display()
                    )
                })?;
                self.data_dir.join(SQLITE_FILE).display().to_string()
            }
        };
        let session_key = match self.session_key {
            Some(k) => decode_key(&k)?,
            None => load_or_create_key(&self.data_dir)?,
        };
        let time_zone = match self.time_zone.filter(|t| !t.trim().is_empty()) {
            Some(name) => parse_tz(&name)?,
            None => iana_time_zone::get_timezone()
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(chrono_tz::UTC),
        };
        let trusted_proxies = server
            .trusted_proxies
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                    .with_context(|| {
                        format!("WHM_TOKENS_TRUSTED_PROXIES: {s:?} is not an address or range")
                    })
            })
            .collect::<anyhow::Result<_>>()?;
        let database_direct_url = self.database_direct_url.filter(|u| !u.trim().is_empty());
        if database_direct_url.is_some()
            && crate::db::Backend::of_url(&database_url) != crate::db::Backend::Postgres
        {
            anyhow::bail!("WHM_TOKENS_DATABASE_DIRECT_URL is for PostgreSQL behind a pooler; DATABASE_URL is not PostgreSQL");
        }
        // Out of range is a mistake to say at start, not a value to bend:
        // a retention of 0 read as "keep nothing" would prune a day's trail.
        let audit_retention_days = within(
            "WHM_TOKENS_AUDIT_RETENTION_DAYS",
            server.audit_retention_days,
            1..=3650,
        )?;
        let session_max_hours = within(
            "WHM_TOKENS_SESSION_MAX_HOURS",
            server.session_max_hours,
            1..=720,
        )?;
        let request_timeout = within(
            "WHM_TOKENS_REQUEST_TIMEOUT",
            server.request_timeout,
            1..=3600,
        )?;
        let shutdown_timeout = within(
            "WHM_TOKENS_SHUTDOWN_TIMEOUT",
            server.shutdown_timeout,
            0..=3600,
        )?;
        let failed_sign_in_delay_ms = within(
            "WHM_TOKENS_FAILED_SIGN_IN_DELAY_MS",
            server.failed_sign_in_delay_ms,
            0..=10_000,
        )?;
        let public_url = server
            .public_url
            .as_deref()
            .map(parse_public_url)
            .transpose()?;
        Ok(Config {
            database_url,
            database_direct_url,
            data_dir: self.data_dir,
            listen: server.listen,
            session_key,
            time_zone,
            trusted_proxies,
            secure_cookies: server.secure_cookies.unwrap_or_else(|| {
                public_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://"))
            }),
            public_url,
            record_usage: server.record_usage,
            audit_retention: std::time::Duration::from_secs(audit_retention_days * 86_400),
            session_max_age: std::time::Duration::from_secs(session_max_hours * 3600),
            root_password: self.root_password,
            db_pool_size: self.db_pool_size.max(1),
            workers: server.workers,
            password_concurrency: server
                .password_concurrency
                .unwrap_or_else(default_password_concurrency)
                .max(1),
            password_queue: server.password_queue,
            failed_sign_in_delay: std::time::Duration::from_millis(failed_sign_in_delay_ms),
            request_timeout: std::time::Duration::from_secs(request_timeout),
            shutdown_timeout: std::time::Duration::from_secs(shutdown_timeout),
            metrics_listen: server.metrics_listen,
            forward_rules: std::sync::Arc::new(load_forward_rules(
                server.forward_rules.as_deref(),
            )?),
            introspect_per_minute: server.introspect_per_minute.max(1),
            stalled_reader_cut: STALLED_READER_CUT,
            notices: NoticeSettings::parse(
                server.notify_interval,
                server.smtp_url.as_deref(),
                server.mail_from.as_deref(),
                server.notify_webhook.as_deref(),
                server.notify_secret.as_deref(),
            )?,
        })
    }
}

/// `value` when it lies in `range`; else an error naming the setting.
fn within(name: &str, value: u64, range: std::ops::RangeInclusive<u64>) -> anyhow::Result<u64> {
    anyhow::ensure!(
        range.contains(&value),
        "{name} must be from {} to {}; it is {value}",
        range.start(),
        range.end()
    );
    Ok(value)
}

/// The public address as links are built from it: an http or https URL
/// with a host, no query or fragment, without a trailing slash. Anything
/// else is refused at start: a value without its scheme would quietly turn
/// off Secure cookies and passkeys.
fn parse_public_url(raw: &str) -> anyhow::Result<String> {
    let refuse = |why: &str| {
        anyhow::anyhow!(
            "WHM_TOKENS_PUBLIC_URL: {raw:?} {why}; give the address users reach the page at, e.g. https://whm.example.com"
        )
    };
    let url = url::Url::parse(raw.trim()).map_err(|e| refuse(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("is not an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("names no host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(refuse("must not carry a query, a fragment or a login"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A database URL as it may be shown (banners, errors): its password, in
/// the authority or as a `password`/`sslpassword` parameter, replaced by
/// `***`. A path (SQLite) is shown as it is.
pub fn redacted_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return raw.to_owned();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    let secret =
        |k: &str| k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword");
    if url.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

fn parse_tz(name: &str) -> anyhow::Result<Tz> {
    let name = name.trim_start_matches(':');
    name.parse().map_err(|_| {
        anyhow::anyhow!("TZ: {name:?} is not an IANA time zone name such as Europe/Paris")
    })
}

fn decode_key(raw: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine;
    let raw = raw.trim();
    let bytes = hex::decode(raw)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw))
        .context("WHM_TOKENS_SESSION_KEY must be hex or base64")?;
    anyhow::ensure!(
        bytes.len() >= 64,
        "WHM_TOKENS_SESSION_KEY must hold at least 64 bytes"
    );
    Ok(bytes)
}

fn load_or_create_key(dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let path = dir.join("session.key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return decode_key(&existing);
    }
    crate::private_files::create_dir(dir)?;
    let key = actix_web::cookie::Key::generate();
    let encoded = hex::encode(key.master());
    crate::private_files::write_new(&path, &encoded)
        .with_context(|| format!("could not write {}", path.display()))?;
    Ok(key.master().to_vec())
}

/// Password checks at once by default: half the cores, at least one, so
/// that a storm of sign-ins leaves cores to the API.
pub fn default_password_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cookies_are_secure_by_default_when_the_public_url_is_https() {
        let resolve = |extra: &[&str]| resolved(extra).unwrap();
        assert!(!resolve(&[]).secure_cookies);
        assert!(resolve(&["--public-url", "https://whm.example.com"]).secure_cookies);
        assert!(!resolve(&["--public-url", "http://whm.example.com"]).secure_cookies);
        assert!(resolve(&["--secure-cookies"]).secure_cookies);
        assert!(
            !resolve(&["--public-url", "https://x", "--secure-cookies", "false"]).secure_cookies
        );
        assert_eq!(resolve(&[]).session_max_age.as_secs(), 24 * 3600);
    }

    fn resolved(extra: &[&str]) -> anyhow::Result<Config> {
        let key = "ab".repeat(64);
        let mut args = vec![
            "whm-tokens",
            "--database-url",
            "x.sqlite3",
            "--session-key",
            &key,
        ];
        args.extend_from_slice(extra);
        let (settings, server, _) = Cli::try_parse_from(args).unwrap().into_parts().unwrap();
        settings.resolve(server)
    }

    #[test]
    fn a_setting_out_of_its_range_is_refused_at_start_by_name_not_bent() {
        for (flag, value, name) in [
            (
                "--audit-retention-days",
                "0",
                "WHM_TOKENS_AUDIT_RETENTION_DAYS",
            ),
            (
                "--audit-retention-days",
                "3651",
                "WHM_TOKENS_AUDIT_RETENTION_DAYS",
            ),
            ("--session-max-hours", "0", "WHM_TOKENS_SESSION_MAX_HOURS"),
            ("--request-timeout", "0", "WHM_TOKENS_REQUEST_TIMEOUT"),
            ("--shutdown-timeout", "3601", "WHM_TOKENS_SHUTDOWN_TIMEOUT"),
            (
                "--failed-sign-in-delay-ms",
                "10001",
                "WHM_TOKENS_FAILED_SIGN_IN_DELAY_MS",
            ),
        ] {
            let refused = resolved(&[flag, value]).err().map(|e| e.to_string());
            assert!(
                refused.as_deref().is_some_and(|e| e.contains(name)),
                "{flag} {value}: {refused:?}"
            );
        }
        let edges =
            resolved(&["--audit-retention-days", "3650", "--shutdown-timeout", "0"]).unwrap();
        assert_eq!(edges.audit_retention.as_secs(), 3650 * 86_400);
        assert_eq!(edges.shutdown_timeout.as_secs(), 0);
    }

    #[test]
    fn the_public_url_must_be_an_http_or_https_address_with_a_host() {
        for bad in [
            "whm.example.com",
            "ftp://whm.example.com",
            "https://",
            "https://whm.example.com/?a=1",
            "https://user:pw@whm.example.com",
        ] {
            let refused = resolved(&["--public-url", bad])
                .err()
                .map(|e| e.to_string());
            assert!(
                refused
                    .as_deref()
                    .is_some_and(|e| e.contains("WHM_TOKENS_PUBLIC_URL")),
                "{bad}: {refused:?}"
            );
        }
        let upper = resolved(&["--public-url", "HTTPS://Whm.Example.com/"]).unwrap();
        assert_eq!(upper.public_url.as_deref(), Some("https://whm.example.com"));
        assert!(upper.secure_cookies, "an upper-case scheme is still https");
        let prefixed = resolved(&["--public-url", "https://panel.example.com/whm/"]).unwrap();
        assert_eq!(
            prefixed.public_url.as_deref(),
            Some("https://panel.example.com/whm")
        );
    }

    #[test]
    fn a_database_url_is_shown_without_its_password_wherever_it_is_given() {
        assert_eq!(
            redacted_url("postgres://whm:s3cret@db.example.com:5432/tokens"),
            "postgres://whm:***@db.example.com:5432/tokens"
        );
        let query = redacted_url(
            "postgres://whm@db/tokens?sslmode=require&password=s3cret&sslpassword=k3y",
        );
        assert!(
            !query.contains("s3cret") && !query.contains("k3y"),
            "{query}"
        );
        assert!(query.contains("sslmode=require"), "{query}");
        assert_eq!(
            redacted_url("data/whm-tokens.sqlite3"),
            "data/whm-tokens.sqlite3"
        );
        assert_eq!(
            redacted_url("postgres://whm@db/tokens"),
            "postgres://whm@db/tokens"
        );
    }

    use super::*;

    #[test]
    fn session_keys_must_be_long_enough() {
        assert!(decode_key(&"ab".repeat(64)).is_ok());
        assert!(decode_key(&"ab".repeat(32)).is_err());
        assert!(decode_key("not a key").is_err());
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(parse_tz("Asia/Tokyo").unwrap(), chrono_tz::Asia::Tokyo);
        assert_eq!(parse_tz(":UTC").unwrap(), chrono_tz::UTC);
        assert!(parse_tz("Mars/Olympus").is_err());
    }
}
