//! Root's token policy: set through the API, the page and the command
//! line; new tokens and edits that break it refused with the rule's
//! reason; existing tokens blocked (on every instance) and back when it is
//! relaxed; the Generate form showing the limits; overrides per reseller;
//! and the server's housekeeping (unused disabled, expired removed).

use reqwest::StatusCode;
use serde_json::Value;

use whm_tokens::domain::Expiry;

use crate::helpers::*;

const DAY: i64 = 86_400;

/// Sets the policy as root with a full-access token.
async fn set(app: &TestApp, root: &str, params: &[(&str, &str)]) -> (StatusCode, Value) {
    app.api("root", root, "api_token_policy_set", params).await
}

/// Root's token for the tests: within any limit they set (it expires in
/// five days, and has an allow-list).
async fn admin(app: &TestApp) -> String {
    app.token_with(
        "root",
        "admin",
        Expiry::At(now() + 5 * DAY),
        "127.0.0.1",
        None,
    )
    .await
    .unwrap()
}

fn reason(answer: &(StatusCode, Value)) -> String {
    answer.1["metadata"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[actix_web::test]
async fn only_roots_full_access_tokens_see_or_set_the_policy() {
    let app = spawn_app().await;
    let root = admin(&app).await;
    let narrow = app
        .token_with("root", "narrow", Expiry::Never, "", Some("list-accts"))
        .await
        .unwrap();
    app.create_reseller("bob", Some("all")).await;
    let bob = app.token("bob", "mine").await;
    for (user, secret) in [("root", narrow.as_str()), ("bob", bob.as_str())] {
        let answer = app
            .api(
                user,
                secret,
                "api_token_policy_set",
                &[("max_lifetime_days", "30")],
            )
            .await;
        assert_eq!(answer.1["metadata"]["result"], 0, "{user}: {}", answer.1);
    }
    let got = ok_data(&app.api("root", &root, "api_token_policy_get", &[]).await);
    assert_eq!(got["policy"]["max_lifetime_days"], 0, "{got}");

    let set_answer = set(
        &app,
        &root,
        &[
            ("max_lifetime_days", "90"),
            ("require_ip_for", "all,create-user-session"),
        ],
    )
    .await;
    let data = ok_data(&set_answer);
    assert_eq!(data["policy"]["max_lifetime_days"], 90);
    assert_eq!(data["policy"]["require_ip_for"], serde_json::json!(["all"]));
    // Bad values are refused and change nothing.
    for (key, value) in [
        ("max_lifetime_days", "-3"),
        ("max_lifetime_days", "5000"),
        ("require_ip_for", "nope"),
    ] {
        let answer = set(&app, &root, &[(key, value)]).await;
        assert_eq!(answer.1["metadata"]["result"], 0, "{key}={value}");
        assert!(reason(&answer).contains(key), "{}", reason(&answer));
    }
    let got = ok_data(&app.api("root", &root, "api_token_policy_get", &[]).await);
    assert_eq!(got["policy"]["max_lifetime_days"], 90);
    assert_eq!(app.count_events("policy_changed").await, 1);
}

#[actix_web::test]
async fn require_ip_for_is_read_in_every_list_form_the_api_takes() {
    let app = spawn_app().await;
    let root = admin(&app).await;
    let keys = |answer: &(StatusCode, Value)| ok_data(answer)["policy"]["require_ip_for"].clone();
    for form in [
        vec![
            ("require_ip_for", "passwd"),
            ("require_ip_for", "kill-acct"),
        ],
        vec![
            ("require_ip_for-0", "passwd"),
            ("require_ip_for-1", "kill-acct"),
        ],
        vec![
            ("require_ip_for[]", "passwd"),
            ("require_ip_for[]", "kill-acct"),
        ],
        vec![("require_ip_for", "passwd,kill-acct")],
    ] {
        ok_data(&set(&app, &root, &[("require_ip_for", "")]).await);
        let answer = set(&app, &root, &form).await;
        assert_eq!(
            keys(&answer),
            serde_json::json!(["kill-acct", "passwd"]),
            "{form:?}"
        );
    }
    // `inherit` beside keys is refused, and changes nothing.
    let answer = set(
        &app,
        &root,
        &[("require_ip_for", "inherit"), ("require_ip_for", "passwd")],
    )
    .await;
    assert!(reason(&answer).contains("require_ip_for"), "{}", answer.1);
    let got = app.api("root", &root, "api_token_policy_get", &[]).await;
    assert_eq!(keys(&got), serde_json::json!(["kill-acct", "passwd"]));
}

#[actix_web::test]
async fn new_tokens_and_edits_that_break_the_policy_are_refused_with_the_rule() {
    let app = spawn_app().await;
    let root = admin(&app).await;
    ok_data(
        &set(
            &app,
            &root,
            &[
                ("max_lifetime_days", "30"),
                ("require_ip_for", "manage-api-tokens"),
            ],
        )
        .await,
    );

    let create = |name: &'static str, expires: String, ips: &'static str, acl: &'static str| {
        let (app, root) = (&app, root.clone());
        async move {
            let mut params = vec![("token_name", name), ("acl-0", acl)];
            if !expires.is_empty() {
                params.push(("expires_at", expires.as_str()));
            }
            if !ips.is_empty() {
                params.push(("whitelist_ip-0", ips));
            }
            app.api("root", &root, "api_token_create", &params).await
        }
    };
    let never = create("never", String::new(), "", "list-accts").await;
    assert_eq!(
        reason(&never),
        "The system failed to create the API token: The token policy requires every token to expire within 30 days: “never” is not allowed."
    );
    let long = create("long", (now() + 40 * DAY).to_string(), "", "list-accts").await;
    assert!(
        reason(&long).ends_with("requires every token to expire within 30 days."),
        "{}",
        reason(&long)
    );
    let open = create(
        "open",
        (now() + 10 * DAY).to_string(),
        "",
        "manage-api-tokens",
    )
    .await;
    assert!(
        reason(&open).ends_with(
            "requires an IP allow-list (one that does not let every address in) for tokens with these privileges: manage-api-tokens."
        ),
        "{}",
        reason(&open)
    );
    ok_data(
        &create(
            "fine",
            (now() + 10 * DAY).to_string(),
            "192.0.2.1",
            "manage-api-tokens",
        )
        .await,
    );
    assert_eq!(app.count("tokens").await, 2);
    // An edit that breaks it: refused, the token unchanged.
    let edit = app
        .api(
            "root",
            &root,
            "api_token_update",
            &[
                ("token_name", "fine"),
                ("expires_at", &(now() + 60 * DAY).to_string()),
            ],
        )
        .await;
    assert!(
        reason(&edit).contains("within 30 days"),
        "{}",
        reason(&edit)
    );

    // The page: the limits shown before they are hit, and the reason on
    // the field when they are.
    let page = app.sign_in("root", ROOT_PASSWORD).await;
    let form = page.get("/tokens/new").await.text().await.unwrap();
    assert!(!form.contains("id=\"expires-never\""), "never is offered");
    assert!(!form.contains("value=\"365\""), "a year is offered");
    assert!(form.contains("value=\"30\""));
    let last_day = chrono::Utc::now().date_naive() + chrono::Days::new(30);
    assert!(
        form.contains(&format!("max=\"{}\"", last_day.format("%Y-%m-%d"))),
        "no max date"
    );
    assert!(form.contains("data-required-for=\"manage-api-tokens\""));
    let refused = page
        .post(
            "/tokens/new",
            &[
                ("name", "pagemade"),
                ("expires", "date"),
                (
                    "expires_on",
                    &(last_day + chrono::Days::new(5))
                        .format("%Y-%m-%d")
                        .to_string(),
                ),
                ("acl", "list-accts"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("id=\"expires-error\""),
        "no error on the expiry"
    );
    assert!(html.contains("within 30 days"));
    let typed = (last_day + chrono::Days::new(5))
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        html.contains(&format!("value=\"{typed}\"")),
        "the date typed is kept beside its message"
    );
    let refused = page
        .post(
            "/tokens/new",
            &[
                ("name", "pagemade"),
                ("expires", "7"),
                ("acl", "manage-api-tokens"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("id=\"ips-error\""));
    assert_eq!(app.count("tokens").await, 2);
}

#[actix_web::test]
async fn tokens_that_break_a_tightened_policy_are_blocked_everywhere_and_back_when_it_is_relaxed() {
    let app = spawn_app().await;
    let other = app.second_instance().await;
    let root = admin(&app).await;
    app.create_reseller("bob", None).await;
    let bob = app.token("bob", "forever").await;
    let alice_root = app.token("root", "alsoforever").await;
    for address in [&app.address, &other.address] {
        assert_eq!(version_at(address, "bob", &bob).await, StatusCode::OK);
    }
    ok_data(&set(&app, &root, &[("max_lifetime_days", "30")]).await);
    assert_eq!(
        version_at(&app.address, "bob", &bob).await,
        StatusCode::FORBIDDEN
    );
    assert_refused_soon(&other.address, "bob", &bob).await;
    // Shown in bob's table with the rule, and never deleted.
    let page = app.sign_in("bob", USER_PASSWORD).await;
    let html = page.get("/tokens").await.text().await.unwrap();
    assert!(html.contains("Blocked by policy"), "no mark in the table");
    assert!(html.contains("“never” is not allowed"));
    app.refusal_details_with(&["blocked by the token policy (maximum lifetime)"])
        .await;

    // An override for bob relaxes it for him alone.
    ok_data(&set(&app, &root, &[("user", "bob"), ("max_lifetime_days", "0")]).await);
    assert_eq!(version_at(&app.address, "bob", &bob).await, StatusCode::OK);
    assert_eq!(
        version_at(&app.address, "root", &alice_root).await,
        StatusCode::FORBIDDEN
    );
    let got = ok_data(
        &app.api("root", &root, "api_token_policy_get", &[("user", "bob")])
            .await,
    );
    assert_eq!(got["override"]["max_lifetime_days"], 0);
    assert_eq!(got["everyone"]["max_lifetime_days"], 30);
    assert_eq!(got["overridden"], serde_json::json!(["bob"]));
    // Everyone's relaxed: everything works again.
    ok_data(&set(&app, &root, &[("max_lifetime_days", "")]).await);
    assert_eq!(
        version_at(&app.address, "root", &alice_root).await,
        StatusCode::OK
    );
    assert_eq!(app.count("tokens").await, 3);
}

#[actix_web::test]
async fn the_server_disables_unused_tokens_and_removes_long_expired_ones_by_the_policy() {
    let app = spawn_app().await;
    let root = admin(&app).await;
    app.token("root", "idle").await;
    app.set_created("idle", now() - 10 * DAY).await;
    app.token("root", "fresh").await;
    app.token_with("root", "gone", Expiry::At(now() + DAY), "", None)
        .await
        .unwrap();
    app.set_expiry("gone", now() - 3 * DAY).await;
    app.token_with("root", "recent", Expiry::At(now() + DAY), "", None)
        .await
        .unwrap();
    app.set_expiry("recent", now() - DAY / 2).await;
    // Off by default: nothing happens.
    assert_eq!(app.state.enforce_policies_now().await.unwrap(), (0, 0));
    ok_data(
        &set(
            &app,
            &root,
            &[("disable_unused_days", "7"), ("delete_expired_days", "2")],
        )
        .await,
    );
    // The admin token was just used; the others never were.
    assert_eq!(app.state.enforce_policies_now().await.unwrap(), (1, 1));
    let tokens = ok_data(&app.api("root", &root, "api_token_list", &[]).await);
    let tokens = tokens["tokens"].as_object().unwrap();
    assert!(tokens.get("gone").is_none());
    assert!(tokens.contains_key("recent"));
    assert_eq!(tokens["idle"]["enabled"], 0, "{}", tokens["idle"]);
    assert_eq!(tokens["fresh"]["enabled"], 1);
    assert_eq!(app.state.enforce_policies_now().await.unwrap(), (0, 0));
    // Enabled again by its owner, still unused: disuse counts from now,
    // not from its creation, so the next round leaves it.
    ok_data(
        &app.api(
            "root",
            &root,
            "api_token_update",
            &[("token_name", "idle"), ("enabled", "1")],
        )
        .await,
    );
    assert_eq!(app.state.enforce_policies_now().await.unwrap(), (0, 0));
    let tokens = ok_data(&app.api("root", &root, "api_token_list", &[]).await);
    assert_eq!(tokens["tokens"]["idle"]["enabled"], 1);
}

#[actix_web::test]
async fn root_sets_the_policy_on_the_page_and_with_the_command_line() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let page = root.get("/policy").await;
    assert_eq!(page.status(), StatusCode::OK);
    let saved = root
        .post(
            "/policy",
            &[
                ("user", ""),
                ("max_lifetime_days", "60"),
                ("require_ip_for", ""),
                ("disable_unused_days", "0"),
                ("delete_expired_days", "0"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let bad = root
        .post(
            "/policy",
            &[
                ("user", ""),
                ("max_lifetime_days", "soon"),
                ("require_ip_for", ""),
                ("disable_unused_days", "0"),
                ("delete_expired_days", "0"),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad
        .text()
        .await
        .unwrap()
        .contains("id=\"max_lifetime_days-error\""));
    // A reseller's page: empty keeps everyone's.
    let saved = root
        .post(
            "/policy",
            &[
                ("user", "bob"),
                ("max_lifetime_days", "7"),
                ("require_ip_for", ""),
                ("disable_unused_days", ""),
                ("delete_expired_days", ""),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let shown = root.get("/policy?user=bob").await.text().await.unwrap();
    assert!(
        shown.contains("maximum lifetime 7 days"),
        "in force for bob"
    );
    // A reseller may not see it.
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    assert_ne!(bob.get("/policy").await.status(), StatusCode::OK);

    let out = app.command(&["policy"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("maximum lifetime:        60 days"), "{text}");
    assert!(text.contains("Resellers with an override: bob"), "{text}");
    let out = app
        .command(&["policy", "--user", "bob", "max_lifetime_days=inherit"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("60 days"));
    let out = app.command(&["policy", "max_lifetime_days=abc"]).await;
    assert!(!out.status.success());
}

#[actix_web::test]
async fn saving_the_policy_of_a_reseller_deleted_meanwhile_says_so_on_everyones_page() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(root.get("/policy?user=bob").await.status(), StatusCode::OK);
    let secret = app.token("root", "admin").await;
    let (_, gone) = app
        .api("root", &secret, "removeacct", &[("user", "bob")])
        .await;
    assert_eq!(gone["metadata"]["result"], 1, "{gone}");
    for max in ["7", "soon"] {
        let saved = root
            .post(
                "/policy",
                &[
                    ("user", "bob"),
                    ("max_lifetime_days", max),
                    ("require_ip_for", ""),
                    ("disable_unused_days", ""),
                    ("delete_expired_days", ""),
                ],
            )
            .await;
        assert_eq!(saved.status(), StatusCode::UNPROCESSABLE_ENTITY, "{max}");
        let page = saved.text().await.unwrap();
        assert!(page.contains("No account named “bob”"), "{max}: {page}");
        assert!(
            !page.contains("value=\"7\""),
            "the reseller's values are not offered as everyone's: {page}"
        );
    }
    let out = app.command(&["policy"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("7 days"), "nothing saved: {text}");
}

#[actix_web::test]
async fn owners_are_told_a_week_before_the_policy_disables_an_unused_token() {
    use crate::notices::{notify, LIMIT};
    use crate::receivers::{SmtpSink, WebhookReceiver};
    let smtp = SmtpSink::start().await;
    let hook = WebhookReceiver::start().await;
    let app = spawn_app_with(|c| notify(c, &smtp, &hook)).await;
    let root = admin(&app).await;
    app.token("root", "idle").await;
    app.set_created("idle", now() - 5 * DAY).await;
    app.token("root", "fresh").await;
    ok_data(&set(&app, &root, &[("disable_unused_days", "10")]).await);
    // The admin token expires within a week: its notice comes too.
    hook.wait_for(2, LIMIT).await;
    app.notice_rounds(2).await;
    let unused: Vec<serde_json::Value> = hook
        .accepted()
        .iter()
        .map(|d| d.json())
        .filter(|b| b["event"] == "token_unused")
        .collect();
    assert_eq!(
        unused.len(),
        1,
        "one notice, for the idle token: {unused:?}"
    );
    let body = &unused[0];
    assert_eq!(body["event"], "token_unused");
    assert_eq!(body["token"], "idle");
    let disables_at = body["disables_at"].as_i64().unwrap();
    assert!(
        (now() + 4 * DAY..=now() + 5 * DAY).contains(&disables_at),
        "{body}"
    );
    assert_eq!(body["days_left"], 5);
}

#[actix_web::test]
async fn the_housekeeping_applies_the_policy_each_token_check_applies_to_a_resellers_reseller() {
    let app = spawn_app().await;
    let root = admin(&app).await;
    app.create_reseller("bob", None).await;
    app.create_reseller_owned_by("sub", "bob").await;
    for (owner, name) in [("bob", "bobs-old"), ("sub", "subs-old")] {
        app.token_with(owner, name, Expiry::At(now() + DAY), "", None)
            .await
            .unwrap();
    }
    app.set_expiry("bobs-old", now() - 3 * DAY).await;
    app.set_expiry("subs-old", now() - 3 * DAY).await;
    // bob's accounts remove tokens expired two days; sub says not its own.
    for (user, days) in [("bob", "2"), ("sub", "0")] {
        ok_data(
            &set(
                &app,
                &root,
                &[("user", user), ("delete_expired_days", days)],
            )
            .await,
        );
    }
    assert_eq!(app.state.enforce_policies_now().await.unwrap(), (0, 1));
    let left = app
        .db
        .read(|conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::tokens;
            tokens::table
                .select(tokens::name)
                .order(tokens::name)
                .load::<String>(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    assert_eq!(left, ["admin", "subs-old"]);
}
