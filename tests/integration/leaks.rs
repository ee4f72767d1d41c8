//! Leaked-token reports (`POST /tokens/report-leaked`): the same answer
//! whatever was found; a token found is disabled at once on every
//! instance, marked, shown on the tokens page, in the activity, and its
//! owner is told once by mail and webhook; Regenerate restores it; the
//! limits hold under a burst.

use reqwest::StatusCode;
use serde_json::Value;

use whm_tokens::auth::leak_limits::{REPORTS_PER_ADDRESS, SECRETS_PER_ADDRESS};

use crate::helpers::*;
use crate::notices::{notify, set_email, subjects, LIMIT};
use crate::receivers::{SmtpSink, WebhookReceiver};

/// Reports `secrets` as JSON, from `from` (a trusted proxy says so).
pub async fn report(address: &str, secrets: &[&str], from: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{address}/tokens/report-leaked"))
        .header("X-Forwarded-For", from)
        .json(&serde_json::json!({ "tokens": secrets }))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

fn trusting(c: &mut whm_tokens::config::Config) {
    c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

#[actix_web::test]
async fn found_not_found_and_mixed_reports_get_the_same_answer() {
    let app = spawn_app_with(trusting).await;
    let live = app.token("root", "live").await;
    let unknown = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let answers = [
        report(&app.address, &[unknown], "198.51.100.1").await,
        report(
            &app.address,
            &[&live, unknown, "not-a-secret"],
            "198.51.100.2",
        )
        .await,
        report(
            &app.address,
            &["ZYXWVUTSRQPONMLKJIHGFEDCBA765432", "x"],
            "198.51.100.3",
        )
        .await,
    ];
    let [none, mixed, other] = &answers;
    assert_eq!(none.0, StatusCode::ACCEPTED);
    // Only the count of what was sent differs: it is the caller's own.
    let without_count = |a: &(StatusCode, Value)| {
        let mut body = a.1.clone();
        body.as_object_mut().unwrap().remove("received");
        (a.0, body)
    };
    assert_eq!(without_count(none), without_count(mixed));
    assert_eq!(without_count(none), without_count(other));
    assert_eq!(mixed.1["received"], 3);

    // The live token is refused now, and marked.
    assert_eq!(
        version_at(&app.address, "root", &live).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.count_events("token_reported_leaked").await, 1);
    // Reported again: nothing more happens.
    report(&app.address, &[&live], "198.51.100.4").await;
    assert_eq!(app.count_events("token_reported_leaked").await, 1);
    // A form report works the same.
    let second = app.token("root", "second").await;
    let form = reqwest::Client::new()
        .post(format!("{}/tokens/report-leaked", app.address))
        .form(&[("token", second.as_str()), ("token", unknown)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::ACCEPTED);
    assert_eq!(
        version_at(&app.address, "root", &second).await,
        StatusCode::FORBIDDEN
    );

    // Bad reports change nothing and say why.
    let too_many: Vec<String> = (0..1001).map(|i| format!("{i:032}")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    assert_eq!(
        report(&app.address, &too_many, "198.51.100.5").await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        report(&app.address, &[], "198.51.100.5").await.0,
        StatusCode::BAD_REQUEST
    );
    let plain = reqwest::Client::new()
        .post(format!("{}/tokens/report-leaked", app.address))
        .body(live.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[actix_web::test]
async fn a_leaked_token_is_disabled_everywhere_shown_told_once_and_regenerate_restores_it() {
    let smtp = SmtpSink::start().await;
    let hook = WebhookReceiver::start().await;
    let app = spawn_app_with(|c| {
        notify(c, &smtp, &hook);
        trusting(c);
    })
    .await;
    let other = app.second_instance_with(trusting).await;
    app.create_reseller("alice", None).await;
    set_email(&app, "alice", "alice@example.com").await;
    let secret = app.token("alice", "deploy").await;
    // Held in the other instance's memory before the report.
    for _ in 0..2 {
        assert_eq!(
            version_at(&other.address, "alice", &secret).await,
            StatusCode::OK
        );
    }
    let (status, _) = report(&app.address, &[&secret], "203.0.113.77").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        version_at(&app.address, "alice", &secret).await,
        StatusCode::FORBIDDEN
    );
    assert_refused_soon(&other.address, "alice", &secret).await;

    // Told once, by mail and by a signed webhook event of its own.
    let mail = smtp.wait_for(1, LIMIT).await;
    let posts = hook.wait_for(1, LIMIT).await;
    report(&app.address, &[&secret], "203.0.113.78").await;
    app.notice_rounds(2).await;
    assert_eq!(smtp.mail().len(), 1);
    assert_eq!(hook.accepted().len(), 1);
    assert_eq!(subjects(&mail), ["API token “deploy” was reported leaked"]);
    assert!(mail[0].data.contains("203.0.113.77"), "{}", mail[0].data);
    assert!(!mail[0].data.contains(&secret));
    let body = posts[0].json();
    assert_eq!(body["event"], "token_leaked");
    assert_eq!(
        (body["account"].as_str(), body["token"].as_str()),
        (Some("alice"), Some("deploy"))
    );
    assert_eq!(body["reported_from"], "203.0.113.77");
    assert!(body.get("expires_at").is_none(), "{body}");
    assert!(posts[0].signed_at(crate::notices::SECRET).is_some());

    // On the tokens page and in the activity.
    let page = app.sign_in("alice", USER_PASSWORD).await;
    let html = page.get("/tokens").await.text().await.unwrap();
    assert!(html.contains("Reported leaked"), "no mark on the page");
    assert!(html.contains("from 203.0.113.77"));
    let activity = page.get("/activity").await.text().await.unwrap();
    assert!(activity.contains("Token reported leaked"));

    // Enabling it as it is would put the public secret back to work.
    let (_, enabled) = app
        .api(
            "alice",
            &app.token("alice", "keeper").await,
            "api_token_update",
            &[("token_name", "deploy"), ("enabled", "1")],
        )
        .await;
    assert_eq!(enabled["metadata"]["result"], 0, "{enabled}");
    assert!(enabled["metadata"]["reason"]
        .as_str()
        .unwrap()
        .contains("reported leaked"));

    // Regenerate: a new secret, enabled again, the mark gone.
    let (_, regenerated) = app
        .api(
            "alice",
            &app.token("alice", "keeper2").await,
            "api_token_regenerate",
            &[("token_name", "deploy")],
        )
        .await;
    let fresh = regenerated["data"]["token"]
        .as_str()
        .expect("a new secret")
        .to_owned();
    assert_eq!(
        version_at(&app.address, "alice", &fresh).await,
        StatusCode::OK
    );
    assert_eq!(
        version_at(&app.address, "alice", &secret).await,
        StatusCode::FORBIDDEN
    );
    let html = page.get("/tokens").await.text().await.unwrap();
    assert!(!html.contains("Reported leaked"));
}

#[actix_web::test]
async fn a_burst_of_reports_is_held_to_the_limits_and_costs_one_audit_row_per_address_minute_and_outcome(
) {
    let app = spawn_app_with(trusting).await;
    let live = app.token("root", "live").await;
    let before = app.count("audit_events").await;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    // The limits count per minute: the burst must not straddle two.
    with_room_in_this_minute(std::time::Duration::from_secs(30)).await;
    // Two addresses, each past its limit on reports.
    for i in 0..(REPORTS_PER_ADDRESS as usize + 5) * 2 {
        let from = if i % 2 == 0 {
            "192.0.2.10"
        } else {
            "192.0.2.11"
        };
        let (status, _) = report(&app.address, &["ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"], from).await;
        *statuses.entry(status.as_u16()).or_default() += 1;
    }
    assert_eq!(
        statuses.get(&202),
        Some(&(REPORTS_PER_ADDRESS as usize * 2)),
        "{statuses:?}"
    );
    assert_eq!(statuses.get(&429), Some(&10), "{statuses:?}");
    // Secrets per address: a report that would pass the limit is refused
    // whole, and the token in it is untouched.
    let many: Vec<String> = (0..1000).map(|i| format!("{i:032}")).collect();
    let mut many: Vec<&str> = many.iter().map(String::as_str).collect();
    let from = "192.0.2.12";
    let mut taken = 0;
    while taken + 1000 <= SECRETS_PER_ADDRESS {
        assert_eq!(
            report(&app.address, &many, from).await.0,
            StatusCode::ACCEPTED
        );
        taken += 1000;
    }
    many[0] = &live;
    assert_eq!(
        report(&app.address, &many, from).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        version_at(&app.address, "root", &live).await,
        StatusCode::OK
    );

    // Rows: per address, minute and outcome (here at most two minutes).
    app.count_events_at_least("leak_report_received", 3).await;
    let added = app.count("audit_events").await - before;
    assert!(added <= 2 * 5, "{added} audit rows for {} reports", 30 + 3);
    assert!(added >= 3, "{added}");
}

#[actix_web::test]
async fn regenerating_a_token_that_was_disabled_before_its_leak_report_keeps_it_disabled() {
    let app = spawn_app_with(trusting).await;
    let keeper = app.token("root", "keeper").await;
    let secret = app.token("root", "parked").await;
    app.disable("root", "parked").await;
    let (status, _) = report(&app.address, &[&secret], "203.0.113.79").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let regenerated = ok_data(
        &app.api(
            "root",
            &keeper,
            "api_token_regenerate",
            &[("token_name", "parked")],
        )
        .await,
    );
    let fresh = regenerated["token"].as_str().expect("a new secret");
    // As it was before the report: disabled, and refused.
    assert_eq!(
        version_at(&app.address, "root", fresh).await,
        StatusCode::FORBIDDEN
    );
    let listed = ok_data(&app.api("root", &keeper, "api_token_list", &[]).await);
    let parked = &listed["tokens"]["parked"];
    assert_eq!(parked["enabled"], 0, "{parked}");
}

#[actix_web::test]
async fn a_leaked_token_regenerated_is_not_disabled_for_the_days_it_sat_leaked() {
    let app = spawn_app_with(trusting).await;
    let keeper = app.token("root", "keeper").await;
    let secret = app.token("root", "old").await;
    app.set_created("old", now() - 10 * 86_400).await;
    let (status, _) = report(&app.address, &[&secret], "203.0.113.80").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    ok_data(
        &app.api(
            "root",
            &keeper,
            "api_token_regenerate",
            &[("token_name", "old")],
        )
        .await,
    );
    ok_data(
        &app.api(
            "root",
            &keeper,
            "api_token_policy_set",
            &[("disable_unused_days", "7")],
        )
        .await,
    );
    // Enabled again by the regenerate: disuse counts from then.
    assert_eq!(app.state.enforce_policies_now().await.unwrap(), (0, 0));
    let listed = ok_data(&app.api("root", &keeper, "api_token_list", &[]).await);
    assert_eq!(listed["tokens"]["old"]["enabled"], 1);
}

#[actix_web::test]
async fn a_report_that_finds_nothing_takes_no_write_and_one_the_store_cannot_record_is_a_503() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let app = spawn_app_with(trusting).await;
    let url = app.database.url();
    if whm_tokens::db::Backend::of_url(&url) != whm_tokens::db::Backend::Sqlite {
        eprintln!("SKIPPED: SQLite's write lock (PostgreSQL waits for row locks)");
        return;
    }
    let live = app.token("root", "live").await;
    // Another process holds the write lock past the busy timeout (10 s).
    let mut holder = diesel::SqliteConnection::establish(&url).unwrap();
    holder
        .batch_execute("PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE")
        .unwrap();
    let post = |secret: String| {
        reqwest::Client::new()
            .post(format!("{}/tokens/report-leaked", app.address))
            .header("X-Forwarded-For", "198.51.100.1")
            .json(&serde_json::json!({ "tokens": [secret] }))
            .send()
    };
    // Nothing found: a read only, answered while the lock is held (a
    // write would wait the 10 s of the busy timeout for it).
    let none = tokio::time::timeout(
        std::time::Duration::from_secs(8),
        post("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".into()),
    )
    .await
    .expect("answered without waiting for the write lock")
    .unwrap();
    assert_eq!(none.status(), StatusCode::ACCEPTED);
    // A live token needs the write, which the store does not take.
    let found = post(live.clone()).await.unwrap();
    holder.batch_execute("ROLLBACK").unwrap();
    assert_eq!(found.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(found.headers()["retry-after"], "60");
    assert_eq!(
        version_at(&app.address, "root", &live).await,
        StatusCode::OK,
        "not recorded, so not disabled: the reporter sends it again"
    );
    let again = post(live.clone()).await.unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(
        version_at(&app.address, "root", &live).await,
        StatusCode::FORBIDDEN
    );
}
