//! The store faulted under the server: PostgreSQL backends killed under
//! it (`pg_terminate_backend`, as a failover or a restart does). Nothing
//! counted in memory is lost, and work cut off is a 503 with Retry-After,
//! never an internal error. On SQLite there are no connections to kill:
//! these tests say so and pass.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;

use whm_tokens::db::Backend;

use crate::helpers::*;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Ends every other connection to `url`'s database, as an administrator
/// (or a restarting server) does; returns how many it ended.
fn kill_backends(url: &str) -> i64 {
    kill_backends_from(&mut diesel::PgConnection::establish(url).unwrap())
}

fn kill_backends_from(conn: &mut diesel::PgConnection) -> i64 {
    diesel::sql_query(
        "SELECT COUNT(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .get_result::<Count>(conn)
    .unwrap()
    .n
}

/// Connections to `url`'s database waiting for a lock to insert a token.
/// Only those: the server's background writes (the use of tokens, every
/// 2 s) may wait for the same lock, and taking one of them for the create
/// would end the backends before the create waits (it then succeeds).
fn waiting_to_insert_a_token(url: &str) -> i64 {
    waiting_to_insert_into(url, "tokens")
}

/// Connections to `url`'s database waiting for a lock to insert into
/// `table`.
fn waiting_to_insert_into(url: &str, table: &str) -> i64 {
    let mut conn = diesel::PgConnection::establish(url).unwrap();
    diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock' \
         AND query LIKE 'INSERT INTO \"{table}\"%'"
    ))
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n
}

/// The tokens table held by a session of the test's own, so that writes
/// wait inside their transactions.
fn hold_tokens_table(url: &str) -> diesel::PgConnection {
    let mut holder = diesel::PgConnection::establish(url).unwrap();
    holder
        .batch_execute("BEGIN; LOCK TABLE tokens IN EXCLUSIVE MODE")
        .unwrap();
    holder
}

/// `api_token_create` as root: its status, whether it said Retry-After,
/// and its answer. A client that waits at most `limit`.
async fn create_token(
    address: &str,
    secret: &str,
    name: &str,
    limit: Duration,
) -> (StatusCode, bool, Value) {
    let response = reqwest::Client::builder()
        .timeout(limit)
        .build()
        .unwrap()
        .get(format!("{address}/json-api/api_token_create"))
        .query(&[("api.version", "1"), ("token_name", name)])
        .header("Authorization", format!("whm root:{secret}"))
        .send()
        .await
        .expect("an answer, not a hang");
    let retry_after = response.headers().contains_key("retry-after");
    (
        response.status(),
        retry_after,
        response.json::<Value>().await.unwrap(),
    )
}

fn on_postgres(url: &str) -> bool {
    let yes = Backend::of_url(url) == Backend::Postgres;
    if !yes {
        eprintln!(
            "SKIPPED: no connections to kill on SQLite (run with WHM_TOKENS_TEST_DATABASE_URL)"
        );
    }
    yes
}

#[actix_web::test]
async fn uses_and_refusals_counted_before_the_connections_died_are_written_after() {
    let app = spawn_app().await;
    if !on_postgres(&app.database.url()) {
        return;
    }
    let secret = app.token("root", "counted").await;
    for _ in 0..50 {
        ok_data(&app.api("root", &secret, "version", &[]).await);
    }
    for _ in 0..20 {
        assert_denied(&app.api("root", &"Q".repeat(32), "version", &[]).await);
    }
    assert!(kill_backends(&app.database.url()) > 0);
    // The write finds its connection dead: it is tried again on a live one.
    app.flush().await;
    let listed = ok_data(&app.api("root", &secret, "api_token_list", &[]).await);
    assert_eq!(listed["tokens"]["counted"]["use_count"], 50);
    let refused: Vec<i64> = app
        .db
        .read(|conn| {
            use whm_tokens::db::schema::audit_events::dsl::*;
            audit_events
                .filter(event.eq("api_refused"))
                .select(count)
                .load(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    assert_eq!(refused.iter().sum::<i64>(), 20);
}

#[actix_web::test]
async fn the_shutdown_flush_writes_every_use_after_the_connections_died() {
    let mut served = Served::start(&[]).await;
    let url = served.database_url();
    if !on_postgres(&url) {
        return;
    }
    let made = run_command(&url, &["api", "api_token_create", "token_name=last"]).await;
    let made: Value = serde_json::from_slice(&made.stdout).unwrap();
    let secret = made["data"]["token"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    for _ in 0..100 {
        let answer = client
            .get(format!("{}/json-api/version?api.version=1", served.address))
            .header("Authorization", format!("whm root:{secret}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
    }
    assert!(kill_backends(&url) > 0);
    served.terminate_cleanly(Duration::from_secs(20)).await;
    let listed = run_command(&url, &["api", "api_token_list"]).await;
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["data"]["tokens"]["last"]["use_count"], 100);
}

#[actix_web::test]
async fn the_shutdown_write_waits_for_token_rows_another_transaction_holds() {
    let mut served = Served::start(&[]).await;
    let url = served.database_url();
    if !on_postgres(&url) {
        return;
    }
    let made = run_command(&url, &["api", "api_token_create", "token_name=busy"]).await;
    let made: Value = serde_json::from_slice(&made.stdout).unwrap();
    let secret = made["data"]["token"].as_str().unwrap().to_owned();
    // Another instance writing its own counts holds the token's row, from
    // before the calls to after the stop began (so no round writes them).
    let mut holder = diesel::PgConnection::establish(&url).unwrap();
    holder
        .batch_execute("BEGIN; SELECT id FROM tokens WHERE name = 'busy' FOR UPDATE")
        .unwrap();
    for _ in 0..30 {
        assert_eq!(
            version_at(&served.address, "root", &secret).await,
            StatusCode::OK
        );
    }
    served.terminate();
    served
        .lines_until("held by another transaction; trying again before stopping")
        .await;
    holder.batch_execute("COMMIT").unwrap();
    served.exits_cleanly(Duration::from_secs(30)).await;
    let listed = run_command(&url, &["api", "api_token_list"]).await;
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["data"]["tokens"]["busy"]["use_count"], 30);
}

#[actix_web::test]
async fn a_write_cut_off_by_the_database_is_a_503_with_retry_after_and_changes_nothing() {
    let app = spawn_app().await;
    let url = app.database.url();
    if !on_postgres(&url) {
        return;
    }
    let secret = app.token("root", "writer").await;
    // The test holds the tokens table, so that the create waits inside
    // its transaction; then its backend is ended under it.
    let mut holder = hold_tokens_table(&url);
    let create = {
        let (address, secret) = (app.address.clone(), secret.clone());
        actix_web::rt::spawn(async move {
            create_token(&address, &secret, "cut-off", Duration::from_secs(60)).await
        })
    };
    let waiting = wait_for_value(
        "the create to wait for the lock",
        Duration::from_secs(10),
        || {
            let url = url.clone();
            async move { (waiting_to_insert_a_token(&url) > 0).then_some(()) }
        },
    );
    waiting.await;
    assert!(kill_backends_from(&mut holder) > 0);
    holder.batch_execute("ROLLBACK").unwrap();
    let (status, retry_after, answer) = create.await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(retry_after, "no Retry-After");
    assert_eq!(answer["metadata"]["result"], 0, "{answer}");
    // Nothing was written; the same call succeeds when tried again.
    let listed = ok_data(&app.api("root", &secret, "api_token_list", &[]).await);
    assert!(listed["tokens"]["cut-off"].is_null(), "{listed}");
    ok_data(
        &app.api(
            "root",
            &secret,
            "api_token_create",
            &[("token_name", "cut-off")],
        )
        .await,
    );
}

#[actix_web::test]
async fn a_write_turned_away_by_a_lock_held_too_long_is_a_503_on_the_api_and_the_page() {
    let app = spawn_app().await;
    let url = app.database.url();
    if Backend::of_url(&url) != Backend::Sqlite {
        eprintln!("SKIPPED: SQLite's write lock (PostgreSQL waits for row locks)");
        return;
    }
    let secret = app.token("root", "writer").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    // Another process holds the write lock past the busy timeout (10 s).
    // (It waits its turn for the lock: the server may be writing.)
    let mut holder = diesel::SqliteConnection::establish(&url).unwrap();
    holder
        .batch_execute("PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE")
        .unwrap();
    let api = async {
        let response = reqwest::Client::new()
            .get(format!("{}/json-api/api_token_create", app.address))
            .query(&[("api.version", "1"), ("token_name", "from-api")])
            .header("Authorization", format!("whm root:{secret}"))
            .send()
            .await
            .unwrap();
        let retry_after = response.headers().get("retry-after").cloned();
        (response.status(), retry_after)
    };
    let page = async {
        let response = root
            .post("/tokens/new", &[("name", "from-page"), ("expiry", "never")])
            .await;
        let retry_after = response.headers().get("retry-after").cloned();
        (response.status(), retry_after)
    };
    let (api, page) = tokio::join!(api, page);
    holder.batch_execute("ROLLBACK").unwrap();
    for (what, (status, retry_after)) in [("API", api), ("page", page)] {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert!(retry_after.is_some(), "{what}: no Retry-After");
    }
    let listed = ok_data(&app.api("root", &secret, "api_token_list", &[]).await);
    assert!(listed["tokens"]["from-api"].is_null(), "{listed}");
    assert!(listed["tokens"]["from-page"].is_null(), "{listed}");
}

#[actix_web::test]
async fn a_read_whose_connection_died_is_retried_on_a_live_one_even_when_every_idle_one_is_dead() {
    let app = spawn_app().await;
    let url = app.database.url();
    if !on_postgres(&url) {
        return;
    }
    let secret = app.token("root", "steady").await;
    // Every connection of the pool (4 in tests) is made and left idle.
    let hold = || {
        app.db.read(|conn| {
            conn.batch_execute("SELECT pg_sleep(0.3)")
                .map_err(anyhow::Error::from)
        })
    };
    let (a, b, c, d) = tokio::join!(hold(), hold(), hold(), hold());
    for held in [a, b, c, d] {
        held.unwrap();
    }
    // The server's own flusher may hold one for a moment.
    wait_until("every connection idle", Duration::from_secs(10), || async {
        app.db.pool_state().0.idle == 4
    })
    .await;
    // All of them die, with the change listener's: nothing is served from
    // memory, so each call below reads, and its first connection is dead.
    assert!(kill_backends(&url) >= 5);
    for _ in 0..3 {
        let data = ok_data(&app.api("root", &secret, "api_token_list", &[]).await);
        assert_eq!(data["tokens"]["steady"]["name"], "steady");
    }
}

#[actix_web::test]
async fn a_write_the_database_never_answers_is_a_503_after_the_deadline_not_a_hang() {
    let app = spawn_app().await;
    let url = app.database.url();
    if !on_postgres(&url) {
        return;
    }
    let secret = app.token("root", "writer").await;
    // A stuck session holds the tokens table and never lets go (PostgreSQL
    // waits for locks without end), as a primary waiting for a lost
    // synchronous standby never finishes a commit.
    let mut holder = hold_tokens_table(&url);
    let limit = whm_tokens::db::WORK_DEADLINE + Duration::from_secs(15);
    let (status, retry_after, answer) = create_token(&app.address, &secret, "stuck", limit).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(retry_after, "no Retry-After");
    assert_eq!(answer["metadata"]["result"], 0, "{answer}");
    holder.batch_execute("ROLLBACK").unwrap();
}

#[actix_web::test]
async fn use_counted_while_its_write_outlives_the_deadline_is_written_once() {
    let app = spawn_app_with(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let url = app.database.url();
    if !on_postgres(&url) {
        return;
    }
    let secret = app.token("root", "counted").await;
    let scrape = format!("{}/metrics", app.metrics_address.clone().unwrap());
    let flush_rounds = || {
        let scrape = scrape.clone();
        async move {
            let text = reqwest::get(scrape).await.unwrap().text().await.unwrap();
            metric_value(&text, "whm_tokens_flush_duration_seconds_count").unwrap_or(0.0)
        }
    };
    let use_count = || {
        let db = app.db.clone();
        async move {
            db.read(|c| {
                use whm_tokens::db::schema::tokens;
                tokens::table
                    .filter(tokens::name.eq("counted"))
                    .select(tokens::use_count)
                    .first::<i64>(c)
                    .map_err(anyhow::Error::from)
            })
            .await
            .unwrap()
        }
    };
    // The use is counted in memory; the write that takes it waits for
    // the table past the deadline: its round ends, refused, but the write
    // itself goes on.
    let mut holder = hold_tokens_table(&url);
    let before = flush_rounds().await;
    ok_data(&app.api("root", &secret, "version", &[]).await);
    wait_until(
        "a round of writing use that ends past the deadline",
        whm_tokens::db::WORK_DEADLINE + Duration::from_secs(20),
        || async { flush_rounds().await > before },
    )
    .await;
    assert_eq!(use_count().await, 0);
    holder.batch_execute("ROLLBACK").unwrap();
    // Let go, it commits: the use is written by it, and not again by a
    // later round (it was not handed back meanwhile).
    wait_until("the late write", Duration::from_secs(10), || async {
        use_count().await == 1
    })
    .await;
    app.flush().await;
    app.flush().await;
    assert_eq!(use_count().await, 1);
}

#[actix_web::test]
async fn a_notice_claim_that_commits_after_the_deadline_is_given_back_and_sent_at_the_next_round() {
    use crate::notices::{notify, LIMIT};
    use crate::receivers::{SmtpSink, WebhookReceiver};
    let smtp = SmtpSink::start().await;
    let hook = WebhookReceiver::start().await;
    let app = spawn_app_with(|c| notify(c, &smtp, &hook)).await;
    let url = app.database.url();
    if !on_postgres(&url) {
        return;
    }
    app.token("root", "late").await;
    let id: i64 = app
        .db
        .read(|c| {
            use whm_tokens::db::schema::tokens;
            tokens::table
                .filter(tokens::name.eq("late"))
                .select(tokens::id)
                .first(c)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    // The test's own session inserts the row of the notice the token will
    // be due, and holds it uncommitted: the server's claim waits on it.
    let expires = now() + 2 * 86_400;
    let mut holder = diesel::PgConnection::establish(&url).unwrap();
    holder
        .batch_execute(&format!(
            "BEGIN; INSERT INTO expiry_notices \
             (token_id, expires_at, threshold, channel, sent, claimed_until, attempts) \
             VALUES ({id}, {expires}, '7d', 'webhook', false, 0, 0)"
        ))
        .unwrap();
    app.set_expiry("late", expires).await;
    wait_until("the claim waits", LIMIT, || async {
        waiting_to_insert_into(&url, "expiry_notices") > 0
    })
    .await;
    // Its round ends with the deadline's error; the claim goes on.
    app.notice_rounds(1).await;
    holder.batch_execute("ROLLBACK").unwrap();
    // Let go, the claim commits, for ten minutes: given back at the next
    // round, the notice goes at once.
    let posts = hook.wait_for(1, LIMIT).await;
    assert_eq!(posts[0].json()["token"], "late");
}
