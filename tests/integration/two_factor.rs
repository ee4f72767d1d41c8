//! Two-factor sign-in (TOTP): setting it up, signing in with it, recovery
//! codes, throttling, root's rule for resellers, and the reset command.

use reqwest::StatusCode;
use whm_tokens::auth::two_factor::TotpSecret;

use crate::helpers::*;

/// The secret the set-up page shows, as the app would take it.
pub(crate) async fn shown_secret(client: &UiClient) -> TotpSecret {
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
pub(crate) fn code(secret: &TotpSecret, offset: i64) -> String {
    secret.code_at((now() + offset * 30) as u64)
}

/// Turns two-factor on for a signed-in client; returns the secret and the
/// recovery codes.
pub(crate) async fn set_up(client: &UiClient, password: &str) -> (TotpSecret, Vec<String>) {
    let secret = shown_secret(client).await;
    let page = client
        .post(
            "/account/two-factor",
            &[("code", &code(&secret, 0)), ("password", password)],
        )
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
        .post(
            "/account/two-factor",
            &[("code", "000000"), ("password", ROOT_PASSWORD)],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("That code is not right"));

    let (_, codes) = set_up(&root, ROOT_PASSWORD).await;
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
    let (secret, codes) = set_up(&root, ROOT_PASSWORD).await;

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
    let (secret, _) = set_up(&root, ROOT_PASSWORD).await;
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
    let (_, _) = set_up(&bob, USER_PASSWORD).await;
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
    let (_, old) = set_up(&root, ROOT_PASSWORD).await;
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
    set_up(&root, ROOT_PASSWORD).await;
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
async fn a_secret_that_cannot_be_opened_accepts_no_code_but_a_recovery_code() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let (secret, recovery) = set_up(&root, ROOT_PASSWORD).await;
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
    // A recovery code does not depend on the key: it still signs in.
    let rescued = browser
        .post("/login/two-factor", &[("code", &recovery[0])])
        .await;
    assert_eq!(location(&rescued), "/tokens");
}

/// A browser that passed the password step and waits for its code.
async fn waiting_for_a_code(app: &TestApp, user: &str, password: &str) -> UiClient {
    let mut browser = app.browser();
    let first = browser.try_sign_in(user, password).await;
    assert_eq!(location(&first), "/login/two-factor");
    let page = browser.get("/login/two-factor").await.text().await.unwrap();
    browser.csrf = csrf_in(&page);
    browser
}

#[actix_web::test]
async fn password_checks_on_the_two_factor_page_are_throttled_like_a_password_change() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    set_up(&root, ROOT_PASSWORD).await;
    // Five wrong guesses, spread over the three forms that ask for it.
    for (path, field) in [
        ("/account/two-factor/recovery-codes", "password"),
        ("/account/two-factor/off", "password"),
        ("/account/two-factor/recovery-codes", "password"),
        ("/account/password", "current"),
        ("/account/two-factor/off", "password"),
    ] {
        let answer = root
            .post(
                path,
                &[
                    (field, "not-the-password"),
                    ("new", "another-password-2"),
                    ("confirm", "another-password-2"),
                ],
            )
            .await;
        assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
    }
    for path in [
        "/account/two-factor/off",
        "/account/two-factor/recovery-codes",
    ] {
        let answer = root.post(path, &[("password", ROOT_PASSWORD)]).await;
        assert_eq!(
            answer.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{path}: even the right password waits"
        );
        assert!(answer.text().await.unwrap().contains("Too many wrong"));
    }
    let page = root.get("/account/two-factor").await.text().await.unwrap();
    assert!(page.contains("id=\"two-factor-on\""), "still on");
}

#[actix_web::test]
async fn turning_two_factor_on_asks_for_the_password_and_counts_wrong_ones() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let secret = shown_secret(&root).await;
    for _ in 0..5 {
        let wrong = root
            .post(
                "/account/two-factor",
                &[
                    ("code", &code(&secret, 0)),
                    ("password", "not-the-password"),
                ],
            )
            .await;
        assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(wrong
            .text()
            .await
            .unwrap()
            .contains("That is not your current password."));
    }
    // Two-factor is still off: signing in asks for no code.
    assert_eq!(
        location(&app.browser().try_sign_in("root", ROOT_PASSWORD).await),
        "/tokens"
    );
    let throttled = root
        .post(
            "/account/two-factor",
            &[("code", &code(&secret, 0)), ("password", ROOT_PASSWORD)],
        )
        .await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn a_password_change_a_reset_or_a_suspension_ends_sign_ins_waiting_for_their_code() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let (_, codes) = set_up(&bob, USER_PASSWORD).await;

    // The owner changes the password: the half-finished sign-in is over.
    let waiting = waiting_for_a_code(&app, "bob", USER_PASSWORD).await;
    let changed = bob
        .change_password(USER_PASSWORD, "bobs-new-password-1")
        .await;
    assert_eq!(location(&changed), "/tokens");
    let late = waiting
        .post("/login/two-factor", &[("code", &codes[0])])
        .await;
    assert_ne!(location(&late), "/tokens", "the sign-in was not finished");
    assert_eq!(location(&waiting.get("/tokens").await), "/login");

    // The reset command.
    let waiting = waiting_for_a_code(&app, "bob", "bobs-new-password-1").await;
    let output = app.command(&["reset-password", "bob"]).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        app.count_events("password_changed").await,
        2,
        "the reset is in the audit trail, as the change before it"
    );
    let late = waiting
        .post("/login/two-factor", &[("code", &codes[1])])
        .await;
    assert_ne!(location(&late), "/tokens", "the sign-in was not finished");
    assert_eq!(location(&waiting.get("/tokens").await), "/login");

    // A suspension (the password is the one the reset printed).
    let printed = String::from_utf8(output.stdout).unwrap();
    let password = printed
        .split_whitespace()
        .find(|w| w.len() >= 20)
        .expect("the new password printed");
    let waiting = waiting_for_a_code(&app, "bob", password).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let suspended = root.post("/accounts/bob/suspend", &[]).await;
    assert_eq!(suspended.status(), StatusCode::SEE_OTHER);
    let late = waiting
        .post("/login/two-factor", &[("code", &codes[2])])
        .await;
    assert_ne!(location(&late), "/tokens", "the sign-in was not finished");
    assert_eq!(location(&waiting.get("/tokens").await), "/login");
    // The recovery codes it tried were never used up.
    assert_eq!(app.count("recovery_codes").await, 10);
}

#[actix_web::test]
async fn two_factor_and_session_changes_are_in_the_audit_trail() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let (secret, _) = set_up(&root, ROOT_PASSWORD).await;
    root.post(
        "/account/two-factor/recovery-codes",
        &[("password", ROOT_PASSWORD)],
    )
    .await;
    let other = waiting_for_a_code(&app, "root", ROOT_PASSWORD).await;
    assert_eq!(
        other
            .post("/login/two-factor", &[("code", "000000")])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let signed_in = other
        .post("/login/two-factor", &[("code", &code(&secret, 1))])
        .await;
    assert_eq!(location(&signed_in), "/tokens");
    let ended = root.post("/account/sessions/end-others", &[]).await;
    assert_eq!(location(&ended), "/account/sessions");
    root.post("/account/two-factor/off", &[("password", ROOT_PASSWORD)])
        .await;
    root.post("/accounts/two-factor-policy", &[("required", "1")])
        .await;
    let output = app.command(&["reset-two-factor", "root"]).await;
    assert!(output.status.success(), "{output:?}");
    for kind in [
        "two_factor_on",
        "recovery_codes_new",
        "two_factor_failed",
        "session_ended",
        "two_factor_off",
        "two_factor_required",
        "two_factor_reset",
    ] {
        assert_eq!(app.count_events(kind).await, 1, "{kind}");
    }
    // Each kind is offered by the Activity filter.
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let page = root.get("/activity").await.text().await.unwrap();
    for kind in ["two_factor_on", "two_factor_failed", "session_ended"] {
        assert!(page.contains(&format!("value=\"{kind}\"")), "{kind}");
    }
}

#[actix_web::test]
async fn of_two_confirmations_sent_at_once_the_first_turns_it_on_and_its_codes_are_kept() {
    use whm_tokens::ops::two_factor;
    let app = spawn_app().await;
    let root = app.actor("root").await;
    let turned_on = |sealed: &'static [u8], code: &'static [u8]| {
        let root = root.clone();
        app.db
            .write(move |conn| two_factor::enable(conn, &root, sealed, 1, &[code.to_vec()]))
    };
    assert!(turned_on(b"first", b"first-code").await.unwrap());
    assert!(
        !turned_on(b"second", b"second-code").await.unwrap(),
        "the second finds it on and changes nothing"
    );
    let kept = app
        .db
        .read(|conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::{accounts, recovery_codes};
            let secret: Option<Vec<u8>> = accounts::table
                .filter(accounts::username.eq("root"))
                .select(accounts::totp_secret)
                .first(conn)?;
            let codes: Vec<Vec<u8>> = recovery_codes::table
                .select(recovery_codes::digest)
                .load(conn)?;
            Ok::<_, anyhow::Error>((secret, codes))
        })
        .await
        .unwrap();
    assert_eq!(
        kept,
        (Some(b"first".to_vec()), vec![b"first-code".to_vec()])
    );
    assert_eq!(app.count_events("two_factor_on").await, 1);
}

#[actix_web::test]
async fn new_recovery_codes_replace_only_the_set_the_request_saw() {
    use whm_tokens::ops::two_factor;
    let app = spawn_app().await;
    let root = app.actor("root").await;
    let r = root.clone();
    app.db
        .write(move |conn| two_factor::enable(conn, &r, b"sealed", 1, &[b"old".to_vec()]))
        .await
        .unwrap();
    let id = root.id();
    let seen = app
        .db
        .read(move |conn| two_factor::recovery_code_set(conn, id))
        .await
        .unwrap();
    let replace = |digest: &'static [u8]| {
        let (root, seen) = (root.clone(), seen.clone());
        app.db.write(move |conn| {
            two_factor::replace_recovery_codes(conn, &root, &seen, &[digest.to_vec()])
        })
    };
    // Two requests that both saw the old set: the first replaces it.
    assert!(replace(b"first").await.unwrap());
    assert!(!replace(b"second").await.unwrap(), "the set it saw is gone");
    let now = app
        .db
        .read(move |conn| two_factor::recovery_code_set(conn, id))
        .await
        .unwrap();
    assert_eq!(now, [b"first".to_vec()]);
    assert_eq!(app.count_events("recovery_codes_new").await, 1);
}
