//! Work that strangers can cause is bounded: password checks go through a
//! fixed number of workers with a short queue, and what cannot be queued is
//! refused at once (503 with Retry-After) without touching the store.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[actix_web::test]
async fn sign_ins_past_the_password_queue_are_refused_at_once_and_write_nothing() {
    // One check at a time and no queue: of a burst, most cannot be taken.
    let app = spawn_app_with(|c| {
        c.password_concurrency = 1;
        c.password_queue = 0;
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..12 {
        let client = app.browser();
        let page = client.get("/login").await.text().await.unwrap();
        clients.push((client, csrf_in(&page)));
    }
    let answers = futures_util::future::join_all(clients.iter().enumerate().map(
        |(i, (client, csrf))| async move {
            let user = format!("nobody{i}");
            client
                .post_raw(
                    "/login",
                    &[
                        ("csrf_token", csrf.as_str()),
                        ("username", &user),
                        ("password", "guess-guess"),
                    ],
                )
                .await
        },
    ))
    .await;
    let tried = answers
        .iter()
        .filter(|r| r.status() == StatusCode::UNAUTHORIZED)
        .count();
    let busy: Vec<_> = answers
        .iter()
        .filter(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(tried + busy.len(), 12, "every answer is 401 or 503");
    assert!(tried >= 1, "the worker took at least one");
    assert!(!busy.is_empty(), "a full queue refuses");
    for r in &busy {
        assert_eq!(r.headers()["retry-after"], "2");
    }
    // A refused attempt did not count against the throttle: one row for the
    // address, and two (from this address, from anywhere) per account
    // actually tried.
    assert_eq!(app.count("sign_in_failures").await, 1 + 2 * tried as i64);
}

#[actix_web::test]
async fn a_refused_sign_in_page_says_the_server_is_busy() {
    let app = spawn_app_with(|c| {
        c.password_concurrency = 1;
        c.password_queue = 0;
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..8 {
        let client = app.browser();
        let page = client.get("/login").await.text().await.unwrap();
        clients.push((client, csrf_in(&page)));
    }
    let answers = futures_util::future::join_all(clients.iter().map(|(client, csrf)| async move {
        let r = client
            .post_raw(
                "/login",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("username", "root"),
                    ("password", "not-it-at-all"),
                ],
            )
            .await;
        (r.status(), r.text().await.unwrap())
    }))
    .await;
    let busy = answers
        .iter()
        .find(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .expect("one refused");
    assert!(
        busy.1.contains("busy checking other passwords"),
        "{}",
        busy.1
    );
}

#[actix_web::test]
async fn createacct_past_the_password_queue_answers_503_in_the_envelope_and_creates_nothing() {
    let app = spawn_app_with(|c| {
        c.password_concurrency = 1;
        c.password_queue = 0;
    })
    .await;
    let secret = app.token("root", "admin").await;
    let before = app.count("accounts").await;
    let answers = futures_util::future::join_all((0..8).map(|i| {
        let secret = secret.clone();
        let app = &app;
        async move {
            let user = format!("shop{i}");
            app.api(
                "root",
                &secret,
                "createacct",
                &[("username", &user), ("password", "a-long-password")],
            )
            .await
        }
    }))
    .await;
    let created = answers
        .iter()
        .filter(|(s, v)| *s == StatusCode::OK && v["metadata"]["result"] == 1)
        .count();
    let busy: Vec<&(StatusCode, Value)> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(created + busy.len(), 8, "{answers:?}");
    assert!(!busy.is_empty());
    for (_, v) in busy {
        assert_eq!(v["metadata"]["result"], 0);
        assert!(v["metadata"]["reason"].as_str().unwrap().contains("busy"));
    }
    assert_eq!(app.count("accounts").await, before + created as i64);
}

#[actix_web::test]
async fn a_throttled_sign_in_costs_no_write() {
    let app = spawn_app().await;
    let mut guesser = app.browser();
    for _ in 0..5 {
        guesser.try_sign_in("root", "wrong-password").await;
    }
    let throttled = guesser.try_sign_in("root", "wrong-password").await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let snapshot = || async {
        app.db
            .read(|conn| {
                use diesel::prelude::*;
                use whm_tokens::db::schema::sign_in_failures::dsl::*;
                sign_in_failures
                    .select((scope_key, failures))
                    .order(scope_key)
                    .load::<(String, i32)>(conn)
                    .map_err(anyhow::Error::from)
            })
            .await
            .unwrap()
    };
    let before = snapshot().await;
    for _ in 0..5 {
        let again = guesser.try_sign_in("root", "wrong-password").await;
        assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(
        snapshot().await,
        before,
        "throttled attempts change no counter"
    );
}

#[actix_web::test]
async fn a_failed_sign_in_is_answered_only_after_the_delay() {
    let app =
        spawn_app_with(|c| c.failed_sign_in_delay = std::time::Duration::from_millis(400)).await;
    let mut client = app.browser();
    let started = std::time::Instant::now();
    let wrong = client.try_sign_in("root", "not-the-password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(started.elapsed() >= std::time::Duration::from_millis(400));
    let right = client.try_sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
}

/// Asks for `api_token_list` on a connection with a tiny receive buffer,
/// reads the start of the answer (the server is sending it), and then
/// reads no more.
async fn stalled_list_reader(address: &str, user: &str, secret: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(host.parse().unwrap()).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /json-api/api_token_list?api.version=1 HTTP/1.1\r\nHost: {host}\r\n\
                 Authorization: whm {user}:{secret}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut start = [0u8; 12];
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_exact(&mut start),
    )
    .await
    .expect("the answer starts within 20 s, whoever else reads slowly")
    .unwrap();
    assert_eq!(&start, b"HTTP/1.1 200");
    stream
}

#[actix_web::test]
async fn clients_that_stop_reading_long_token_lists_hold_up_no_other_accounts_list() {
    let app = spawn_app().await;
    // More stalled readers than there are turns for long answers, each of
    // an account with far more than the kernel's buffers hold (about 1.5
    // KiB a token: each lists every privilege).
    let turns = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut stalled = Vec::new();
    for i in 0..=turns {
        let name = format!("big{i}");
        app.create_reseller(&name, Some("all")).await;
        let secret = app.token(&name, "full").await;
        app.bulk_tokens(&name, 8_000).await;
        stalled.push(stalled_list_reader(&app.address, &name, &secret).await);
    }
    app.create_reseller("bob", None).await;
    let bobs = app.token("bob", "mine").await;
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        app.api("bob", &bobs, "api_token_list", &[]),
    )
    .await
    .expect("bob's list is answered while the others' readers stall");
    assert_eq!(ok_data(&answer)["tokens"]["mine"]["name"], "mine");
    drop(stalled);
}

#[actix_web::test]
async fn a_client_that_stops_reading_its_long_list_is_cut_off_and_its_accounts_next_list_is_answered(
) {
    let app = spawn_app_with(|c| c.stalled_reader_cut = std::time::Duration::from_secs(1)).await;
    app.create_reseller("big", Some("all")).await;
    let secret = app.token("big", "full").await;
    app.bulk_tokens("big", 8_000).await;
    // An account's long lists go one at a time: the next one waits for
    // the stalled one, which is cut off after a second of taking nothing.
    let mut stalled = stalled_list_reader(&app.address, "big", &secret).await;
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        app.api("big", &secret, "api_token_list", &[]),
    )
    .await
    .expect("the account's next list is answered once the stalled one is cut off");
    assert_eq!(ok_data(&answer)["tokens"].as_object().unwrap().len(), 8_001);
    // The stalled answer ends short: the server closed it mid-way.
    use tokio::io::AsyncReadExt;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stalled.read_to_end(&mut rest),
    )
    .await
    .expect("the cut-off connection ends");
    assert!(
        !rest.ends_with(b"0\r\n\r\n"),
        "a cut-off answer has no last chunk"
    );
}
