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
        if index == "tokens_leaked" {
            // Partial: only tokens reported leaked, none here.
            assert!(stat.starts_with("0"), "{index}: {stat}");
            continue;
        }
        let rows: i64 = stat.split(' ').next().unwrap().parse().unwrap();
        // Sampled (analysis_limit), so about the table's size.
        assert!((1_000..=4_000).contains(&rows), "{index}: {stat}");
    }
}
