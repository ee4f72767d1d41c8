//! Two-factor sign-in (TOTP): setting it up, signing in with it, recovery
//! codes, throttling, root's rule for resellers, and the reset command.

use reqwest::StatusCode;
use whm_tokens::auth::two_factor::TotpSecret;

use crate::helpers::*;

/// The secret the set-up page shows, as the app would take it.
async fn shown_secret(client: &UiClient) -> TotpSecret {
    let html = client
        .get("/account/two-factor")
        .await
        .text()
        .await
        .unwrap();
    let text = html
        .split("id=\"totp-secret\">")
        .nth(1)
        .expect("the secret as text")
        .split('<')
        .next()
        .unwrap();
    assert!(html.contains("<svg"), "a QR code, drawn by the server");
    TotpSecret::from_bytes(
        totp_rs::Secret::Encoded(text.to_owned())
            .to_bytes()
            .unwrap(),
    )
    .unwrap()
}

/// The code an authenticator shows `offset` steps from now.
fn code(secret: &TotpSecret, offset: i64) -> String {
    secret.code_at((now() + offset * 30) as u64)
}

/// Turns two-factor on for a signed-in client; returns the secret and the
/// recovery codes.
async fn set_up(client: &UiClient) -> (TotpSecret, Vec<String>) {
    let secret = shown_secret(client).await;
    let page = client
        .post("/account/two-factor", &[("code", &code(&secret, 0))])
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let codes: Vec<String> = html
        .split("<li><code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_owned())
        .collect();
    (secret, codes)
}

#[actix_web::test]
async fn setting_up_needs_a_right_first_code_and_shows_ten_recovery_codes_once() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let secret = shown_secret(&root).await;
    let again = shown_secret(&root).await;
    assert_eq!(
        secret.base32(),
        again.base32(),
        "the same secret until confirmed"
    );
    let wrong = root
        .post("/account/two-factor", &[("code", "000000")])
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("That code is not right"));

    let (_, codes) = set_up(&root).await;
    assert_eq!(codes.len(), 10);
    let page = root.get("/account/two-factor").await.text().await.unwrap();
    assert!(page.contains("id=\"two-factor-on\""));
    assert!(page.contains("10 recovery code(s) left"));
    assert!(
        codes.iter().all(|c| !page.contains(c.as_str())),
        "recovery codes are shown once"
    );
    // Stored sealed: neither the secret nor its base32 is in the database.
    let raw: Vec<u8> = app
        .db
        .read(|conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::accounts;
            accounts::table
                .filter(accounts::username.eq(user("root")))
                .select(accounts::totp_secret)
                .first::<Option<Vec<u8>>>(conn)
                .map(Option::unwrap)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    assert_eq!(raw.len(), 12 + 20 + 16, "nonce, sealed secret, tag");
    assert!(!raw
        .windows(20)
        .any(|w| w == secret_bytes(&secret).as_slice()));
}

fn secret_bytes(s: &TotpSecret) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[actix_web::test]
async fn signing_in_asks_for_a_code_after_the_password_and_each_code_works_once() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let (secret, codes) = set_up(&root).await;

    let mut browser = app.browser();
    let first = browser.try_sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(location(&first), "/login/two-factor");
    assert_eq!(
        location(&browser.get("/tokens").await),
        "/login",
        "the password alone signs nobody in"
    );
    let page = browser.get("/login/two-factor").await.text().await.unwrap();
    browser.csrf = csrf_in(&page);
    let wrong = browser
        .post("/login/two-factor", &[("code", "123456")])
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // The next step's code (the set-up used this one).
    let next = code(&secret, 1);
    let signed_in = browser.post("/login/two-factor", &[("code", &next)]).await;
    assert_eq!(location(&signed_in), "/tokens");
    assert_eq!(browser.get("/tokens").await.status(), StatusCode::OK);

    // The same code again, in another browser: refused.
    let mut other = app.browser();
    other.try_sign_in("root", ROOT_PASSWORD).await;
    let page = other.get("/login/two-factor").await.text().await.unwrap();
    other.csrf = csrf_in(&page);
    assert_eq!(
        other
            .post("/login/two-factor", &[("code", &next)])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // A recovery code works, once, however it is typed.
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert_eq!(
        location(&other.post("/login/two-factor", &[("code", &typed)]).await),
        "/tokens"
    );
    let mut third = app.browser();
    third.try_sign_in("root", ROOT_PASSWORD).await;
    let page = third.get("/login/two-factor").await.text().await.unwrap();
    third.csrf = csrf_in(&page);
    assert_eq!(
        third
            .post("/login/two-factor", &[("code", &codes[3])])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn wrong_second_factors_are_throttled_per_account() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let (secret, _) = set_up(&root).await;
    let mut browser = app.browser();
    browser.try_sign_in("root", ROOT_PASSWORD).await;
    let page = browser.get("/login/two-factor").await.text().await.unwrap();
    browser.csrf = csrf_in(&page);
    for _ in 0..5 {
        assert_eq!(
            browser
                .post("/login/two-factor", &[("code", "000000")])
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        browser
            .post("/login/two-factor", &[("code", &code(&secret, 1))])
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right code waits"
    );
}

#[actix_web::test]
async fn root_can_require_two_factor_of_resellers_and_their_tokens_keep_working() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let bobs_token = app.token("bob", "deploy").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let saved = root
        .post("/accounts/two-factor-policy", &[("required", "1")])
        .await;
    assert_eq!(location(&saved), "/accounts");
    assert!(root
        .get("/accounts")
        .await
        .text()
        .await
        .unwrap()
        .contains("id=\"require-two-factor\" checked"));

    let bob = app.sign_in("bob", USER_PASSWORD).await;
    assert_eq!(location(&bob.get("/tokens").await), "/account/two-factor");
    assert_eq!(
        bob.get_htmx("/tokens").await.headers()["hx-redirect"],
        "/account/two-factor"
    );
    ok_data(&app.api("bob", &bobs_token, "version", &[]).await);
    let (_, _) = set_up(&bob).await;
    assert_eq!(bob.get("/tokens").await.status(), StatusCode::OK);
    assert_eq!(
        bob.post("/account/two-factor/off", &[("password", USER_PASSWORD)])
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "required: it stays on"
    );
    // Root is not a reseller: not bound by the rule.
    assert_eq!(root.get("/tokens").await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn turning_off_and_new_recovery_codes_need_the_password() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let (_, old) = set_up(&root).await;
    assert_eq!(
        root.post(
            "/account/two-factor/recovery-codes",
            &[("password", "not-the-password")]
        )
        .await
        .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let page = root
        .post(
            "/account/two-factor/recovery-codes",
            &[("password", ROOT_PASSWORD)],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Save these recovery codes now"));
    assert!(!page.contains(old[0].as_str()), "new codes replace the old");
    assert_eq!(
        root.post("/account/two-factor/off", &[("password", "nope-nope-nope")])
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let off = root
        .post("/account/two-factor/off", &[("password", ROOT_PASSWORD)])
        .await;
    assert_eq!(location(&off), "/account/two-factor");
    assert_eq!(
        app.browser()
            .try_sign_in("root", ROOT_PASSWORD)
            .await
            .headers()["location"],
        "/tokens"
    );
}

#[actix_web::test]
async fn the_reset_command_turns_two_factor_off_and_ends_sessions() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    set_up(&root).await;
    let output = app.command(&["reset-two-factor", "root"]).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        location(&root.get("/tokens").await),
        "/login",
        "sessions ended"
    );
    assert_eq!(
        location(&app.browser().try_sign_in("root", ROOT_PASSWORD).await),
        "/tokens"
    );
}

#[actix_web::test]
async fn a_secret_that_cannot_be_opened_accepts_no_code() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let (secret, _) = set_up(&root).await;
    // As if sealed under another session key.
    app.db
        .write_bookkeeping(|conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::accounts;
            diesel::update(accounts::table)
                .filter(accounts::totp_secret.is_not_null())
                .set(accounts::totp_secret.eq(Some(vec![7u8; 48])))
                .execute(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    let mut browser = app.browser();
    browser.try_sign_in("root", ROOT_PASSWORD).await;
    let page = browser.get("/login/two-factor").await.text().await.unwrap();
    browser.csrf = csrf_in(&page);
    assert_eq!(
        browser
            .post("/login/two-factor", &[("code", &code(&secret, 1))])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(location(&browser.get("/tokens").await), "/login");
}
