//! The query planner's statistics on the embedded store: SQLite plans a
//! store without them as if it were empty, so they are gathered when a
//! server starts (in the background) and hourly, for tables that grew,
//! including rows added outside the server, and at the end of a restore.
//! PostgreSQL's autovacuum does this itself.

use diesel::prelude::*;

use whm_tokens::db::Backend;

use crate::helpers::*;

#[derive(QueryableByName)]
struct Stat {
    #[diesel(sql_type = diesel::sql_types::Text)]
    idx: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    stat: String,
}

/// SQLite's statistics for the tokens table's indexes: (index, stat).
async fn token_statistics(app: &TestApp) -> Vec<(String, String)> {
    app.db
        .read(|conn| {
            let found = diesel::sql_query(
                "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'tokens' AND idx IS NOT NULL",
            )
            .load::<Stat>(conn);
            // No statistics at all yet: SQLite has not made the table.
            Ok::<_, anyhow::Error>(
                found
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| (s.idx, s.stat))
                    .collect(),
            )
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn statistics_for_tokens_added_outside_the_server_are_gathered_when_it_starts() {
    let app = spawn_app().await;
    if Backend::of_url(&app.database.url()) != Backend::Sqlite {
        eprintln!("SKIPPED: PostgreSQL's autovacuum gathers statistics itself");
        return;
    }
    // Rows added behind the server's back (a restore, a script, another
    // process): nothing has asked SQLite to look at them.
    app.bulk_tokens("root", 2_000).await;
    let before = token_statistics(&app).await;
    assert!(before.is_empty(), "{before:?}");

    // A server starting on the store gathers them, once it is listening.
    let _restarted = app.second_instance().await;
    let after = wait_for_value(
        "statistics for tokens",
        std::time::Duration::from_secs(30),
        || async {
            let found = token_statistics(&app).await;
            (!found.is_empty()).then_some(found)
        },
    )
    .await;
    for (index, stat) in &after {
        if ["tokens_leaked", "tokens_enabled_at"].contains(&index.as_str()) {
            // Partial: only tokens reported leaked, or enabled again by a
            // person; none here.
            assert!(stat.starts_with("0"), "{index}: {stat}");
            continue;
        }
        let rows: i64 = stat.split(' ').next().unwrap().parse().unwrap();
        // Sampled (analysis_limit), so about the table's size.
        assert!((1_000..=4_000).contains(&rows), "{index}: {stat}");
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The segments of SQLite's search index (FTS5 keeps at least one row of
/// its `_idx` table for each).
async fn search_segments(db: &whm_tokens::db::Db) -> i64 {
    db.read(|conn| {
        Ok::<_, anyhow::Error>(
            diesel::sql_query("SELECT COUNT(DISTINCT segid) AS n FROM tokens_search_idx")
                .get_result::<Count>(conn)?,
        )
    })
    .await
    .unwrap()
    .n
}

#[actix_web::test]
async fn the_search_index_of_a_store_that_grew_is_merged_when_a_server_starts() {
    // Tokens made one write at a time, as a store grows: FTS5 adds a
    // segment for each write and merges them only four at a time.
    let (database, db) = grown_store(15).await;
    if Backend::of_url(&database.url()) != Backend::Sqlite {
        eprintln!("SKIPPED: pg_trgm's indexes are kept by autovacuum");
        return;
    }
    let before = search_segments(&db).await;
    assert!(before >= 4, "{before} segments");
    drop(db);

    // A server starting on the store merges them, a step at a time.
    let app = spawn_app_on(database, |_| {}).await;
    wait_for_value(
        "the search index merged into two segments or fewer",
        std::time::Duration::from_secs(30),
        || async {
            let n = search_segments(&app.db).await;
            (n <= 2).then_some(n)
        },
    )
    .await;
    // And the merged index still finds every token, and only those.
    let found = app
        .db
        .read(|conn| {
            Ok::<_, anyhow::Error>(
                diesel::sql_query(
                    "SELECT COUNT(*) AS n FROM tokens_search WHERE tokens_search MATCH '\"grown-\"'",
                )
                .get_result::<Count>(conn)?,
            )
        })
        .await
        .unwrap()
        .n;
    assert_eq!(found, 15);
}

/// A store grown by `writes` separate writes of one token each, before
/// any server serves it (so no server's merging runs meanwhile).
async fn grown_store(writes: usize) -> (TestDatabase, whm_tokens::db::Db) {
    let database = TestDatabase::create();
    let (db, _) = whm_tokens::startup::prepare(&test_config(database.url()))
        .await
        .unwrap();
    for i in 0..writes {
        db.write(move |conn| {
            use whm_tokens::db::schema::accounts;
            let root: i64 = accounts::table
                .filter(accounts::username.eq("root"))
                .select(accounts::id)
                .first(conn)?;
            insert_token(conn, root, &format!("grown-{i:02}"), now())?;
            Ok::<_, anyhow::Error>(())
        })
        .await
        .unwrap();
    }
    (database, db)
}

#[actix_web::test]
async fn a_round_of_merging_works_until_nothing_is_left_and_the_next_finds_nothing() {
    let (database, db) = grown_store(15).await;
    if Backend::of_url(&database.url()) != Backend::Sqlite {
        let did = db
            .write(whm_tokens::db::Db::merge_search_index)
            .await
            .unwrap();
        assert!(!did, "nothing to merge on PostgreSQL");
        assert_eq!(db.merge_search_index_now().await.unwrap(), 0);
        return;
    }
    assert!(search_segments(&db).await >= 4);
    assert!(db.merge_search_index_now().await.unwrap() >= 1);
    assert_eq!(db.merge_search_index_now().await.unwrap(), 0);
    assert_eq!(search_segments(&db).await, 1);
}
