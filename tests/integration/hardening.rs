//! Regression tests for the second security review (issue 17), each named
//! after what it prevents, on both backends. The token-on-token rule is in
//! `token_on_token`, two-factor's in `two_factor`, the audit rows a
//! stranger can cause in `audit`.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;
use crate::receivers::{SmtpSink, WebhookReceiver};

/// The fingerprint a Regenerate confirmation carries.
pub fn regenerate_field(confirm: &str) -> String {
    confirm
        .split("name=\"secret\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the confirmation names the secret it replaces")
        .to_owned()
}

#[actix_web::test]
async fn one_regenerate_form_sent_twice_at_once_makes_one_secret() {
    let app = spawn_app().await;
    app.token("root", "deploy").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    for round in 0..5 {
        let confirm = root
            .get("/tokens/deploy/regenerate")
            .await
            .text()
            .await
            .unwrap();
        let field = regenerate_field(&confirm);
        let form = [("secret", field.as_str())];
        let (a, b) = tokio::join!(
            root.post("/tokens/deploy/regenerate", &form),
            root.post("/tokens/deploy/regenerate", &form)
        );
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::SEE_OTHER],
            "round {round}: exactly one made a secret"
        );
        let (made, other) = if a.status() == StatusCode::OK {
            (a, b)
        } else {
            (b, a)
        };
        assert_eq!(location(&other), "/tokens/deploy/generated");
        let html = made.text().await.unwrap();
        let secret = html
            .split("<code id=\"secret\">")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap();
        ok_data(&app.api("root", secret, "version", &[]).await);
    }
    assert_eq!(app.count_events("token_regenerated").await, 5);
}

#[actix_web::test]
async fn the_password_rule_is_the_same_on_the_page_the_api_and_the_environment() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let token = app.token("root", "t").await;
    for bad in [
        "            ",
        "long enough\0password",
        "long enough\u{1b}[31m!",
        "tab\tseparated password",
    ] {
        let page = root
            .post(
                "/accounts",
                &[
                    ("username", "dave"),
                    ("password", bad),
                    ("kind", "reseller"),
                ],
            )
            .await;
        assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        let changed = root
            .post(
                "/account/password",
                &[("current", ROOT_PASSWORD), ("new", bad), ("confirm", bad)],
            )
            .await;
        assert_eq!(
            changed.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad:?}"
        );
        refused(
            &app.api(
                "root",
                &token,
                "createacct",
                &[("username", "dave"), ("password", bad)],
            )
            .await,
        );
    }
    assert_eq!(app.count("accounts").await, 1, "nothing was made");
    // Root's first password, from the environment, follows it too.
    let database = TestDatabase::create();
    let mut config = test_config(database.url());
    config.root_password = Some("            ".into());
    let refused = whm_tokens::startup::prepare(&config).await;
    assert!(
        refused
            .err()
            .is_some_and(|e| format!("{e:#}").contains("only spaces")),
        "twelve spaces refused as root's password"
    );
}

#[actix_web::test]
async fn contact_addresses_the_mailer_cannot_send_to_are_refused_everywhere() {
    let app = spawn_app().await;
    app.create_reseller("dave", None).await;
    let token = app.token("root", "t").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    for bad in [
        "\"a b\"@example.com",
        "\"x>y\"@example.com",
        "ops@[127.0.0.1]",
        "ops@exam\u{2028}ple.com",
    ] {
        refused(
            &app.api(
                "root",
                &token,
                "modifyacct",
                &[("user", "dave"), ("contactemail", bad)],
            )
            .await,
        );
        let page = root.post("/accounts/dave/email", &[("email", bad)]).await;
        assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    }
}

#[actix_web::test]
async fn a_stored_address_that_cannot_be_mailed_is_given_up_once_with_the_reason() {
    let smtp = SmtpSink::start().await;
    let hook = WebhookReceiver::start().await;
    let app = spawn_app_with(|c| {
        c.notices = whm_tokens::config::NoticeSettings::parse(
            1,
            Some(&smtp.url()),
            Some("WHM Tokens <tokens@example.com>"),
            Some(&hook.url()),
            Some("key"),
        )
        .unwrap();
    })
    .await;
    // As stored before addresses were checked with the mailer's parser.
    app.db
        .write_bookkeeping(|conn| {
            use whm_tokens::db::schema::accounts;
            diesel::update(accounts::table.filter(accounts::username.eq("root")))
                .set(accounts::contact_email.eq(Some("\"a b\"@example.com")))
                .execute(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    app.token_with(
        "root",
        "soon",
        whm_tokens::domain::Expiry::At(now() + 3600),
        "",
        None,
    )
    .await
    .unwrap();
    // The webhook's notice goes; the mail is given up, with the reason.
    hook.wait_for(1, Duration::from_secs(20)).await;
    let app = &app;
    wait_until(
        "the notice given up",
        Duration::from_secs(20),
        || async move { app.count_events("expiry_notice_failed").await > 0 },
    )
    .await;
    let output = app.command(&["audit", "--json"]).await;
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("cannot be mailed"), "{text}");
    // Marked done, so no round tries it again, and no mail was attempted.
    let pending: i64 = app
        .db
        .read(|conn| {
            use whm_tokens::db::schema::expiry_notices;
            expiry_notices::table
                .filter(expiry_notices::channel.eq("email"))
                .filter(expiry_notices::sent.eq(false))
                .count()
                .get_result(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    assert_eq!(pending, 0);
    assert_eq!(smtp.attempts(), 0);
}

#[actix_web::test]
async fn invisible_and_direction_changing_characters_are_refused_in_descriptions() {
    let app = spawn_app().await;
    let token = app.token("root", "t").await;
    for bad in [
        "gpj.\u{202e}exe",
        "a\u{2028}b",
        "zero\u{200b}width",
        "\u{feff}x",
    ] {
        let reason = refused(
            &app.api(
                "root",
                &token,
                "api_token_update",
                &[("token_name", "t"), ("description", bad)],
            )
            .await,
        );
        assert!(reason.contains("invisible"), "{reason}");
    }
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let page = root
        .post(
            "/tokens/new",
            &[
                ("name", "desc"),
                ("description", "evil\u{202e}txt"),
                ("expires", "never"),
                ("acl", "list-accts"),
            ],
        )
        .await;
    assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn the_audit_command_escapes_hidden_characters_for_the_terminal() {
    let app = spawn_app().await;
    // As stored before such characters were refused.
    app.db
        .write_bookkeeping(|conn| {
            diesel::sql_query(
                "INSERT INTO audit_events (at, event, detail, count) \
                 VALUES (2000000000, 'token_updated', 'description: gpj.\u{202e}exe\u{2028}x', 1)",
            )
            .execute(conn)
            .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    let output = app.command(&["audit"]).await;
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("gpj.\\u{202e}exe\\u{2028}x"), "{text}");
    assert!(!text.contains('\u{202e}') && !text.contains('\u{2028}'));
}

#[actix_web::test]
async fn over_https_every_cookie_takes_the_host_prefix() {
    let app = spawn_app_with(|c| c.secure_cookies = true).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = client
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap();
    let cookie_names = |r: &reqwest::Response| -> Vec<String> {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split('=').next().unwrap().to_owned())
            .collect()
    };
    let names = cookie_names(&login);
    assert_eq!(names, ["__Host-whm_tokens_login"]);
    let login_cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(login_cookie.contains("Secure") && login_cookie.contains("Path=/"));
    let html = login.text().await.unwrap();
    let csrf = csrf_in(&html);
    let pair = login_cookie.split(';').next().unwrap().to_owned();
    let sign_in_with = |cookie: String| {
        client
            .post(format!("{}/login", app.address))
            .header("Cookie", cookie)
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("username", "root"),
                ("password", ROOT_PASSWORD),
            ])
            .send()
    };
    let signed_in = sign_in_with(pair.clone()).await.unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let mut names = cookie_names(&signed_in);
    names.sort();
    assert_eq!(
        names,
        ["__Host-whm_tokens_device", "__Host-whm_tokens_session"]
    );
    // The plain name (as a sibling subdomain could plant it) is not read.
    let planted = sign_in_with(pair.replace("__Host-", "")).await.unwrap();
    assert_eq!(planted.status(), StatusCode::FORBIDDEN);
    // The passkey ceremony's cookie is removed as it was set: a browser
    // ignores a `__Host-` removal without `Secure`.
    let passkey = client
        .post(format!("{}/login/passkey", app.address))
        .header("Cookie", pair.clone())
        .form(&[("csrf_token", csrf.as_str()), ("credential", "{}")])
        .send()
        .await
        .unwrap();
    let removal = passkey
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-whm_tokens_passkey="))
        .expect("the ceremony's cookie removed");
    assert!(
        removal.contains("Max-Age=0") && removal.contains("Secure") && removal.contains("Path=/"),
        "{removal}"
    );
}

/// Opens a connection that sends a request's head and then its body one
/// byte at a time, slower than any deadline.
async fn slow_sender(address: &str) -> tokio::net::TcpStream {
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /json-api/version?api.version=1 HTTP/1.1\r\nHost: {host}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\na"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    stream
}

#[actix_web::test]
async fn slow_request_bodies_are_cut_off_after_the_request_timeout() {
    let app = spawn_app_with(|c| c.request_timeout = Duration::from_secs(1)).await;
    let started = Instant::now();
    let mut streams = Vec::new();
    for _ in 0..20 {
        streams.push(slow_sender(&app.address).await);
    }
    let mut closed = 0;
    for mut stream in streams {
        // Keep trickling until the server answers and closes.
        let mut answer = Vec::new();
        let outcome = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                let mut buf = [0u8; 1024];
                tokio::select! {
                    read = stream.read(&mut buf) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => answer.extend_from_slice(&buf[..n]),
                    },
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {
                        if stream.write_all(b"a").await.is_err() {
                            return;
                        }
                    }
                }
            }
        })
        .await;
        assert!(outcome.is_ok(), "a slow body kept its connection open");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        closed += 1;
    }
    assert_eq!(closed, 20);
    assert!(started.elapsed() < Duration::from_secs(15));
    // A normal call is not affected.
    let token = app.token("root", "t").await;
    ok_data(&app.api("root", &token, "version", &[]).await);
}

#[actix_web::test]
async fn the_sessions_page_says_the_configured_session_lifetime() {
    let app = spawn_app_with(|c| c.session_max_age = Duration::from_secs(36 * 3600)).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let page = root.get("/account/sessions").await.text().await.unwrap();
    assert!(page.contains("36 hours after signing in"), "{page}");
    assert!(page.contains("8 hours without use"));
    assert!(!page.contains("a day after signing in"));
}

#[actix_web::test]
async fn a_body_that_cannot_be_read_is_answered_with_the_security_headers() {
    let app = spawn_app().await;
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    // A chunked body whose chunk size is not a number.
    stream
        .write_all(
            format!(
                "POST /login HTTP/1.1\r\nHost: {host}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\n\
                 Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\nuser=x\r\n0\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer")
        .ok();
    let text = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(text.starts_with("http/1.1 4"), "{text}");
    assert!(text.contains("content-security-policy:"), "{text}");
    assert!(text.contains("x-request-id:"), "{text}");
}
