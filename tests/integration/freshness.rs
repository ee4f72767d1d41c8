//! "Revoked stops at once": checked tokens are kept in memory, and every
//! change to a token or its owner, made anywhere, must be seen on the very
//! next call (on this instance, whoever made it) or within moments (on
//! another instance).

use reqwest::StatusCode;

use crate::helpers::*;
use whm_tokens::ops::AccountKind;

/// Calls `version` twice so that the token is surely held in memory.
async fn warm(address: &str, user: &str, secret: &str) {
    for _ in 0..2 {
        assert_eq!(version_at(address, user, secret).await, StatusCode::OK);
    }
}

#[actix_web::test]
async fn a_token_revoked_on_the_page_is_refused_on_the_next_call() {
    let app = spawn_app().await;
    let secret = app.token("root", "deploy").await;
    warm(&app.address, "root", &secret).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(
        root.post("/tokens/deploy/revoke", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        version_at(&app.address, "root", &secret).await,
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn a_reseller_suspended_or_narrowed_on_the_page_is_refused_on_the_next_call() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let secret = app.token("bob", "ci").await;
    warm(&app.address, "bob", &secret).await;
    assert_eq!(
        ok_data(&app.api("bob", &secret, "api_token_list", &[]).await)["tokens"]["ci"]["name"],
        "ci"
    );
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    root.post("/accounts/bob/privileges", &[("acl", "list-accts")])
        .await;
    let reason = refused(&app.api("bob", &secret, "api_token_list", &[]).await);
    assert!(reason.contains("manage-api-tokens"), "{reason}");

    root.post("/accounts/bob/suspend", &[]).await;
    assert_eq!(
        version_at(&app.address, "bob", &secret).await,
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn a_token_narrowed_or_relisted_through_the_api_is_held_to_it_on_the_next_call() {
    let app = spawn_app().await;
    let admin = app.token("root", "admin").await;
    let secret = app.token("root", "worker").await;
    warm(&app.address, "root", &secret).await;
    ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_update",
            &[("token_name", "worker"), ("acl-0", "list-accts")],
        )
        .await,
    );
    let reason = refused(&app.api("root", &secret, "api_token_list", &[]).await);
    assert!(reason.contains("manage-api-tokens"), "{reason}");

    ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_update",
            &[("token_name", "worker"), ("whitelist_ip-0", "203.0.113.9")],
        )
        .await,
    );
    assert_eq!(
        version_at(&app.address, "root", &secret).await,
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn an_owner_renamed_through_the_api_must_use_the_new_name_on_the_next_call() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let root = app.token("root", "admin").await;
    let secret = app.token("bob", "ci").await;
    warm(&app.address, "bob", &secret).await;
    ok_data(
        &app.api(
            "root",
            &root,
            "modifyacct",
            &[("user", "bob"), ("newuser", "robert")],
        )
        .await,
    );
    assert_eq!(
        version_at(&app.address, "bob", &secret).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        version_at(&app.address, "robert", &secret).await,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn changes_made_by_the_command_line_are_seen_on_the_next_call() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let secret = app.token("root", "deploy").await;
    let bobs = app.token("bob", "ci").await;
    warm(&app.address, "root", &secret).await;
    warm(&app.address, "bob", &bobs).await;

    let out = app
        .command(&["api", "api_token_revoke", "token_name=deploy"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        version_at(&app.address, "root", &secret).await,
        StatusCode::FORBIDDEN
    );

    let out = app.command(&["api", "suspendacct", "user=bob"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        version_at(&app.address, "bob", &bobs).await,
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn a_change_on_one_instance_reaches_another_instance_on_the_same_database() {
    let app = spawn_app().await;
    let other = app.second_instance().await;
    let secret = app.token("root", "shared").await;
    let admin = app.token("root", "admin").await;
    warm(&app.address, "root", &secret).await;
    warm(&other.address, "root", &secret).await;

    // Revoked through the API of the first instance…
    ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_revoke",
            &[("token_name", "shared")],
        )
        .await,
    );
    assert_eq!(
        version_at(&app.address, "root", &secret).await,
        StatusCode::FORBIDDEN
    );
    // …and refused by the second within moments (at once on SQLite; within
    // the listener's few milliseconds on PostgreSQL).
    assert_refused_soon(&other.address, "root", &secret).await;
    // The other instance still serves tokens that did not change.
    assert_eq!(
        version_at(&other.address, "root", &admin).await,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn an_expired_token_is_refused_even_when_it_was_held_in_memory() {
    let app = spawn_app().await;
    let secret = app.token("root", "short").await;
    warm(&app.address, "root", &secret).await;
    // Moved straight in the store, as another process would.
    let mut other = whm_tokens::db::establish(&app.database.url()).unwrap();
    {
        use diesel::prelude::*;
        use whm_tokens::db::schema::tokens;
        diesel::update(tokens::table.filter(tokens::name.eq("short")))
            .set(tokens::expires_at.eq(Some(now() - 1)))
            .execute(&mut other)
            .unwrap();
    }
    assert_refused_soon(&app.address, "root", &secret).await;
}

#[actix_web::test]
async fn the_account_search_kept_in_memory_sees_renames_new_accounts_and_other_processes_at_once() {
    let app = spawn_app().await;
    app.bulk_accounts(3).await;
    app.create_reseller("bob", Some("all")).await;
    app.create_account("shop1", AccountKind::User, None).await;
    app.create_account("shop2", AccountKind::User, None).await;
    let bob_id = app.actor("bob").await.account.id;
    app.db
        .write(move |conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::accounts;
            diesel::update(accounts::table.filter(accounts::username.eq("shop1")))
                .set(accounts::owner_id.eq(Some(bob_id)))
                .execute(conn)?;
            Ok::<_, anyhow::Error>(())
        })
        .await
        .unwrap();
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let search = |who: &'static str, q: &'static str| {
        let client = if who == "root" { &root } else { &bob };
        async move {
            let names = client
                .listed(&format!("/accounts?q={q}"), "data-account")
                .await;
            names
                .into_iter()
                .collect::<std::collections::BTreeSet<String>>()
                .into_iter()
                .collect::<Vec<_>>()
        }
    };
    // The first search reads the names; the next ones are served from them.
    assert_eq!(
        search("root", "user").await,
        ["user0000", "user0001", "user0002"]
    );
    assert_eq!(search("root", "bob").await, ["bob"]);
    assert_eq!(
        search("root", "ser000").await,
        ["user0000", "user0001", "user0002"]
    );
    // A reseller's search holds only its own accounts.
    assert_eq!(search("root", "shop").await, ["shop1", "shop2"]);
    assert_eq!(search("bob", "shop").await, ["shop1"]);

    // Renamed on the page: the next search finds the new name only.
    let renamed = root
        .post("/accounts/shop1/rename", &[("new_name", "store1")])
        .await;
    assert_eq!(renamed.status(), StatusCode::SEE_OTHER);
    assert_eq!(search("root", "shop").await, ["shop2"]);
    assert_eq!(search("bob", "store").await, ["store1"]);

    // Made by another process (the command line): found on the next search.
    let out = app
        .command(&["create-account", "bobby", "--reseller"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(search("root", "bob").await, ["bob", "bobby"]);
    assert!(search("bob", "bob").await.is_empty());
}

#[actix_web::test]
async fn the_token_search_kept_in_memory_sees_new_renamed_described_and_removed_tokens_at_once() {
    let app = spawn_app().await;
    let other = app.second_instance().await;
    app.create_reseller("bob", None).await;
    let admin = app.token("root", "admin").await;
    app.token("root", "alpha").await;
    app.token("root", "beta").await;
    app.token("bob", "alpha-of-bob").await;
    let here = app.sign_in("root", ROOT_PASSWORD).await;
    let there = TestApp::at(&other.address)
        .sign_in("root", ROOT_PASSWORD)
        .await;
    let search = |client: &'static str, q: &'static str| {
        let client = if client == "here" { &here } else { &there };
        async move {
            client
                .listed(&format!("/tokens?q={q}&sort=name&dir=asc"), "data-token")
                .await
        }
    };
    // The first search reads root's names on each instance; bob's are not
    // root's to see.
    assert_eq!(search("here", "alp").await, ["alpha"]);
    assert_eq!(search("there", "ALP").await, ["alpha"]);

    // Made through the API, renamed through the API: seen on both at once.
    app.token("root", "alpine").await;
    ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_update",
            &[("token_name", "beta"), ("new_name", "alpaca")],
        )
        .await,
    );
    assert_eq!(search("here", "alp").await, ["alpaca", "alpha", "alpine"]);
    assert_eq!(search("there", "alp").await, ["alpaca", "alpha", "alpine"]);

    // Described anew straight in the store, as another process would.
    let mut store = whm_tokens::db::establish(&app.database.url()).unwrap();
    {
        use diesel::prelude::*;
        use whm_tokens::db::schema::tokens;
        diesel::update(tokens::table.filter(tokens::name.eq("admin")))
            .set(tokens::description.eq("Alpine route"))
            .execute(&mut store)
            .unwrap();
    }
    assert_eq!(search("there", "ine r").await, ["admin"]);

    // Revoked by the command line: gone from both.
    let out = app
        .command(&["api", "api_token_revoke", "token_name=alpha"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(search("here", "alp").await, ["admin", "alpaca", "alpine"]);
    assert_eq!(search("there", "alp").await, ["admin", "alpaca", "alpine"]);
    assert!(search("here", "of-bob").await.is_empty());
}

#[actix_web::test]
async fn an_instance_whose_change_listener_went_silent_serves_no_check_from_memory() {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    let app = spawn_app().await;
    let url = app.database.url();
    if whm_tokens::db::Backend::of_url(&url) != whm_tokens::db::Backend::Postgres {
        eprintln!("SKIPPED: the change listener is PostgreSQL's");
        return;
    }
    let secret = app.token("root", "deploy").await;
    warm(&app.address, "root", &secret).await;
    // The listener's server process stops answering: its connection goes
    // silent, as one cut off by a firewall or a failover does.
    let mut admin = diesel::PgConnection::establish(&url).unwrap();
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let pid = diesel::sql_query(
        "SELECT pid FROM pg_stat_activity \
         WHERE application_name = 'whm-tokens-listener' AND datname = current_database()",
    )
    .get_result::<Pid>(&mut admin)
    .expect("the listener's connection, by its name")
    .pid;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() != "postgres" {
        eprintln!("SKIPPED: the PostgreSQL server is not on this machine (pid {pid})");
        return;
    }
    let stopped = Stopped::now(pid);
    // Longer than the listener's promise (a change is seen within SETTLE,
    // or nothing is served from memory).
    tokio::time::sleep(whm_tokens::db::changes::SETTLE * 3).await;
    // Disabled by another process: no notification reaches this instance.
    admin
        .batch_execute("UPDATE tokens SET enabled = false WHERE name = 'deploy'")
        .unwrap();
    let status = version_at(&app.address, "root", &secret).await;
    drop(stopped);
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A process stopped (SIGSTOP) until this is dropped, panics included.
struct Stopped(i32);

impl Stopped {
    fn now(pid: i32) -> Self {
        // SAFETY: kill(2) with a pid read from pg_stat_activity and checked
        // to be a local postgres process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0, "stop {pid}");
        Self(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}
