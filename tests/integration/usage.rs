//! Last used: counted in memory on each call, written in batches, shown on
//! the page and in the API within seconds; several instances keep the
//! newest time.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use whm_tokens::auth::usage::Usage;

use crate::helpers::*;

/// `api_token_list`'s entry for `name`, once `ready` holds of it (at most
/// five seconds).
async fn listed_once(
    app: &TestApp,
    secret: &str,
    name: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let ready = &ready;
    wait_for_value(
        "the listed use",
        Duration::from_secs(5),
        move || async move {
            let data = ok_data(&app.api("root", secret, "api_token_list", &[]).await);
            let entry = data["tokens"][name].clone();
            ready(&entry).then_some(entry)
        },
    )
    .await
}

#[actix_web::test]
async fn a_use_shows_within_five_seconds_in_the_api_and_on_the_page() {
    let app = spawn_app().await;
    let watcher = app.token("root", "watcher").await;
    let deploy = app.token("root", "deploy").await;
    let fresh = ok_data(&app.api("root", &watcher, "api_token_list", &[]).await);
    assert!(fresh["tokens"]["deploy"]["last_used_at"].is_null());
    assert_eq!(fresh["tokens"]["deploy"]["use_count"], 0);

    for _ in 0..3 {
        ok_data(&app.api("root", &deploy, "version", &[]).await);
    }
    let entry = listed_once(&app, &watcher, "deploy", |e| e["use_count"] == 3).await;
    assert!((entry["last_used_at"].as_i64().unwrap() - now()).abs() < 10);
    assert_eq!(entry["last_used_ip"], "127.0.0.1");
    let details = ok_data(
        &app.api(
            "root",
            &watcher,
            "api_token_get_details",
            &[("token", &deploy)],
        )
        .await,
    );
    assert_eq!(details["use_count"], 3);

    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let page = root.get("/tokens?sort=used").await.text().await.unwrap();
    assert!(page.contains("Last used"));
    let deploy_row = page.split("data-token=\"deploy\"").nth(1).unwrap();
    assert!(deploy_row.contains("just now"), "{deploy_row:.600}");
    assert!(deploy_row.contains("from 127.0.0.1; 3 calls in all"));
    // Sorted by last use: the used tokens first (watcher was used too).
    assert!(
        page.find("data-token=\"deploy\"")
            < page.find("data-token=\"unused\"").or(Some(usize::MAX))
    );
    let edit = root.get("/tokens/deploy/edit").await.text().await.unwrap();
    assert!(edit.contains("from 127.0.0.1; 3 calls in all"));
    assert_eq!(
        root.get("/tokens?sort=used&dir=asc").await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn never_used_tokens_say_never_and_sort_last_both_ways() {
    let app = spawn_app().await;
    let used = app.token("root", "used").await;
    app.token("root", "idle").await;
    ok_data(&app.api("root", &used, "version", &[]).await);
    listed_once(&app, &used, "used", |e| e["use_count"].as_i64() >= Some(1)).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    for dir in ["asc", "desc"] {
        let page = root
            .get(&format!("/tokens?sort=used&dir={dir}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            page.find("data-token=\"used\"").unwrap() < page.find("data-token=\"idle\"").unwrap(),
            "never last ({dir})"
        );
        let idle = page.split("data-token=\"idle\"").nth(1).unwrap();
        assert!(idle.contains(">Never<"), "{idle:.400}");
    }
}

#[actix_web::test]
async fn instances_writing_use_add_their_counts_and_keep_the_newest_time() {
    let app = spawn_app().await;
    app.token("root", "shared").await;
    let id: i64 = app
        .db
        .read(|conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::tokens;
            tokens::table
                .select(tokens::id)
                .first(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    let (a, b) = (Usage::default(), Usage::default());
    a.record(id, 2_000_000_000, Some("198.51.100.1".parse().unwrap()));
    a.record(id, 2_000_000_000, Some("198.51.100.1".parse().unwrap()));
    b.record(id, 1_900_000_000, Some("198.51.100.2".parse().unwrap()));
    let flush = |usage: Usage| {
        let db = app.db.clone();
        async move {
            db.write_bookkeeping(move |conn| usage.flush(conn))
                .await
                .unwrap()
        }
    };
    flush(a).await;
    // The older use is written last, as a slower instance would.
    flush(b).await;
    let (at, ip, count): (Option<i64>, Option<String>, i64) = app
        .db
        .read(move |conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::tokens;
            tokens::table
                .find(id)
                .select((
                    tokens::last_used_at,
                    tokens::last_used_ip,
                    tokens::use_count,
                ))
                .first(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    assert_eq!(at, Some(2_000_000_000), "the newest time wins");
    assert_eq!(ip.as_deref(), Some("198.51.100.1"));
    assert_eq!(count, 3, "counts add up");
}

#[actix_web::test]
async fn a_token_used_from_a_new_address_shows_a_notice_until_dismissed() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let secret = app.token("root", "deploy").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(
        version_via_proxy(&app.address, &secret, "198.51.100.1").await,
        StatusCode::OK
    );
    listed_once(&app, &app.token("root", "watcher").await, "deploy", |e| {
        e["use_count"] == 1
    })
    .await;
    let page = root.get("/tokens").await.text().await.unwrap();
    assert!(
        !page.contains("new-address-notices"),
        "the first use is no news"
    );

    assert_eq!(
        version_via_proxy(&app.address, &secret, "203.0.113.9").await,
        StatusCode::OK
    );
    let root = &root;
    wait_until(
        "the new-address notice",
        Duration::from_secs(5),
        || async move {
            let page = root.get("/tokens").await.text().await.unwrap();
            page.contains("deploy was used from 203.0.113.9 for the first time")
        },
    )
    .await;
    root.post("/tokens/notices/dismiss", &[]).await;
    let page = root.get("/tokens").await.text().await.unwrap();
    assert!(!page.contains("new-address-notices"), "dismissed");
    // Used again from there: not new any more.
    assert_eq!(
        version_via_proxy(&app.address, &secret, "203.0.113.9").await,
        StatusCode::OK
    );
    app.flush().await;
    assert!(!root
        .get("/tokens")
        .await
        .text()
        .await
        .unwrap()
        .contains("new-address-notices"));
}

#[actix_web::test]
async fn with_recording_off_calls_leave_no_trace_of_use() {
    let app = spawn_app_with(|c| c.record_usage = false).await;
    let secret = app.token("root", "quiet").await;
    ok_data(&app.api("root", &secret, "version", &[]).await);
    app.flush().await;
    let data = ok_data(&app.api("root", &secret, "api_token_list", &[]).await);
    assert_eq!(data["tokens"]["quiet"]["use_count"], 0);
    assert!(data["tokens"]["quiet"]["last_used_at"].is_null());
}

#[actix_web::test]
async fn writing_use_skips_a_token_another_transaction_holds_and_writes_it_next_time() {
    use diesel::prelude::*;
    use whm_tokens::db::schema::tokens;
    let app = spawn_app().await;
    let TestDatabase::Postgres { url, .. } = &app.database else {
        eprintln!("SKIPPED: row locks are PostgreSQL's; SQLite has one writer");
        return;
    };
    app.token("root", "held").await;
    app.token("root", "free").await;
    let ids: Vec<(String, i64)> = app
        .db
        .read(|conn| {
            tokens::table
                .select((tokens::name, tokens::id))
                .order(tokens::name)
                .load(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    let (free, held) = (ids[0].1, ids[1].1);
    // A person's change under way: another transaction holds the row.
    let mut other = diesel::PgConnection::establish(url).unwrap();
    diesel::sql_query("BEGIN").execute(&mut other).unwrap();
    diesel::sql_query(format!(
        "SELECT id FROM tokens WHERE id = {held} FOR UPDATE"
    ))
    .execute(&mut other)
    .unwrap();
    let usage = std::sync::Arc::new(Usage::default());
    for id in [held, free] {
        usage.record(id, 2_000_000_000, Some("198.51.100.1".parse().unwrap()));
    }
    let flush = || {
        let (db, usage) = (app.db.clone(), usage.clone());
        async move {
            tokio::time::timeout(
                Duration::from_secs(10),
                db.write_bookkeeping(move |conn| usage.flush(conn)),
            )
            .await
            .expect("the write does not wait for the held row")
            .unwrap()
        }
    };
    assert_eq!(flush().await, 1, "the free token is written");
    assert_eq!(usage.pending(), 1, "the held token's use is kept");
    diesel::sql_query("COMMIT").execute(&mut other).unwrap();
    assert_eq!(flush().await, 1, "then the held one is written");
    let counts: Vec<i64> = app
        .db
        .read(|conn| {
            tokens::table
                .select(tokens::use_count)
                .order(tokens::name)
                .load(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    assert_eq!(counts, vec![1, 1]);
}

#[actix_web::test]
async fn a_round_with_no_use_counted_writes_nothing_and_waits_for_no_lock() {
    use diesel::prelude::*;
    let app = spawn_app().await;
    let TestDatabase::Postgres { url, .. } = &app.database else {
        eprintln!("SKIPPED: table locks are PostgreSQL's");
        return;
    };
    app.token("root", "idle").await;
    // Writes to the tokens table wait while another session holds it (as
    // a migration or a person's bulk change might).
    let mut other = diesel::PgConnection::establish(url).unwrap();
    diesel::sql_query("BEGIN").execute(&mut other).unwrap();
    diesel::sql_query("LOCK TABLE tokens IN EXCLUSIVE MODE")
        .execute(&mut other)
        .unwrap();
    let usage = std::sync::Arc::new(Usage::default());
    let written = tokio::time::timeout(
        Duration::from_secs(10),
        app.db.write_bookkeeping(move |conn| usage.flush(conn)),
    )
    .await
    .expect("nothing to write waits for nothing")
    .unwrap();
    assert_eq!(written, 0);
    diesel::sql_query("COMMIT").execute(&mut other).unwrap();
}

#[actix_web::test]
async fn one_write_adds_each_tokens_count_keeps_the_newest_use_drops_revoked_tokens_and_notes_only_new_addresses(
) {
    use diesel::prelude::*;
    use whm_tokens::db::schema::{audit_events, token_addresses, tokens};
    use whm_tokens::domain::audit_event::AuditEvent;
    let app = spawn_app().await;
    for name in ["a", "b", "c"] {
        app.token("root", name).await;
    }
    let ids: Vec<i64> = app
        .db
        .read(|conn| {
            tokens::table
                .select(tokens::id)
                .order(tokens::name)
                .load(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let usage = std::sync::Arc::new(Usage::default());
    let flush = || {
        let (db, usage) = (app.db.clone(), usage.clone());
        async move {
            db.write_bookkeeping(move |conn| usage.flush(conn))
                .await
                .unwrap()
        }
    };
    let ip = |s: &str| Some(s.parse().unwrap());
    // First uses: each token's first address is not news.
    usage.record(a, 1_000, ip("198.51.100.1"));
    usage.record(b, 1_000, ip("198.51.100.2"));
    assert_eq!(flush().await, 2);
    // Then: `a` twice from its known address, `b` from a new one but at an
    // older time than stored, `c` revoked before the write.
    usage.record(a, 2_000, ip("198.51.100.1"));
    usage.record(a, 1_500, ip("198.51.100.1"));
    usage.record(b, 500, ip("198.51.100.3"));
    usage.record(c, 2_000, ip("198.51.100.4"));
    app.db
        .write(move |conn| {
            diesel::delete(tokens::table.find(c))
                .execute(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    assert_eq!(flush().await, 2, "the revoked token is not counted");
    assert_eq!(usage.pending(), 0, "nor kept for later");
    let (rows, addresses, news) = app
        .db
        .read(|conn| {
            let rows: Vec<(i64, Option<i64>, Option<String>)> = tokens::table
                .select((
                    tokens::use_count,
                    tokens::last_used_at,
                    tokens::last_used_ip,
                ))
                .order(tokens::name)
                .load(conn)?;
            let addresses: Vec<(i64, String)> = token_addresses::table
                .select((token_addresses::token_id, token_addresses::address))
                .order((token_addresses::token_id, token_addresses::address))
                .load(conn)?;
            let news: Vec<Option<String>> = audit_events::table
                .filter(audit_events::event.eq(AuditEvent::TokenNewAddress.as_str()))
                .select(audit_events::ip)
                .load(conn)?;
            Ok::<_, anyhow::Error>((rows, addresses, news))
        })
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (3, Some(2_000), Some("198.51.100.1".to_owned())),
            (2, Some(1_000), Some("198.51.100.2".to_owned())),
        ],
        "counts add up; an older use does not replace the newer one"
    );
    assert_eq!(
        addresses,
        vec![
            (a, "198.51.100.1".to_owned()),
            (b, "198.51.100.2".to_owned()),
            (b, "198.51.100.3".to_owned()),
        ]
    );
    assert_eq!(
        news,
        vec![Some("198.51.100.3".to_owned())],
        "one notice, for the one address that was new"
    );
}
