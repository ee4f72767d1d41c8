//! WHM API 1 over real HTTP with real tokens: envelope, functions, errors.

use reqwest::StatusCode;
use serde_json::{json, Value};

use whm_tokens::domain::Expiry;

use crate::helpers::*;

fn metadata(command: &str) -> Value {
    json!({ "command": command, "reason": "OK", "result": 1, "version": 1 })
}

#[actix_web::test]
async fn version_answers_in_whms_envelope() {
    let app = spawn_app().await;
    let secret = app.token("root", "ci").await;
    let (status, body) = app.api("root", &secret, "version", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "data": { "version": env!("CARGO_PKG_VERSION") }, "metadata": metadata("version") })
    );
}

#[actix_web::test]
async fn a_call_without_api_version_1_is_whm_api_0_and_answers_in_its_shape() {
    let app = spawn_app().await;
    let secret = app.token("root", "ci").await;
    let api0 = |function: &str| {
        reqwest::Client::new()
            .get(format!("{}/json-api/{function}", app.address))
            .header("Authorization", format!("whm root:{secret}"))
            .send()
    };
    // version and applist: the data bare, as API 0 gives it.
    let response = api0("version").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "version": env!("CARGO_PKG_VERSION") }));
    let body: Value = api0("applist").await.unwrap().json().await.unwrap();
    let apps = body["app"].as_array().unwrap();
    assert!(apps.contains(&json!("api_token_create")), "{body}");
    assert!(body.get("metadata").is_none());
    // Anything else: API 0's refusal, pointing to API 1; nothing runs.
    let before = app.count("tokens").await;
    let body: Value = reqwest::Client::new()
        .get(format!(
            "{}/json-api/api_token_create?api.version=0&token_name=x",
            app.address
        ))
        .header("Authorization", format!("whm root:{secret}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], 0, "{body}");
    assert!(body["statusmsg"]
        .as_str()
        .unwrap()
        .contains("add api.version=1"));
    assert_eq!(app.count("tokens").await, before);
}

#[actix_web::test]
async fn bracketed_acl_lists_are_lists_not_a_full_access_token() {
    let app = spawn_app().await;
    let admin = app.token("root", "admin").await;
    let data = ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_create",
            &[
                ("token_name", "php"),
                ("acl[0]", "list-accts"),
                ("acl[1]", "kill-acct"),
                ("whitelist_ip[]", "192.0.2.1"),
            ],
        )
        .await,
    );
    assert_eq!(data["acls"], json!(["kill-acct", "list-accts"]));
    assert_eq!(data["whitelist_ips"], json!(["192.0.2.1"]));
}

#[actix_web::test]
async fn a_token_made_without_acl_follows_its_owners_privileges_as_they_change() {
    let app = spawn_app().await;
    app.create_reseller("bob", Some("manage-api-tokens")).await;
    let bobs = app.token("bob", "admin").await;
    let data = ok_data(
        &app.api("bob", &bobs, "api_token_create", &[("token_name", "full")])
            .await,
    );
    assert_eq!(data["acls"], json!(["manage-api-tokens"]));
    let full = data["token"].as_str().unwrap().to_owned();
    let limited = ok_data(
        &app.api(
            "bob",
            &bobs,
            "api_token_create",
            &[("token_name", "limited"), ("acl", "manage-api-tokens")],
        )
        .await,
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(refused(&app.api("bob", &full, "listaccts", &[]).await).contains("list-accts"));
    // Made without `acl` by `limited` (whose own list happens to equal all
    // bob holds today): a copy of that list, never more later.
    let child = ok_data(
        &app.api(
            "bob",
            &limited,
            "api_token_create",
            &[("token_name", "child")],
        )
        .await,
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Root grants bob list-accts: the full-access token follows at once;
    // the one with its own list does not.
    app.set_privileges("bob", "manage-api-tokens list-accts")
        .await;
    ok_data(&app.api("bob", &full, "listaccts", &[]).await);
    assert!(refused(&app.api("bob", &limited, "listaccts", &[]).await).contains("list-accts"));
    assert!(refused(&app.api("bob", &child, "listaccts", &[]).await).contains("list-accts"));
    let details = ok_data(
        &app.api("bob", &full, "api_token_get_details", &[("token", &full)])
            .await,
    );
    assert_eq!(details["acls"], json!(["list-accts", "manage-api-tokens"]));

    // Taken away again: every answer shows what the token may do now.
    app.set_privileges("bob", "manage-api-tokens").await;
    let wide = ok_data(
        &app.api(
            "bob",
            &full,
            "api_token_create",
            &[("token_name", "wide"), ("acl", "manage-api-tokens")],
        )
        .await,
    );
    assert_eq!(wide["acls"], json!(["manage-api-tokens"]));
    let details = ok_data(
        &app.api("bob", &full, "api_token_get_details", &[("token", &full)])
            .await,
    );
    assert_eq!(details["acls"], json!(["manage-api-tokens"]));
}

#[actix_web::test]
async fn a_refused_token_gets_cpsrvds_access_denied_form_too_and_the_same_body_for_every_failure() {
    let app = spawn_app().await;
    let secret = app.token("root", "ci").await;
    let expired = app.token("root", "old").await;
    app.set_expiry("old", now() - 10).await;
    let mut bodies = Vec::new();
    for header in [
        format!("whm root:{}", "A".repeat(32)),
        format!("whm bob:{secret}"),
        format!("whm root:{expired}"),
        "Basic cm9vdDpyb290".to_owned(),
    ] {
        let response = reqwest::Client::new()
            .get(format!("{}/json-api/version?api.version=1", app.address))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        bodies.push(response.text().await.unwrap());
    }
    let body: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(
        body["cpanelresult"],
        json!({"apiversion":"2","error":"Access denied","data":{"reason":"Access denied","result":"0"},"type":"text"})
    );
    assert_eq!(body["error"], "Access denied");
    assert!(bodies.iter().all(|b| b == &bodies[0]), "{bodies:?}");
}

#[actix_web::test]
async fn an_unknown_function_is_refused_in_the_envelope() {
    let app = spawn_app().await;
    let secret = app.token("root", "ci").await;
    let reason = refused(&app.api("root", &secret, "fly_to_the_moon", &[]).await);
    assert!(reason.contains("fly_to_the_moon"), "{reason}");
}

#[actix_web::test]
async fn a_path_that_names_no_function_is_not_found_and_another_method_is_not_allowed() {
    let app = spawn_app().await;
    let secret = app.token("root", "ci").await;
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{}{path}", app.address))
            .header("Authorization", format!("whm root:{secret}"))
            .send()
    };
    for path in ["/json-api", "/json-api/", "/json-api/version/extra"] {
        let response = send(reqwest::Method::GET, path).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let before = app.count("tokens").await;
    let response = send(
        reqwest::Method::DELETE,
        "/json-api/api_token_create?api.version=1&token_name=x",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(app.count("tokens").await, before, "nothing ran");
    // GET and POST still reach the function.
    let response = send(reqwest::Method::POST, "/json-api/version?api.version=1")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["metadata"], metadata("version"));
}

#[actix_web::test]
async fn parameters_come_from_a_form_body_and_a_cpsess_segment_is_accepted() {
    let app = spawn_app().await;
    let secret = app.token("root", "ci").await;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/cpsess0123456789/json-api/api_token_create",
            app.address
        ))
        .header("Authorization", format!("WHM root:{secret}"))
        .form(&[
            ("api.version", "1"),
            ("token_name", "from-body"),
            ("acl-1", "kill-acct"),
            ("acl-0", "list-accts"),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["metadata"]["result"], 1, "{body}");
    assert_eq!(body["data"]["acls"], json!(["kill-acct", "list-accts"]));
}

#[actix_web::test]
async fn a_form_bodys_media_type_is_read_whatever_its_case() {
    let app = spawn_app().await;
    let secret = app.token("root", "ci").await;
    let response = reqwest::Client::new()
        .post(format!("{}/json-api/api_token_create", app.address))
        .header("Authorization", format!("whm root:{secret}"))
        .header(
            "Content-Type",
            "Application/X-WWW-Form-Urlencoded; Charset=UTF-8",
        )
        .body("api.version=1&token_name=cased&acl=list-accts")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["metadata"]["result"], 1, "{body}");
    assert_eq!(body["data"]["name"], "cased");
    assert_eq!(body["data"]["acls"], json!(["list-accts"]));
}

#[actix_web::test]
async fn an_empty_whitelist_ip_on_update_is_refused_and_keeps_the_allow_list() {
    let app = spawn_app().await;
    let secret = app.token("root", "admin").await;
    ok_data(
        &app.api(
            "root",
            &secret,
            "api_token_create",
            &[("token_name", "deploy"), ("whitelist_ip", "203.0.113.10")],
        )
        .await,
    );
    // A script's unset variable, or an empty array item.
    for empty in [
        vec![("whitelist_ip", "")],
        vec![("whitelist_ip[]", "")],
        vec![("whitelist_ip", " "), ("whitelist_ip-1", "")],
    ] {
        let mut params = vec![("token_name", "deploy")];
        params.extend(empty);
        let reason = refused(&app.api("root", &secret, "api_token_update", &params).await);
        assert!(reason.contains("whitelist_ip=any"), "{reason}");
    }
    let listed = ok_data(&app.api("root", &secret, "api_token_list", &[]).await);
    assert_eq!(
        listed["tokens"]["deploy"]["whitelist_ips"],
        json!(["203.0.113.10"])
    );
    // `any` lifts it, as WHM documents; on a new token an empty value is
    // the default (any address), as leaving it out.
    let lifted = ok_data(
        &app.api(
            "root",
            &secret,
            "api_token_update",
            &[("token_name", "deploy"), ("whitelist_ip", "any")],
        )
        .await,
    );
    assert_eq!(lifted["whitelist_ips"], Value::Null);
    let made = ok_data(
        &app.api(
            "root",
            &secret,
            "api_token_create",
            &[("token_name", "open"), ("whitelist_ip", "")],
        )
        .await,
    );
    assert_eq!(made["whitelist_ips"], Value::Null);
}

#[actix_web::test]
async fn api_token_create_returns_the_secret_once_in_whms_shape_and_it_works_at_once() {
    let app = spawn_app().await;
    let secret = app.token("root", "admin").await;
    let expires = now() + 86_400 * 30;
    let answer = app
        .api(
            "root",
            &secret,
            "api_token_create",
            &[
                ("token_name", "deploy"),
                ("acl", "list-accts"),
                ("acl-1", "manage-api-tokens"),
                ("expires_at", &expires.to_string()),
                ("whitelist_ip", "127.0.0.1"),
                ("whitelist_ip-1", "2001:db8::/32, 192.0.2.0/24"),
            ],
        )
        .await;
    let data = ok_data(&answer);
    let new_secret = data["token"].as_str().unwrap().to_owned();
    assert_eq!(new_secret.len(), 32);
    let create_time = data["create_time"].as_i64().unwrap();
    assert!((create_time - now()).abs() < 5);
    assert_eq!(
        whm_shape(&data),
        json!({
            "name": "deploy",
            "token": new_secret,
            "create_time": create_time,
            "expires_at": expires,
            // Sorted, as WHM answers: IPv4 before IPv6.
            "acls": ["list-accts", "manage-api-tokens"],
            "whitelist_ips": ["127.0.0.1", "192.0.2.0/24", "2001:db8::/32"],
        })
    );
    ok_data(&app.api("root", &new_secret, "listaccts", &[]).await);
    // The secret is never given again.
    let details = ok_data(
        &app.api(
            "root",
            &new_secret,
            "api_token_get_details",
            &[("token", &new_secret)],
        )
        .await,
    );
    assert!(details.get("token").is_none());
}

#[actix_web::test]
async fn api_token_create_refuses_bad_input_with_reasons_and_writes_nothing() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let secret = app.token("bob", "admin").await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "token_name"),
        (
            &[("token_name", "bad name")],
            "“bad name” is not a valid API token name.",
        ),
        (
            &[("token_name", &"x".repeat(51))],
            "is not a valid API token name",
        ),
        (
            &[("token_name", "admin")],
            "A conflicting API token with the name “admin” already exists.",
        ),
        (
            &[("token_name", "t"), ("acl", "fly"), ("acl-1", "swim")],
            "Invalid or unauthorized ACL(s) specified: fly and swim",
        ),
        (
            &[("token_name", "t"), ("acl", "kill-acct")],
            "Invalid or unauthorized ACL(s) specified: kill-acct",
        ),
        (
            &[("token_name", "t"), ("acl", "all")],
            "Invalid or unauthorized ACL(s) specified: all",
        ),
        (
            &[("token_name", "t"), ("acl", "")],
            "at least one privilege",
        ),
        (&[("token_name", "t"), ("expires_at", "1000")], "future"),
        (
            &[("token_name", "t"), ("expires_at", "tomorrow")],
            "seconds since 1970",
        ),
        (
            &[("token_name", "t"), ("whitelist_ip", "10.0.0.0/33")],
            "Invalid IP address or CIDR range specified: 10.0.0.0/33",
        ),
        (
            &[
                ("token_name", "t"),
                ("whitelist_ip", "300.1.1.1"),
                ("whitelist_ip-1", "10.0.0.1, example.com"),
            ],
            "Invalid IP address or CIDR range specified: 300.1.1.1, example.com",
        ),
    ];
    for (params, expected) in cases {
        let reason = refused(&app.api("bob", &secret, "api_token_create", params).await);
        assert!(
            reason.starts_with("The system failed to create the API token: "),
            "{reason}"
        );
        assert!(reason.contains(expected), "{params:?}: {reason}");
    }
    let many: String = (0..101)
        .map(|i| format!("10.0.{}.{}", i / 200, i % 200))
        .collect::<Vec<_>>()
        .join(",");
    let reason = refused(
        &app.api(
            "bob",
            &secret,
            "api_token_create",
            &[("token_name", "t"), ("whitelist_ip", &many)],
        )
        .await,
    );
    assert!(
        reason.contains("You have entered “101” IP addresses, which is above the limit of 100."),
        "{reason}"
    );
    assert_eq!(app.count("tokens").await, 1);
}

#[actix_web::test]
async fn a_resellers_token_defaults_to_the_resellers_privileges() {
    let app = spawn_app().await;
    app.create_reseller("bob", Some("manage-api-tokens list-accts"))
        .await;
    let secret = app.token("bob", "admin").await;
    let data = ok_data(
        &app.api(
            "bob",
            &secret,
            "api_token_create",
            &[("token_name", "plain")],
        )
        .await,
    );
    assert_eq!(data["acls"], json!(["list-accts", "manage-api-tokens"]));
}

#[actix_web::test]
async fn a_token_cannot_mint_a_token_with_more_than_it_may_do() {
    let app = spawn_app().await;
    let narrow = app
        .token_with(
            "root",
            "narrow",
            Expiry::Never,
            "",
            Some("manage-api-tokens"),
        )
        .await
        .unwrap();
    let reason = refused(
        &app.api(
            "root",
            &narrow,
            "api_token_create",
            &[("token_name", "x"), ("acl", "all")],
        )
        .await,
    );
    assert!(reason.contains("all"), "{reason}");
    let data = ok_data(
        &app.api(
            "root",
            &narrow,
            "api_token_create",
            &[("token_name", "y"), ("acl", "manage-api-tokens")],
        )
        .await,
    );
    assert_eq!(data["acls"], json!(["manage-api-tokens"]));
}

#[actix_web::test]
async fn api_token_list_is_keyed_by_name_with_acl_flags_for_every_privilege_for_root() {
    let app = spawn_app().await;
    let secret = app.token("root", "admin").await;
    let expires = now() + 3600;
    app.token_with(
        "root",
        "narrow",
        Expiry::At(expires),
        "192.0.2.1",
        Some("list-accts kill-acct"),
    )
    .await
    .unwrap();
    let data = ok_data(&app.api("root", &secret, "api_token_list", &[]).await);
    let tokens = data["tokens"].as_object().unwrap();
    assert_eq!(tokens.len(), 2);
    let narrow = &tokens["narrow"];
    let acls = narrow["acls"].as_object().unwrap();
    assert_eq!(acls.len(), 65);
    assert_eq!(acls.values().filter(|v| **v == 1).count(), 2);
    assert_eq!(acls["list-accts"], 1);
    assert_eq!(acls["all"], 0);
    assert_eq!(
        whm_shape(narrow),
        json!({
            "name": "narrow",
            "create_time": narrow["create_time"],
            "expires_at": expires,
            "whitelist_ips": ["192.0.2.1"],
            "acls": narrow["acls"],
        })
    );
    let admin = &tokens["admin"];
    assert!(admin["acls"].as_object().unwrap().values().all(|v| *v == 1));
    assert_eq!(admin["whitelist_ips"], Value::Null);
    assert_eq!(admin["expires_at"], Value::Null);
    assert!(!data.to_string().contains(&secret), "no secret in the list");
}

#[actix_web::test]
async fn a_long_api_token_list_is_streamed_whole_in_name_order_with_the_same_entries() {
    use whm_tokens::web::api::STREAM_LIST_FROM;
    let app = spawn_app().await;
    let secret = app.token("root", "admin").await;
    app.token_with(
        "root",
        "narrow",
        Expiry::At(now() + 3600),
        "192.0.2.1",
        Some("list-accts kill-acct"),
    )
    .await
    .unwrap();
    let short = ok_data(&app.api("root", &secret, "api_token_list", &[]).await);
    app.bulk_tokens("root", STREAM_LIST_FROM + 500).await;
    // Another owner's tokens are never listed.
    app.create_reseller("bob", None).await;
    app.token("bob", "bobs").await;
    let (status, body) = app.api("root", &secret, "api_token_list", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["metadata"]["result"], 1, "the envelope ends whole");
    let tokens = body["data"]["tokens"].as_object().unwrap();
    assert_eq!(tokens.len(), STREAM_LIST_FROM + 502);
    assert!(!tokens.contains_key("bobs"));
    assert_eq!(tokens["narrow"], short["tokens"]["narrow"]);
    assert_eq!(
        tokens["admin"]["acls"], short["tokens"]["admin"]["acls"],
        "the same entry, streamed"
    );
    // The bytes come in name order, as a map is written whole.
    let raw = reqwest::Client::new()
        .get(format!(
            "{}/json-api/api_token_list?api.version=1",
            app.address
        ))
        .header("Authorization", format!("whm root:{secret}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let names: Vec<&str> = tokens.keys().map(String::as_str).collect();
    let mut at = 0;
    for name in names {
        let found = raw[at..].find(&format!("\"{name}\":{{\"acls\"")).unwrap();
        at += found + 1;
    }
}

#[actix_web::test]
async fn api_token_list_for_a_reseller_shows_only_privileges_the_reseller_holds() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let secret = app.token("bob", "admin").await;
    let data = ok_data(&app.api("bob", &secret, "api_token_list", &[]).await);
    let acls = data["tokens"]["admin"]["acls"].as_object().unwrap();
    assert_eq!(acls.len(), 20);
    assert!(acls.values().all(|v| *v == 1));
    assert!(!acls.contains_key("all"));
}

#[actix_web::test]
async fn answers_tell_the_client_when_its_token_expires_and_nothing_for_one_that_never_does() {
    let app = spawn_app().await;
    let never = app.token("root", "forever").await;
    // 2030-01-02 03:04:05 UTC.
    let dated = app
        .token_with("root", "dated", Expiry::At(1_893_553_445), "", None)
        .await
        .unwrap();
    let header_of = |secret: String| {
        let address = app.address.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{address}/json-api/version?api.version=1"))
                .header("Authorization", format!("whm root:{secret}"))
                .send()
                .await
                .unwrap()
                .headers()
                .get("x-whm-tokens-expiration")
                .map(|v| v.to_str().unwrap().to_owned())
        }
    };
    assert_eq!(
        header_of(dated).await.as_deref(),
        Some("2030-01-02 03:04:05 UTC")
    );
    assert_eq!(header_of(never).await, None);
}

#[actix_web::test]
async fn expired_tokens_are_listed_but_do_not_authenticate() {
    let app = spawn_app().await;
    let secret = app.token("root", "admin").await;
    let expired = app
        .token_with("root", "old", Expiry::At(now() + 3600), "", None)
        .await
        .unwrap();
    app.set_expiry("old", now() - 10).await;
    let data = ok_data(&app.api("root", &secret, "api_token_list", &[]).await);
    assert!(data["tokens"]["old"].is_object());
    assert_denied(&app.api("root", &expired, "version", &[]).await);
    // get_details of an expired secret: metadata only, result 1.
    let (status, body) = app
        .api(
            "root",
            &secret,
            "api_token_get_details",
            &[("token", &expired)],
        )
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({ "metadata": metadata("api_token_get_details") })
        )
    );
}

#[actix_web::test]
async fn api_token_get_details_answers_by_secret_and_says_nothing_of_unknown_ones() {
    let app = spawn_app().await;
    let secret = app.token("root", "admin").await;
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
        whm_shape(&data),
        json!({
            "name": "admin",
            "create_time": data["create_time"],
            "expires_at": null,
            "acls": ["all"],
            "whitelist_ips": null,
        })
    );
    for unknown in ["0123456789ABCDEFGHIJKLMNOPQRSTUV", "nonsense"] {
        let answer = app
            .api(
                "root",
                &secret,
                "api_token_get_details",
                &[("token", unknown)],
            )
            .await;
        assert_eq!(
            answer.1,
            json!({ "metadata": metadata("api_token_get_details") })
        );
    }
    // Another account's secret is unknown to this caller.
    app.create_reseller("bob", None).await;
    let bobs = app.token("bob", "b").await;
    let answer = app
        .api(
            "root",
            &secret,
            "api_token_get_details",
            &[("token", &bobs)],
        )
        .await;
    assert!(answer.1.get("data").is_none());
    let reason = refused(&app.api("root", &secret, "api_token_get_details", &[]).await);
    assert!(reason.contains("token"), "{reason}");
}

#[actix_web::test]
async fn api_token_update_renames_keeps_the_secret_and_keeps_what_is_left_out() {
    let app = spawn_app().await;
    let admin = app.token("root", "admin").await;
    let secret = app
        .token_with(
            "root",
            "old",
            Expiry::At(now() + 3600),
            "127.0.0.1",
            Some("list-accts"),
        )
        .await
        .unwrap();
    let data = ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_update",
            &[("token_name", "old"), ("new_name", "new")],
        )
        .await,
    );
    assert_eq!(data["name"], "new");
    assert_eq!(data["acls"], json!(["list-accts"]));
    assert_eq!(data["whitelist_ips"], json!(["127.0.0.1"]));
    assert!(data["expires_at"].is_i64());
    ok_data(&app.api("root", &secret, "listaccts", &[]).await);

    let data = ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_update",
            &[
                ("token_name", "new"),
                ("whitelist_ip", "any"),
                ("expires_at", "0"),
                ("acl", "kill-acct"),
            ],
        )
        .await,
    );
    assert_eq!(
        whm_shape(&data),
        json!({ "name": "new", "create_time": data["create_time"], "expires_at": null, "acls": ["kill-acct"], "whitelist_ips": null })
    );
}

#[actix_web::test]
async fn api_token_update_refuses_unknown_tokens_taken_names_and_empty_calls() {
    let app = spawn_app().await;
    let admin = app.token("root", "admin").await;
    app.token("root", "other").await;
    for (params, expected) in [
        (
            vec![("token_name", "ghost"), ("new_name", "x")],
            "The API token “ghost” does not exist.",
        ),
        (
            vec![("token_name", "other"), ("new_name", "admin")],
            "A conflicting API token with the name “admin” already exists.",
        ),
        (
            vec![("token_name", "other")],
            "Specify a new name, updated ACLs, or IPs.",
        ),
        (vec![("new_name", "x")], "token_name"),
        (vec![("token_name", "other"), ("expires_at", "5")], "future"),
        (
            vec![("token_name", "other"), ("new_name", "bad name")],
            "“bad name” is not a valid API token name.",
        ),
    ] {
        let reason = refused(&app.api("root", &admin, "api_token_update", &params).await);
        assert!(
            reason.starts_with("The system failed to update the API token"),
            "{reason}"
        );
        assert!(reason.contains(expected), "{params:?}: {reason}");
    }
}

#[actix_web::test]
async fn api_token_revoke_takes_numbered_names_skips_unknown_ones_and_stops_them_at_once() {
    let app = spawn_app().await;
    let admin = app.token("root", "admin").await;
    let a = app.token("root", "a").await;
    let b = app.token("root", "b").await;
    app.token("root", "c").await;
    let (status, body) = app
        .api(
            "root",
            &admin,
            "api_token_revoke",
            &[
                ("token_name-1", "a"),
                ("token_name-7", "b"),
                ("token_name-3", "ghost"),
            ],
        )
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({ "metadata": metadata("api_token_revoke") })
        )
    );
    assert_denied(&app.api("root", &a, "version", &[]).await);
    assert_denied(&app.api("root", &b, "version", &[]).await);
    assert_eq!(app.count("tokens").await, 2);
    let reason = refused(&app.api("root", &admin, "api_token_revoke", &[]).await);
    assert!(
        reason.contains("Provide at least one “token_name” argument."),
        "{reason}"
    );
}

#[actix_web::test]
async fn a_missing_privilege_is_result_0_naming_the_privilege() {
    let app = spawn_app().await;
    let narrow = app
        .token_with("root", "narrow", Expiry::Never, "", Some("list-accts"))
        .await
        .unwrap();
    for function in ["api_token_list", "api_token_create", "api_token_revoke"] {
        let reason = refused(&app.api("root", &narrow, function, &[]).await);
        assert!(reason.contains("manage-api-tokens"), "{function}: {reason}");
    }
    let reason = refused(
        &app.api("root", &narrow, "removeacct", &[("user", "x")])
            .await,
    );
    assert!(reason.contains("kill-acct"), "{reason}");
}

#[actix_web::test]
async fn applist_and_myprivs_follow_the_tokens_effective_privileges() {
    let app = spawn_app().await;
    let narrow = app
        .token_with(
            "root",
            "narrow",
            Expiry::Never,
            "",
            Some("list-accts suspend-acct"),
        )
        .await
        .unwrap();
    let data = ok_data(&app.api("root", &narrow, "applist", &[]).await);
    assert_eq!(
        data,
        json!({ "app": ["version", "applist", "myprivs", "listaccts", "suspendacct", "unsuspendacct"] })
    );
    let data = ok_data(&app.api("root", &narrow, "myprivs", &[]).await);
    let privs = data["privileges"][0].as_object().unwrap();
    assert_eq!(privs.len(), 65);
    assert_eq!(privs.values().filter(|v| **v == 1).count(), 2);
    let full = app.token("root", "full").await;
    let data = ok_data(&app.api("root", &full, "applist", &[]).await);
    assert_eq!(
        data["app"].as_array().unwrap().len(),
        18,
        "every function, api_token_regenerate and the policy's included"
    );
}

#[actix_web::test]
async fn listaccts_shows_root_every_account_and_a_reseller_only_its_own() {
    let app = spawn_app().await;
    app.create_reseller("bob", Some("manage-api-tokens list-accts create-acct"))
        .await;
    app.create_reseller("carol", None).await;
    let bob = app.token("bob", "t").await;
    ok_data(
        &app.api(
            "bob",
            &bob,
            "createacct",
            &[("username", "shop"), ("password", USER_PASSWORD)],
        )
        .await,
    );
    let root = app.token("root", "t").await;
    let data = ok_data(&app.api("root", &root, "listaccts", &[]).await);
    let users: Vec<&str> = data["acct"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["bob", "carol", "root", "shop"]);
    let data = ok_data(&app.api("bob", &bob, "listaccts", &[]).await);
    let acct = data["acct"].as_array().unwrap();
    assert_eq!(acct.len(), 1);
    assert_eq!(
        acct[0],
        json!({ "user": "shop", "owner": "bob", "reseller": 0, "suspended": 0, "unix_startdate": acct[0]["unix_startdate"], "email": "" })
    );
}

#[actix_web::test]
async fn createacct_makes_resellers_for_root_only_and_refuses_bad_input() {
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
            ],
        )
        .await,
    );
    assert_eq!(data["reseller"], 1);
    assert_eq!(data["owner"], "root");
    for (params, expected) in [
        (
            vec![("username", "dave"), ("password", USER_PASSWORD)],
            "already taken",
        ),
        (
            vec![("username", "Dave2"), ("password", USER_PASSWORD)],
            "lower-case",
        ),
        (
            vec![("username", "eve"), ("password", "short")],
            "at least 12",
        ),
        (
            vec![
                ("username", "eve"),
                ("password", USER_PASSWORD),
                ("owner", "ghost"),
            ],
            "ghost",
        ),
        (vec![("password", USER_PASSWORD)], "username"),
    ] {
        let reason = refused(&app.api("root", &root, "createacct", &params).await);
        assert!(reason.contains(expected), "{params:?}: {reason}");
    }
    let dave = app.token_with("dave", "t", Expiry::Never, "", None).await;
    assert!(dave.is_ok(), "a new reseller holds the Initial Privileges");

    app.create_reseller("bob", Some("manage-api-tokens create-acct"))
        .await;
    let bob = app.token("bob", "t").await;
    let reason = refused(
        &app.api(
            "bob",
            &bob,
            "createacct",
            &[
                ("username", "sub"),
                ("password", USER_PASSWORD),
                ("reseller", "1"),
            ],
        )
        .await,
    );
    assert!(reason.contains("Only root"), "{reason}");
}

#[actix_web::test]
async fn suspendacct_unsuspendacct_removeacct_and_modifyacct_act_on_owned_accounts_only() {
    let app = spawn_app().await;
    app.create_reseller(
        "bob",
        Some("manage-api-tokens suspend-acct kill-acct edit-account create-acct"),
    )
    .await;
    app.create_reseller("carol", None).await;
    let bob = app.token("bob", "t").await;
    let carol = app.token("carol", "t").await;
    ok_data(
        &app.api(
            "bob",
            &bob,
            "createacct",
            &[("username", "shop"), ("password", USER_PASSWORD)],
        )
        .await,
    );
    // Carol is root's, not Bob's: to Bob she does not exist.
    for function in ["suspendacct", "removeacct"] {
        let reason = refused(&app.api("bob", &bob, function, &[("user", "carol")]).await);
        assert!(reason.contains("No account named “carol”"), "{reason}");
    }
    let reason = refused(
        &app.api(
            "bob",
            &bob,
            "modifyacct",
            &[("user", "carol"), ("newuser", "x")],
        )
        .await,
    );
    assert!(reason.contains("carol"), "{reason}");
    ok_data(&app.api("carol", &carol, "version", &[]).await);

    let data = ok_data(
        &app.api("bob", &bob, "suspendacct", &[("user", "shop")])
            .await,
    );
    assert_eq!(data, json!({ "user": "shop", "suspended": 1 }));
    let data = ok_data(
        &app.api("bob", &bob, "unsuspendacct", &[("user", "shop")])
            .await,
    );
    assert_eq!(data, json!({ "user": "shop", "suspended": 0 }));
    let data = ok_data(
        &app.api(
            "bob",
            &bob,
            "modifyacct",
            &[("user", "shop"), ("newuser", "store")],
        )
        .await,
    );
    assert_eq!(data, json!({ "user": "store" }));
    let data = ok_data(
        &app.api("bob", &bob, "removeacct", &[("user", "store")])
            .await,
    );
    assert_eq!(data, json!({ "user": "store" }));

    let root = app.token("root", "t").await;
    ok_data(
        &app.api(
            "root",
            &root,
            "modifyacct",
            &[("user", "carol"), ("newuser", "caroline")],
        )
        .await,
    );
    ok_data(&app.api("caroline", &carol, "version", &[]).await);
    ok_data(
        &app.api("root", &root, "suspendacct", &[("user", "caroline")])
            .await,
    );
    assert_denied(&app.api("caroline", &carol, "version", &[]).await);
    ok_data(
        &app.api("root", &root, "removeacct", &[("user", "caroline")])
            .await,
    );
    assert_eq!(app.count("tokens").await, 2, "carol's token went with her");
    let reason = refused(
        &app.api("root", &root, "removeacct", &[("user", "root")])
            .await,
    );
    assert!(reason.contains("root"), "{reason}");
}

#[actix_web::test]
async fn create_user_session_returns_a_one_time_link_for_the_caller_only() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let secret = app.token("root", "t").await;
    let data = ok_data(
        &app.api(
            "root",
            &secret,
            "create_user_session",
            &[("user", "root"), ("service", "whostmgrd")],
        )
        .await,
    );
    let token = data["cp_security_token"].as_str().unwrap();
    assert!(
        token.starts_with("/cpsess") && token[7..].chars().all(|c| c.is_ascii_digit()),
        "{token}"
    );
    let url = data["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}{token}/login/once?session=", app.address)),
        "{url}"
    );
    let reason = refused(
        &app.api(
            "root",
            &secret,
            "create_user_session",
            &[("user", "bob"), ("service", "whostmgrd")],
        )
        .await,
    );
    assert!(reason.contains("own account"), "{reason}");
    let reason = refused(
        &app.api(
            "root",
            &secret,
            "create_user_session",
            &[("user", "root"), ("service", "cpaneld")],
        )
        .await,
    );
    assert!(reason.contains("whostmgrd"), "{reason}");
}

#[actix_web::test]
async fn the_api_command_prints_a_secret_that_works_over_http_at_once() {
    let app = spawn_app().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_whm-tokens"))
        .args(["api", "api_token_create", "token_name=ci", "acl=list-accts"])
        .env("DATABASE_URL", app.database.url())
        .env("WHM_TOKENS_DATA_DIR", std::env::temp_dir())
        .env("WHM_TOKENS_SESSION_KEY", "ab".repeat(64))
        .output()
        .expect("run whm-tokens api");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["metadata"]["result"], 1, "{answer}");
    let secret = answer["data"]["token"].as_str().unwrap();
    ok_data(&app.api("root", secret, "listaccts", &[]).await);
    // And it is listed by the API like any other.
    let data = ok_data(&app.api("root", secret, "myprivs", &[]).await);
    assert_eq!(data["privileges"][0]["list-accts"], 1);
}

/// A token as WHM shapes it: our additions (`last_used_at`, `last_used_ip`,
/// `use_count`, `description`, `enabled`, which WHM clients ignore)
/// checked for their types and taken out.
fn whm_shape(token: &Value) -> Value {
    let mut token = token.clone();
    let fields = token.as_object_mut().expect("a token object");
    let used = fields.remove("last_used_at").expect("last_used_at");
    assert!(used.is_null() || used.is_i64(), "{used}");
    let ip = fields.remove("last_used_ip").expect("last_used_ip");
    assert!(ip.is_null() || ip.is_string(), "{ip}");
    assert!(fields.remove("use_count").expect("use_count").is_i64());
    let description = fields.remove("description").expect("description");
    assert!(
        description.is_null() || description.is_string(),
        "{description}"
    );
    let enabled = fields.remove("enabled").expect("enabled");
    assert!(enabled == 0 || enabled == 1, "{enabled}");
    token
}
