//! The `whm-tokens` command's own help and errors.

use crate::helpers::*;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[actix_web::test]
async fn each_subcommand_lists_its_own_options_and_api_lists_the_functions() {
    let db = TestDatabase::create();
    let api = text(&run_command(&db.url(), &["api", "--help"]).await);
    assert!(api.contains("Call a WHM API 1 function locally"), "{api}");
    assert!(
        api.contains("api_token_create         needs manage-api-tokens"),
        "{api}"
    );
    assert!(api.contains("--database-url"));
    assert!(!api.contains("--listen"), "no server options: {api}");
    assert!(!api.contains("--smtp-url"));
    let serve = text(&run_command(&db.url(), &["serve", "--help"]).await);
    assert!(
        serve.contains("--listen") && serve.contains("--smtp-url"),
        "{serve}"
    );
    // Server options before another subcommand are a mistake, said so.
    let out = run_command(&db.url(), &["--listen", "127.0.0.1:9", "migrate"]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("go after `serve`"), "{}", text(&out));
}

#[actix_web::test]
async fn help_never_shows_the_database_url_or_other_secret_settings() {
    let db = TestDatabase::create();
    let secret_url = "postgres://whm:HELP-SECRET-1@db.example.com/tokens";
    for args in [
        &["serve", "--help"][..],
        &["api", "--help"],
        &["backup", "--help"],
    ] {
        let out = run_command_with(
            secret_url,
            &[
                (
                    "WHM_TOKENS_DATABASE_DIRECT_URL",
                    "postgres://whm:HELP-SECRET-2@db/tokens",
                ),
                ("WHM_TOKENS_SMTP_URL", "smtp://u:HELP-SECRET-3@mail"),
                ("WHM_TOKENS_NOTIFY_SECRET", "HELP-SECRET-4"),
            ],
            args,
        )
        .await;
        let said = text(&out);
        assert!(said.contains("--database-url"), "{said}");
        assert!(!said.contains("HELP-SECRET"), "{args:?}: {said}");
    }
    let _ = db;
}

#[actix_web::test]
async fn a_setting_out_of_range_stops_the_server_at_start_naming_it() {
    let db = TestDatabase::create();
    let out = run_command_with(
        &db.url(),
        &[("WHM_TOKENS_AUDIT_RETENTION_DAYS", "0")],
        &["serve", "--listen", "127.0.0.1:0"],
    )
    .await;
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("WHM_TOKENS_AUDIT_RETENTION_DAYS must be from 1 to 3650"),
        "{said}"
    );
}

#[actix_web::test]
async fn serving_on_a_port_in_use_names_the_address() {
    let db = TestDatabase::create();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let out = run_command(&db.url(), &["serve", "--listen", &address]).await;
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains(&format!("could not listen on {address}")),
        "{said}"
    );
}

#[actix_web::test]
async fn the_help_shows_no_webhook_url_and_notice_settings_that_would_be_ignored_stop_the_start() {
    let db = TestDatabase::create();
    let hook = "https://hooks.example.com/services/T0/B0/SECRETPATH";
    let help = text(
        &run_command_with(
            &db.url(),
            &[("WHM_TOKENS_NOTIFY_WEBHOOK", hook)],
            &["serve", "--help"],
        )
        .await,
    );
    assert!(help.contains("--notify-webhook"), "{help}");
    assert!(!help.contains("SECRETPATH"), "{help}");
    for (env, said) in [
        (
            &[
                ("WHM_TOKENS_NOTIFY_WEBHOOK", hook),
                ("WHM_TOKENS_NOTIFY_INTERVAL", "0"),
            ][..],
            "WHM_TOKENS_NOTIFY_INTERVAL: 0 is not",
        ),
        (
            &[("WHM_TOKENS_NOTIFY_SECRET", "key")][..],
            "WHM_TOKENS_NOTIFY_SECRET is set, but WHM_TOKENS_NOTIFY_WEBHOOK is not",
        ),
        (
            &[("WHM_TOKENS_MAIL_FROM", "tokens@example.com")][..],
            "WHM_TOKENS_MAIL_FROM is set, but WHM_TOKENS_SMTP_URL is not",
        ),
    ] {
        let out = run_command_with(&db.url(), env, &["serve", "--listen", "127.0.0.1:0"]).await;
        assert!(!out.status.success(), "{env:?} started");
        assert!(text(&out).contains(said), "{env:?}: {}", text(&out));
    }
}

#[actix_web::test]
async fn a_command_on_a_store_that_does_not_exist_makes_none_and_says_where_it_looked() {
    let dir = std::env::temp_dir().join(format!("whm-nostore-{:016x}", rand::random::<u64>()));
    let missing = dir.join("whm-tokens.sqlite3");
    for args in [
        &["reset-password", "root"][..],
        &["api", "api_token_list"],
        &["backup", "/tmp/never-written.jsonl"],
        &["copy", "--to", "/tmp/never-written.sqlite3"],
    ] {
        let out = run_command(missing.to_str().unwrap(), args).await;
        assert!(!out.status.success(), "{args:?}");
        let said = text(&out);
        assert!(
            said.contains(&format!("there is no store at {}", missing.display()))
                && said.contains("WHM_TOKENS_DATA_DIR"),
            "{args:?}: {said}"
        );
        assert!(!said.contains("Created the account root"), "{said}");
        assert!(!dir.exists(), "{args:?} made {}", dir.display());
    }
    assert!(!std::path::Path::new("/tmp/never-written.jsonl").exists());
    assert!(!std::path::Path::new("/tmp/never-written.sqlite3").exists());
    // `migrate` makes one, as the server does.
    let out = run_command(missing.to_str().unwrap(), &["migrate"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(missing.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
