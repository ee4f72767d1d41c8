//! Passkeys in real headless Chromium, with Chromium's virtual
//! authenticator (WebDriver's WebAuthn extension) in place of a phone or
//! security key: adding one, the second step after the password, signing
//! in with the passkey alone, a site at another name that cannot use it,
//! and removing it.

use std::time::Duration;

use fantoccini::Client;
use serde_json::json;

use crate::browser::{
    browser_available, css, eventually, js, open_browser, start_driver, ONE_AT_A_TIME,
};
use crate::helpers::*;

/// WebDriver's "Add Virtual Authenticator": a platform authenticator that
/// keeps discoverable credentials and verifies its user (as a fingerprint
/// reader would), answering at once.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl fantoccini::wd::WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

async fn at_path(c: &Client, what: &str, path: &str) {
    wait_until(what, Duration::from_secs(10), || async {
        c.current_url()
            .await
            .map(|u| u.path() == path)
            .unwrap_or(false)
    })
    .await;
}

async fn sign_out(c: &Client) {
    css(c, "form.signout button").await.click().await.unwrap();
    at_path(c, "the sign-in page", "/login").await;
}

async fn type_password_and_submit(c: &Client) {
    css(c, "#username").await.send_keys("root").await.unwrap();
    css(c, "#password")
        .await
        .send_keys(ROOT_PASSWORD)
        .await
        .unwrap();
    css(c, "form[action='/login'] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
}

/// How each sign-in was made, from the activity.
async fn sign_in_details(app: &TestApp) -> Vec<String> {
    app.flush().await;
    app.db
        .read(|conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::audit_events;
            audit_events::table
                .filter(audit_events::event.eq("sign_in"))
                .select(audit_events::detail)
                .load::<String>(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_user_adds_a_passkey_and_signs_in_with_it_after_the_password_and_alone() {
    if !browser_available() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    let mut driver = start_driver().await;
    let c = open_browser(&mut driver).await;
    c.issue_cmd(AddVirtualAuthenticator)
        .await
        .expect("Chromium's virtual authenticator");
    // Passkeys need a name, not an address: this app has no public URL,
    // so it offers them at localhost.
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let site = format!("http://localhost:{port}");

    c.goto(&format!("{site}/login")).await.unwrap();
    type_password_and_submit(&c).await;
    at_path(&c, "the tokens page", "/tokens").await;
    c.goto(&format!("{site}/account/two-factor")).await.unwrap();
    css(&c, "#passkey_name")
        .await
        .send_keys("Laptop")
        .await
        .unwrap();
    css(&c, "#passkey_password")
        .await
        .send_keys(ROOT_PASSWORD)
        .await
        .unwrap();
    css(&c, "#add-passkey").await.click().await.unwrap();
    css(&c, "#passkeys-table tr[data-passkey='Laptop']").await;
    assert_eq!(app.count("passkeys").await, 1);
    assert_eq!(app.count_events_at_least("passkey_added", 1).await, 1);

    // After the password, the passkey is the second step.
    sign_out(&c).await;
    type_password_and_submit(&c).await;
    at_path(&c, "the second step", "/login/two-factor").await;
    css(&c, "#use-passkey").await.click().await.unwrap();
    at_path(&c, "the tokens page after the passkey", "/tokens").await;

    // Alone: no user name, no password.
    sign_out(&c).await;
    css(&c, "#sign-in-with-passkey")
        .await
        .click()
        .await
        .unwrap();
    at_path(
        &c,
        "the tokens page after a passwordless sign-in",
        "/tokens",
    )
    .await;
    assert!(css(&c, ".who").await.text().await.unwrap().contains("root"));
    let used: i64 = app
        .db
        .read(|conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::passkeys;
            passkeys::table
                .filter(passkeys::last_used_at.is_not_null())
                .count()
                .get_result(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    assert_eq!(used, 1, "the sign-in is recorded on the passkey");
    let ways = sign_in_details(&app).await;
    assert!(
        ways.iter().any(|d| d == "with a password and a passkey")
            && ways.iter().any(|d| d == "with a passkey"),
        "both sign-ins are in the activity: {ways:?}"
    );
    c.goto(&format!("{site}/account/sessions")).await.unwrap();
    assert_eq!(
        js(
            &c,
            "return document.querySelectorAll('[data-session]').length;"
        )
        .await,
        json!(1),
        "the passkey's session is in the sessions list"
    );

    // A site at another name (a phishing copy, say) cannot use it, though
    // it shares the store: the passkey belongs to "localhost".
    let other_port = free_port();
    let other = app
        .second_instance_with(|config| {
            config.listen = format!("127.0.0.1:{other_port}").parse().unwrap();
            config.public_url = Some(format!("http://other.localhost:{other_port}"));
        })
        .await;
    assert!(other.address.ends_with(&other_port.to_string()));
    c.goto(&format!("http://other.localhost:{other_port}/login"))
        .await
        .unwrap();
    css(&c, "#sign-in-with-passkey")
        .await
        .click()
        .await
        .unwrap();
    eventually("the passkey refused at another name", || async {
        js(
            &c,
            "var p = document.querySelector('#passkey-sign-in [data-passkey-error-for=passkey]'); \
             return !!p && !p.hidden && p.textContent.length > 0;",
        )
        .await
            == json!(true)
    })
    .await;
    at_path(&c, "still the sign-in page", "/login").await;
    let said = js(
        &c,
        "return document.querySelector('#passkey-sign-in [data-passkey-error-for=passkey]').textContent;",
    )
    .await;
    assert!(
        said.as_str()
            .unwrap()
            .contains("none for this site is on this device"),
        "the browser found no passkey for this name: {said}"
    );

    // Removing it takes the password.
    c.goto(&format!("{site}/account/two-factor")).await.unwrap();
    css(&c, "#remove_password")
        .await
        .send_keys(ROOT_PASSWORD)
        .await
        .unwrap();
    css(&c, "#passkey-remove button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    css(&c, "#no-passkeys").await;
    assert_eq!(app.count("passkeys").await, 0);
    c.close().await.unwrap();
}
