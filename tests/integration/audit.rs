//! The audit trail: every kind of event, who did it, from where and why;
//! refusals counted per address and minute; retention; who sees what; the
//! Activity page and `whm-tokens audit --json`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// The events as root sees them, once `ready` holds (within five seconds:
/// refusals and new addresses are written in batches).
async fn events_once(app: &TestApp, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let ready = &ready;
    wait_for_value("the events", Duration::from_secs(5), move || async move {
        let output = app.command(&["audit", "--json"]).await;
        assert!(output.status.success(), "{output:?}");
        let events: Vec<Value> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        ready(&events).then_some(events)
    })
    .await
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["event"].as_str()).collect()
}

fn find<'a>(events: &'a [Value], kind: &str, detail: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == kind && e["detail"].as_str().unwrap_or("").contains(detail))
        .unwrap_or_else(|| panic!("no {kind} with {detail:?} in {events:#?}"))
}

#[actix_web::test]
async fn every_kind_of_event_is_recorded_with_who_where_and_why() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let root_secret = app.token("root", "ops").await;
    let api = |secret: String, function: &'static str, params: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.api("root", &secret, function, &params).await
        }
    };
    let created = ok_data(
        &api(
            root_secret.clone(),
            "api_token_create",
            vec![
                ("token_name", "deploy".into()),
                ("acl", "list-accts".into()),
            ],
        )
        .await,
    );
    let deploy = created["token"].as_str().unwrap().to_owned();
    ok_data(
        &api(
            root_secret.clone(),
            "api_token_update",
            vec![
                ("token_name", "deploy".into()),
                ("whitelist_ip", "127.0.0.1".into()),
            ],
        )
        .await,
    );
    // Refused: a missing privilege, the wrong user, an unknown token.
    refused(&api(deploy.clone(), "createacct", vec![]).await);
    assert_denied(&app.api("bob", &deploy, "version", &[]).await);
    assert_denied(&app.api("root", &"Z".repeat(32), "version", &[]).await);
    // Accounts.
    ok_data(
        &api(
            root_secret.clone(),
            "createacct",
            vec![
                ("username", "bob".into()),
                ("password", "a-long-password".into()),
                ("reseller", "1".into()),
            ],
        )
        .await,
    );
    ok_data(
        &api(
            root_secret.clone(),
            "suspendacct",
            vec![("user", "bob".into())],
        )
        .await,
    );
    ok_data(
        &api(
            root_secret.clone(),
            "unsuspendacct",
            vec![("user", "bob".into())],
        )
        .await,
    );
    ok_data(
        &api(
            root_secret.clone(),
            "modifyacct",
            vec![("user", "bob".into()), ("newuser", "robert".into())],
        )
        .await,
    );
    let bobs = app.token("robert", "bobs").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    root.post("/accounts/robert/privileges", &[("acl", "list-accts")])
        .await;
    ok_data(
        &api(
            root_secret.clone(),
            "removeacct",
            vec![("user", "robert".into())],
        )
        .await,
    );
    assert_denied(&app.api("robert", &bobs, "version", &[]).await);
    // Signing in and failing to.
    app.browser().try_sign_in("root", "not-the-password").await;
    // A token used from an address it had not been used from.
    assert_eq!(
        version_via_proxy(&app.address, &root_secret, "198.51.100.1").await,
        StatusCode::OK
    );
    // Written with the next batch (before the token goes, below).
    events_once(&app, |e| kinds(e).contains(&"token_new_address")).await;
    // Revoke and Revoke All.
    ok_data(
        &api(
            root_secret.clone(),
            "api_token_revoke",
            vec![("token_name", "deploy".into())],
        )
        .await,
    );
    root.post_htmx("/tokens/revoke-all", &[]).await;
    // A new password (which gives this browser a new session).
    root.post(
        "/account/password",
        &[
            ("current", ROOT_PASSWORD),
            ("new", "root-new-password-1"),
            ("confirm", "root-new-password-1"),
        ],
    )
    .await;

    let events = events_once(&app, |e| {
        kinds(e).contains(&"token_new_address") && kinds(e).contains(&"sign_in_failed")
    })
    .await;
    for kind in [
        "token_created",
        "token_updated",
        "token_revoked",
        "api_refused",
        "sign_in",
        "sign_in_failed",
        "password_changed",
        "account_created",
        "account_suspended",
        "account_unsuspended",
        "account_renamed",
        "account_deleted",
        "privileges_changed",
        "token_new_address",
    ] {
        assert!(
            kinds(&events).contains(&kind),
            "{kind} missing: {:?}",
            kinds(&events)
        );
    }
    let created = find(&events, "token_created", "list-accts");
    assert_eq!(created["actor"], "root");
    assert_eq!(created["token"], "deploy");
    assert_eq!(created["ip"], "127.0.0.1");
    assert!(created["request_id"]
        .as_str()
        .is_some_and(|id| id.len() == 16));
    find(&events, "token_updated", "IPs: 127.0.0.1");
    find(&events, "api_refused", "unknown token");
    find(
        &events,
        "api_refused",
        "the token belongs to another account",
    );
    find(&events, "api_refused", "create-acct");
    find(&events, "token_revoked", "the account was deleted");
    find(&events, "token_revoked", "Revoke All");
    find(&events, "account_renamed", "renamed from bob to robert");
    find(
        &events,
        "token_new_address",
        "ops was used from 198.51.100.1 for the first time",
    );
    // No secret, password or query string in any event.
    let all = serde_json::to_string(&events).unwrap();
    for secret in [&root_secret, &deploy, &bobs] {
        assert!(!all.contains(secret.as_str()));
    }
    assert!(!all.contains(ROOT_PASSWORD) && !all.contains("not-the-password"));
    assert!(!all.contains("api.version"));
}

#[actix_web::test]
async fn a_flood_of_refused_calls_from_one_address_is_a_few_counted_rows() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let url = format!("{}/json-api/version?api.version=1", app.address);
    let started = Instant::now();
    let mut sent = 0;
    let calls = futures_util::stream::iter(0..10_000).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .get(url)
                .header("Authorization", format!("whm root:{}", "Q".repeat(32)))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    use futures_util::StreamExt;
    let mut statuses = calls.buffer_unordered(32);
    while let Some(status) = statuses.next().await {
        assert_eq!(status, StatusCode::FORBIDDEN);
        sent += 1;
    }
    assert_eq!(sent, 10_000);
    let minutes = started.elapsed().as_secs() / 60 + 2;
    let events = events_once(&app, |e| {
        e.iter()
            .filter(|e| e["event"] == "api_refused")
            .map(|e| e["count"].as_i64().unwrap())
            .sum::<i64>()
            == 10_000
    })
    .await;
    let rows = events
        .iter()
        .filter(|e| e["event"] == "api_refused")
        .count();
    assert!(
        rows as u64 <= minutes,
        "{rows} rows for 10,000 refusals in {:?}",
        started.elapsed()
    );
    assert_eq!(app.count("audit_events").await, rows as i64);
}

#[actix_web::test]
async fn events_older_than_the_retention_are_pruned() {
    let app = spawn_app_with(|c| c.audit_retention = Duration::from_secs(86_400)).await;
    app.db
        .write_bookkeeping(|conn| {
            use diesel::prelude::*;
            diesel::sql_query(
                "INSERT INTO audit_events (at, event, detail, count) VALUES (1000, 'sign_in', '', 1)",
            )
            .execute(conn)
            .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    app.token("root", "fresh").await;
    app.flush().await;
    assert_eq!(
        app.count("audit_events").await,
        1,
        "the old event was pruned"
    );
}

/// Two days ago: past a day's retention, well within the server's own
/// (90 days), so that only the prune a test runs deletes such events, not
/// the server's rounds running beside it.
fn two_days_ago() -> i64 {
    now() - 2 * 86_400
}

/// Adds `n` events at `at + 1`, `at + 2`, ….
async fn events_from(app: &TestApp, at: i64, n: i64) {
    events_of(app, "sign_in", at, n).await;
}

/// Adds `n` events of `kind` at `at + 1`, `at + 2`, ….
async fn events_of(app: &TestApp, kind: &'static str, at: i64, n: i64) {
    app.db
        .write_bookkeeping(move |conn| {
            use diesel::prelude::*;
            diesel::sql_query(format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
                 INSERT INTO audit_events (at, event, detail, count) \
                 SELECT {at} + i, '{kind}', '', 1 FROM n"
            ))
            .execute(conn)
            .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
}

#[actix_web::test]
async fn a_prune_deletes_the_oldest_events_one_batch_per_transaction() {
    use whm_tokens::ops::audit::{prune, PRUNE_BATCH};
    let app = spawn_app().await;
    let base = two_days_ago();
    events_from(&app, base, PRUNE_BATCH + 10).await;
    let deleted = app
        .db
        .write_bookkeeping(|conn| prune(conn, now(), 86_400))
        .await
        .unwrap();
    assert_eq!(deleted as i64, PRUNE_BATCH);
    // The newest ten of the old ones are what is left.
    let left: Vec<i64> = app
        .db
        .read(|conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::audit_events::dsl::*;
            audit_events
                .filter(at.lt(now() - 86_400))
                .select(at)
                .order(at.asc())
                .load(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    assert_eq!(
        left,
        ((base + PRUNE_BATCH + 1)..=(base + PRUNE_BATCH + 10)).collect::<Vec<_>>()
    );
}

#[actix_web::test]
async fn a_backlog_of_old_events_is_pruned_over_several_rounds_leaving_recent_ones() {
    use whm_tokens::ops::audit::PRUNE_BATCH;
    use whm_tokens::state::{prune_round, PRUNE_BATCHES};
    let app = spawn_app().await;
    app.token("root", "fresh").await;
    let recent = app.count("audit_events").await;
    events_from(&app, two_days_ago(), PRUNE_BATCH * PRUNE_BATCHES as i64 + 5).await;
    // One round (with a day's retention and time to spare) deletes its
    // share and no more.
    let round = || prune_round(&app.state.db, &app.state.clock, 86_400, Duration::MAX);
    assert_eq!(
        round().await.unwrap() as i64,
        PRUNE_BATCH * PRUNE_BATCHES as i64
    );
    assert_eq!(app.count("audit_events").await, recent + 5);
    assert_eq!(round().await.unwrap(), 5);
    assert_eq!(app.count("audit_events").await, recent);
}

#[actix_web::test]
async fn a_pruning_round_with_nothing_old_takes_no_write_lock() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    use whm_tokens::state::prune_round;
    let app = spawn_app().await;
    let TestDatabase::Sqlite(_) = &app.database else {
        eprintln!("SKIPPED: SQLite's one write lock (PostgreSQL's prune reads without one)");
        return;
    };
    app.token("root", "fresh").await;
    let recent = app.count("audit_events").await;
    // Another process holds the write lock past the busy timeout (10 s):
    // a round that took it would wait, then fail.
    // (It waits its turn for the lock: the server may be writing.)
    let mut holder = diesel::SqliteConnection::establish(&app.database.url()).unwrap();
    holder
        .batch_execute("PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE")
        .unwrap();
    let round = prune_round(&app.state.db, &app.state.clock, 86_400, Duration::MAX);
    let deleted = tokio::time::timeout(Duration::from_secs(5), round)
        .await
        .expect("nothing to prune waits for nothing")
        .unwrap();
    assert_eq!(deleted, 0);
    holder.batch_execute("ROLLBACK").unwrap();
    assert_eq!(app.count("audit_events").await, recent);
}

#[actix_web::test]
async fn a_pruning_round_whose_time_is_spent_stops_after_one_batch_and_the_next_round_goes_on() {
    use whm_tokens::ops::audit::PRUNE_BATCH;
    use whm_tokens::state::prune_round;
    let app = spawn_app().await;
    app.token("root", "fresh").await;
    let recent = app.count("audit_events").await;
    events_from(&app, two_days_ago(), PRUNE_BATCH * 2 + 5).await;
    // No time at all: the first batch still runs (a backlog always moves),
    // the rest waits for the next rounds.
    let round = || prune_round(&app.state.db, &app.state.clock, 86_400, Duration::ZERO);
    assert_eq!(round().await.unwrap() as i64, PRUNE_BATCH);
    assert_eq!(app.count("audit_events").await, recent + PRUNE_BATCH + 5);
    assert_eq!(round().await.unwrap() as i64, PRUNE_BATCH);
    assert_eq!(round().await.unwrap(), 5);
    assert_eq!(round().await.unwrap(), 0);
    assert_eq!(app.count("audit_events").await, recent);
}

#[actix_web::test]
async fn a_reseller_sees_what_root_did_to_its_accounts_but_not_roots_token_or_address() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    app.create_reseller("bob", None).await;
    app.create_reseller_owned_by("shop", "bob").await;
    let ops = app.token("root", "roots-ops-token").await;
    let suspended = reqwest::Client::new()
        .get(format!("{}/json-api/suspendacct", app.address))
        .query(&[("api.version", "1"), ("user", "shop"), ("reason", "unpaid")])
        .header("Authorization", format!("whm root:{ops}"))
        .header("X-Forwarded-For", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(suspended.status(), reqwest::StatusCode::OK);
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let bobs_view = bob.get("/activity").await.text().await.unwrap();
    assert!(
        bobs_view.contains("shop"),
        "the suspension is shown: {bobs_view}"
    );
    assert!(!bobs_view.contains("roots-ops-token"), "{bobs_view}");
    assert!(!bobs_view.contains("198.51.100.7"), "{bobs_view}");
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let roots_view = root.get("/activity").await.text().await.unwrap();
    assert!(
        roots_view.contains("roots-ops-token") && roots_view.contains("198.51.100.7"),
        "root sees its own token and address"
    );
}

#[actix_web::test]
async fn resellers_see_only_what_concerns_them_on_the_activity_page() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    app.create_reseller("carol", None).await;
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let carol = app.sign_in("carol", USER_PASSWORD).await;
    app.token("bob", "bobs-token").await;
    app.token("carol", "carols-token").await;
    let bobs_view = bob.get("/activity").await.text().await.unwrap();
    assert!(bobs_view.contains("bobs-token"));
    assert!(
        !bobs_view.contains("carols-token"),
        "never another reseller's"
    );
    let filtered = bob
        .get("/activity?account=carol")
        .await
        .text()
        .await
        .unwrap();
    assert!(!filtered.contains("carols-token"));
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let all = root.get("/activity").await.text().await.unwrap();
    assert!(all.contains("bobs-token") && all.contains("carols-token"));
    // Filters and htmx: the table alone.
    let partial = root
        .get_htmx("/activity?event=token_created&token=carols-token")
        .await
        .text()
        .await
        .unwrap();
    assert!(!partial.contains("<html"));
    assert!(partial.contains("carols-token") && !partial.contains("bobs-token"));
    assert!(partial.contains("1 event(s)"), "{partial}");
    let edit = carol
        .get("/tokens/carols-token/edit")
        .await
        .text()
        .await
        .unwrap();
    assert!(edit.contains("href=\"/activity?token=carols-token\""));
}

/// The reseller bob, with the token "early", renamed by root to robert,
/// who then makes "late"; returns root's token.
async fn bob_renamed_robert(app: &TestApp) -> String {
    app.create_reseller("bob", None).await;
    app.token("bob", "early").await;
    let root = app.token("root", "ops").await;
    ok_data(
        &app.api(
            "root",
            &root,
            "modifyacct",
            &[("user", "bob"), ("newuser", "robert")],
        )
        .await,
    );
    app.token("robert", "late").await;
    root
}

#[actix_web::test]
async fn a_renamed_account_is_found_under_both_names_and_a_deleted_one_keeps_its_events() {
    let app = spawn_app().await;
    let root = bob_renamed_robert(&app).await;
    let under = |name: &'static str| {
        let app = &app;
        async move {
            let output = app.command(&["audit", "--json", "--user", name]).await;
            String::from_utf8(output.stdout).unwrap()
        }
    };
    let now_named = under("robert").await;
    assert!(
        now_named.contains("\"token\":\"early\""),
        "under the old name too: {now_named}"
    );
    assert!(now_named.contains("\"token\":\"late\""));
    assert!(now_named.contains("renamed from bob to robert"));
    ok_data(
        &app.api("root", &root, "removeacct", &[("user", "robert")])
            .await,
    );
    let kept = under("robert").await;
    assert!(kept.contains("\"event\":\"account_deleted\""), "{kept}");
    assert!(
        kept.contains("\"token\":\"early\""),
        "events outlive the account"
    );
}

#[actix_web::test]
async fn ten_thousand_refused_calls_with_as_many_names_from_a_hundred_addresses_add_few_rows() {
    use futures_util::StreamExt;
    let app = spawn_app().await;
    let url = format!("{}/json-api/version?api.version=1", app.address);
    // A hundred real loopback addresses, 127.0.0.2 to 127.0.0.101.
    let clients: Vec<reqwest::Client> = (2..102u8)
        .map(|last| {
            reqwest::Client::builder()
                .local_address(std::net::IpAddr::from([127, 0, 0, last]))
                .build()
                .unwrap()
        })
        .collect();
    let started = Instant::now();
    let calls = futures_util::stream::iter(0..10_000usize).map(|i| {
        let (client, url) = (clients[i % clients.len()].clone(), url.clone());
        async move {
            client
                .get(url)
                .header(
                    "Authorization",
                    format!("whm stranger{i}:{}", "Q".repeat(32)),
                )
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let mut statuses = calls.buffer_unordered(32);
    let mut sent = 0;
    while let Some(status) = statuses.next().await {
        assert_eq!(status, StatusCode::FORBIDDEN);
        sent += 1;
    }
    assert_eq!(sent, 10_000);
    let minutes = (started.elapsed().as_secs() / 60 + 2) as usize;
    let refused = |e: &&Value| e["event"] == "api_refused";
    let events = events_once(&app, |e| {
        e.iter()
            .filter(refused)
            .map(|e| e["count"].as_i64().unwrap())
            .sum::<i64>()
            == 10_000
    })
    .await;
    let rows: Vec<&Value> = events.iter().filter(refused).collect();
    // One row per address and minute at most (the cap is above 100), not
    // one per name.
    assert!(
        rows.len() <= 100 * minutes,
        "{} rows for 10,000 refusals from 100 addresses in {:?}",
        rows.len(),
        started.elapsed()
    );
    assert!(rows.len() >= 100, "each address has its row");
    // The names are a sample in the detail, never the row's actor.
    assert!(rows.iter().all(|e| e["actor"].is_null()));
    assert!(rows.iter().all(|e| e["detail"]
        .as_str()
        .unwrap()
        .contains("names tried: stranger")));
    assert_eq!(app.count("audit_events").await, rows.len() as i64);
}

/// The `at` of each event row of an Activity table, in order.
fn event_times(html: &str) -> Vec<String> {
    html.split("<td data-label=\"When\">")
        .skip(1)
        .map(|rest| rest.split('<').next().unwrap_or_default().to_owned())
        .collect()
}

#[actix_web::test]
async fn the_activity_pages_older_and_newer_from_the_last_event_shown_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let base = now() - 10_000;
    // 120 events, a second apart, the newest at base + 120; and three at
    // one second, which only their ids order.
    events_of(&app, "account_unsuspended", base, 120).await;
    events_of(&app, "account_unsuspended", base + 119, 3).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let first = root
        .get_htmx("/activity?event=account_unsuspended")
        .await
        .text()
        .await
        .unwrap();
    assert!(first.contains("123 event(s)"), "{first}");
    assert!(pager_link(&first, "prev").is_none(), "nothing newer");
    let mut seen = event_times(&first);
    assert_eq!(seen.len(), 50);
    let mut page = first.clone();
    let mut pages = vec![first];
    while let Some(older) = pager_link(&page, "next") {
        assert!(pages.len() < 10, "paging never ends: {older}");
        assert!(
            older.contains("event=account_unsuspended&before="),
            "{older}"
        );
        page = root.get_htmx(&older).await.text().await.unwrap();
        seen.extend(event_times(&page));
        pages.push(page.clone());
    }
    assert_eq!(pages.len(), 3);
    assert_eq!(seen.len(), 123, "every event once");
    // Back from the last page: the middle one again, exactly.
    let newer = pager_link(&pages[2], "prev").expect("newer from the last page");
    assert!(newer.contains("after="), "{newer}");
    let back = root.get_htmx(&newer).await.text().await.unwrap();
    assert_eq!(event_times(&back), event_times(&pages[1]));
    assert!(pager_link(&back, "next").is_some() && pager_link(&back, "prev").is_some());
}

#[actix_web::test]
async fn the_activity_counts_up_to_a_cap_and_pages_on_past_it() {
    use whm_tokens::ops::audit::COUNT_CAP;
    let app = spawn_app().await;
    events_of(&app, "account_unsuspended", now() - 100_000, COUNT_CAP + 60).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let first = root
        .get_htmx("/activity?event=account_unsuspended")
        .await
        .text()
        .await
        .unwrap();
    assert!(first.contains(&format!("{COUNT_CAP}+ event(s)")), "{first}");
    // Paging goes on past the cap, to the oldest.
    let mut page = first;
    let mut shown = 0;
    let mut pages = 1;
    while let Some(older) = pager_link(&page, "next") {
        page = root.get_htmx(&older).await.text().await.unwrap();
        shown += event_times(&page).len() as i64;
        pages += 1;
        assert!(pages < 100, "paging never ends: {older}");
    }
    assert_eq!(shown + 50, COUNT_CAP + 60);
}

#[actix_web::test]
async fn a_former_name_finds_the_account_that_had_it_by_its_id() {
    let app = spawn_app().await;
    bob_renamed_robert(&app).await;
    // Another account takes the old name.
    app.create_reseller("bob", None).await;
    app.token("bob", "newcomer").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let under_old = root
        .get_htmx("/activity?account=bob")
        .await
        .text()
        .await
        .unwrap();
    for token in ["early", "late", "newcomer"] {
        assert!(under_old.contains(token), "{token}: {under_old}");
    }
    let under_new = root
        .get_htmx("/activity?account=robert")
        .await
        .text()
        .await
        .unwrap();
    assert!(under_new.contains("early") && under_new.contains("late"));
    assert!(!under_new.contains("newcomer"), "{under_new}");
    let nobody = root
        .get_htmx("/activity?account=nobody")
        .await
        .text()
        .await
        .unwrap();
    assert!(nobody.contains("0 event(s)"), "{nobody}");
}
