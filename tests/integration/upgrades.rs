//! A store written by an earlier release keeps working after an upgrade,
//! and while instances of both releases serve it (a rolling upgrade).

use diesel::prelude::*;
use reqwest::StatusCode;

use whm_tokens::db::schema::sessions;

use crate::helpers::*;

/// Session starts as the release before migration 000003 leaves them (the
/// column's default), or as an instance of it still serving writes them.
async fn forget_session_starts(app: &TestApp) {
    app.db
        .write_bookkeeping(|conn| {
            diesel::update(sessions::table)
                .set(sessions::created_at.eq(0))
                .execute(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
}

async fn session_starts(app: &TestApp) -> Vec<i64> {
    app.db
        .read(|conn| {
            sessions::table
                .select(sessions::created_at)
                .load(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_session_begun_before_the_upgrade_stays_signed_in_and_its_age_counts_from_then() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    forget_session_starts(&app).await;

    let page = root.get("/tokens").await;
    assert_eq!(page.status(), StatusCode::OK, "signed out by the upgrade");
    assert!(page.text().await.unwrap().contains("Manage API Tokens"));
    // Its start is now known: the maximum age applies from here.
    let starts = session_starts(&app).await;
    assert!(!starts.is_empty());
    assert!(starts.iter().all(|&at| at >= now() - 60), "{starts:?}");
    // And it stays signed in on the next request, too.
    assert_eq!(root.get("/tokens").await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_binary_refuses_a_store_migrated_by_a_newer_release() {
    let database = TestDatabase::create();
    let url = database.url();
    let migrated = run_command(&url, &["migrate"]).await;
    assert!(migrated.status.success(), "{migrated:?}");
    // As a newer release's migration would leave it.
    let mut conn = whm_tokens::db::establish(&url).unwrap();
    diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES ('20990101000001')")
        .execute(&mut conn)
        .unwrap();
    drop(conn);

    for args in [&["migrate"][..], &["serve", "--listen", "127.0.0.1:0"][..]] {
        let refused =
            tokio::time::timeout(std::time::Duration::from_secs(30), run_command(&url, args))
                .await
                .unwrap_or_else(|_| panic!("`{}` served a newer store", args.join(" ")));
        assert!(!refused.status.success(), "{args:?}");
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(
            said.contains("migrated by a newer release") && said.contains("20990101000001"),
            "{args:?}: {said}"
        );
    }
}

/// What the first release's stores hold (see tests/fixtures/).
fn first_release() -> (serde_json::Value, std::path::PathBuf) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/first-release");
    let facts = std::fs::read_to_string(dir.join("facts.json")).unwrap();
    (serde_json::from_str(&facts).unwrap(), dir)
}

/// A fresh database holding the first release's store for the suite's
/// backend, and what is known of it.
/// The fixture's sessions were made to last a day from when it was
/// recorded; the upgrade is taken to happen while they still do.
fn still_signed_in() -> String {
    let tomorrow = chrono::Utc::now().timestamp() + 86_400;
    format!("UPDATE sessions SET expires_at = {tomorrow};")
}

fn first_release_store() -> (TestDatabase, serde_json::Value) {
    use diesel::connection::SimpleConnection;
    let (facts, dir) = first_release();
    let database = TestDatabase::create();
    match &database {
        TestDatabase::Sqlite(path) => {
            std::fs::copy(dir.join("whm-tokens.sqlite3"), path).unwrap();
            diesel::SqliteConnection::establish(path.to_str().unwrap())
                .unwrap()
                .batch_execute(&still_signed_in())
                .unwrap();
            (database, facts["sqlite"].clone())
        }
        TestDatabase::Postgres { url, .. } => {
            // Without pg_dump's psql meta-commands (`\\restrict`).
            let dump: String = std::fs::read_to_string(dir.join("postgres.sql"))
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with('\\'))
                .map(|l| format!("{l}\n"))
                .collect();
            let mut conn = diesel::PgConnection::establish(url).unwrap();
            conn.batch_execute(&dump).unwrap();
            // The dump empties the search path.
            conn.batch_execute("SET search_path TO DEFAULT").unwrap();
            conn.batch_execute(&still_signed_in()).unwrap();
            (database, facts["postgres"].clone())
        }
    }
}

#[actix_web::test]
async fn a_store_of_the_first_release_upgrades_and_keeps_its_passwords_tokens_and_sessions() {
    let (all, _) = first_release();
    let (database, facts) = first_release_store();
    let key = hex::decode(all["session_key"].as_str().unwrap()).unwrap();
    // The new binary migrates it on start.
    let app = spawn_app_on(database, |c| {
        c.session_key = key;
        c.root_password = None;
    })
    .await;
    let secret = |name: &str| facts[name].as_str().unwrap().to_owned();

    // Passwords.
    let root_password = all["root_password"].as_str().unwrap();
    app.sign_in("root", root_password).await;
    app.sign_in("bob", facts["bob_password"].as_str().unwrap())
        .await;
    // Tokens, with the same rules: full, narrow, allow-listed.
    ok_data(&app.api("root", &secret("full"), "version", &[]).await);
    ok_data(
        &app.api("bob", &secret("narrow"), "api_token_list", &[])
            .await,
    );
    refused(&app.api("bob", &secret("narrow"), "listaccts", &[]).await);
    assert_denied(&app.api("root", &secret("listed"), "version", &[]).await);
    // The session the first release signed in is still signed in.
    let browser = app.browser();
    browser.add_cookie(&format!("whm_tokens_session={}; Path=/", secret("cookie")));
    let page = browser.get("/tokens").await;
    assert_eq!(page.status(), StatusCode::OK, "the upgrade signed it out");
}
