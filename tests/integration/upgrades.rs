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
