//! The store as operators meet it: wrong URLs, a missing folder, instances
//! starting together, connections that die, and a database that goes away.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The PostgreSQL server the tests run against, if any.
fn pg_admin_url() -> Option<String> {
    std::env::var("WHM_TOKENS_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

#[actix_web::test]
async fn a_refused_connection_is_named_in_a_few_lines() {
    let out = run_command("postgres://postgres@127.0.0.1:1/whm", &["migrate"]).await;
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains("could not connect to PostgreSQL"), "{err}");
    assert!(err.contains("refused"), "{err}");
    assert!(err.lines().count() <= 6, "{err}");
}

#[actix_web::test]
async fn a_database_that_does_not_exist_is_named() {
    let Some(admin) = pg_admin_url() else {
        eprintln!("skipped: WHM_TOKENS_TEST_DATABASE_URL is not set");
        return;
    };
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap().to_owned();
    let out = run_command(&format!("{base}/whm_no_such_database"), &["migrate"]).await;
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("database \"whm_no_such_database\" does not exist"),
        "{err}"
    );
}

#[actix_web::test]
async fn an_sqlite_file_in_a_missing_folder_gets_its_folder() {
    let root = std::env::temp_dir().join(format!("whm-nested-{}", now()));
    let file = root.join("a/b/whm.sqlite3");
    let out = run_command(&file.display().to_string(), &["migrate"]).await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(file.exists());
    let _ = std::fs::remove_dir_all(root);
}

#[actix_web::test]
async fn instances_migrating_a_fresh_database_at_once_both_start() {
    // On SQLite as on PostgreSQL: whichever the suite runs on.
    for _ in 0..3 {
        let database = TestDatabase::create();
        let url = database.url();
        let (a, b) = tokio::join!(
            run_command(&url, &["migrate"]),
            run_command(&url, &["migrate"])
        );
        assert!(a.status.success(), "{}", stderr_of(&a));
        assert!(b.status.success(), "{}", stderr_of(&b));
    }
}

#[actix_web::test]
async fn connections_killed_under_the_app_cost_no_failed_call() {
    let Some(admin) = pg_admin_url() else {
        eprintln!("skipped: WHM_TOKENS_TEST_DATABASE_URL is not set");
        return;
    };
    let app = spawn_app().await;
    let secret = app.token("root", "steady").await;
    ok_data(&app.api("root", &secret, "api_token_list", &[]).await);
    let TestDatabase::Postgres { name, .. } = &app.database else {
        unreachable!()
    };
    let mut conn = diesel::PgConnection::establish(&admin).unwrap();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ))
    .execute(&mut conn)
    .unwrap();
    for _ in 0..5 {
        let data = ok_data(&app.api("root", &secret, "api_token_list", &[]).await);
        assert_eq!(data["tokens"]["steady"]["name"], "steady");
    }
}

#[actix_web::test]
async fn a_database_gone_away_gets_quick_503s_not_a_pool_timeout() {
    let Some(admin) = pg_admin_url() else {
        eprintln!("skipped: WHM_TOKENS_TEST_DATABASE_URL is not set");
        return;
    };
    let app = spawn_app().await;
    let secret = app.token("root", "steady").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(
        version_at(&app.address, "root", &secret).await,
        StatusCode::OK
    );
    let TestDatabase::Postgres { name, .. } = &app.database else {
        unreachable!()
    };
    let mut conn = diesel::PgConnection::establish(&admin).unwrap();
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .unwrap();

    // The old pool waited 10 s and then answered 500.
    let bound = Duration::from_secs(5);
    let started = Instant::now();
    let ready = reqwest::get(format!("{}/readyz", app.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < bound, "{:?}", started.elapsed());
    assert_eq!(ready.text().await.unwrap(), "database unavailable");
    // Alive all the same: a restart would not bring the database back.
    let alive = reqwest::get(format!("{}/healthz", app.address))
        .await
        .unwrap();
    assert_eq!(alive.status(), StatusCode::OK);

    let started = Instant::now();
    let (status, body) = app.api("root", &secret, "api_token_list", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["metadata"]["result"], 0);
    assert!(
        body["metadata"]["reason"]
            .as_str()
            .unwrap()
            .contains("database is unavailable"),
        "{body}"
    );
    assert!(started.elapsed() < bound, "{:?}", started.elapsed());

    let started = Instant::now();
    let page = root.get("/tokens").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.headers().contains_key("retry-after"));
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("database is unavailable"));
    assert!(started.elapsed() < bound, "{:?}", started.elapsed());
}

#[actix_web::test]
async fn backup_and_restore_go_straight_to_the_database_when_a_direct_url_is_set() {
    let app = spawn_app().await;
    let TestDatabase::Postgres { url, .. } = &app.database else {
        eprintln!("skipped: PostgreSQL only (a direct URL is a PostgreSQL setting)");
        return;
    };
    app.token("root", "kept").await;
    // DATABASE_URL is a pooler's that is down: a long transaction through
    // a pooler in transaction mode is what the direct URL is for.
    let pooler = "postgres://postgres@127.0.0.1:1/whm";
    let file =
        std::env::temp_dir().join(format!("whm-direct-{:016x}.jsonl", rand::random::<u64>()));
    let file = file.to_str().unwrap();
    let out = run_command_with(
        pooler,
        &[("WHM_TOKENS_DATABASE_DIRECT_URL", url)],
        &["backup", file],
    )
    .await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    let target = TestDatabase::create();
    let TestDatabase::Postgres {
        url: target_url, ..
    } = &target
    else {
        unreachable!()
    };
    let out = run_command_with(
        pooler,
        &[("WHM_TOKENS_DATABASE_DIRECT_URL", target_url)],
        &["restore", file],
    )
    .await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    let _ = std::fs::remove_file(file);
}
