//! Root's accounts page, and what resellers may see of it.

use reqwest::StatusCode;
use whm_tokens::ops::AccountKind;

use crate::helpers::*;

#[actix_web::test]
async fn root_creates_a_reseller_who_starts_with_the_initial_privileges_and_can_sign_in() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let response = root
        .post(
            "/accounts",
            &[
                ("username", "bob"),
                ("password", USER_PASSWORD),
                ("kind", "reseller"),
                ("owner", "root"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = root.get("/accounts").await.text().await.unwrap();
    assert!(page.contains("The account “bob” was created."));
    assert!(page.contains("data-account=\"bob\""));
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    assert_eq!(bob.get("/tokens").await.status(), StatusCode::OK);
    assert_eq!(app.actor("bob").await.account.privileges.len(), 20);
}

#[actix_web::test]
async fn creating_an_account_with_bad_input_re_renders_with_messages_and_writes_nothing() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let before = app.count("accounts").await;
    let response = root
        .post(
            "/accounts",
            &[
                ("username", "Bad Name"),
                ("password", "short"),
                ("kind", "user"),
                ("owner", "root"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("lower-case"));
    assert!(html.contains("at least 12"));
    assert!(html.contains("value=\"Bad Name\""));
    let taken = root
        .post(
            "/accounts",
            &[
                ("username", "bob"),
                ("password", USER_PASSWORD),
                ("kind", "user"),
                ("owner", "root"),
            ],
        )
        .await;
    assert_eq!(taken.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(taken.text().await.unwrap().contains("already taken"));
    assert_eq!(app.count("accounts").await, before);
}

#[actix_web::test]
async fn root_renames_changes_privileges_suspends_and_deletes_a_reseller() {
    let app = spawn_app().await;
    app.create_reseller("bob", Some("manage-api-tokens list-accts"))
        .await;
    let secret = app.token("bob", "ci").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let edit = root.get("/accounts/bob").await.text().await.unwrap();
    assert!(edit.contains("value=\"list-accts\" checked"));
    assert!(edit.contains("revokes its 1 API token(s)"));

    let renamed = root
        .post("/accounts/bob/rename", &[("new_name", "robert")])
        .await;
    assert_eq!(location(&renamed), "/accounts/robert");
    ok_data(&app.api("robert", &secret, "listaccts", &[]).await);

    let bad = root
        .post("/accounts/robert/rename", &[("new_name", "root")])
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    root.post(
        "/accounts/robert/privileges",
        &[("acl", "manage-api-tokens")],
    )
    .await;
    let reason = refused(&app.api("robert", &secret, "listaccts", &[]).await);
    assert!(reason.contains("list-accts"), "{reason}");

    let suspended = root.post("/accounts/robert/suspend", &[]).await;
    assert_eq!(suspended.status(), StatusCode::SEE_OTHER);
    assert_denied(&app.api("robert", &secret, "version", &[]).await);
    assert!(root
        .get("/accounts/robert")
        .await
        .text()
        .await
        .unwrap()
        .contains("Unsuspend"));
    root.post("/accounts/robert/unsuspend", &[]).await;
    ok_data(&app.api("robert", &secret, "version", &[]).await);

    let deleted = root.post("/accounts/robert/delete", &[]).await;
    assert_eq!(location(&deleted), "/accounts");
    assert_denied(&app.api("robert", &secret, "version", &[]).await);
    assert_eq!(app.count("tokens").await, 0);
    assert_eq!(
        root.get("/accounts/robert").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn root_cannot_suspend_or_delete_itself() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(
        root.post("/accounts/root/suspend", &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        root.post("/accounts/root/delete", &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(root.get("/tokens").await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn resellers_see_their_own_accounts_read_only_and_cannot_manage_others() {
    let app = spawn_app().await;
    app.create_reseller(
        "bob",
        Some(&format!("{} list-accts create-acct", initial())),
    )
    .await;
    app.create_reseller("carol", None).await;
    let bob_token = app.token("bob", "t").await;
    ok_data(
        &app.api(
            "bob",
            &bob_token,
            "createacct",
            &[("username", "shop"), ("password", USER_PASSWORD)],
        )
        .await,
    );
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let html = bob.get("/accounts").await.text().await.unwrap();
    assert!(html.contains("data-account=\"shop\""));
    assert!(!html.contains("data-account=\"carol\""));
    assert!(!html.contains("Create an account"));
    for (path, fields) in [
        (
            "/accounts",
            vec![
                ("username", "evil"),
                ("password", USER_PASSWORD),
                ("kind", "user"),
            ],
        ),
        ("/accounts/carol/suspend", vec![]),
        ("/accounts/carol/delete", vec![]),
        ("/accounts/shop/delete", vec![]),
        ("/accounts/carol/privileges", vec![("acl", "all")]),
    ] {
        assert_eq!(
            bob.post(path, &fields).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    assert_eq!(
        bob.get("/accounts/carol").await.status(),
        StatusCode::FORBIDDEN
    );
    let carol = app.sign_in("carol", USER_PASSWORD).await;
    let html = carol.get("/accounts").await.text().await.unwrap();
    assert!(
        html.contains("list-accts"),
        "carol lacks list-accts and is told so"
    );
}

#[actix_web::test]
async fn the_accounts_page_is_paged_from_the_names_shown_and_searchable_as_you_type() {
    let app = spawn_app().await;
    app.bulk_accounts(60).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let shown = |html: &str| html.matches("data-account=").count();

    // root, user0000 … user0048; the count is of them all.
    let first = root.get("/accounts").await.text().await.unwrap();
    assert_eq!(shown(&first), 50);
    assert!(first.contains("61 account(s)"), "{first}");
    assert!(first.contains("data-account=\"root\""));
    assert!(
        pager_link(&first, "prev").is_none(),
        "nothing before the first"
    );

    // Next: the names after the last one shown.
    let next = pager_link(&first, "next").unwrap();
    assert_eq!(next, "/accounts?after=user0048");
    let second = root.get(&next).await.text().await.unwrap();
    assert_eq!(shown(&second), 11);
    assert!(second.contains("data-account=\"user0049\""));
    assert!(second.contains("data-account=\"user0059\""));
    assert!(
        pager_link(&second, "next").is_none(),
        "nothing after the last"
    );
    // Previous: the page that ends just before the first one shown.
    let back = root
        .get(&pager_link(&second, "prev").unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(shown(&back), 50);
    assert!(back.contains("data-account=\"root\"") && back.contains("data-account=\"user0048\""));
    // Last: the last 50 names, read from the far end.
    let last = root.get("/accounts?last=1").await.text().await.unwrap();
    assert_eq!(shown(&last), 50);
    assert!(
        last.contains("data-account=\"user0010\"") && last.contains("data-account=\"user0059\"")
    );
    assert!(!last.contains("data-account=\"user0009\""));
    // A cursor past the end shows the last page, not an empty one.
    let past = root.get("/accounts?after=zzz").await.text().await.unwrap();
    assert!(past.contains("data-account=\"user0059\""), "{past}");

    // A page of another size, kept by the pager's links; a size not
    // offered falls back to 50.
    let tens = root
        .get("/accounts?per_page=10")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(shown(&tens), 10);
    assert_eq!(
        pager_link(&tens, "next").unwrap(),
        "/accounts?after=user0008&per_page=10"
    );
    let odd = root.get("/accounts?per_page=7").await.text().await.unwrap();
    assert_eq!(shown(&odd), 50);

    // As htmx asks while the user types: the table alone, filtered.
    let found = root.get_htmx("/accounts?q=user005").await;
    let html = found.text().await.unwrap();
    assert!(!html.contains("<html"), "a partial, not a page");
    assert_eq!(html.matches("data-account=").count(), 10, "{html}");
    assert!(!html.contains("class=\"pager\""), "one page needs no pager");
    assert!(html.contains("10 account(s) matching"), "{html}");

    let none = root
        .get_htmx("/accounts?q=Nobody%25")
        .await
        .text()
        .await
        .unwrap();
    assert!(none.contains("No accounts match"), "{none}");
}

#[actix_web::test]
async fn past_the_count_cap_pages_are_read_from_their_place_and_the_count_says_more() {
    use whm_tokens::ops::account_listing::COUNT_CAP;
    let app = spawn_app().await;
    // root and user0000 … user1004.
    app.bulk_accounts(COUNT_CAP as usize + 5).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let shown = |html: &str| html.matches("data-account=").count();
    let first = root
        .get("/accounts?per_page=100")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        first.contains(&format!("{COUNT_CAP}+ account(s)")),
        "{first}"
    );
    assert_eq!(shown(&first), 100);
    let next = root
        .get(&pager_link(&first, "next").unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert!(
        next.contains("data-account=\"user0099\"") && next.contains("data-account=\"user0198\"")
    );
    // The last page holds the very last names, past the counted ones.
    let last = root
        .get("/accounts?last=1&per_page=100")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(shown(&last), 100);
    assert!(
        last.contains("data-account=\"user1004\"") && last.contains("data-account=\"user0905\"")
    );
    assert!(pager_link(&last, "next").is_none());
    let before_last = root
        .get(&pager_link(&last, "prev").unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert!(
        before_last.contains("data-account=\"user0805\"")
            && before_last.contains("data-account=\"user0904\"")
    );
}

#[actix_web::test]
async fn a_resellers_accounts_page_pages_only_its_own_accounts() {
    let app = spawn_app().await;
    app.bulk_accounts(5).await;
    app.create_reseller("bob", Some("all")).await;
    app.create_account("shop", AccountKind::User, None).await;
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let html = bob.get("/accounts?q=user").await.text().await.unwrap();
    assert!(html.contains("No accounts match"), "{html}");
}

#[actix_web::test]
async fn deleting_an_account_is_confirmed_first_naming_the_account_and_its_tokens() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    app.token("bob", "one").await;
    app.token("bob", "two").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let named = "<strong>the account “bob” and its 2 API token(s)</strong>";
    let page = root.get("/accounts/bob/delete").await.text().await.unwrap();
    assert!(page.contains("<html") && page.contains(named), "{page}");
    assert!(page.contains("action=\"/accounts/bob/delete\""));
    let partial = root
        .get_htmx("/accounts/bob/delete")
        .await
        .text()
        .await
        .unwrap();
    assert!(!partial.contains("<html") && partial.contains(named));
    assert!(
        !partial.contains("hx-post"),
        "deleting leaves the page, so Continue posts the form"
    );
    assert_eq!(app.count("accounts").await, 2, "asking deletes nothing");
    assert_eq!(
        root.get("/accounts/root/delete").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        root.get("/accounts/nobody/delete").await.status(),
        StatusCode::NOT_FOUND
    );
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    assert_eq!(
        bob.get("/accounts/bob/delete").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn a_reseller_who_cannot_list_accounts_gets_no_link_and_one_clear_explanation() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let tokens = bob.get("/tokens").await.text().await.unwrap();
    assert!(!tokens.contains("href=\"/accounts\""), "no Accounts link");
    let html = bob.get("/accounts").await.text().await.unwrap();
    assert!(html.contains("id=\"no-accounts\""));
    assert!(html.contains("list-accts"));
    assert!(!html.contains("These are the accounts you own"));
    assert!(!html.contains("<table"), "no empty table beside it");
    // With the privilege, the link and the list are there.
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let acl = format!("{} list-accts", initial());
    let fields: Vec<(&str, &str)> = acl.split(' ').map(|a| ("acl", a)).collect();
    root.post("/accounts/bob/privileges", &fields).await;
    let tokens = bob.get("/tokens").await.text().await.unwrap();
    assert!(tokens.contains("href=\"/accounts\""));
}

#[actix_web::test]
async fn a_refused_page_keeps_the_top_bar_with_sign_out() {
    let app = spawn_app().await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let response = root.get("/accounts/root").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert!(html.contains("Not allowed"));
    assert!(html.contains("Signed in as <strong>root</strong>"));
    assert!(html.contains("name=\"viewport\""));
}
