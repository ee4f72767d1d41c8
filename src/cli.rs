//! The server-side commands: `create-account`, `reset-password` and `api`.

use crate::auth::password;
use crate::db::backup::{self, Summary};
use crate::db::Db;
use crate::domain::Username;
use crate::ops::accounts::{self, NewAccount};
use crate::ops::{Account, AccountKind, Actor, OpError};
use crate::state::AppState;
use crate::web::api::{self, CallContext};
use crate::web::params::Params;

/// The account named `name`.
async fn account_named(db: &Db, name: &str) -> anyhow::Result<Account> {
    let parsed = Username::parse(name)?;
    let found = db
        .read(move |conn| accounts::find_for_sign_in(conn, &parsed))
        .await
        .map_err(anyhow_of)?;
    Ok(found
        .ok_or_else(|| anyhow::anyhow!("no account named {name}"))?
        .0)
}

async fn actor_named(db: &Db, name: &str) -> anyhow::Result<Actor> {
    let account = account_named(db, name).await?;
    anyhow::ensure!(
        account.kind.may_own_tokens(),
        "{} is not root or a reseller",
        account.username
    );
    Ok(Actor::signed_in(account))
}

fn anyhow_of(e: OpError) -> anyhow::Error {
    match e {
        OpError::Internal(e) => e,
        other => anyhow::anyhow!("{other}"),
    }
}

/// Hashes on a password worker of its own: the command does one hash, but
/// through the same bounded path as the server.
async fn one_hash(password: crate::domain::Password) -> anyhow::Result<String> {
    Ok(password::PasswordWorkers::start(1, 0)
        .hash_now(password)
        .await?)
}

/// Creates an account as root and returns its generated password.
pub async fn create_account(
    db: &Db,
    username: &str,
    reseller: bool,
    owner: Option<&str>,
    email: Option<&str>,
) -> anyhow::Result<String> {
    let root = actor_named(db, "root").await?;
    let username = Username::parse(username)?;
    let owner = owner.map(Username::parse).transpose()?;
    let contact_email = email.map(crate::domain::EmailAddress::parse).transpose()?;
    let password = password::generate();
    let shown = password.expose().to_owned();
    let hash = one_hash(password).await?;
    let now = chrono::Utc::now().timestamp();
    db.write(move |conn| {
        accounts::create(
            conn,
            &root,
            NewAccount {
                username,
                kind: if reseller {
                    AccountKind::Reseller
                } else {
                    AccountKind::User
                },
                owner,
                password_hash: Some(hash),
                privileges: None,
                contact_email,
            },
            now,
        )
    })
    .await
    .map_err(anyhow_of)?;
    Ok(shown)
}

/// A password set from the command line: shown once, with the passkeys
/// that still sign in to the account without it.
pub struct PasswordReset {
    pub password: String,
    pub passkeys: i64,
}

/// Gives an account a new random password, ends its sessions and links,
/// and records it in the audit trail. Passkeys are kept (they are a sign-in
/// of their own): their number is returned, so that the operator can end
/// them too (`reset-two-factor`) when the account was taken over.
pub async fn reset_password(db: &Db, username: &str) -> anyhow::Result<PasswordReset> {
    let account = account_named(db, username).await?;
    let password = password::generate();
    let shown = password.expose().to_owned();
    let hash = one_hash(password).await?;
    let passkeys = db
        .write(move |conn| {
            accounts::set_password(conn, account.id, &hash)?;
            let passkeys = crate::ops::passkeys::count(conn, account.id)?;
            crate::ops::audit::record_system(
                conn,
                chrono::Utc::now().timestamp(),
                crate::domain::AuditEvent::PasswordChanged,
                crate::ops::audit::About::account(&account)
                    .detail("reset from the command line; every session ended"),
            )?;
            Ok(passkeys)
        })
        .await
        .map_err(anyhow_of)?;
    Ok(PasswordReset {
        password: shown,
        passkeys,
    })
}

/// Turns an account's two-factor sign-in off and ends its sessions.
pub async fn reset_two_factor(db: &Db, username: &str) -> anyhow::Result<()> {
    let account = account_named(db, username).await?;
    db.write_bookkeeping(move |conn| {
        crate::ops::two_factor::reset(conn, &account, chrono::Utc::now().timestamp())
    })
    .await
    .map_err(anyhow_of)
}

/// Prints the audit trail, as root sees it, newest first: one line an
/// event, or one JSON object a line.
pub async fn audit(
    state: &AppState,
    user: Option<String>,
    token: Option<String>,
    since: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let since = since
        .map(|d| {
            chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .map(|d| state.clock.end_of_day(d) - 86_399)
                .map_err(|_| anyhow::anyhow!("--since takes a date as YYYY-MM-DD"))
        })
        .transpose()?;
    let root = actor_named(&state.db, "root").await?;
    let query = crate::ops::audit::EventQuery {
        account: user,
        token,
        since,
        ..Default::default()
    };
    let events = state
        .read_as(&root, move |conn, actor| {
            crate::ops::audit::all(conn, actor, &query)
        })
        .await
        .map_err(anyhow_of)?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for e in events {
        let at = chrono::DateTime::from_timestamp(e.at, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        if json {
            let line = serde_json::json!({
                "at": at,
                "event": e.event,
                "actor": e.actor,
                "token": e.token,
                "target": e.target,
                "ip": e.ip,
                "request_id": e.request_id,
                "detail": e.detail,
                "count": e.count,
            });
            writeln!(out, "{line}")?;
        } else {
            // What strangers typed (user names) or was stored before such
            // characters were refused can neither hide nor turn around the
            // text of a terminal.
            let shown = crate::domain::text::escape_hidden;
            let or_dash = |v: &Option<String>| v.as_deref().map_or_else(|| "-".to_owned(), shown);
            writeln!(
                out,
                "{at}  {:<20} actor={} token={} target={} ip={} {}{}",
                e.event,
                or_dash(&e.actor),
                or_dash(&e.token),
                or_dash(&e.target),
                or_dash(&e.ip),
                shown(&e.detail),
                if e.count > 1 {
                    format!(" (×{})", e.count)
                } else {
                    String::new()
                }
            )?;
        }
    }
    Ok(())
}

/// Runs one API function as `user`, through the same code as HTTP, and
/// returns the JSON answer.
pub async fn api_call(
    state: &AppState,
    user: &str,
    function: &str,
    raw_params: &[String],
) -> anyhow::Result<serde_json::Value> {
    let actor = actor_named(&state.db, user).await?;
    let mut pairs: Vec<(String, String)> = raw_params
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.clone(), String::new()),
        })
        .collect();
    if !pairs.iter().any(|(k, _)| k == "api.version") {
        pairs.push(("api.version".into(), "1".into()));
    }
    let context = CallContext {
        base_url: state
            .config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", state.config.listen)),
        request_id: "cli".into(),
    };
    let answer = api::call(
        state,
        &actor,
        function,
        &Params::from_pairs(pairs),
        &context,
    )
    .await;
    let body = answer
        .body
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("the answer could not be finished: {e:?}"))?;
    Ok(serde_json::from_slice(&body)?)
}

/// `whm-tokens backup FILE`: a consistent snapshot of the store at `url`.
pub async fn backup(url: &str, file: &std::path::Path) -> anyhow::Result<Summary> {
    let (url, file) = (url.to_owned(), file.to_owned());
    actix_web::web::block(move || backup::backup(&mut crate::db::establish(&url)?, &file)).await?
}

/// `whm-tokens restore FILE`: into the empty store at `url`.
pub async fn restore(url: &str, file: &std::path::Path) -> anyhow::Result<Summary> {
    let (url, file) = (url.to_owned(), file.to_owned());
    actix_web::web::block(move || backup::restore(&mut crate::db::establish(&url)?, &file)).await?
}

/// Refuses to go on when the store a command would act on is an SQLite
/// file that does not exist. Opening it would make a new, empty store
/// (with a root of its own) and act on that: on a machine whose server
/// keeps its store elsewhere (the package's unit: /var/lib/whm-tokens),
/// `reset-password root` would print a password nothing accepts.
pub fn refuse_a_missing_store(url: Option<&str>, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let file = match url.filter(|u| !u.trim().is_empty()) {
        Some(url) if crate::db::Backend::of_url(url) == crate::db::Backend::Postgres => {
            return Ok(())
        }
        Some(url) => std::path::PathBuf::from(crate::db::manager::sqlite_path(url)),
        None => data_dir.join(crate::config::SQLITE_FILE),
    };
    if file.as_os_str() == ":memory:" || file.exists() {
        return Ok(());
    }
    anyhow::bail!(
        "there is no store at {}: this command acts on an existing store and never makes one. \
         Point WHM_TOKENS_DATA_DIR (or DATABASE_URL) at the store the server uses, \
         or run `whm-tokens migrate` to make a new one there.",
        file.display()
    )
}

/// `whm-tokens copy --to URL`: a backup of `from` restored into the empty
/// store `to`, checked table by table (rows and digest) against the source's
/// snapshot.
pub async fn copy(from: &str, to: &str) -> anyhow::Result<Summary> {
    let (from, to) = (from.to_owned(), to.to_owned());
    actix_web::web::block(move || {
        if crate::db::Backend::of_url(&from) == crate::db::Backend::of_url(&to)
            && crate::db::manager::sqlite_path(&from) == crate::db::manager::sqlite_path(&to)
        {
            anyhow::bail!("--to names the store being copied");
        }
        let file = std::env::temp_dir().join(format!(
            "whm-tokens-copy-{:016x}.jsonl",
            rand::random::<u64>()
        ));
        let copied = (|| {
            // The restore checks every table against the snapshot (rows
            // and digest) before it commits.
            backup::backup(&mut crate::db::establish(&from)?, &file)?;
            backup::restore(&mut crate::db::establish(&to)?, &file)
        })();
        let _ = std::fs::remove_file(&file);
        copied
    })
    .await?
}

/// `api_token_policy_get`'s data in words, for the `policy` command.
pub fn policy_in_words(data: &serde_json::Value) -> String {
    let rules = |r: &serde_json::Value| {
        let days = |k: &str| match r[k].as_u64() {
            Some(0) | None => "off".to_owned(),
            Some(d) => format!("{d} days"),
        };
        let keys: Vec<&str> = r["require_ip_for"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        format!(
            "  maximum lifetime:        {}\n  allow-list required for: {}\n  disable unused after:    {}\n  remove expired after:    {}",
            days("max_lifetime_days"),
            if keys.is_empty() { "none".to_owned() } else { keys.join(", ") },
            days("disable_unused_days"),
            days("delete_expired_days"),
        )
    };
    let mut text = match data["user"].as_str() {
        None => format!("Everyone's token policy:\n{}", rules(&data["policy"])),
        Some(u) => format!(
            "Token policy in force for {u} (everyone's, with its override):\n{}",
            rules(&data["policy"])
        ),
    };
    if let Some(list) = data["overridden"].as_array().filter(|l| !l.is_empty()) {
        let names: Vec<&str> = list.iter().filter_map(|v| v.as_str()).collect();
        text.push_str(&format!(
            "\nResellers with an override: {}",
            names.join(", ")
        ));
    }
    text
}
