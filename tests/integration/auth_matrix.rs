//! Every way a call can fail to authenticate gets the same 403, and the
//! allow-list, expiry and the owner's state are checked on every call.

use whm_tokens::domain::Expiry;
use whm_tokens::ops::{accounts, OpError};

use crate::helpers::*;

#[actix_web::test]
async fn wrong_user_wrong_secret_malformed_secret_and_revoked_token_are_all_denied_alike() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let secret = app.token("root", "ci").await;
    let doomed = app.token("root", "doomed").await;
    ok_data(&app.api("root", &secret, "version", &[]).await);
    assert_denied(&app.api("bob", &secret, "version", &[]).await);
    assert_denied(&app.api("nobody", &secret, "version", &[]).await);
    assert_denied(
        &app.api("root", "0123456789ABCDEFGHIJKLMNOPQRSTUV", "version", &[])
            .await,
    );
    assert_denied(&app.api("root", "short", "version", &[]).await);
    assert_denied(
        &app.api("root", &secret.to_lowercase(), "version", &[])
            .await,
    );
    ok_data(
        &app.api(
            "root",
            &secret,
            "api_token_revoke",
            &[("token_name", "doomed")],
        )
        .await,
    );
    assert_denied(&app.api("root", &doomed, "version", &[]).await);
}

#[actix_web::test]
async fn missing_or_foreign_authorization_headers_are_denied() {
    let app = spawn_app().await;
    let secret = app.token("root", "ci").await;
    let client = reqwest::Client::new();
    let url = format!("{}/json-api/version?api.version=1", app.address);
    for header in [
        None,
        Some("Basic cm9vdDpwYXNzd29yZA==".to_owned()),
        Some(format!("whm root{secret}")),
        Some(format!("whm root:\t{secret}")),
        Some(format!("Bearer {secret}")),
    ] {
        let mut request = client.get(&url);
        if let Some(h) = &header {
            request = request.header("Authorization", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{header:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "Access denied");
    }
    let response = client
        .get(&url)
        .header("Authorization", format!("wHm root:{secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the scheme is case-insensitive");
}

#[actix_web::test]
async fn a_token_stops_at_its_expiry_instant() {
    let app = spawn_app().await;
    let later = app
        .token_with("root", "later", Expiry::At(now() + 3600), "", None)
        .await
        .unwrap();
    ok_data(&app.api("root", &later, "version", &[]).await);
    app.set_expiry("later", now()).await;
    assert_denied(&app.api("root", &later, "version", &[]).await);
    app.set_expiry("later", now() - 1).await;
    assert_denied(&app.api("root", &later, "version", &[]).await);
}

#[actix_web::test]
async fn the_allow_list_admits_addresses_and_ranges_and_refuses_others() {
    let app = spawn_app().await;
    let single = app
        .token_with("root", "single", Expiry::Never, "127.0.0.1", None)
        .await
        .unwrap();
    let range = app
        .token_with("root", "range", Expiry::Never, "127.0.0.0/8", None)
        .await
        .unwrap();
    let elsewhere = app
        .token_with(
            "root",
            "elsewhere",
            Expiry::Never,
            "192.0.2.0/24, 2001:db8::1",
            None,
        )
        .await
        .unwrap();
    ok_data(&app.api("root", &single, "version", &[]).await);
    ok_data(&app.api("root", &range, "version", &[]).await);
    assert_denied(&app.api("root", &elsewhere, "version", &[]).await);
}

#[actix_web::test]
async fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let v6 = app
        .token_with("root", "v6", Expiry::Never, "2001:db8::/64", None)
        .await
        .unwrap();
    let v4 = app
        .token_with("root", "v4", Expiry::Never, "192.0.2.0/24", None)
        .await
        .unwrap();
    // Each entry of `lines` is one X-Forwarded-For header line.
    let call = |secret: String, lines: &'static [&'static str]| {
        let url = format!("{}/json-api/version?api.version=1", app.address);
        async move {
            let mut request = reqwest::Client::new()
                .get(url)
                .header("Authorization", format!("whm root:{secret}"));
            for line in lines {
                request = request.header("X-Forwarded-For", *line);
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(call(v6.clone(), &["2001:db8::42"]).await, 200);
    assert_eq!(call(v6.clone(), &["2001:db8:1::42"]).await, 403);
    assert_eq!(
        call(v4.clone(), &["203.0.113.1, 192.0.2.9"]).await,
        200,
        "right-most hop"
    );
    assert_eq!(call(v4.clone(), &["192.0.2.9, 203.0.113.1"]).await, 403);
    // A proxy that adds its own header line: the client's forged first line
    // does not win, and a chain that cannot be read makes the client unknown.
    assert_eq!(call(v4.clone(), &["192.0.2.9", "203.0.113.1"]).await, 403);
    assert_eq!(call(v4.clone(), &["203.0.113.1", "192.0.2.9"]).await, 200);
    assert_eq!(call(v4.clone(), &["not-an-address"]).await, 403);
    let anywhere = app.token("root", "anywhere").await;
    assert_eq!(
        call(anywhere, &["not-an-address"]).await,
        200,
        "an unrestricted token does not care"
    );

    let untrusting = spawn_app().await;
    let v4 = untrusting
        .token_with("root", "v4", Expiry::Never, "192.0.2.0/24", None)
        .await
        .unwrap();
    let status = reqwest::Client::new()
        .get(format!(
            "{}/json-api/version?api.version=1",
            untrusting.address
        ))
        .header("Authorization", format!("whm root:{v4}"))
        .header("X-Forwarded-For", "192.0.2.9")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status, 403,
        "a forged X-Forwarded-For from an untrusted peer is ignored"
    );
}

#[actix_web::test]
async fn suspended_renamed_and_deleted_owners() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let secret = app.token("bob", "ci").await;
    let root = app.actor("root").await;
    app.db
        .write(move |c| accounts::set_suspended(c, &root, &user("bob"), true, None))
        .await
        .unwrap();
    assert_denied(&app.api("bob", &secret, "version", &[]).await);
    let root = app.actor("root").await;
    app.db
        .write(move |c| accounts::set_suspended(c, &root, &user("bob"), false, None))
        .await
        .unwrap();
    let root = app.actor("root").await;
    app.db
        .write(move |c| {
            accounts::rename(
                c,
                &root,
                &user("bob"),
                &whm_tokens::domain::Username::parse("bobby").unwrap(),
            )
        })
        .await
        .unwrap();
    ok_data(&app.api("bobby", &secret, "version", &[]).await);
    assert_denied(&app.api("bob", &secret, "version", &[]).await);
    let root = app.actor("root").await;
    app.db
        .write(move |c| accounts::delete(c, &root, &user("bobby")))
        .await
        .unwrap();
    assert_denied(&app.api("bobby", &secret, "version", &[]).await);
}

#[actix_web::test]
async fn an_actor_read_before_a_suspension_or_a_privilege_taken_away_acts_on_what_holds_now() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    app.create_reseller_owned_by("shop", "bob").await;
    app.token("bob", "ci").await;
    // Bob as authenticated a moment ago: with every privilege he had then.
    let stale = app.actor("bob").await;
    app.set_privileges("bob", "list-accts manage-api-tokens")
        .await;
    let s = stale.clone();
    let deleted = app
        .db
        .write(move |c| accounts::delete(c, &s, &user("shop")))
        .await;
    assert!(
        matches!(deleted, Err(OpError::MissingPrivilege(_))),
        "{deleted:?}"
    );
    let s = stale.clone();
    let addressed = app
        .db
        .write(move |c| {
            let to = whm_tokens::domain::EmailAddress::parse("x@example.com").unwrap();
            accounts::set_contact_email(c, &s, &user("shop"), Some(&to))
        })
        .await;
    assert!(
        matches!(addressed, Err(OpError::MissingPrivilege(_))),
        "{addressed:?}"
    );
    app.set_suspended("bob", true).await;
    let s = stale.clone();
    let own = app
        .db
        .write(move |c| accounts::set_contact_email(c, &s, &user("bob"), None))
        .await;
    assert!(matches!(own, Err(OpError::AccountSuspended(_))), "{own:?}");
    let s = stale.clone();
    let revoked = app
        .db
        .write(move |c| {
            whm_tokens::ops::tokens::revoke(
                c,
                &s,
                &[whm_tokens::domain::TokenName::parse("ci").unwrap()],
            )
        })
        .await;
    assert!(
        matches!(revoked, Err(OpError::AccountSuspended(_))),
        "{revoked:?}"
    );
    assert_eq!(app.count("tokens").await, 1);
    assert_eq!(app.count("accounts").await, 3, "shop is still there");
}
