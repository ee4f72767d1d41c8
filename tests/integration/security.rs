//! Regression tests for what a security review found (issue 9), each named
//! after what it prevents, on both backends.

use reqwest::StatusCode;

use crate::helpers::*;

/// Signs in with a browser that sends `X-Forwarded-For: from` (the app
/// trusts 127.0.0.1 as its proxy in these tests).
async fn sign_in_from(
    client: &mut UiClient,
    from: &str,
    user: &str,
    password: &str,
) -> reqwest::Response {
    let page = client.get("/login").await.text().await.unwrap();
    client.csrf = csrf_in(&page);
    client
        .http
        .post(format!("{}/login", client.base))
        .header("X-Forwarded-For", from)
        .form(&[
            ("csrf_token", client.csrf.as_str()),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

/// Signs a browser out with its session's CSRF token.
async fn sign_out(client: &mut UiClient) {
    let page = client.get("/tokens").await.text().await.unwrap();
    client.csrf = csrf_in(&page);
    let out = client.post("/logout", &[]).await;
    assert_eq!(location(&out), "/login?signed_out=1");
}

async fn behind_proxy() -> TestApp {
    spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await
}

#[actix_web::test]
async fn a_user_name_cannot_forge_a_log_line() {
    let mut served = Served::start(&[]).await;
    let forged = "mallory\n2026-11-29T09:00:00Z  INFO signed in user=root\u{1b}[2J";
    let mut client = TestApp::at(&served.address).browser_client();
    let response = client.try_sign_in(forged, "whatever-it-is").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let lines = served.lines_until("sign-in failed").await;
    assert!(
        lines
            .iter()
            .all(|l| !l.starts_with("2026-11-29T09:00:00Z") && !l.contains('\u{1b}')),
        "{lines:#?}"
    );
    assert!(lines.last().unwrap().contains("mallory\\n2026"));
}

#[actix_web::test]
async fn strangers_cannot_grow_the_throttle_or_session_tables() {
    let app = spawn_app().await;
    for i in 0..30 {
        let name = format!("{i}{}", "x".repeat(200_000));
        let status = app
            .browser()
            .try_sign_in(&name, "wrong-password")
            .await
            .status();
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&status),
            "{status}"
        );
    }
    assert_eq!(
        app.count("sign_in_failures").await,
        1,
        "a name no account can have counts against the address only"
    );
    for _ in 0..200 {
        let page = app.browser().get("/login").await;
        assert_eq!(page.status(), StatusCode::OK);
    }
    assert_eq!(
        app.count("sessions").await,
        0,
        "a stranger's view stores nothing"
    );
}

#[actix_web::test]
async fn expired_throttle_windows_are_deleted_as_attempts_come_in() {
    let app = spawn_app().await;
    app.db
        .write_bookkeeping(|conn| {
            use diesel::prelude::*;
            diesel::sql_query(
                "INSERT INTO sign_in_failures (scope_key, failures, window_start) \
                 VALUES ('addr:198.51.100.1', 3, 0)",
            )
            .execute(conn)
            .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    app.browser().try_sign_in("nobody", "wrong-password").await;
    assert_eq!(
        app.count("sign_in_failures").await,
        3,
        "this attempt's three counters; the expired row is gone"
    );
}

#[actix_web::test]
async fn nul_and_over_long_input_are_bad_input_not_server_errors() {
    let app = spawn_app().await;
    for name in ["ro\0ot", &"r".repeat(3000)] {
        let response = app.browser().try_sign_in(name, "wrong-password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name:.20}");
    }
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(root.get("/tokens?q=%00").await.status(), StatusCode::OK);
    assert_eq!(root.get("/tokens?q=a%00b").await.status(), StatusCode::OK);
    assert_eq!(
        root.get("/accounts/a%00b").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        root.get("/tokens/a%00b/edit").await.status(),
        StatusCode::NOT_FOUND
    );
    // The Activity filters: no account or token has such a name.
    for path in [
        "/activity?account=%00",
        "/activity?token=a%00b",
        "/activity?account=root&token=%00",
    ] {
        let response = root.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("No events match."), "{path}");
    }
    let secret = app.token("root", "ops").await;
    for (function, params) in [
        ("suspendacct", vec![("user", "\0")]),
        ("removeacct", vec![("user", &*"u".repeat(3000))]),
        (
            "createacct",
            vec![("username", "a\0b"), ("password", "a-long-password")],
        ),
        ("api_token_revoke", vec![("token_name", "a\0b")]),
        ("api_token_get_details", vec![("token", "\0")]),
    ] {
        let (status, body) = app.api("root", &secret, function, &params).await;
        assert_eq!(status, StatusCode::OK, "{function}");
        assert!(
            !body["metadata"]["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("internal error"),
            "{function}: {body}"
        );
    }
}

#[actix_web::test]
async fn guesses_from_one_ipv6_64_count_together() {
    let app = behind_proxy().await;
    app.create_reseller("bob", None).await;
    let mut statuses = Vec::new();
    for n in 1..=8 {
        let mut client = app.browser();
        let from = format!("2001:db8:1:2::{n:x}");
        statuses.push(
            sign_in_from(&mut client, &from, "bob", "wrong-password")
                .await
                .status(),
        );
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "eight addresses of one /64 are one guesser: {statuses:?}"
    );
}

#[actix_web::test]
async fn guessing_from_many_networks_is_held_back_but_a_known_browser_still_signs_in() {
    let app = behind_proxy().await;
    app.create_reseller("bob", None).await;
    // Bob's own browser has signed in before.
    let mut bobs = app.browser();
    let first = sign_in_from(&mut bobs, "198.51.100.7", "bob", USER_PASSWORD).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    sign_out(&mut bobs).await;

    let mut last = StatusCode::OK;
    for n in 0..25 {
        let mut client = app.browser();
        let from = format!("2001:db8:{n:x}::1");
        last = sign_in_from(&mut client, &from, "bob", "wrong-password")
            .await
            .status();
    }
    assert_eq!(
        last,
        StatusCode::TOO_MANY_REQUESTS,
        "the account's own limit"
    );
    let mut stranger = app.browser();
    assert_eq!(
        sign_in_from(&mut stranger, "203.0.113.50", "bob", USER_PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a new browser waits, even with the right password"
    );
    assert_eq!(
        sign_in_from(&mut bobs, "198.51.100.7", "bob", USER_PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER,
        "bob's known browser is not locked out"
    );
}

#[actix_web::test]
async fn one_address_failing_does_not_lock_out_a_browser_that_signed_in_before() {
    let app = behind_proxy().await;
    app.create_reseller("bob", None).await;
    let mut bobs = app.browser();
    sign_in_from(&mut bobs, "192.0.2.10", "bob", USER_PASSWORD).await;
    sign_out(&mut bobs).await;
    // Someone behind the same address guesses at many names.
    for n in 0..25 {
        let mut client = app.browser();
        sign_in_from(
            &mut client,
            "192.0.2.10",
            &format!("guess{n}"),
            "wrong-password",
        )
        .await;
    }
    let mut roots_new_browser = app.browser();
    assert_eq!(
        sign_in_from(&mut roots_new_browser, "192.0.2.10", "root", ROOT_PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sign_in_from(&mut bobs, "192.0.2.10", "bob", USER_PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn wrong_current_passwords_are_throttled_when_changing_the_password() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let change = |current: &'static str| {
        let root = &root;
        async move {
            root.post(
                "/account/password",
                &[
                    ("current", current),
                    ("new", "a-brand-new-password"),
                    ("confirm", "a-brand-new-password"),
                ],
            )
            .await
            .status()
        }
    };
    for _ in 0..5 {
        assert_eq!(
            change("wrong-guess").await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    assert_eq!(change("wrong-guess").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        change(ROOT_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the right one waits too"
    );
    assert_eq!(
        app.browser()
            .try_sign_in("root", ROOT_PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER,
        "the password did not change"
    );
}

#[actix_web::test]
async fn a_one_time_link_for_another_account_asks_before_switching() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let secret = app.token("root", "links").await;
    let link = link_for(&app.address, "root", &secret, &[]).await;
    let path = &link[link.find("/cpsess").unwrap()..];
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let asked = bob.get(path).await;
    assert_eq!(asked.status(), StatusCode::OK);
    let page = asked.text().await.unwrap();
    assert!(page.contains("Continue as root?"), "{page}");
    let tokens = bob.get("/tokens").await.text().await.unwrap();
    assert!(
        tokens.contains("Signed in as <strong>bob</strong>"),
        "still bob until he says so"
    );
    let session = page.split("name=\"session\" value=\"").nth(1).unwrap();
    let session = &session[..session.find('"').unwrap()];
    let action = path.split('?').next().unwrap();
    let switched = bob.post(action, &[("session", session)]).await;
    assert_eq!(location(&switched), "/tokens");
    let tokens = bob.get("/tokens").await.text().await.unwrap();
    assert!(tokens.contains("Signed in as <strong>root</strong>"));
}

/// The sign-in link `create_user_session` hands `user`, asked with
/// `headers`.
pub(crate) async fn link_for(
    address: &str,
    user: &str,
    secret: &str,
    headers: &[(&str, &str)],
) -> String {
    let mut request = reqwest::Client::new()
        .get(format!("{address}/json-api/create_user_session"))
        .query(&[
            ("api.version", "1"),
            ("user", user),
            ("service", "whostmgrd"),
        ])
        .header("Authorization", format!("whm {user}:{secret}"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
    body["data"]["url"].as_str().expect("a link").to_owned()
}

#[actix_web::test]
async fn api_links_never_take_their_host_from_the_caller() {
    let app = spawn_app().await;
    let secret = app.token("root", "links").await;
    for headers in [
        &[("Host", "evil.example")][..],
        &[
            ("X-Forwarded-Host", "evil.example"),
            ("X-Forwarded-Proto", "https"),
        ],
        &[("X-Forwarded-Host", "javascript://x")],
    ] {
        let url = link_for(&app.address, "root", &secret, headers).await;
        assert!(url.starts_with("http://127.0.0.1:"), "{headers:?} → {url}");
    }
    let proxied = behind_proxy().await;
    let secret = proxied.token("root", "links").await;
    let url = link_for(
        &proxied.address,
        "root",
        &secret,
        &[
            ("X-Forwarded-Host", "whm.example.com"),
            ("X-Forwarded-Proto", "https"),
        ],
    )
    .await;
    assert!(url.starts_with("https://whm.example.com/cpsess"), "{url}");
}

#[actix_web::test]
async fn a_reseller_cannot_lift_roots_suspension_of_its_account() {
    let app = spawn_app().await;
    app.create_reseller(
        "ra",
        Some(&format!(
            "{} suspend-acct create-acct list-accts",
            initial()
        )),
    )
    .await;
    let ra = app.token("ra", "ops").await;
    ok_data(
        &app.api(
            "ra",
            &ra,
            "createacct",
            &[("username", "ua"), ("password", "a-long-password")],
        )
        .await,
    );
    let root = app.token("root", "ops").await;
    ok_data(
        &app.api("root", &root, "suspendacct", &[("user", "ua")])
            .await,
    );
    let reason = refused(&app.api("ra", &ra, "unsuspendacct", &[("user", "ua")]).await);
    assert!(reason.contains("only root can unsuspend"), "{reason}");
    // Suspending it again does not turn root's lock into its own.
    ok_data(&app.api("ra", &ra, "suspendacct", &[("user", "ua")]).await);
    let reason = refused(&app.api("ra", &ra, "unsuspendacct", &[("user", "ua")]).await);
    assert!(reason.contains("only root can unsuspend"), "{reason}");
    // Root may say the owner may lift it.
    ok_data(
        &app.api("root", &root, "unsuspendacct", &[("user", "ua")])
            .await,
    );
    ok_data(
        &app.api(
            "root",
            &root,
            "suspendacct",
            &[("user", "ua"), ("disallowun", "0")],
        )
        .await,
    );
    ok_data(&app.api("ra", &ra, "unsuspendacct", &[("user", "ua")]).await);
    // A reseller's own suspension it may lift.
    ok_data(&app.api("ra", &ra, "suspendacct", &[("user", "ua")]).await);
    ok_data(&app.api("ra", &ra, "unsuspendacct", &[("user", "ua")]).await);
}

#[actix_web::test]
async fn the_authorization_header_is_one_line_of_ascii() {
    let app = spawn_app().await;
    let secret = app.token("root", "ops").await;
    let call = |values: Vec<Vec<u8>>| {
        let address = app.address.clone();
        async move {
            let mut request =
                reqwest::Client::new().get(format!("{address}/json-api/version?api.version=1"));
            for v in values {
                request = request.header(
                    "Authorization",
                    reqwest::header::HeaderValue::from_bytes(&v).unwrap(),
                );
            }
            request.send().await.unwrap().status()
        }
    };
    let good = format!("whm root:{secret}");
    assert_eq!(call(vec![good.clone().into_bytes()]).await, StatusCode::OK);
    let trailing = format!("{good}\u{85}").into_bytes();
    let leading = format!("\u{3000}{good}").into_bytes();
    for bad in [
        vec![trailing],
        vec![leading],
        vec![good.clone().into_bytes(), b"whm root:X".to_vec()],
        vec![good.clone().into_bytes(), good.clone().into_bytes()],
    ] {
        assert_eq!(call(bad).await, StatusCode::FORBIDDEN);
    }
}

#[actix_web::test]
async fn any_in_an_ip_list_must_stand_alone() {
    let app = spawn_app().await;
    let secret = app.token("root", "ops").await;
    let reason = refused(
        &app.api(
            "root",
            &secret,
            "api_token_create",
            &[
                ("token_name", "mixed"),
                ("whitelist_ip-0", "203.0.113.7"),
                ("whitelist_ip-1", "any"),
            ],
        )
        .await,
    );
    assert!(reason.contains("“any” must be the only entry"), "{reason}");
    let data = ok_data(
        &app.api(
            "root",
            &secret,
            "api_token_create",
            &[("token_name", "open"), ("whitelist_ip", "any")],
        )
        .await,
    );
    assert!(data["whitelist_ips"].is_null());
}

#[cfg(unix)]
#[actix_web::test]
async fn the_data_folder_and_sqlite_database_are_private_when_created() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("whm-private-{:016x}", rand::random::<u64>()));
    let data = dir.join("data");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_whm-tokens"))
        .arg("migrate")
        .env_remove("DATABASE_URL")
        .env("WHM_TOKENS_DATA_DIR", &data)
        .env("WHM_TOKENS_ROOT_PASSWORD", ROOT_PASSWORD)
        .env_remove("WHM_TOKENS_SESSION_KEY")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("whm-tokens.sqlite3")), 0o600);
    assert_eq!(mode(&data.join("session.key")), 0o600);
    std::fs::remove_dir_all(&dir).unwrap();
}
