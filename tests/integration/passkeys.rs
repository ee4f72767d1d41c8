//! Passkeys over HTTP: where they are offered, what adding one asks for,
//! what a bad or missing answer does (nothing stored, nobody signed in),
//! and how they tie in with the other factors and the reset command. The
//! ceremonies themselves, with a real (virtual) authenticator, are in
//! `browser_passkeys`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// A client that reaches the app as `http://localhost:PORT`: the host at
/// which an app without a public URL offers passkeys.
pub(crate) fn at_localhost(app: &TestApp) -> UiClient {
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    UiClient::with(
        &format!("http://localhost:{port}"),
        reqwest::Client::builder().resolve("localhost", ([127, 0, 0, 1], port).into()),
    )
}

async fn signed_in_at_localhost(app: &TestApp, user: &str, password: &str) -> UiClient {
    let mut client = at_localhost(app);
    let answer = client.try_sign_in(user, password).await;
    assert_eq!(location(&answer), "/tokens");
    let page = client.get("/tokens").await.text().await.unwrap();
    client.csrf = csrf_in(&page);
    client
}

/// Stores a passkey row for `owner` as the app would (its record is not a
/// real credential: enough for what the tests here look at).
pub(crate) async fn stored_passkey(app: &TestApp, owner: &str, name: &str) {
    let owner = user(owner);
    let name = name.to_owned();
    app.db
        .write(move |conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::{accounts, passkeys};
            let account_id: i64 = accounts::table
                .filter(accounts::username.eq(owner))
                .select(accounts::id)
                .first(conn)?;
            diesel::insert_into(passkeys::table)
                .values((
                    passkeys::account_id.eq(account_id),
                    passkeys::credential_id.eq(format!("credential-of-{name}")),
                    passkeys::user_handle.eq("8c1c0c3e-6f55-4c54-9d0e-000000000001"),
                    passkeys::name.eq(name),
                    passkeys::passkey.eq("{}"),
                    passkeys::created_at.eq(now()),
                ))
                .execute(conn)?;
            Ok::<_, anyhow::Error>(())
        })
        .await
        .unwrap();
}

async fn passkey_id(app: &TestApp, name: &'static str) -> i64 {
    app.db
        .read(move |conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::passkeys;
            passkeys::table
                .filter(passkeys::name.eq(name))
                .select(passkeys::id)
                .first(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap()
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[actix_web::test]
async fn passkeys_are_offered_only_at_a_host_name_never_at_a_bare_address() {
    let app = spawn_app().await;
    let by_address = app.sign_in("root", ROOT_PASSWORD).await;
    let page = by_address
        .get("/account/two-factor")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"passkeys-not-offered\""), "{page}");
    assert!(!page.contains("id=\"passkey-add\""));
    let (status, said) = json_of(
        by_address
            .post(
                "/account/two-factor/passkeys/options",
                &[("name", "Laptop"), ("password", ROOT_PASSWORD)],
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(said["message"].as_str().unwrap().contains("localhost"));
    let login = app.browser().get("/login").await.text().await.unwrap();
    assert!(!login.contains("id=\"sign-in-with-passkey\""));

    let by_name = signed_in_at_localhost(&app, "root", ROOT_PASSWORD).await;
    let page = by_name
        .get("/account/two-factor")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"passkey-add\""), "{page}");
    assert!(page.contains("id=\"no-passkeys\""));
    let login = at_localhost(&app).get("/login").await.text().await.unwrap();
    assert!(login.contains("id=\"sign-in-with-passkey\""));
}

#[actix_web::test]
async fn adding_a_passkey_needs_a_name_and_the_password_and_a_bad_answer_stores_nothing() {
    let app = spawn_app().await;
    let root = signed_in_at_localhost(&app, "root", ROOT_PASSWORD).await;
    let options = "/account/two-factor/passkeys/options";

    let (status, said) = json_of(
        root.post(options, &[("name", " "), ("password", ROOT_PASSWORD)])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(said["field"], "passkey_name");
    let (status, said) = json_of(
        root.post(options, &[("name", "Laptop"), ("password", "wrong")])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(said["field"], "passkey_password");
    // Without the CSRF token, nothing starts.
    let forged = root
        .post_raw(options, &[("name", "Laptop"), ("password", ROOT_PASSWORD)])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let answer = root
        .post(options, &[("name", "Laptop"), ("password", ROOT_PASSWORD)])
        .await;
    assert_eq!(
        answer.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    let (status, said) = json_of(answer).await;
    assert_eq!(status, StatusCode::OK);
    let key = &said["publicKey"];
    assert_eq!(key["rp"]["id"], "localhost");
    assert_eq!(key["user"]["name"], "root");
    assert_eq!(key["authenticatorSelection"]["residentKey"], "preferred");
    assert_eq!(
        key["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert!(key["challenge"].as_str().unwrap().len() >= 43);

    let bad = root
        .post(
            "/account/two-factor/passkeys",
            &[("credential", "{\"not\":\"a credential\"}")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad.text().await.unwrap();
    assert!(
        page.contains("data-passkey-error-for=\"passkey\">"),
        "{page}"
    );
    assert_eq!(app.count("passkeys").await, 0);
    // The ceremony was used up by the bad answer: a second try starts over.
    let again = root
        .post("/account/two-factor/passkeys", &[("credential", "{}")])
        .await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again
        .text()
        .await
        .unwrap()
        .contains("Add the passkey again"));
    assert_eq!(app.count("passkeys").await, 0);
    assert_eq!(app.count_events("passkey_added").await, 0);
}

#[actix_web::test]
async fn signing_in_with_a_passkey_alone_needs_its_ceremony_and_a_known_passkey() {
    let app = spawn_app().await;
    let mut browser = at_localhost(&app);
    let login = browser.get("/login").await.text().await.unwrap();
    browser.csrf = csrf_in(&login);

    // An answer with no ceremony started: refused, nobody signed in.
    let cold = browser
        .post("/login/passkey", &[("credential", "{}")])
        .await;
    assert_eq!(cold.status(), StatusCode::UNAUTHORIZED);
    assert!(cold.text().await.unwrap().contains("took too long"));
    assert_eq!(location(&browser.get("/tokens").await), "/login");

    let answer = browser.post("/login/passkey/options", &[]).await;
    let cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Max-Age=300"), "{cookie}");
    let (status, said) = json_of(answer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(said["publicKey"]["rpId"], "localhost");
    assert!(
        said["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "a passwordless sign-in names no account's credentials: {said}"
    );
    let refused = browser
        .post("/login/passkey", &[("credential", "{\"id\":\"nothing\"}")])
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let removal = refused.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("That passkey was not accepted"));
    assert_eq!(location(&browser.get("/tokens").await), "/login");
    assert_eq!(app.count_events_at_least("sign_in_failed", 1).await, 1);
}

#[actix_web::test]
async fn an_account_whose_only_second_factor_is_a_passkey_takes_no_code_and_the_reset_removes_it() {
    let app = spawn_app().await;
    stored_passkey(&app, "root", "Laptop").await;

    // The password alone is not enough: the passkey is the second step.
    let mut browser = at_localhost(&app);
    let first = browser.try_sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(location(&first), "/login/two-factor");
    let page = browser.get("/login/two-factor").await.text().await.unwrap();
    assert!(page.contains("id=\"use-passkey\""), "{page}");
    assert!(!page.contains("name=\"code\""), "no code form: {page}");
    browser.csrf = csrf_in(&page);
    let guessed = browser
        .post("/login/two-factor", &[("code", "123456")])
        .await;
    assert_eq!(guessed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(guessed.text().await.unwrap().contains("no code is asked"));
    let answer = browser
        .post("/login/two-factor/passkey", &[("credential", "{}")])
        .await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(location(&browser.get("/tokens").await), "/login");
    assert_eq!(
        app.count_events_at_least("two_factor_failed", 1).await,
        1,
        "the passkey's failure only: a code was never a try"
    );

    let output = app.command(&["reset-two-factor", "root"]).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(app.count("passkeys").await, 0);
    let signed_in = at_localhost(&app).try_sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(location(&signed_in), "/tokens");
}

#[actix_web::test]
async fn a_passkey_only_account_at_a_host_without_passkeys_is_told_why_and_never_locked_out() {
    let app = spawn_app().await;
    stored_passkey(&app, "root", "Laptop").await;
    // 127.0.0.1: no passkeys at a bare address.
    let mut browser = app.browser();
    let first = browser.try_sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(location(&first), "/login/two-factor");
    let page = browser.get("/login/two-factor").await.text().await.unwrap();
    assert!(page.contains("id=\"passkey-unavailable\""), "{page}");
    assert!(
        page.contains("open this page at http://localhost:PORT"),
        "{page}"
    );
    assert!(!page.contains("name=\"code\""), "no code form: {page}");
    browser.csrf = csrf_in(&page);
    for _ in 0..6 {
        let tried = browser
            .post("/login/two-factor", &[("code", "123456")])
            .await;
        assert_eq!(tried.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(app.count_events("two_factor_failed").await, 0);
    // The passkey's own host still works: the throttle was not spent.
    let mut there = at_localhost(&app);
    assert_eq!(
        location(&there.try_sign_in("root", ROOT_PASSWORD).await),
        "/login/two-factor"
    );
    let page = there.get("/login/two-factor").await.text().await.unwrap();
    assert!(page.contains("id=\"use-passkey\""), "{page}");
    there.csrf = csrf_in(&page);
    let answer = there
        .post("/login/two-factor/passkey", &[("credential", "{}")])
        .await;
    assert_eq!(
        answer.status(),
        StatusCode::UNAUTHORIZED,
        "checked, not refused as too many tries"
    );
}

#[actix_web::test]
async fn a_new_password_keeps_the_accounts_passkeys_and_says_that_they_still_sign_in() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    stored_passkey(&app, "bob", "Unknown key").await;
    let changed = bob
        .change_password(USER_PASSWORD, "bobs-new-password-1")
        .await;
    assert_eq!(location(&changed), "/tokens");
    let page = bob.get("/tokens").await.text().await.unwrap();
    assert!(
        page.contains("1 passkey(s) still sign in to your account without it"),
        "{page}"
    );
    assert_eq!(app.count("passkeys").await, 1);

    let output = app.command(&["reset-password", "bob"]).await;
    assert!(output.status.success(), "{output:?}");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("bob still signs in with 1 passkey(s)")
            && said.contains("whm-tokens reset-two-factor bob"),
        "{said}"
    );
    assert_eq!(app.count_events("password_changed").await, 2);
}

#[actix_web::test]
async fn a_passkey_is_removed_only_with_the_password_and_only_by_its_owner() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    stored_passkey(&app, "bob", "Bob's key").await;
    let bob_key = passkey_id(&app, "Bob's key").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let theft = root
        .post(
            "/account/two-factor/passkeys/remove",
            &[("id", &bob_key.to_string()), ("password", ROOT_PASSWORD)],
        )
        .await;
    assert_eq!(theft.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("passkeys").await, 1, "not root's to remove");

    stored_passkey(&app, "root", "Laptop").await;
    let root_key = passkey_id(&app, "Laptop").await;
    let wrong = root
        .post(
            "/account/two-factor/passkeys/remove",
            &[("id", &root_key.to_string()), ("password", "wrong")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("passkeys").await, 2);
    let removed = root
        .post(
            "/account/two-factor/passkeys/remove",
            &[("id", &root_key.to_string()), ("password", ROOT_PASSWORD)],
        )
        .await;
    assert_eq!(location(&removed), "/account/two-factor");
    assert_eq!(app.count("passkeys").await, 1);
    assert_eq!(app.count_events_at_least("passkey_removed", 1).await, 1);
    let page = root.get("/account/two-factor").await.text().await.unwrap();
    assert!(page.contains("Passkey “Laptop” removed."), "{page}");
}

#[actix_web::test]
async fn root_s_rule_for_resellers_is_kept_by_the_operations_themselves_one_factor_at_a_time() {
    use whm_tokens::ops::{passkeys, two_factor, OpError};
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let root = app.actor("root").await;
    app.db
        .write(move |conn| two_factor::set_required_for_resellers(conn, &root, true))
        .await
        .unwrap();
    // Bob has the authenticator app and one passkey.
    stored_passkey(&app, "bob", "Bob's key").await;
    let key = passkey_id(&app, "Bob's key").await;
    let bob = app.actor("bob").await;
    let b = bob.clone();
    app.db
        .write(move |conn| two_factor::enable(conn, &b, b"sealed", 1, &[]))
        .await
        .unwrap();

    // Either factor may go while the other stays (the page's own check
    // aside: these are the operations both pages call, in one transaction
    // each, under the account's lock).
    let b = bob.clone();
    app.db
        .write(move |conn| two_factor::disable(conn, &b))
        .await
        .unwrap();
    // The last one may not: neither the passkey nor, once there is no
    // passkey, the app.
    let b = bob.clone();
    let refused = app
        .db
        .write(move |conn| passkeys::remove(conn, &b, key))
        .await;
    assert!(
        matches!(refused, Err(OpError::NotAllowed(_))),
        "{refused:?}"
    );
    assert_eq!(app.count("passkeys").await, 1);

    let b = bob.clone();
    app.db
        .write(move |conn| two_factor::enable(conn, &b, b"sealed", 1, &[]))
        .await
        .unwrap();
    let b = bob.clone();
    app.db
        .write(move |conn| passkeys::remove(conn, &b, key))
        .await
        .unwrap();
    let b = bob.clone();
    let refused = app
        .db
        .write(move |conn| two_factor::disable(conn, &b))
        .await;
    assert!(
        matches!(refused, Err(OpError::NotAllowed(_))),
        "{refused:?}"
    );
    let b = bob.clone();
    let secret = app
        .db
        .read(move |conn| two_factor::secret(conn, b.id()))
        .await
        .unwrap();
    assert!(secret.is_some(), "the app stays on");
}
