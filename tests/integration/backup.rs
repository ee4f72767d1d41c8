//! Backups, restores and copies between stores: everything comes back and
//! works as before, and a bad backup or target changes nothing.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use whm_tokens::domain::Expiry;

use crate::helpers::*;
use crate::two_factor::{code, set_up};

/// A store with every kind of row: accounts of each kind (one suspended,
/// one with an address), two-factor with recovery codes, tokens narrow,
/// allow-listed, expired, expiring, disabled and used, and an audit trail.
struct Stocked {
    full: String,
    narrow: String,
    listed: String,
    expired: String,
    disabled: String,
    totp: whm_tokens::auth::two_factor::TotpSecret,
    recovery: Vec<String>,
}

async fn stock(app: &TestApp) -> Stocked {
    app.create_reseller("bob", None).await;
    app.create_reseller("carol", None).await;
    let full = app.token("root", "full").await;
    ok_data(
        &app.api("root", &full, "suspendacct", &[("user", "carol")])
            .await,
    );
    let narrow = app
        .token_with("root", "narrow", Expiry::Never, "", Some("list-accts"))
        .await
        .unwrap();
    let listed = app
        .token_with("root", "listed", Expiry::Never, "10.9.8.7", None)
        .await
        .unwrap();
    let expired = app
        .token_with("root", "expired", Expiry::At(now() - 60), "", None)
        .await
        .unwrap();
    app.token_with("bob", "expiring", Expiry::At(now() + 3 * 86_400), "", None)
        .await
        .unwrap();
    let disabled = app.token("root", "disabled").await;
    app.disable("root", "disabled").await;
    for _ in 0..3 {
        ok_data(&app.api("root", &full, "version", &[]).await);
    }
    assert_denied(&app.api("root", &"Q".repeat(32), "version", &[]).await);
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let (totp, recovery) = set_up(&root, ROOT_PASSWORD).await;
    crate::passkeys::stored_passkey(app, "bob", "Bob's key").await;
    app.db
        .write(|conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::{accounts, token_policies, tokens};
            let bob: i64 = accounts::table
                .filter(accounts::username.eq(user("bob")))
                .select(accounts::id)
                .first(conn)?;
            diesel::insert_into(token_policies::table)
                .values((
                    token_policies::account_id.eq(bob),
                    token_policies::max_lifetime_days.eq(Some(30_i64)),
                ))
                .execute(conn)?;
            diesel::update(tokens::table.filter(tokens::name.eq("expiring")))
                .set((
                    tokens::leaked_at.eq(Some(now())),
                    tokens::leaked_from.eq(Some("192.0.2.7")),
                ))
                .execute(conn)?;
            Ok::<_, anyhow::Error>(())
        })
        .await
        .unwrap();
    app.flush().await;
    Stocked {
        full,
        narrow,
        listed,
        expired,
        disabled,
        totp,
        recovery,
    }
}

async fn cli(url: &str, args: &[&str]) -> (bool, String) {
    let output = run_command(url, args).await;
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), said)
}

async fn accounts_in(url: &str) -> i64 {
    let mut conn = whm_tokens::db::establish(url).unwrap();
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT COUNT(*) AS n FROM accounts")
        .get_result::<N>(&mut conn)
        .map(|r| r.n)
        .unwrap_or(0)
}

#[actix_web::test]
async fn a_store_copied_to_the_other_backend_works_exactly_as_before() {
    let app = spawn_app().await;
    let stocked = stock(&app).await;
    let events = app.count("audit_events").await;
    let target = TestDatabase::create_other();

    let (copied, said) = cli(&app.database.url(), &["copy", "--to", &target.url()]).await;
    assert!(copied, "{said}");
    assert!(
        said.contains("every table's rows and checksum match"),
        "{said}"
    );
    assert!(
        !cli(&app.database.url(), &["copy", "--to", &target.url()])
            .await
            .0
    );

    // Token counts (kept by triggers) are right on the copy.
    let counts: Vec<(String, i64)> = {
        use diesel::prelude::*;
        use whm_tokens::db::schema::accounts;
        let mut conn = whm_tokens::db::establish(&target.url()).unwrap();
        accounts::table
            .select((accounts::username, accounts::token_count))
            .order(accounts::username)
            .load(&mut conn)
            .unwrap()
    };
    assert_eq!(
        counts,
        [("bob".into(), 1), ("carol".into(), 0), ("root".into(), 5)]
    );
    // A server on the copy, with the same session key (it seals two-factor
    // secrets).
    let key = app.state.config.session_key.clone();
    let moved = spawn_app_on(target, |c| c.session_key = key).await;
    // Every token as before: the same privileges, allow-list, expiry and
    // disabled state.
    ok_data(&moved.api("root", &stocked.full, "version", &[]).await);
    ok_data(&moved.api("root", &stocked.narrow, "listaccts", &[]).await);
    refused(
        &moved
            .api("root", &stocked.narrow, "api_token_list", &[])
            .await,
    );
    assert_denied(&moved.api("root", &stocked.listed, "version", &[]).await);
    assert_eq!(
        version_via_proxy(&moved.address, &stocked.listed, "10.9.8.7").await,
        StatusCode::FORBIDDEN,
        "no proxy is trusted here: the allow-list still holds"
    );
    assert_denied(&moved.api("root", &stocked.expired, "version", &[]).await);
    assert_denied(&moved.api("root", &stocked.disabled, "version", &[]).await);
    let listed = ok_data(
        &moved
            .api("root", &stocked.full, "api_token_list", &[])
            .await,
    );
    assert!(listed["tokens"]["full"]["use_count"].as_i64().unwrap() >= 3);
    assert_eq!(listed["tokens"]["disabled"]["enabled"], 0);
    // Passwords and two-factor codes work, the recovery codes too.
    let mut browser = moved.browser();
    let first = browser.try_sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(location(&first), "/login/two-factor");
    let page = browser.get("/login/two-factor").await.text().await.unwrap();
    browser.csrf = csrf_in(&page);
    let signed_in = browser
        .post("/login/two-factor", &[("code", &code(&stocked.totp, 1))])
        .await;
    assert_eq!(location(&signed_in), "/tokens");
    let mut other = moved.browser();
    other.try_sign_in("root", ROOT_PASSWORD).await;
    let page = other.get("/login/two-factor").await.text().await.unwrap();
    other.csrf = csrf_in(&page);
    let recovered = other
        .post("/login/two-factor", &[("code", &stocked.recovery[0])])
        .await;
    assert_eq!(location(&recovered), "/tokens");
    // Suspension, and the whole audit trail (and what the copy added).
    let accounts = ok_data(&moved.api("root", &stocked.full, "listaccts", &[]).await);
    let carol = accounts["acct"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["user"] == "carol")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(carol["suspended"], 1, "{accounts}");
    assert!(moved.count("audit_events").await >= events);
    // Passkeys, root's policies and leak reports came along.
    assert_eq!(moved.count("passkeys").await, 1);
    assert_eq!(moved.count("token_policies").await, 1);
    assert_eq!(leaked_in(&moved).await, 1);
}

/// Tokens marked as reported leaked.
async fn leaked_in(app: &TestApp) -> i64 {
    app.db
        .read(|conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::tokens;
            tokens::table
                .filter(tokens::leaked_at.is_not_null())
                .count()
                .get_result::<i64>(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn backup_and_restore_round_trip_and_bad_backups_or_targets_change_nothing() {
    let app = spawn_app().await;
    stock(&app).await;
    let dir = ScratchDir::new("backup");
    let file = dir.join("store.jsonl");
    let file_arg = file.display().to_string();
    let (ok, said) = cli(&app.database.url(), &["backup", &file_arg]).await;
    assert!(ok, "{said}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o600,
            "a backup holds password hashes: its owner's only"
        );
    }
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header: Value = serde_json::from_str(lines[0]).unwrap();
    let rows_in = |name: &str| {
        header["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["rows"].as_u64().unwrap())
    };
    assert_eq!(rows_in("passkeys"), Some(1), "{header}");
    assert_eq!(rows_in("token_policies"), Some(1), "{header}");
    assert!(
        text.contains("192.0.2.7"),
        "the leak report's address is in the backup"
    );

    // A backup changed in any of these ways is refused, naming why, and
    // the empty target stays empty.
    let write = |name: &str, lines: &[String]| {
        let path = dir.join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };
    let resealed = |mut lines: Vec<String>| {
        use sha2::Digest;
        lines.pop();
        let mut sha = sha2::Sha256::new();
        for line in &lines {
            sha.update(line.as_bytes());
            sha.update(b"\n");
        }
        lines.push(format!(
            "{{\"sha256\":\"{}\"}}",
            hex::encode(sha.finalize())
        ));
        lines
    };
    let owned: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut corrupt = owned.clone();
    corrupt[2] = corrupt[2].replacen('1', "2", 1);
    let mut truncated = owned.clone();
    truncated.truncate(owned.len() - 3);
    let mut newer = owned.clone();
    newer[0] = newer[0].replace("\"schema\":\"", "\"schema\":\"2099");
    let newer = resealed(newer);
    // A row the target's constraints refuse, after others were written.
    let mut clash = owned.clone();
    let token_row = clash
        .iter()
        .position(|l| l.starts_with("[\"tokens\""))
        .unwrap();
    let mut twin: Value = serde_json::from_str(&clash[token_row]).unwrap();
    twin[1] = Value::from(999_999);
    twin[4] = Value::from("00".repeat(32));
    clash.insert(token_row + 1, twin.to_string());
    let header: Value = serde_json::from_str(&clash[0]).unwrap();
    let mut header = header;
    for table in header["tables"].as_array_mut().unwrap() {
        if table["name"] == "tokens" {
            table["rows"] = Value::from(table["rows"].as_u64().unwrap() + 1);
        }
    }
    clash[0] = header.to_string();
    let clash = resealed(clash);
    for (name, lines, why) in [
        ("corrupt", corrupt, "checksum does not match"),
        ("truncated", truncated, "truncated"),
        ("newer", newer, "newer release"),
        ("clash", clash, "UNIQUE"),
    ] {
        let path = write(name, &lines);
        let target = TestDatabase::create_other();
        let (ok, said) = cli(&target.url(), &["restore", &path.display().to_string()]).await;
        assert!(!ok, "{name} was restored");
        assert!(
            said.to_lowercase().contains(&why.to_lowercase()),
            "{name}: {said}"
        );
        assert_eq!(accounts_in(&target.url()).await, 0, "{name} wrote rows");
    }

    // A target that is not empty, and one that cannot be reached.
    let (ok, said) = cli(&app.database.url(), &["restore", &file_arg]).await;
    assert!(!ok && said.contains("not empty"), "{said}");
    let (ok, said) = cli(
        "postgres://postgres@127.0.0.1:1/none",
        &["restore", &file_arg],
    )
    .await;
    assert!(!ok && said.contains("could not connect"), "{said}");

    // The backup itself restores, and backs up again to the same rows.
    let target = TestDatabase::create_other();
    let (ok, said) = cli(&target.url(), &["restore", &file_arg]).await;
    assert!(ok, "{said}");
    assert!(
        analysed_tokens(&target.url()),
        "a restored store has the planner's statistics"
    );
    let again = dir.join("again.jsonl");
    let (ok, said) = cli(&target.url(), &["backup", &again.display().to_string()]).await;
    assert!(ok, "{said}");
    assert_eq!(
        rows_of(&file),
        rows_of(&again),
        "a restored store backs up to the same rows"
    );
}

/// Whether the store has planner statistics for its tokens (SQLite's
/// `sqlite_stat1`, PostgreSQL's `pg_stats`).
fn analysed_tokens(url: &str) -> bool {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = whm_tokens::db::establish(url).unwrap();
    let sql = match whm_tokens::db::Backend::of_url(url) {
        whm_tokens::db::Backend::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_stat1 WHERE tbl = 'tokens'"
        }
        whm_tokens::db::Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM pg_stats WHERE tablename = 'tokens'"
        }
    };
    diesel::sql_query(sql)
        .get_result::<N>(&mut conn)
        .map(|r| r.n > 0)
        .unwrap_or(false)
}

/// A backup's rows, without its header and checksum.
fn rows_of(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    lines[1..lines.len() - 1]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// Backs `app`'s store up with the command line and restores it into
/// `target`, both of which must succeed.
async fn restore_a_backup(app: &TestApp, target: &TestDatabase) {
    let dir = ScratchDir::new("restore");
    let file = dir.join("store.jsonl").display().to_string();
    let (ok, said) = cli(&app.database.url(), &["backup", &file]).await;
    assert!(ok, "{said}");
    let (ok, said) = cli(&target.url(), &["restore", &file]).await;
    assert!(ok, "{said}");
}

#[actix_web::test]
async fn names_kept_from_a_store_before_its_restore_are_read_again_after_it() {
    use whm_tokens::ops::token_listing::{self as listing, ListQuery};
    let app = spawn_app().await;
    let root = app.actor("root").await;
    // A server's kept names: root's, searched while it had no token.
    let kept = whm_tokens::ops::token_names::TokenNames::default();
    let search = |url: &str, kept: &whm_tokens::ops::token_names::TokenNames| {
        let mut conn = whm_tokens::db::establish(url).unwrap();
        let q = ListQuery {
            filter: "deploy".into(),
            ..Default::default()
        };
        listing::list(&mut conn, &root, &q, kept)
            .unwrap()
            .tokens
            .iter()
            .map(|t| t.name.to_string())
            .collect::<Vec<_>>()
    };
    assert!(search(&app.database.url(), &kept).is_empty());
    app.token("root", "deploy").await;
    // The same account (id, creation time) in a restored store, under the
    // same memory: its names are read again, not taken for the kept ones.
    let target = TestDatabase::create();
    restore_a_backup(&app, &target).await;
    assert_eq!(search(&target.url(), &kept), ["deploy"]);
}

#[actix_web::test]
async fn a_restored_store_never_gives_a_deleted_accounts_id_to_a_new_one() {
    let app = spawn_app().await;
    // The newest account is deleted: its id lives on in the audit trail.
    app.create_reseller("gone", None).await;
    let gone = app.actor("gone").await.account.id;
    let root = app.actor("root").await;
    app.db
        .write(move |c| {
            whm_tokens::ops::accounts::delete(
                c,
                &root,
                &whm_tokens::domain::Username::parse("gone").unwrap(),
            )
        })
        .await
        .unwrap();
    let target = TestDatabase::create_other();
    restore_a_backup(&app, &target).await;
    let (ok, said) = cli(
        &target.url(),
        &[
            "api",
            "createacct",
            "username=fresh",
            "password=a-long-password",
        ],
    )
    .await;
    assert!(ok, "{said}");
    let mut conn = whm_tokens::db::establish(&target.url()).unwrap();
    use diesel::prelude::*;
    use whm_tokens::db::schema::accounts;
    let fresh: i64 = accounts::table
        .filter(accounts::username.eq("fresh"))
        .select(accounts::id)
        .first(&mut conn)
        .unwrap();
    assert!(
        fresh > gone,
        "the new account took id {fresh}, the deleted one's was {gone}"
    );
}

/// A PostgreSQL server to copy to: the suite's, or the one named for
/// crossing backends.
fn a_postgres_server() -> Option<String> {
    ["WHM_TOKENS_TEST_PG_URL", "WHM_TOKENS_TEST_DATABASE_URL"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|u| u.starts_with("postgres"))
}

#[actix_web::test]
async fn a_copy_to_and_from_a_linguistically_collated_postgresql_keeps_every_row() {
    let Some(admin) = a_postgres_server() else {
        eprintln!("skipped: no PostgreSQL server named (WHM_TOKENS_TEST_PG_URL)");
        return;
    };
    let source = TestDatabase::create_on(None);
    assert!(cli(&source.url(), &["migrate"]).await.0);
    {
        use diesel::prelude::*;
        use whm_tokens::db::schema::{accounts, token_addresses, tokens};
        let mut conn = whm_tokens::db::establish(&source.url()).unwrap();
        let root: i64 = accounts::table
            .filter(accounts::username.eq(user("root")))
            .select(accounts::id)
            .first(&mut conn)
            .unwrap();
        insert_token(&mut conn, root, "used", now()).unwrap();
        let token: i64 = tokens::table.select(tokens::id).first(&mut conn).unwrap();
        // By bytes `127…` comes first; by most collations `::1` does.
        for address in ["127.0.0.1", "::1", "10.0.0.1", "fe80::1"] {
            diesel::insert_into(token_addresses::table)
                .values((
                    token_addresses::token_id.eq(token),
                    token_addresses::address.eq(address),
                    token_addresses::first_seen.eq(now()),
                ))
                .execute(&mut conn)
                .unwrap();
        }
    }
    let collated = TestDatabase::create_collated(admin);
    let (copied, said) = cli(&source.url(), &["copy", "--to", &collated.url()]).await;
    assert!(copied, "{said}");
    let back = TestDatabase::create_on(None);
    let (copied, said) = cli(&collated.url(), &["copy", "--to", &back.url()]).await;
    assert!(copied, "{said}");
    let mut conn = whm_tokens::db::establish(&back.url()).unwrap();
    use diesel::prelude::*;
    let addresses: i64 = whm_tokens::db::schema::token_addresses::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(addresses, 4);
}

#[actix_web::test]
async fn a_backup_writes_through_a_staging_file_of_its_own() {
    let app = spawn_app().await;
    let dir = std::env::temp_dir().join(format!("whm-staging-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    // Another backup under way, to `whm.2` (the staging name `whm.1` and
    // `whm.2` once shared): it is left alone.
    let other = dir.join("whm.partial");
    std::fs::write(&other, "another backup's half").unwrap();
    let file = dir.join("whm.1");
    let (backed_up, said) = cli(&app.database.url(), &["backup", file.to_str().unwrap()]).await;
    assert!(backed_up, "{said}");
    assert_eq!(
        std::fs::read_to_string(&other).unwrap(),
        "another backup's half"
    );
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left.len(),
        2,
        "the backup and the other file only: {left:?}"
    );
    let target = TestDatabase::create();
    let (restored, said) = cli(&target.url(), &["restore", file.to_str().unwrap()]).await;
    assert!(restored, "{said}");
    std::fs::remove_dir_all(&dir).unwrap();
}
