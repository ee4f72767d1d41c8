//! Token lifecycle beyond WHM (issue 11, first part): regenerate, disable
//! and enable, and descriptions, on the page and the API.

use reqwest::StatusCode;

use crate::helpers::*;

#[actix_web::test]
async fn regenerating_gives_a_new_secret_keeps_the_rest_and_stops_the_old_one_at_once() {
    let app = spawn_app().await;
    let admin = app.token("root", "admin").await;
    let created = ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_create",
            &[
                ("token_name", "deploy"),
                ("acl", "list-accts"),
                ("whitelist_ip", "127.0.0.1"),
                ("description", "CI"),
            ],
        )
        .await,
    );
    let old = created["token"].as_str().unwrap().to_owned();
    let again = ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_regenerate",
            &[("token_name", "deploy")],
        )
        .await,
    );
    let new = again["token"].as_str().unwrap();
    assert_eq!(new.len(), 32);
    assert_ne!(new, old);
    assert_eq!(again["name"], "deploy");
    assert_eq!(again["acls"], created["acls"]);
    assert_eq!(again["whitelist_ips"], created["whitelist_ips"]);
    assert_eq!(again["description"], "CI");
    assert_denied(&app.api("root", &old, "version", &[]).await);
    ok_data(&app.api("root", new, "version", &[]).await);
    let reason = refused(
        &app.api(
            "root",
            &admin,
            "api_token_regenerate",
            &[("token_name", "ghost")],
        )
        .await,
    );
    assert!(
        reason.contains("The API token “ghost” does not exist."),
        "{reason}"
    );
    // Without manage-api-tokens: refused, nothing changed.
    let reason = refused(
        &app.api(
            "root",
            new,
            "api_token_regenerate",
            &[("token_name", "deploy")],
        )
        .await,
    );
    assert!(reason.contains("manage-api-tokens"), "{reason}");
    ok_data(&app.api("root", new, "version", &[]).await);

    // On the page: a confirmation, then the secret once.
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let confirm = root
        .get("/tokens/deploy/regenerate")
        .await
        .text()
        .await
        .unwrap();
    assert!(confirm.contains("scripts using the old secret will stop working"));
    let field = crate::hardening::regenerate_field(&confirm);
    let page = root
        .post("/tokens/deploy/regenerate", &[("secret", &field)])
        .await;
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    let shown = html
        .split("id=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert_denied(&app.api("root", new, "version", &[]).await);
    ok_data(&app.api("root", shown, "version", &[]).await);
}

#[actix_web::test]
async fn a_disabled_token_is_refused_like_any_other_and_works_again_when_enabled() {
    let app = spawn_app().await;
    let admin = app.token("root", "admin").await;
    let paused = app.token("root", "paused").await;
    let updated = ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_update",
            &[("token_name", "paused"), ("enabled", "0")],
        )
        .await,
    );
    assert_eq!(updated["enabled"], 0);
    let (status, body) = app.api("root", &paused, "version", &[]).await;
    let (unknown_status, unknown_body) = app.api("root", &"Z".repeat(32), "version", &[]).await;
    assert_eq!(
        (status, body),
        (unknown_status, unknown_body),
        "undistinguished"
    );
    let listed = ok_data(&app.api("root", &admin, "api_token_list", &[]).await);
    assert_eq!(listed["tokens"]["paused"]["enabled"], 0);
    assert_eq!(listed["tokens"]["admin"]["enabled"], 1);
    let reason = refused(
        &app.api(
            "root",
            &admin,
            "api_token_update",
            &[("token_name", "paused"), ("enabled", "2")],
        )
        .await,
    );
    assert!(reason.contains("“enabled” must be 0 or 1"), "{reason}");

    // The page: a badge and a grey row, a filter, and Enable.
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let page = root.get("/tokens").await.text().await.unwrap();
    let row = page.split("data-token=\"paused\"").next().unwrap();
    assert!(
        row.ends_with("<tr class=\"disabled\" "),
        "{:.100}",
        &row[row.len() - 100..]
    );
    assert!(page.contains("Disabled</span>"));
    let hidden = root
        .get("/tokens?disabled=hide")
        .await
        .text()
        .await
        .unwrap();
    assert!(!hidden.contains("data-token=\"paused\"") && hidden.contains("data-token=\"admin\""));
    let html = root
        .post_htmx("/tokens/paused/enable", &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("“paused” was enabled"));
    ok_data(&app.api("root", &paused, "version", &[]).await);
    // Without JavaScript, the row's own form.
    let done = root.post("/tokens/paused/disable", &[]).await;
    assert_eq!(location(&done), "/tokens");
    assert_denied(&app.api("root", &paused, "version", &[]).await);
    let events = app.command(&["audit", "--json", "--token", "paused"]).await;
    let events = String::from_utf8(events.stdout).unwrap();
    assert!(events.contains("\"detail\":\"disabled\""), "{events}");
}

#[actix_web::test]
async fn descriptions_are_checked_shown_under_the_name_and_searched() {
    let app = spawn_app().await;
    let admin = app.token("root", "admin").await;
    for (bad, says) in [
        ("x".repeat(256), "at most 255"),
        ("line\nbreak".to_owned(), "control characters"),
    ] {
        let reason = refused(
            &app.api(
                "root",
                &admin,
                "api_token_create",
                &[("token_name", "bad"), ("description", &bad)],
            )
            .await,
        );
        assert!(reason.contains(says), "{reason}");
    }
    assert_eq!(app.count("tokens").await, 1, "nothing written on refusal");
    let made = ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_create",
            &[
                ("token_name", "deploy"),
                ("description", "Nightly backups → S3"),
            ],
        )
        .await,
    );
    assert_eq!(made["description"], "Nightly backups → S3");
    let details = ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_get_details",
            &[("token", &admin)],
        )
        .await,
    );
    assert!(details["description"].is_null(), "null when empty");

    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let page = root.get("/tokens").await.text().await.unwrap();
    assert!(page.contains("<span class=\"description\">Nightly backups → S3</span>"));
    for search in ["backups", "S3", "nightly"] {
        let found = root
            .get(&format!("/tokens?q={search}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(found.contains("data-token=\"deploy\""), "{search}");
        assert!(!found.contains("data-token=\"admin\""), "{search}");
    }
    let invalid = root
        .post(
            "/tokens/new",
            &[
                ("name", "more"),
                ("description", "tab\there"),
                ("expires", "never"),
                ("acl", "all"),
            ],
        )
        .await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(invalid.text().await.unwrap().contains("control characters"));
    root.post(
        "/tokens/deploy/edit",
        &[
            ("name", "deploy"),
            ("description", "Hourly"),
            ("expires", "never"),
            ("acl", "all"),
        ],
    )
    .await;
    let data = ok_data(&app.api("root", &admin, "api_token_list", &[]).await);
    assert_eq!(data["tokens"]["deploy"]["description"], "Hourly");
}

#[actix_web::test]
async fn nobody_regenerates_disables_or_describes_anothers_token() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let roots = app.token("root", "roots").await;
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    for (path, fields) in [
        ("/tokens/roots/regenerate", vec![]),
        ("/tokens/roots/disable", vec![]),
        (
            "/tokens/roots/edit",
            vec![
                ("name", "roots"),
                ("description", "mine now"),
                ("acl", "all"),
            ],
        ),
    ] {
        assert_eq!(
            bob.post(path, &fields).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        bob.get("/tokens/roots/regenerate").await.status(),
        StatusCode::NOT_FOUND
    );
    let bobs = app.token("bob", "bobs").await;
    for (function, params) in [
        ("api_token_regenerate", vec![("token_name", "roots")]),
        (
            "api_token_update",
            vec![("token_name", "roots"), ("enabled", "0")],
        ),
        (
            "api_token_update",
            vec![("token_name", "roots"), ("description", "x")],
        ),
    ] {
        refused(&app.api("bob", &bobs, function, &params).await);
    }
    ok_data(&app.api("root", &roots, "version", &[]).await);
    let data = ok_data(
        &app.api(
            "root",
            &roots,
            "api_token_get_details",
            &[("token", &roots)],
        )
        .await,
    );
    assert_eq!(data["enabled"], 1);
    assert!(data["description"].is_null());
}

#[actix_web::test]
async fn expiry_presets_date_from_today_and_an_unknown_one_is_refused() {
    let app = spawn_app().await;
    let admin = app.token("root", "admin").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let form = root.get("/tokens/new").await.text().await.unwrap();
    assert!(
        form.contains("id=\"expires-365\" checked"),
        "a year, as WHM"
    );
    assert!(form.contains("never-warning"));
    for (days, name) in [
        ("7", "week"),
        ("30", "month"),
        ("90", "quarter"),
        ("365", "year"),
    ] {
        let made = root
            .post(
                "/tokens/new",
                &[("name", name), ("expires", days), ("acl", "all")],
            )
            .await;
        assert_eq!(made.status(), StatusCode::OK, "{days}");
        let list = ok_data(&app.api("root", &admin, "api_token_list", &[]).await);
        let at = list["tokens"][name]["expires_at"].as_i64().unwrap();
        let days: i64 = days.parse().unwrap();
        let ahead = at - now();
        assert!(
            ahead > days * 86_400 - 86_400 && ahead <= (days + 1) * 86_400,
            "{name}: {ahead} s ahead"
        );
    }
    let refused = root
        .post(
            "/tokens/new",
            &[("name", "odd"), ("expires", "5"), ("acl", "all")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Choose when the token expires."));
    assert_eq!(app.count("tokens").await, 5, "nothing written on refusal");
}

#[actix_web::test]
async fn the_tokens_page_warns_of_tokens_expiring_within_a_week_and_expired_ones() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    app.token("root", "calm").await;
    let quiet = root.get("/tokens").await.text().await.unwrap();
    assert!(!quiet.contains("expiry-banner"));
    for (name, at) in [
        ("soon-a", now() + 3600),
        ("soon-b", now() + 5 * 86_400),
        ("later", now() + 30 * 86_400),
    ] {
        app.token_with("root", name, whm_tokens::domain::Expiry::At(at), "", None)
            .await
            .unwrap();
    }
    app.token_with(
        "root",
        "gone",
        whm_tokens::domain::Expiry::At(now() + 60),
        "",
        None,
    )
    .await
    .unwrap();
    app.set_expiry("gone", now() - 60).await;
    let page = root.get("/tokens").await.text().await.unwrap();
    assert!(
        page.contains("2 tokens expire within 7 days, 1 has expired."),
        "{}",
        &page[page.find("<main").unwrap()..][..600]
    );
    assert!(page.contains("href=\"/tokens?sort=expires&amp;dir=asc\""));
}

#[actix_web::test]
async fn disable_selected_asks_first_then_disables_only_the_named_tokens() {
    let app = spawn_app().await;
    let a = app.token("root", "alpha").await;
    let b = app.token("root", "beta").await;
    let keep = app.token("root", "gamma").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let confirm = root
        .get("/tokens/disable?names=beta&names=alpha&names=ghost")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        confirm.contains("<strong>2 selected tokens: “alpha”, “beta”</strong>"),
        "{confirm}"
    );
    let partial = root
        .get_htmx("/tokens/disable?names=alpha")
        .await
        .text()
        .await
        .unwrap();
    assert!(partial.contains("hx-post=\"/tokens/disable\""));
    let nothing = root.get_htmx("/tokens/disable").await;
    assert_eq!(nothing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = root
        .post_htmx("/tokens/disable", &[("names", "alpha"), ("names", "beta")])
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("2 tokens disabled."));
    assert_denied(&app.api("root", &a, "version", &[]).await);
    assert_denied(&app.api("root", &b, "version", &[]).await);
    ok_data(&app.api("root", &keep, "version", &[]).await);
    let page = root.get("/tokens").await.text().await.unwrap();
    assert!(page.contains("id=\"hide-disabled\""), "a visible filter");
    let hidden = root
        .get("/tokens?disabled=hide")
        .await
        .text()
        .await
        .unwrap();
    assert!(hidden.contains("id=\"hide-disabled\" checked"));
    assert!(!hidden.contains("data-token=\"alpha\"") && hidden.contains("data-token=\"gamma\""));
}
