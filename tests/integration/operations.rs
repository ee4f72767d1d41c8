//! Running it as a service: liveness and readiness probes, and a clean stop
//! on SIGTERM that loses no acknowledged request and no use count.

use std::time::Duration;

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn probe(address: &str, path: &str) -> (StatusCode, String) {
    let answer = reqwest::get(format!("{address}{path}")).await.unwrap();
    let status = answer.status();
    (status, answer.text().await.unwrap())
}

#[actix_web::test]
async fn liveness_answers_whatever_the_store_and_readiness_says_why_it_is_not_ready() {
    let app = spawn_app().await;
    assert_eq!(
        probe(&app.address, "/healthz").await,
        (StatusCode::OK, "ok".into())
    );
    assert_eq!(
        probe(&app.address, "/readyz").await,
        (StatusCode::OK, "ready".into())
    );
    // As if the store were restored from before the newest migration.
    app.db
        .write_bookkeeping(|conn| {
            diesel::sql_query(
                "DELETE FROM __diesel_schema_migrations WHERE version = \
                 (SELECT MAX(version) FROM __diesel_schema_migrations)",
            )
            .execute(conn)
            .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    let (status, why) = probe(&app.address, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(why.contains("migrations pending"), "{why}");
    assert_eq!(probe(&app.address, "/healthz").await.0, StatusCode::OK);
}

/// The token `name`'s entry in `api_token_list`, read by the command line
/// (another process) from the store.
async fn listed(url: &str, name: &str) -> Value {
    let output = run_command(url, &["api", "api_token_list"]).await;
    assert!(output.status.success(), "{output:?}");
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    answer["data"]["tokens"][name].clone()
}

#[actix_web::test]
async fn sigterm_under_load_finishes_what_was_acknowledged_writes_every_use_and_exits_0() {
    let mut served = Served::start(&[("WHM_TOKENS_SHUTDOWN_TIMEOUT", "10")]).await;
    let url = served.database_url();
    let made = run_command(&url, &["api", "api_token_create", "token_name=load"]).await;
    assert!(made.status.success(), "{made:?}");
    let made: Value = serde_json::from_slice(&made.stdout).unwrap();
    let secret = made["data"]["token"].as_str().unwrap().to_owned();

    // Eight clients call as fast as they can until the server goes away.
    let client = reqwest::Client::new();
    let calls = (0..8).map(|_| {
        let (client, address, secret) = (client.clone(), served.address.clone(), secret.clone());
        actix_web::rt::spawn(async move {
            let (mut ok, mut failed) = (0u64, Vec::new());
            for _ in 0..20_000 {
                let sent = client
                    .get(format!("{address}/json-api/version?api.version=1"))
                    .header("Authorization", format!("whm root:{secret}"))
                    .send()
                    .await;
                match sent {
                    Ok(answer) if answer.status() == StatusCode::OK => ok += 1,
                    // An answer that is not a success: acknowledged, and failed.
                    Ok(answer) => failed.push(answer.status()),
                    // No connection (the server stopped accepting), or one
                    // closed before any answer: never acknowledged.
                    Err(_) => break,
                }
            }
            (ok, failed)
        })
    });
    let calls: Vec<_> = calls.collect();
    // Under load, then the signal.
    // (These looks use the token too: each is counted below.)
    let looks = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let probe_client = client.clone();
    let (address, secret_for_wait) = (served.address.clone(), secret.clone());
    wait_until("uses on record", Duration::from_secs(20), || {
        let (client, address, secret, looks) = (
            probe_client.clone(),
            address.clone(),
            secret_for_wait.clone(),
            looks.clone(),
        );
        async move {
            let answer = client
                .get(format!("{address}/json-api/api_token_list?api.version=1"))
                .header("Authorization", format!("whm root:{secret}"))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::OK);
            looks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Counted uses are written every 2 s: some are on record.
            let listed: Value = answer.json().await.unwrap();
            listed["data"]["tokens"]["load"]["use_count"]
                .as_i64()
                .unwrap_or(0)
                > 200
        }
    })
    .await;
    served.terminate_cleanly(Duration::from_secs(30)).await;

    let (mut acknowledged, mut failed) = (0, Vec::new());
    for call in calls {
        let (ok, bad) = call.await.unwrap();
        acknowledged += ok;
        failed.extend(bad);
    }
    assert!(failed.is_empty(), "acknowledged calls failed: {failed:?}");
    assert!(acknowledged > 0);
    // Every acknowledged call is on record, the last ones written at the
    // stop, and none twice.
    let looked = looks.load(std::sync::atomic::Ordering::SeqCst);
    let entry = listed(&url, "load").await;
    assert_eq!(
        entry["use_count"].as_u64().unwrap(),
        acknowledged + looked,
        "uses on record for {acknowledged} acknowledged calls and {looked} looks"
    );
}

#[actix_web::test]
async fn metrics_count_requests_calls_refusals_and_sign_ins_on_their_own_listener_only() {
    let app = spawn_app_with(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let metrics = app.metrics_address.clone().expect("a metrics listener");
    // Never on the public port.
    assert_eq!(
        probe(&app.address, "/metrics").await.0,
        StatusCode::NOT_FOUND
    );

    let secret = app.token("root", "deploy-prod").await;
    let narrow = app
        .token_with(
            "root",
            "narrow",
            whm_tokens::domain::Expiry::Never,
            "",
            Some("list-accts"),
        )
        .await
        .unwrap();
    ok_data(&app.api("root", &secret, "version", &[]).await);
    ok_data(&app.api("root", &secret, "version", &[]).await);
    assert_denied(&app.api("root", &"Q".repeat(32), "version", &[]).await);
    refused(&app.api("root", &narrow, "api_token_list", &[]).await);
    let mut browser = app.browser();
    browser.try_sign_in("root", "not-the-password").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(root.get("/tokens").await.status(), StatusCode::OK);

    app.flush().await;
    let (status, scrape) = probe(&metrics, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for (series, at_least) in [
        ("whm_tokens_build_info{version=\"0.1.0\"}", 1.0),
        (
            "whm_tokens_http_requests_total{route=\"/tokens\",method=\"GET\",status=\"2xx\"}",
            1.0,
        ),
        (
            "whm_tokens_api_calls_total{function=\"version\",result=\"ok\"}",
            2.0,
        ),
        (
            "whm_tokens_api_calls_total{function=\"api_token_list\",result=\"refused\"}",
            1.0,
        ),
        (
            "whm_tokens_api_refusals_total{reason=\"unknown_token\"}",
            1.0,
        ),
        ("whm_tokens_api_refusals_total{reason=\"privilege\"}", 1.0),
        ("whm_tokens_sign_ins_total{outcome=\"wrong_password\"}", 1.0),
        ("whm_tokens_sign_ins_total{outcome=\"ok\"}", 1.0),
        ("whm_tokens_token_cache_hits_total", 1.0),
        ("whm_tokens_token_cache_misses_total", 1.0),
        ("whm_tokens_change_feed_live", 1.0),
        ("whm_tokens_db_connections{state=\"idle\"}", 0.0),
        ("whm_tokens_db_connections{state=\"in_use\"}", 0.0),
        ("whm_tokens_db_checkout_seconds_count", 1.0),
        ("whm_tokens_db_checkout_timeouts_total", 0.0),
        ("whm_tokens_db_unavailable", 0.0),
        ("whm_tokens_flush_duration_seconds_count", 1.0),
        ("whm_tokens_flush_pending{kind=\"uses\"}", 0.0),
        ("process_resident_memory_bytes", 1.0),
        ("process_open_fds", 1.0),
    ] {
        let got =
            metric_value(&scrape, series).unwrap_or_else(|| panic!("{series} missing:\n{scrape}"));
        assert!(got >= at_least, "{series} = {got}");
    }
    assert_eq!(
        metric_value(&scrape, "whm_tokens_db_unavailable"),
        Some(0.0)
    );
    assert_eq!(
        metric_value(&scrape, "whm_tokens_db_checkout_timeouts_total"),
        Some(0.0)
    );
    // Labels come from fixed sets: no token, user name, secret or path.
    for leak in [
        "deploy-prod",
        "narrow",
        "not-the-password",
        &secret,
        "/json-api/version",
    ] {
        assert!(!scrape.contains(leak), "{leak} in the metrics");
    }
    // API calls are counted under their route's pattern, never their path.
    let api_route = "whm_tokens_http_requests_total{route=\"/json-api/{function}\",method=\"GET\",status=\"2xx\"}";
    assert_eq!(metric_value(&scrape, api_route), Some(3.0), "{scrape}");
    // The latency histogram, in seconds, by the same labels.
    assert!(scrape.lines().any(|l| {
        l.starts_with("whm_tokens_http_request_duration_seconds_bucket{")
            && l.contains("route=\"/tokens\"")
            && l.contains("le=\"+Inf\"")
    }));
}

/// The claim on the expiry notice of the only token in `url`'s store: its
/// `claimed_until` and whether it was sent, once there is one.
async fn notice_claim(url: &str) -> Option<(i64, bool)> {
    use whm_tokens::db::schema::expiry_notices;
    let db = whm_tokens::db::Db::connect(url, 1).unwrap();
    db.read(|conn| {
        expiry_notices::table
            .select((expiry_notices::claimed_until, expiry_notices::sent))
            .first::<(i64, bool)>(conn)
            .optional()
            .map_err(anyhow::Error::from)
    })
    .await
    .unwrap()
}

#[actix_web::test]
async fn sigterm_gives_back_the_claim_of_a_notice_whose_send_was_cut_off() {
    // A webhook receiver that takes the connection and never answers.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!(
        "http://127.0.0.1:{}/hook",
        hang.local_addr().unwrap().port()
    );
    let (accepted, mut seen) = tokio::sync::mpsc::unbounded_channel();
    actix_web::rt::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hang.accept().await {
            held.push(stream);
            let _ = accepted.send(());
        }
    });
    let mut served = Served::start(&[
        ("WHM_TOKENS_NOTIFY_WEBHOOK", hook.as_str()),
        ("WHM_TOKENS_NOTIFY_SECRET", "webhook-signing-key"),
        ("WHM_TOKENS_NOTIFY_INTERVAL", "1"),
        ("WHM_TOKENS_SHUTDOWN_TIMEOUT", "1"),
    ])
    .await;
    let url = served.database_url();
    let expires_at = format!("expires_at={}", now() + 3600);
    let made = run_command(
        &url,
        &["api", "api_token_create", "token_name=soon", &expires_at],
    )
    .await;
    assert!(made.status.success(), "{made:?}");

    // The checker claimed the notice and is sending it.
    tokio::time::timeout(Duration::from_secs(20), seen.recv())
        .await
        .expect("the webhook was called within 20 s");
    let (claimed_until, sent) = notice_claim(&url).await.expect("a claim");
    assert!(claimed_until > now() && !sent, "{claimed_until} {sent}");

    served.terminate_cleanly(Duration::from_secs(20)).await;
    // Given back: the next round of any instance sends it at once.
    assert_eq!(notice_claim(&url).await, Some((0, false)));
    let lines = served.lines_until("given back").await;
    assert!(
        lines.iter().any(|l| l.contains("claims given back")),
        "{lines:?}"
    );
}
