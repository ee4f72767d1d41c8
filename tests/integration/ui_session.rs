//! Signing in and out, throttling, CSRF, sessions that end, and the
//! separation of the page from the API.

use reqwest::StatusCode;

use whm_tokens::domain::Password;
use whm_tokens::ops::accounts;

use crate::helpers::*;

#[actix_web::test]
async fn signing_in_leads_to_the_tokens_page_and_pages_need_a_session() {
    let app = spawn_app().await;
    let anonymous = app.browser();
    let response = anonymous.get("/tokens").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
    let htmx = anonymous.get_htmx("/tokens").await;
    assert_eq!(htmx.headers()["hx-redirect"], "/login");

    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let page = root.get("/tokens").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Manage API Tokens"));
    assert!(html.contains("Signed in as <strong>root</strong>"));

    let session = root.cookie_header();
    assert!(session.contains("whm_tokens_session="), "{session}");
    let out = root.post("/logout", &[]).await;
    assert_eq!(location(&out), "/login?signed_out=1");
    assert_ne!(
        root.cookie_header(),
        session,
        "signing out drops the session cookie"
    );
    assert_eq!(root.get("/tokens").await.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    let mut client = app.browser();
    let wrong = client.try_sign_in("root", "not-the-password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_html = wrong.text().await.unwrap();
    let unknown = client.try_sign_in("nobody", "not-the-password").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown_html = unknown.text().await.unwrap();
    let message = "The user name or password is incorrect, or the account is suspended.";
    assert!(wrong_html.contains(message) && unknown_html.contains(message));
    assert!(
        wrong_html.contains("value=\"root\""),
        "the user name is kept"
    );
}

#[actix_web::test]
async fn failed_sign_ins_are_throttled_per_account_even_with_the_right_password() {
    let app = spawn_app().await;
    let mut client = app.browser();
    for _ in 0..5 {
        assert_eq!(
            client.try_sign_in("root", "wrong-password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let blocked = client.try_sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));
}

#[actix_web::test]
async fn a_strangers_failures_do_not_lock_the_owner_out_from_another_address() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let sign_in_from = |addr: &'static str, password: &'static str| {
        let client = app.browser();
        async move {
            let page = client.get("/login").await.text().await.unwrap();
            client
                .http
                .post(format!("{}/login", client.base))
                .header("X-Forwarded-For", addr)
                .form(&[
                    ("csrf_token", csrf_in(&page).as_str()),
                    ("username", "root"),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for _ in 0..6 {
        sign_in_from("203.0.113.66", "guess").await;
    }
    assert_eq!(
        sign_in_from("203.0.113.66", ROOT_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sign_in_from("198.51.100.1", ROOT_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn a_burst_of_parallel_guesses_gets_no_more_tries_than_the_limit() {
    // Room for every guess with the password workers: this is about the
    // throttle, not the workers' queue.
    let app = spawn_app_with(|c| c.password_queue = 16).await;
    let mut clients = Vec::new();
    for _ in 0..12 {
        let client = app.browser();
        let page = client.get("/login").await.text().await.unwrap();
        clients.push((client, csrf_in(&page)));
    }
    let statuses =
        futures_util::future::join_all(clients.iter().map(|(client, csrf)| async move {
            client
                .post_raw(
                    "/login",
                    &[
                        ("csrf_token", csrf),
                        ("username", "root"),
                        ("password", "guess"),
                    ],
                )
                .await
        }))
        .await;
    let tried = statuses
        .iter()
        .filter(|r| r.status() == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((tried, refused), (5, 7));
}

#[actix_web::test]
async fn state_changing_requests_without_the_csrf_token_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    app.token("root", "keep").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let missing = root.post_raw("/tokens/revoke-all", &[]).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let wrong = root
        .post_raw("/tokens/revoke-all", &[("csrf_token", "forged")])
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let forged_header = root
        .http
        .post(format!("{}/tokens/new", app.address))
        .header("X-CSRF-Token", "forged")
        .form(&[("name", "x"), ("acl", "all")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged_header.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("tokens").await, 1);
    // The sign-in form is protected too.
    let fresh = app.browser();
    let response = fresh
        .post_raw(
            "/login",
            &[("username", "root"), ("password", ROOT_PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn signing_in_renews_the_session_and_signing_out_ends_it_for_good() {
    let app = spawn_app().await;
    // Sign in with a hand-managed cookie, so the old one can be replayed.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap();
    // Before signing in there is no session: the form's token rides in a
    // signed cookie of its own.
    assert!(
        cookies_of(&login, "whm_tokens_session=").is_none(),
        "no session for a stranger"
    );
    let anonymous_cookie = cookies_of(&login, "whm_tokens_login=").expect("the form's cookie");
    let csrf = csrf_in(&login.text().await.unwrap());
    let signed_in = http
        .post(format!("{}/login", app.address))
        .header("Cookie", &anonymous_cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "root"),
            ("password", ROOT_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let session = cookie_of(&signed_in);
    assert_ne!(session, anonymous_cookie, "a new session key at sign-in");
    let attributes = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("whm_tokens_session="))
        .unwrap()
        .to_owned();
    assert!(
        attributes.contains("HttpOnly") && attributes.contains("SameSite=Lax"),
        "{attributes}"
    );
    let page = |cookie: String| {
        let http = http.clone();
        let url = format!("{}/tokens", app.address);
        async move { http.get(url).header("Cookie", cookie).send().await.unwrap() }
    };
    assert_eq!(
        page(anonymous_cookie.clone()).await.status(),
        StatusCode::SEE_OTHER,
        "the form's cookie is no session"
    );
    let tokens = page(session.clone()).await;
    assert_eq!(tokens.status(), StatusCode::OK);
    let csrf = csrf_in(&tokens.text().await.unwrap());
    let out = http
        .post(format!("{}/logout", app.address))
        .header("Cookie", &session)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page(session).await.status(),
        StatusCode::SEE_OTHER,
        "a replayed cookie no longer works"
    );
}

fn cookie_of(response: &reqwest::Response) -> String {
    cookies_of(response, "whm_tokens_session=").expect("a session cookie")
}

fn cookies_of(response: &reqwest::Response, prefix: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(prefix))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

#[actix_web::test]
async fn suspension_deletion_and_a_new_password_end_an_accounts_sessions_at_once() {
    let app = spawn_app().await;
    for name in ["bob", "carol", "dave"] {
        app.create_reseller(name, None).await;
    }
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let carol = app.sign_in("carol", USER_PASSWORD).await;
    let dave = app.sign_in("dave", USER_PASSWORD).await;
    let sessions_before = app.count("sessions").await;

    let root = app.actor("root").await;
    app.db
        .write(move |c| accounts::set_suspended(c, &root, &user("bob"), true, None))
        .await
        .unwrap();
    let root = app.actor("root").await;
    app.db
        .write(move |c| accounts::delete(c, &root, &user("carol")))
        .await
        .unwrap();
    let dave_id = app.actor("dave").await.account.id;
    let hash = whm_tokens::auth::password::hash(&Password::parse("a-brand-new-password").unwrap())
        .unwrap();
    app.db
        .write(move |c| accounts::set_password(c, dave_id, &hash))
        .await
        .unwrap();

    for client in [&bob, &carol, &dave] {
        let response = client.get("/tokens").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/login");
    }
    assert_eq!(app.count("sessions").await, sessions_before - 3);
    let mut again = app.browser();
    assert_eq!(
        again.try_sign_in("bob", USER_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "suspended"
    );
}

#[actix_web::test]
async fn a_session_cookie_does_not_open_the_api_and_a_token_does_not_open_the_page() {
    let app = spawn_app().await;
    let secret = app.token("root", "ci").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let api = root.get("/json-api/version?api.version=1").await;
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    let page = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/tokens", app.address))
        .header("Authorization", format!("whm root:{secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_one_time_link_from_create_user_session_signs_in_once() {
    let app = spawn_app().await;
    let secret = app.token("root", "ci").await;
    let data = ok_data(
        &app.api(
            "root",
            &secret,
            "create_user_session",
            &[("user", "root"), ("service", "whostmgrd")],
        )
        .await,
    );
    let url = data["url"].as_str().unwrap().replace(&app.address, "");
    let client = app.browser();
    // Opening it signs no one in: it asks first (a page could load a link
    // in the background and put its visitor to work in the maker's
    // account).
    let opened = client.get(&url).await;
    assert_eq!(opened.status(), StatusCode::OK);
    assert!(opened.text().await.unwrap().contains("Continue as root?"));
    assert_eq!(client.get("/tokens").await.status(), StatusCode::SEE_OTHER);
    let first = client.follow_link(&url).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&first), "/tokens");
    assert_eq!(client.get("/tokens").await.status(), StatusCode::OK);
    let other = app.browser();
    let second = other.follow_link(&url).await;
    assert_eq!(location(&second), "/login?expired=1");
    assert_eq!(other.get("/tokens").await.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn pages_carry_security_headers_and_assets_are_cached_by_version() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let page = root.get("/tokens").await;
    let h = page.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["vary"], "HX-Request");
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    let js = whm_tokens::web::assets::url("htmx-2.0.8.min.js");
    assert!(
        html.contains(&js),
        "assets are linked by a fingerprint of their content"
    );
    let asset = root.get(&js).await;
    assert_eq!(asset.status(), StatusCode::OK);
    assert!(asset.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age=31536000"));
    // Assets skip the request's span, not its headers.
    assert_eq!(asset.headers()["x-content-type-options"], "nosniff");
    assert_eq!(asset.headers()["x-frame-options"], "DENY");
    assert_eq!(asset.headers()["x-request-id"].len(), 16);
    assert_eq!(
        root.get("/static/000000000000/app.js").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn changing_ones_password_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let here = app.sign_in("root", ROOT_PASSWORD).await;
    let elsewhere = app.sign_in("root", ROOT_PASSWORD).await;
    let form = here.get("/account/password").await;
    assert_eq!(form.status(), StatusCode::OK);
    let changed = here
        .change_password(ROOT_PASSWORD, "a-new-root-password")
        .await;
    assert_eq!(location(&changed), "/tokens");
    let page = here.get("/tokens").await;
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "this browser stays signed in"
    );
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Your password was changed"));
    assert_eq!(
        elsewhere.get("/tokens").await.status(),
        StatusCode::SEE_OTHER
    );
    let mut again = app.browser();
    assert_eq!(
        again.try_sign_in("root", ROOT_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        again
            .try_sign_in("root", "a-new-root-password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn a_password_change_with_a_wrong_current_password_or_a_bad_new_one_changes_nothing() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    for (fields, message) in [
        (
            [
                ("current", "wrong-password"),
                ("new", "a-new-password"),
                ("confirm", "a-new-password"),
            ],
            "not your current password",
        ),
        (
            [
                ("current", ROOT_PASSWORD),
                ("new", "short"),
                ("confirm", "short"),
            ],
            "at least 12",
        ),
        (
            [
                ("current", ROOT_PASSWORD),
                ("new", "a-new-password"),
                ("confirm", "another-password"),
            ],
            "differ",
        ),
    ] {
        let response = root.post("/account/password", &fields).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            response.text().await.unwrap().contains(message),
            "{message}"
        );
    }
    assert_eq!(root.get("/tokens").await.status(), StatusCode::OK);
    let mut again = app.browser();
    assert_eq!(
        again.try_sign_in("root", ROOT_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
}

/// The public ids of the sessions listed on /account/sessions, and which
/// one is this browser's.
async fn listed_sessions(client: &UiClient) -> (Vec<String>, Option<String>) {
    let html = client.get("/account/sessions").await.text().await.unwrap();
    let mut ids = Vec::new();
    let mut current = None;
    for row in html.split("<tr data-session=\"").skip(1) {
        let id = row[..row.find('"').unwrap()].to_owned();
        if row[..row.find('>').unwrap()].contains("current") {
            current = Some(id.clone());
        }
        ids.push(id);
    }
    (ids, current)
}

#[actix_web::test]
async fn an_account_sees_its_sessions_and_ends_one_or_all_the_others() {
    let app = spawn_app().await;
    let a = app.sign_in("root", ROOT_PASSWORD).await;
    let b = app.sign_in("root", ROOT_PASSWORD).await;
    let c = app.sign_in("root", ROOT_PASSWORD).await;
    app.create_reseller("bob", None).await;
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let (ids, mine) = listed_sessions(&a).await;
    assert_eq!(ids.len(), 3, "root's three, not bob's");
    let mine = mine.expect("this browser is marked");
    let (_, b_id) = listed_sessions(&b).await;
    let b_id = b_id.unwrap();

    let ended = a.post("/account/sessions/end", &[("session", &b_id)]).await;
    assert_eq!(location(&ended), "/account/sessions");
    assert_eq!(b.get("/tokens").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(a.get("/tokens").await.status(), StatusCode::OK);
    assert_eq!(
        a.post("/account/sessions/end", &[("session", &mine)])
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "this browser signs out with Sign out"
    );
    // Another account's session cannot be named.
    let (_, bobs_id) = listed_sessions(&bob).await;
    assert_eq!(
        a.post("/account/sessions/end", &[("session", &bobs_id.unwrap())])
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(bob.get("/tokens").await.status(), StatusCode::OK);

    a.post("/account/sessions/end-others", &[]).await;
    assert_eq!(c.get("/tokens").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(listed_sessions(&a).await.0, [mine]);
    assert_eq!(bob.get("/tokens").await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_session_ends_a_day_after_sign_in_however_active() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(root.get("/tokens").await.status(), StatusCode::OK);
    let long_ago = now() - 24 * 3600 - 5;
    app.db
        .write_bookkeeping(move |conn| {
            use diesel::prelude::*;
            diesel::sql_query(format!("UPDATE sessions SET created_at = {long_ago}"))
                .execute(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    assert_eq!(root.get("/tokens").await.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn over_https_the_session_cookie_is_secure_and_host_only() {
    let app = spawn_app_with(|c| c.secure_cookies = true).await;
    let mut client = app.browser();
    let response = client.try_sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("whm_tokens_session="))
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("__Host-whm_tokens_session="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
}

/// The path of a one-time link for `user`, made with the token `secret`.
async fn link_for(app: &TestApp, user: &str, secret: &str) -> String {
    crate::security::link_for(&app.address, user, secret, &[])
        .await
        .replace(&app.address, "")
}

#[actix_web::test]
async fn a_one_time_link_needs_a_full_token_asks_for_the_second_factor_and_dies_with_the_password()
{
    let app = spawn_app().await;
    // A token narrower than its owner cannot open a session, which would
    // hold every privilege of the account.
    let narrow = app
        .token_with(
            "root",
            "narrow",
            whm_tokens::domain::Expiry::Never,
            "",
            Some("create-user-session"),
        )
        .await
        .unwrap();
    let reason = refused(
        &app.api(
            "root",
            &narrow,
            "create_user_session",
            &[("user", "root"), ("service", "whostmgrd")],
        )
        .await,
    );
    assert!(reason.contains("full-access token"), "{reason}");

    // A link made before the password changed does not sign in after.
    let full = app.token("root", "full").await;
    let before = link_for(&app, "root", &full).await;
    let root_id = app.actor("root").await.account.id;
    let hash = whm_tokens::auth::password::hash(&Password::parse(ROOT_PASSWORD).unwrap()).unwrap();
    app.db
        .write(move |c| accounts::set_password(c, root_id, &hash))
        .await
        .unwrap();
    let stale = app.browser();
    assert_eq!(
        location(&stale.follow_link(&before).await),
        "/login?expired=1"
    );

    // With two-factor on, the link stands for the password only: the
    // code is asked before any page opens.
    let signed_in = app.sign_in("root", ROOT_PASSWORD).await;
    crate::two_factor::set_up(&signed_in, ROOT_PASSWORD).await;
    let url = link_for(&app, "root", &full).await;
    let client = app.browser();
    let followed = client.follow_link(&url).await;
    assert_eq!(location(&followed), "/login/two-factor");
    assert_eq!(client.get("/tokens").await.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_visitor_who_opened_a_one_time_link_can_still_sign_in_with_the_password() {
    let app = spawn_app().await;
    let secret = app.token("root", "ci").await;
    let url = link_for(&app, "root", &secret).await;
    let mut client = app.browser();
    // The link's page gives the signed-out visitor a session with a
    // token of its own; the sign-in form carries the sign-in cookie's.
    let opened = client.get(&url).await;
    assert!(opened.text().await.unwrap().contains("Continue as root?"));
    let signed_in = client.try_sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    // Signed in, the sign-in form's token (still in its cookie) no longer
    // counts: only the session's.
    let page = client.get("/tokens").await.text().await.unwrap();
    assert_eq!(
        client.post("/logout", &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    client.csrf = "x".repeat(43);
    assert_eq!(
        client.post("/logout", &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    client.csrf = csrf_in(&page);
    assert_eq!(
        client.post("/logout", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn a_made_up_one_time_link_posted_takes_no_write() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let app = spawn_app().await;
    let url = app.database.url();
    if whm_tokens::db::Backend::of_url(&url) != whm_tokens::db::Backend::Sqlite {
        eprintln!("SKIPPED: SQLite's write lock shows a write taken");
        return;
    }
    let mut client = app.browser();
    let page = client.get("/login").await.text().await.unwrap();
    client.csrf = csrf_in(&page);
    // Another process holds the write lock: a post that wrote would wait
    // for it and fail.
    let mut holder = diesel::SqliteConnection::establish(&url).unwrap();
    holder
        .batch_execute("PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE")
        .unwrap();
    let posted = client
        .post(
            "/login/once",
            &[("session", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")],
        )
        .await;
    holder.batch_execute("ROLLBACK").unwrap();
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&posted), "/login?expired=1");
}
