use tracing_subscriber::EnvFilter;

use whm_tokens::cli;
use whm_tokens::config::{Cli, Command, LogFormat};
use whm_tokens::startup::{prepare, Application};
use whm_tokens::state::AppState;

/// glibc's defaults let memory freed after a burst stay with the process:
/// each thread gets an arena of its own, and after the first large block
/// (argon2's 19 MiB) is freed, blocks that size come from the arenas and
/// are kept. Measured in the sign-in storm of `cargo bench --bench http`:
/// peak RSS 162 MiB with the defaults, 47 MiB with these.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only sets allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> anyhow::Result<()> {
    tune_allocator();
    actix_web::rt::System::new().block_on(run())
}

/// The command line, with `api --help` listing the functions it can call.
fn parse_cli() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let functions: Vec<String> = whm_tokens::web::api::FUNCTIONS
        .iter()
        .map(|f| match f.privilege {
            Some(p) => format!("  {:<24} needs {p}", f.name),
            None => format!("  {}", f.name),
        })
        .collect();
    let matches = Cli::command()
        .mut_subcommand("api", |api| {
            api.after_help(format!(
                "Functions:\n{}\n\nExample: whm-tokens api api_token_create token_name=ci acl=list-accts",
                functions.join("\n")
            ))
        })
        .get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

async fn run() -> anyhow::Result<()> {
    let cli = parse_cli();
    let (settings, server, command) = cli.into_parts()?;
    // A command that acts on a store never makes one (see
    // `cli::refuse_a_missing_store`): only the server, `migrate` and a
    // restore's target may be new.
    if !matches!(
        command,
        Command::Serve(_) | Command::Migrate | Command::Restore { .. }
    ) {
        let url = match &command {
            Command::Copy {
                from: Some(from), ..
            } => Some(from.as_str()),
            _ => settings.database_url.as_deref(),
        };
        cli::refuse_a_missing_store(url, &settings.data_dir)?;
    }
    let quiet = !matches!(command, Command::Serve(_));
    // Log lines are written by a thread of their own, in batches, so a
    // slow terminal or pipe never holds up a request (see `log_writer`);
    // colours only on a terminal.
    let (writer, log_guard) = whm_tokens::log_writer::spawn(std::io::stderr())?;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(if quiet { "warn" } else { "info" }));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match settings.log_format {
        // Every line of a request lists its spans, the `request` span with
        // the id first, then the operation's.
        LogFormat::Json => logs
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let config = settings.resolve(server)?;
    // Moving whole stores: no root is made, and a target must stay empty.
    // Each runs in one long transaction (and a restore migrates), so past
    // a pooler in transaction mode it goes straight to the database.
    let store = config
        .database_direct_url
        .as_deref()
        .unwrap_or(&config.database_url);
    match &command {
        Command::Backup { file } => {
            let summary = cli::backup(store, file).await?;
            eprintln!("Backed up {}:\n{summary}", redact(store));
            return Ok(());
        }
        Command::Restore { file } => {
            let summary = cli::restore(store, file).await?;
            eprintln!("Restored into {}:\n{summary}", redact(store));
            return Ok(());
        }
        Command::Copy { to, from } => {
            let from = from.as_deref().unwrap_or(store);
            let summary = cli::copy(from, to).await?;
            eprintln!(
                "Copied {} into {}; every table's rows and checksum match:\n{summary}",
                redact(from),
                redact(to)
            );
            return Ok(());
        }
        _ => {}
    }
    let (db, root_password) = prepare(&config).await?;
    if let Some(password) = &root_password {
        eprintln!(
            "\nCreated the account root with the password:\n\n    {password}\n\n\
             It is shown only this once. Change it any time with `whm-tokens reset-password root`.\n"
        );
    }
    // Running instances see a change within a few milliseconds (a poll of
    // PostgreSQL's listener, a read of SQLite's counter): let it land
    // before the caller, who may be a script calling the API next, goes on.
    let changes_settle = || actix_web::rt::time::sleep(whm_tokens::db::changes::SETTLE);
    match command {
        Command::Serve(_) => {
            let listen = config.listen;
            let app = Application::build(config.clone(), db)?;
            let url = config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}:{}", display_host(listen), app.port()));
            eprintln!(
                "whm-tokens is listening on {url}\nSign in as root at {url}/login (database: {})",
                redact(&config.database_url)
            );
            // Migrations have run and the port is bound: a Type=notify
            // unit may count the service started (nothing happens without
            // NOTIFY_SOCKET).
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
            app.run_until_stopped().await?;
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        }
        Command::Migrate => eprintln!("The database is up to date."),
        Command::Backup { .. } | Command::Restore { .. } | Command::Copy { .. } => {
            unreachable!("handled before the store is prepared")
        }
        Command::CreateAccount {
            username,
            reseller,
            owner,
            email,
        } => {
            let password =
                cli::create_account(&db, &username, reseller, owner.as_deref(), email.as_deref())
                    .await?;
            println!("Created {username}. Password (shown once): {password}");
            changes_settle().await;
        }
        Command::ResetPassword { username } => {
            let reset = cli::reset_password(&db, &username).await?;
            println!(
                "New password for {username} (shown once): {}",
                reset.password
            );
            if reset.passkeys > 0 {
                println!(
                    "{username} still signs in with {} passkey(s), without the password; if the account was taken over, remove them with `whm-tokens reset-two-factor {username}`.",
                    reset.passkeys
                );
            }
            changes_settle().await;
        }
        Command::ResetTwoFactor { username } => {
            cli::reset_two_factor(&db, &username).await?;
            println!("Two-factor sign-in is off for {username}, and its sessions have ended.");
        }
        Command::Audit {
            user,
            token,
            since,
            json,
        } => {
            let state = AppState::new(db, config);
            cli::audit(&state, user, token, since, json).await?;
        }
        Command::Policy { user, settings } => {
            let state = AppState::new(db, config);
            let mut params = settings;
            if let Some(user) = user {
                params.push(format!("user={user}"));
            }
            let set = params.iter().any(|p| !p.starts_with("user="));
            let function = if set {
                "api_token_policy_set"
            } else {
                "api_token_policy_get"
            };
            let answer = cli::api_call(&state, "root", function, &params).await?;
            changes_settle().await;
            if answer["metadata"]["result"] != 1 {
                eprintln!(
                    "{}",
                    answer["metadata"]["reason"].as_str().unwrap_or("refused")
                );
                drop(log_guard); // what was logged is written first
                std::process::exit(1);
            }
            println!("{}", cli::policy_in_words(&answer["data"]));
        }
        Command::Api {
            user,
            function,
            params,
        } => {
            let state = AppState::new(db, config);
            let answer = cli::api_call(&state, &user, &function, &params).await?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            changes_settle().await;
            if answer["metadata"]["result"] != 1 {
                drop(log_guard); // what was logged is written first
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

fn display_host(addr: std::net::SocketAddr) -> String {
    match addr.ip() {
        ip if ip.is_unspecified() => "localhost".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    }
}

/// A database URL without its password, for the log.
fn redact(url: &str) -> String {
    whm_tokens::config::redacted_url(url)
}
