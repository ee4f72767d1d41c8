//! The tokens page over HTTP: table, search, colours, generate, edit,
//! revoke, and who sees what.

use reqwest::StatusCode;

use whm_tokens::domain::Expiry;

use crate::helpers::*;

fn rows(html: &str) -> Vec<String> {
    html.split("data-token=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

fn date_in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

#[actix_web::test]
async fn the_table_lists_own_tokens_newest_first_with_whms_columns() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    app.token("bob", "not-roots").await;
    app.token_with("root", "first", Expiry::Never, "", None)
        .await
        .unwrap();
    app.token_with(
        "root",
        "second",
        Expiry::At(now() + 86_400 * 10),
        "192.0.2.1, 2001:db8::/32",
        None,
    )
    .await
    .unwrap();
    app.set_created("first", 1_000_000_000).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let html = root.get("/tokens").await.text().await.unwrap();
    assert_eq!(rows(&html), ["second", "first"]);
    for heading in [">Name<", ">Created<", ">Expires<", ">IPs<", ">Actions<"] {
        assert!(html.contains(heading), "{heading}");
    }
    assert!(
        html.contains("Sep 9, 2001 01:46:40"),
        "created as month day year hh:mm:ss"
    );
    assert!(html.contains("<td class=\"ips\" data-label=\"IPs\">Any</td>"));
    assert!(html.contains("192.0.2.1, 2001:db8::/32"));
    assert!(
        html.contains("Refresh List")
            && html.contains("Revoke All")
            && html.contains("Revoke Selected")
    );
}

#[actix_web::test]
async fn search_returns_the_table_partial_for_htmx_and_the_whole_page_otherwise() {
    let app = spawn_app().await;
    for name in ["deploy-web", "Deploy-db", "backup"] {
        app.token("root", name).await;
    }
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let partial = root.get_htmx("/tokens?q=DEPLOY").await;
    assert_eq!(partial.headers()["vary"], "HX-Request");
    let html = partial.text().await.unwrap();
    assert!(
        html.starts_with("<div id=\"tokens-table\""),
        "only the partial"
    );
    assert!(!html.contains("<html"));
    let mut found = rows(&html);
    found.sort();
    assert_eq!(found, ["Deploy-db", "deploy-web"]);
    assert!(html.contains("2 token(s) match “DEPLOY”"));
    let page = root.get("/tokens?q=back").await.text().await.unwrap();
    assert!(page.contains("<html"));
    assert_eq!(rows(&page), ["backup"]);
    assert!(
        page.contains("value=\"back\""),
        "the search box keeps the query"
    );
    // A history restore needs the whole page.
    let restore = root
        .http
        .get(format!("{}/tokens?q=back", app.address))
        .header("HX-Request", "true")
        .header("HX-History-Restore-Request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(restore.contains("<html"));
}

#[actix_web::test]
async fn sorting_and_paging_follow_the_url() {
    let app = spawn_app().await;
    for i in 0..30 {
        app.token("root", &format!("t{i:02}")).await;
    }
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let html = root
        .get("/tokens?sort=name&dir=asc")
        .await
        .text()
        .await
        .unwrap();
    let names = rows(&html);
    assert_eq!(names.len(), 25);
    assert_eq!(names[0], "t00");
    assert!(html.contains("Page 1 of 2"));
    let html = root
        .get("/tokens?sort=name&dir=asc&page=2")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&html), ["t25", "t26", "t27", "t28", "t29"]);
    let html = root
        .get("/tokens?sort=name&dir=desc&per_page=10")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&html).len(), 10);
    assert_eq!(rows(&html)[0], "t29");
    assert!(html.contains("aria-sort=\"descending\""));
}

#[actix_web::test]
async fn rows_turn_yellow_under_a_day_to_expiry_and_red_once_expired() {
    let app = spawn_app().await;
    app.token_with("root", "soon", Expiry::At(now() + 3600), "", None)
        .await
        .unwrap();
    app.token_with("root", "gone", Expiry::At(now() + 3600), "", None)
        .await
        .unwrap();
    app.set_expiry("gone", now() - 60).await;
    app.token_with("root", "fine", Expiry::At(now() + 86_400 * 3), "", None)
        .await
        .unwrap();
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let html = root.get("/tokens").await.text().await.unwrap();
    assert!(html.contains("<tr class=\"expiring\" data-token=\"soon\">"));
    assert!(html.contains("<tr class=\"expired\" data-token=\"gone\">"));
    assert!(html.contains("<tr class=\"\" data-token=\"fine\">"));
    // Said in words, not only in colour.
    assert!(html.contains("<span class=\"status expiring\" title=\"Expires in less than 24 hours\">Expires soon</span>"));
    assert!(html.contains("<span class=\"status expired\" title=\"Expired\">Expired</span>"));
}

#[actix_web::test]
async fn the_generate_form_offers_only_held_privileges_all_checked_with_warnings() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let html = bob.get("/tokens/new").await.text().await.unwrap();
    assert_eq!(html.matches("name=\"acl\"").count(), 20);
    assert_eq!(
        html.matches("name=\"acl\" value=").count(),
        html.matches("checked>").count() - 1,
        "all boxes checked (plus the never radio)"
    );
    assert!(!html.contains("value=\"all\""));
    assert!(html.contains("Initial Privileges"));
    assert!(html.contains("id=\"warn-manage-api-tokens\""));
    assert!(
        html.contains(&format!("value=\"{}\"", date_in_days(365)[..7].to_owned()))
            || html.contains("type=\"date\"")
    );
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let html = root.get("/tokens/new").await.text().await.unwrap();
    assert_eq!(html.matches("name=\"acl\"").count(), 65);
    for key in [
        "all",
        "passwd",
        "create-user-session",
        "manage-api-tokens",
        "cpanel-api",
    ] {
        assert!(html.contains(&format!("id=\"warn-{key}\"")), "{key}");
    }
}

#[actix_web::test]
async fn generating_shows_the_secret_once_and_it_works_with_the_api() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let expires = date_in_days(30);
    let response = root
        .post(
            "/tokens/new",
            &[
                ("name", "from-page"),
                ("expires", "date"),
                ("expires_on", &expires),
                ("ips", "127.0.0.1\n10.0.0.0/8"),
                ("acl", "list-accts"),
                ("acl", "manage-api-tokens"),
                ("acl", "suspend-acct"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    let secret = html
        .split("<code id=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(secret.len(), 32);
    assert!(html.contains("Yes, I saved my token"));
    assert!(html.contains("23:59:59"));

    let data = ok_data(
        &app.api(
            "root",
            &secret,
            "api_token_get_details",
            &[("token", &secret)],
        )
        .await,
    );
    assert_eq!(
        data["acls"],
        serde_json::json!(["list-accts", "manage-api-tokens", "suspend-acct"])
    );
    assert_eq!(
        data["whitelist_ips"],
        serde_json::json!(["10.0.0.0/8", "127.0.0.1"])
    );
    // The list never shows it again.
    let list = root.get("/tokens").await.text().await.unwrap();
    assert!(list.contains("data-token=\"from-page\""));
    assert!(!list.contains(&secret));
    // A token made with the API shows up in the page.
    ok_data(
        &app.api(
            "root",
            &secret,
            "api_token_create",
            &[("token_name", "from-api")],
        )
        .await,
    );
    assert!(root
        .get("/tokens")
        .await
        .text()
        .await
        .unwrap()
        .contains("data-token=\"from-api\""));
}

#[actix_web::test]
async fn checking_everything_means_everything() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let html = root
        .post(
            "/tokens/new",
            &[
                ("name", "full"),
                ("expires", "never"),
                ("ips", ""),
                ("acl", "all"),
                ("acl", "passwd"),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    let secret = html
        .split("<code id=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let data = ok_data(
        &app.api(
            "root",
            &secret,
            "api_token_get_details",
            &[("token", &secret)],
        )
        .await,
    );
    assert_eq!(data["acls"], serde_json::json!(["all"]));
}

#[actix_web::test]
async fn bad_input_re_renders_the_form_with_a_message_per_field_and_the_input_kept() {
    let app = spawn_app().await;
    app.token("root", "taken").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let response = root
        .post(
            "/tokens/new",
            &[
                ("name", "no spaces"),
                ("expires", "date"),
                ("expires_on", "2001-01-01"),
                ("ips", "10.0.0.1, 999.1.1.1 example.com"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    for message in [
        "The name may contain only letters",
        "The expiration date must be in the future.",
        // Every bad entry, not just the first.
        "These are not IPv4 or IPv6 addresses or ranges: “999.1.1.1”, “example.com”.",
        "Select at least one privilege.",
    ] {
        assert!(html.contains(message), "{message}");
    }
    assert!(html.contains("value=\"no spaces\""));
    assert!(html.contains("10.0.0.1, 999.1.1.1 example.com</textarea>"));
    assert!(html.contains("value=\"2001-01-01\""));

    let response = root
        .post(
            "/tokens/new",
            &[
                ("name", "taken"),
                ("expires", "never"),
                ("acl", "list-accts"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("You already have a token named “taken”."));
    assert!(
        html.contains("value=\"list-accts\" checked"),
        "the ticks are kept"
    );
    assert!(!html.contains("value=\"kill-acct\" checked"));
    let many: Vec<String> = (0..101).map(|i| format!("10.1.0.{i}")).collect();
    let response = root
        .post(
            "/tokens/new",
            &[("name", "many"), ("ips", &many.join("\n")), ("acl", "all")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("at most 100"));
    assert_eq!(app.count("tokens").await, 1);
}

#[actix_web::test]
async fn editing_changes_name_expiry_ips_and_privileges_and_keeps_the_secret() {
    let app = spawn_app().await;
    let secret = app
        .token_with(
            "root",
            "old",
            Expiry::Never,
            "192.0.2.1",
            Some("list-accts"),
        )
        .await
        .unwrap();
    let admin = app.token("root", "admin").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let form = root.get("/tokens/old/edit").await.text().await.unwrap();
    assert!(form.contains("value=\"old\""));
    assert!(form.contains("192.0.2.1</textarea>"));
    assert!(form.contains("value=\"list-accts\" checked"));
    let response = root
        .post(
            "/tokens/old/edit",
            &[
                ("name", "new"),
                ("expires", "date"),
                ("expires_on", &date_in_days(5)),
                ("ips", ""),
                ("acl", "list-accts"),
                ("acl", "kill-acct"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/tokens");
    let list = root.get("/tokens").await.text().await.unwrap();
    assert!(list.contains("The token “new” was saved."), "success toast");
    assert!(list.contains("data-token=\"new\""));
    let data = ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_get_details",
            &[("token", &secret)],
        )
        .await,
    );
    assert_eq!(data["name"], "new");
    ok_data(&app.api("root", &secret, "listaccts", &[]).await);
    assert_eq!(
        data["whitelist_ips"],
        serde_json::Value::Null,
        "cleared means any"
    );
    assert_eq!(data["acls"], serde_json::json!(["kill-acct", "list-accts"]));
    assert!(data["expires_at"].is_i64());

    let none = root
        .post(
            "/tokens/new/edit",
            &[("name", "new"), ("expires", "never"), ("ips", "")],
        )
        .await;
    assert_eq!(none.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(none
        .text()
        .await
        .unwrap()
        .contains("Select at least one privilege."));
}

#[actix_web::test]
async fn an_expired_token_can_be_edited_without_touching_its_date() {
    let app = spawn_app().await;
    app.token_with(
        "root",
        "old",
        Expiry::At(now() + 3600),
        "",
        Some("list-accts"),
    )
    .await
    .unwrap();
    app.set_expiry("old", now() - 86_400 * 2).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let form = root.get("/tokens/old/edit").await.text().await.unwrap();
    let date = form
        .split("name=\"expires_on\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let response = root
        .post(
            "/tokens/old/edit",
            &[
                ("name", "renamed"),
                ("expires", "date"),
                ("expires_on", &date),
                ("acl", "list-accts"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn revoking_through_htmx_returns_the_new_table_and_a_toast() {
    let app = spawn_app().await;
    let doomed = app.token("root", "doomed").await;
    app.token("root", "kept").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let response = root.post_htmx("/tokens/doomed/revoke", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert_eq!(rows(&html), ["kept"]);
    assert!(html.contains("hx-swap-oob=\"beforeend\""));
    assert!(html.contains("The token “doomed” was revoked."));
    assert_denied(&app.api("root", &doomed, "version", &[]).await);
    let again = root.post_htmx("/tokens/doomed/revoke", &[]).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn revoke_without_javascript_confirms_on_a_page_then_redirects_with_a_message() {
    let app = spawn_app().await;
    app.token("root", "doomed").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let confirm = root
        .get("/tokens/doomed/revoke")
        .await
        .text()
        .await
        .unwrap();
    assert!(confirm.contains("revoke <strong>the token “doomed”</strong>?"));
    let response = root.post("/tokens/doomed/revoke", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let list = root.get("/tokens").await.text().await.unwrap();
    assert!(list.contains("The token “doomed” was revoked."));
    assert!(rows(&list).is_empty());
}

#[actix_web::test]
async fn revoke_selected_and_revoke_all() {
    let app = spawn_app().await;
    for name in ["a", "b", "c", "d"] {
        app.token("root", name).await;
    }
    app.create_reseller("bob", None).await;
    app.token("bob", "bobs").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let html = root
        .post_htmx(
            "/tokens/revoke",
            &[("names", "a"), ("names", "c"), ("names", "bobs")],
        )
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&html), ["d", "b"]);
    assert!(html.contains("2 tokens revoked."));
    let confirm = root.get("/tokens/revoke-all").await.text().await.unwrap();
    assert!(
        confirm.contains("<strong>all of your tokens</strong>"),
        "a confirmation page without JavaScript"
    );
    let upto = confirm
        .split("name=\"upto\" value=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .expect("the count's newest token in the form")
        .to_owned();
    // A token made after the confirmation counted two is not revoked.
    app.token("root", "made-since").await;
    let html = root
        .post_htmx("/tokens/revoke-all", &[("upto", &upto)])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&html), ["made-since"]);
    assert!(
        html.contains("The 2 tokens you confirmed were revoked; 1 made since was kept."),
        "{html}"
    );
    let html = root
        .post_htmx("/tokens/revoke-all", &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(rows(&html).is_empty());
    assert!(html.contains("All of your tokens were revoked (1)."));
    assert_eq!(app.count("tokens").await, 1, "bob's token is untouched");
}

#[actix_web::test]
async fn nobody_reaches_anothers_tokens_by_guessing_names() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    app.token("root", "roots-token").await;
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    assert_eq!(
        bob.get("/tokens/roots-token/edit").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bob.get("/tokens/roots-token/revoke").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bob.post("/tokens/roots-token/revoke", &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    let edit = bob
        .post(
            "/tokens/roots-token/edit",
            &[("name", "mine"), ("acl", "list-pkgs")],
        )
        .await;
    assert_eq!(edit.status(), StatusCode::NOT_FOUND);
    assert!(!bob
        .get("/tokens?q=roots")
        .await
        .text()
        .await
        .unwrap()
        .contains("roots-token"));
    assert_eq!(app.count("tokens").await, 1);
}

#[actix_web::test]
async fn a_reseller_without_every_initial_privilege_sees_an_explanation_not_the_table() {
    let app = spawn_app().await;
    app.create_reseller("bob", Some("manage-api-tokens list-accts"))
        .await;
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let page = bob.get("/tokens").await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    let html = page.text().await.unwrap();
    assert!(html.contains("Initial Privileges"));
    assert!(!html.contains("id=\"tokens-table\""));
    assert_eq!(
        bob.post("/tokens/new", &[("name", "x"), ("acl", "list-accts")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.count("tokens").await, 0);
}

#[actix_web::test]
async fn the_page_for_ten_thousand_tokens_holds_one_page_of_rows() {
    let app = spawn_app().await;
    app.bulk_tokens("root", 10_000).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let html = root.get("/tokens").await.text().await.unwrap();
    assert_eq!(rows(&html).len(), 25);
    assert!(html.contains("10000 token(s)"));
    assert!(html.contains("Page 1 of 400"));
    let html = root
        .get_htmx("/tokens?q=bulk-0999")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(rows(&html).len(), 10, "bulk-09990 to bulk-09999");
}

#[actix_web::test]
async fn a_search_matching_many_tokens_shows_the_first_page_and_counts_up_to_a_cap() {
    use whm_tokens::ops::token_listing::{SEARCH_COUNT_CAP, SELECTIVE};
    let app = spawn_app().await;
    // More matches of "bulk" than a selective search has, in the store
    // but not all root's: bob's count towards the probe, not the page.
    app.create_reseller("bob", None).await;
    app.bulk_tokens("bob", SELECTIVE as usize).await;
    app.bulk_tokens("root", 300).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let broad = root.get_htmx("/tokens?q=bulk").await.text().await.unwrap();
    assert!(
        broad.contains(&format!("{SEARCH_COUNT_CAP}+ token(s) match")),
        "{broad}"
    );
    assert!(broad.contains("refine the search"));
    // The newest first, as without a search: bulk-00000 was made last.
    let names = rows(&broad);
    assert_eq!(names.len(), 25);
    assert!(names[0].contains("bulk-00000") && names[24].contains("bulk-00024"));
    // Sorted by name from the other end, the same search.
    let by_name = root
        .get_htmx("/tokens?q=bulk&sort=name&dir=desc")
        .await
        .text()
        .await
        .unwrap();
    assert!(rows(&by_name)[0].contains("bulk-00299"), "root's own only");
    // Pages stop at the counted ones.
    let far = root
        .get_htmx("/tokens?q=bulk&page=1000")
        .await
        .text()
        .await
        .unwrap();
    let last = SEARCH_COUNT_CAP / 25;
    assert!(far.contains(&format!("Page {last} of {last}+")), "{far}");
    assert_eq!(rows(&far).len(), 25);
    // A selective search (few matches in the store) counts exactly, and
    // one that matches nothing says so; a short term walks the page too.
    let few = root
        .get_htmx("/tokens?q=bulk-0029")
        .await
        .text()
        .await
        .unwrap();
    assert!(few.contains("10 token(s) match"), "{few}");
    let none = root
        .get_htmx("/tokens?q=nothing-like-it")
        .await
        .text()
        .await
        .unwrap();
    assert!(none.contains("No tokens match “nothing-like-it”"), "{none}");
    let short = root.get_htmx("/tokens?q=29").await.text().await.unwrap();
    assert!(short.contains("13 token(s) match"), "{short}");
}

#[actix_web::test]
async fn a_failed_htmx_request_gets_its_message_as_a_toast_sent_to_the_toast_area() {
    let app = spawn_app().await;
    app.token("root", "kept").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let response = root.get_htmx("/tokens/revoke").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("hx-retarget").as_deref(), Some("#toasts"));
    assert_eq!(header("hx-reswap").as_deref(), Some("beforeend"));
    assert!(header("x-request-id").is_some_and(|id| id.len() == 16));
    let html = response.text().await.unwrap();
    assert!(html.contains("class=\"toast error\""), "{html}");
    assert!(html.contains("Select at least one token to revoke."));
    assert!(!html.contains("<html"), "a toast, not a page");

    let gone = root.post_htmx("/tokens/ghost/revoke", &[]).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert!(gone
        .text()
        .await
        .unwrap()
        .contains("You have no token named “ghost”."));

    // The same failure without htmx is a page.
    let page = root.get("/tokens/revoke").await;
    assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text().await.unwrap().contains("<html"));
    assert_eq!(app.count("tokens").await, 1, "nothing changed");
}

#[actix_web::test]
async fn each_confirmation_is_a_page_without_javascript_and_a_dialog_partial_with_htmx() {
    let app = spawn_app().await;
    for name in ["alpha", "beta", "gamma"] {
        app.token("root", name).await;
    }
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let cases = [
        (
            "/tokens/beta/revoke",
            "the token “beta”",
            "/tokens/beta/revoke",
        ),
        (
            "/tokens/revoke?names=gamma&names=alpha&names=nonexistent&names=bad%20name",
            "2 selected tokens: “alpha”, “gamma”",
            "/tokens/revoke",
        ),
        (
            "/tokens/revoke-all",
            "all of your tokens",
            "/tokens/revoke-all",
        ),
    ];
    for (path, named, action) in cases {
        let page = root.get(path).await;
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        let page = page.text().await.unwrap();
        assert!(page.contains("<html"), "{path}: a whole page");
        assert!(
            page.contains(&format!("<strong>{named}</strong>")),
            "{path}: {page}"
        );
        assert!(page.contains(&format!("action=\"{action}\"")), "{path}");
        assert!(
            !page.contains("hx-post"),
            "{path}: a plain form posts without JavaScript"
        );

        let partial = root.get_htmx(path).await.text().await.unwrap();
        assert!(
            !partial.contains("<html"),
            "{path}: only the dialog's content"
        );
        assert!(
            partial.contains(&format!("<strong>{named}</strong>")),
            "{path}"
        );
        assert!(
            partial.contains(&format!("hx-post=\"{action}\"")),
            "{path}: Continue posts with htmx: {partial}"
        );
        assert!(partial.contains("data-cancel"), "{path}");
    }
    assert!(root
        .get("/tokens/revoke-all")
        .await
        .text()
        .await
        .unwrap()
        .contains("That is 3 tokens"));
    // Revoke Selected's Continue posts exactly the names it showed.
    let partial = root
        .get_htmx("/tokens/revoke?names=gamma&names=alpha")
        .await
        .text()
        .await
        .unwrap();
    assert!(partial.contains("name=\"names\" value=\"alpha\""));
    assert!(partial.contains("name=\"names\" value=\"gamma\""));
    assert_eq!(app.count("tokens").await, 3, "asking changes nothing");
    assert_eq!(
        root.get("/tokens/missing/revoke").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn each_row_says_what_its_token_may_do_at_a_glance() {
    let app = spawn_app().await;
    app.token_with(
        "root",
        "few",
        whm_tokens::domain::Expiry::Never,
        "",
        Some("list-accts suspend-acct kill-acct create-acct"),
    )
    .await
    .unwrap();
    app.token("root", "everything").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let page = root.get("/tokens").await.text().await.unwrap();
    let few = page.split("data-token=\"few\"").nth(1).unwrap();
    let few = &few[..few.find("</tr>").unwrap()];
    assert!(
        few.contains(">List Accounts, Create Accounts +2<"),
        "two labels and how many more: {few}"
    );
    assert!(few.contains("data-detail=\"List Accounts, Create Accounts, Terminate Accounts, Suspend/Unsuspend Accounts\""), "{few}");
    let all = page.split("data-token=\"everything\"").nth(1).unwrap();
    assert!(all[..all.find("</tr>").unwrap()].contains(">Everything<"));
}

#[actix_web::test]
async fn an_empty_list_shows_a_simple_invitation_and_the_zone_is_named() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let html = root.get("/tokens").await.text().await.unwrap();
    assert!(html.contains("id=\"empty-state\""));
    assert!(html.contains("You have no API tokens yet."));
    assert!(!html.contains("<table"), "no header, no select-all box");
    assert!(!html.contains("id=\"revoke-selected\""));
    app.token("root", "one").await;
    let html = root.get("/tokens").await.text().await.unwrap();
    assert!(html.contains("Expires</a> <span class=\"zone\">(UTC)</span>"));
    let form = root.get("/tokens/new").await.text().await.unwrap();
    assert!(form.contains("23:59:59 server time, UTC"));
}

#[actix_web::test]
async fn the_favicon_is_served() {
    let app = spawn_app().await;
    let response = reqwest::get(format!("{}/favicon.ico", app.address))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/x-icon");
    assert!(response.bytes().await.unwrap().starts_with(&[0, 0, 1, 0]));
}

#[actix_web::test]
async fn sorting_by_name_ignores_case_and_breaks_ties_by_the_exact_name() {
    let app = spawn_app().await;
    for name in ["Staging_Deploy", "automation-ci", "Beta", "beta", "alpha"] {
        app.token("root", name).await;
    }
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let html = root
        .get("/tokens?sort=name&dir=asc")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        rows(&html),
        ["alpha", "automation-ci", "Beta", "beta", "Staging_Deploy"]
    );
    let html = root
        .get("/tokens?sort=name&dir=desc")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        rows(&html),
        ["Staging_Deploy", "beta", "Beta", "automation-ci", "alpha"]
    );
}

#[actix_web::test]
async fn sending_the_generate_form_again_says_the_token_exists_instead_of_failing() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let form = root.get("/tokens/new").await.text().await.unwrap();
    let form_id = form
        .split("name=\"form_id\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries its id")
        .to_owned();
    let fields = [
        ("name", "deploy"),
        ("expires", "never"),
        ("acl", "list-accts"),
        ("form_id", form_id.as_str()),
    ];
    let first = root.post("/tokens/new", &fields).await;
    assert_eq!(first.status(), StatusCode::OK);
    let page = first.text().await.unwrap();
    assert!(page.contains("data-replace-url=\"/tokens/deploy/generated\""));
    // The reload: the same form again.
    let again = root.post("/tokens/new", &fields).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(again.headers()["location"], "/tokens/deploy/generated");
    let page = root
        .get("/tokens/deploy/generated")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("The token “deploy” exists"));
    assert!(page.contains("cannot be shown again"));
    assert_eq!(app.count("tokens").await, 1);
    // Back, a new name, Generate: a second token, as asked.
    let other = [
        ("name", "deploy2"),
        ("expires", "never"),
        ("acl", "list-accts"),
        ("form_id", form_id.as_str()),
    ];
    assert_eq!(
        root.post("/tokens/new", &other).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.count("tokens").await, 2);
}

#[actix_web::test]
async fn sending_a_regenerate_confirmation_again_does_not_change_the_secret_twice() {
    let app = spawn_app().await;
    app.token("root", "deploy").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let confirm = root
        .get("/tokens/deploy/regenerate")
        .await
        .text()
        .await
        .unwrap();
    let field = crate::hardening::regenerate_field(&confirm);
    let first = root
        .post("/tokens/deploy/regenerate", &[("secret", &field)])
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let html = first.text().await.unwrap();
    let secret = html
        .split("<code id=\"secret\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_owned();
    let again = root
        .post("/tokens/deploy/regenerate", &[("secret", &field)])
        .await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        version_at(&app.address, "root", &secret).await,
        StatusCode::OK,
        "the secret shown first still works"
    );
}

#[actix_web::test]
async fn a_resent_form_is_recognised_even_after_other_tabs_made_tokens() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let form_id = |html: String| {
        html.split("name=\"form_id\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned()
    };
    let first = form_id(root.get("/tokens/new").await.text().await.unwrap());
    let second = form_id(root.get("/tokens/new").await.text().await.unwrap());
    let fields = |name: &'static str, id: &str| {
        vec![
            ("name", name.to_owned()),
            ("expires", "never".to_owned()),
            ("acl", "list-accts".to_owned()),
            ("form_id", id.to_owned()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let root = &root;
        async move {
            let borrowed: Vec<(&str, &str)> =
                fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            root.post("/tokens/new", &borrowed).await.status()
        }
    };
    assert_eq!(post(fields("one", &first)).await, StatusCode::OK);
    assert_eq!(post(fields("two", &second)).await, StatusCode::OK);
    // Tab one is reloaded after tab two made its token.
    assert_eq!(post(fields("one", &first)).await, StatusCode::SEE_OTHER);
    assert_eq!(app.count("tokens").await, 2);
}
