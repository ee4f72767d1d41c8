//! Contact addresses, where expiry notices go: on the page, through
//! `createacct` / `modifyacct`, and with `create-account --email`.

use reqwest::StatusCode;

use crate::helpers::*;

async fn email_of(app: &TestApp, username: &str) -> Option<String> {
    let id = app.actor(username).await.id();
    app.db
        .read(move |conn| whm_tokens::ops::accounts::contact_email(conn, id))
        .await
        .unwrap()
        .map(|e| e.to_string())
}

#[actix_web::test]
async fn the_api_sets_and_clears_contact_addresses_and_refuses_bad_ones_without_writing() {
    let app = spawn_app().await;
    let root = app.token("root", "t").await;
    let data = ok_data(
        &app.api(
            "root",
            &root,
            "createacct",
            &[
                ("username", "dave"),
                ("password", USER_PASSWORD),
                ("reseller", "1"),
                ("contactemail", "dave@example.com"),
            ],
        )
        .await,
    );
    assert_eq!(data["email"], "dave@example.com");
    assert_eq!(
        email_of(&app, "dave").await.as_deref(),
        Some("dave@example.com")
    );

    let before = app.count("accounts").await;
    let reason = refused(
        &app.api(
            "root",
            &root,
            "createacct",
            &[
                ("username", "erin"),
                ("password", USER_PASSWORD),
                ("contactemail", "erin at example"),
            ],
        )
        .await,
    );
    assert!(reason.contains("not an email address"), "{reason}");
    assert_eq!(app.count("accounts").await, before);

    ok_data(
        &app.api(
            "root",
            &root,
            "modifyacct",
            &[("user", "dave"), ("contactemail", "ops@example.com")],
        )
        .await,
    );
    assert_eq!(
        email_of(&app, "dave").await.as_deref(),
        Some("ops@example.com")
    );
    let listed = ok_data(&app.api("root", &root, "listaccts", &[]).await);
    let dave = listed["acct"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["user"] == "dave")
        .unwrap()
        .clone();
    assert_eq!(dave["email"], "ops@example.com");

    // A bad address with a rename: neither is written.
    let reason = refused(
        &app.api(
            "root",
            &root,
            "modifyacct",
            &[
                ("user", "dave"),
                ("newuser", "david"),
                ("contactemail", "x@"),
            ],
        )
        .await,
    );
    assert!(reason.contains("not an email address"), "{reason}");
    assert_eq!(
        email_of(&app, "dave").await.as_deref(),
        Some("ops@example.com")
    );
    let reason = refused(
        &app.api("root", &root, "modifyacct", &[("user", "dave")])
            .await,
    );
    assert!(reason.contains("contactemail"), "{reason}");

    // Empty clears it.
    ok_data(
        &app.api(
            "root",
            &root,
            "modifyacct",
            &[("user", "dave"), ("contactemail", "")],
        )
        .await,
    );
    assert_eq!(email_of(&app, "dave").await, None);
}

#[actix_web::test]
async fn a_reseller_cannot_set_the_address_of_an_account_it_does_not_own() {
    let app = spawn_app().await;
    app.create_reseller("bob", Some("manage-api-tokens edit-account"))
        .await;
    app.create_reseller("carol", None).await;
    let bob = app.token("bob", "t").await;
    let reason = refused(
        &app.api(
            "bob",
            &bob,
            "modifyacct",
            &[("user", "carol"), ("contactemail", "evil@example.com")],
        )
        .await,
    );
    assert!(reason.contains("carol"), "{reason}");
    assert_eq!(email_of(&app, "carol").await, None);
    // Its own, it may.
    ok_data(
        &app.api(
            "bob",
            &bob,
            "modifyacct",
            &[("user", "bob"), ("contactemail", "bob@example.com")],
        )
        .await,
    );
    assert_eq!(
        email_of(&app, "bob").await.as_deref(),
        Some("bob@example.com")
    );
}

#[actix_web::test]
async fn everyone_sets_their_own_address_on_the_page_and_root_sets_others() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let page = bob.get("/account/email").await.text().await.unwrap();
    assert!(page.contains("Where notices about your API tokens go"));

    let response = bob
        .post("/account/email", &[("email", "bob@@example")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("is not an email address"), "{page}");
    assert!(page.contains("value=\"bob@@example\""));
    assert_eq!(email_of(&app, "bob").await, None);

    let response = bob
        .post("/account/email", &[("email", "bob@example.com")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = bob.get("/account/email").await.text().await.unwrap();
    assert!(page.contains("now go to bob@example.com"));
    assert!(page.contains("value=\"bob@example.com\""));

    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let response = root
        .post("/accounts/bob/email", &[("email", "billing@example.com")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        email_of(&app, "bob").await.as_deref(),
        Some("billing@example.com")
    );
    let response = root.post("/accounts/bob/email", &[("email", "nope")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A reseller cannot use root's form.
    let response = bob
        .post("/accounts/root/email", &[("email", "x@example.com")])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let response = root
        .post(
            "/accounts",
            &[
                ("username", "carol"),
                ("password", USER_PASSWORD),
                ("kind", "reseller"),
                ("owner", "root"),
                ("email", "carol@example.com"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        email_of(&app, "carol").await.as_deref(),
        Some("carol@example.com")
    );
}

#[actix_web::test]
async fn create_account_takes_an_email_on_the_command_line() {
    let app = spawn_app().await;
    let out = app
        .command(&[
            "create-account",
            "dave",
            "--reseller",
            "--email",
            "dave@example.com",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        email_of(&app, "dave").await.as_deref(),
        Some("dave@example.com")
    );
    let out = app
        .command(&["create-account", "erin", "--email", "not-an-address"])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an email address"));
}
