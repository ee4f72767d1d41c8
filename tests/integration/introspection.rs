//! RFC 7662 introspection (`POST /oauth/introspect`): an active token's
//! fields, `{"active": false}` for anything else, callers that may not
//! ask, and the per-caller limit.

use reqwest::StatusCode;
use serde_json::{json, Value};

use whm_tokens::domain::Expiry;

use crate::helpers::*;

/// Introspects `token` as `caller` (`root:SECRET`), with extra fields.
async fn introspect(
    address: &str,
    caller: Option<&str>,
    token: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![("token", token)];
    form.extend_from_slice(extra);
    let mut request = reqwest::Client::new()
        .post(format!("{address}/oauth/introspect"))
        .form(&form);
    if let Some(caller) = caller {
        request = request.header("Authorization", format!("whm {caller}"));
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    (response.status(), response.json().await.unwrap())
}

#[actix_web::test]
async fn an_active_token_is_described_and_anything_else_is_only_inactive() {
    let app = spawn_app().await;
    let gateway = app
        .token_with(
            "root",
            "gateway",
            Expiry::Never,
            "",
            Some("introspect-tokens"),
        )
        .await
        .unwrap();
    let caller = format!("root:{gateway}");
    let caller = Some(caller.as_str());
    app.create_reseller("bob", Some("list-accts manage-api-tokens"))
        .await;
    let expires = now() + 30 * 86_400;
    let billing = app
        .token_with(
            "bob",
            "billing",
            Expiry::At(expires),
            "",
            Some("list-accts"),
        )
        .await
        .unwrap();
    let (status, active) = introspect(&app.address, caller, &billing, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let iat = active["iat"].as_i64().unwrap();
    assert!((now() - 60..=now()).contains(&iat), "{active}");
    assert_eq!(
        active,
        json!({
            "active": true,
            "username": "bob",
            "exp": expires,
            "iat": iat,
            "scope": "list-accts",
            "client_id": "billing",
            "token_type": "whm",
        })
    );

    // An allow-listed token is active only for a client inside its list.
    let office = app
        .token_with(
            "bob",
            "office",
            Expiry::Never,
            "192.0.2.0/24",
            Some("list-accts"),
        )
        .await
        .unwrap();
    let inside = introspect(
        &app.address,
        caller,
        &office,
        &[("client_address", "192.0.2.8")],
    )
    .await;
    assert_eq!(inside.1["active"], true);
    assert!(inside.1.get("exp").is_none(), "never expires: no exp");
    let inactive = json!({ "active": false });
    for (case, token, extra) in [
        (
            "outside the allow-list",
            office.as_str(),
            vec![("client_address", "203.0.113.1")],
        ),
        (
            "an allow-list and no client address",
            office.as_str(),
            vec![],
        ),
        ("unknown", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", vec![]),
        ("not a secret at all", "hello", vec![]),
    ] {
        assert_eq!(
            introspect(&app.address, caller, token, &extra).await,
            (StatusCode::OK, inactive.clone()),
            "{case}"
        );
    }
    app.disable("bob", "billing").await;
    assert_eq!(
        introspect(&app.address, caller, &billing, &[]).await.1,
        inactive,
        "disabled"
    );
    let soon = app
        .token_with("root", "soon", Expiry::At(now() + 3600), "", None)
        .await
        .unwrap();
    app.set_expiry("soon", now() - 1).await;
    assert_eq!(
        introspect(&app.address, caller, &soon, &[]).await.1,
        inactive,
        "expired"
    );

    // Every introspection is counted in the audit trail, by outcome.
    assert!(app.count_events_at_least("token_introspected", 2).await >= 2);
}

#[actix_web::test]
async fn only_roots_tokens_with_the_privilege_may_introspect() {
    let app = spawn_app().await;
    let target = app.token("root", "target").await;
    app.create_reseller("bob", Some("list-accts manage-api-tokens"))
        .await;
    let resellers = app.token("bob", "mine").await;
    let without = app
        .token_with("root", "lister", Expiry::Never, "", Some("list-accts"))
        .await
        .unwrap();
    let everything = app.token("root", "everything").await;
    for (case, caller, want) in [
        ("no credential", None, StatusCode::UNAUTHORIZED),
        (
            "an unknown token",
            Some("root:ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".to_owned()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a reseller's token",
            Some(format!("bob:{resellers}")),
            StatusCode::FORBIDDEN,
        ),
        (
            "root's token without the privilege",
            Some(format!("root:{without}")),
            StatusCode::FORBIDDEN,
        ),
        (
            "root's token with all",
            Some(format!("root:{everything}")),
            StatusCode::OK,
        ),
    ] {
        let (status, body) = introspect(&app.address, caller.as_deref(), &target, &[]).await;
        assert_eq!(status, want, "{case}: {body}");
        if want != StatusCode::OK {
            assert!(body.get("active").is_none(), "{case}: {body}");
        }
    }
    // A reseller cannot be handed the privilege's power through `all`.
    let reseller_all = app.token("bob", "all-of-mine").await;
    let (status, _) = introspect(
        &app.address,
        Some(&format!("bob:{reseller_all}")),
        &target,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn each_callers_token_is_held_to_its_limit_a_minute() {
    let app = spawn_app_with(|c| c.introspect_per_minute = 3).await;
    let first = app.token("root", "first").await;
    let second = app.token("root", "second").await;
    let target = app.token("root", "target").await;
    let as_first = format!("root:{first}");
    let mut statuses = Vec::new();
    // Seven calls span at most two minutes: at most six can pass.
    for _ in 0..7 {
        statuses.push(
            introspect(&app.address, Some(&as_first), &target, &[])
                .await
                .0,
        );
    }
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(throttled >= 1, "{statuses:?}");
    assert!(
        statuses[..3].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    // Another caller's token has a limit of its own.
    let (status, body) =
        introspect(&app.address, Some(&format!("root:{second}")), &target, &[]).await;
    assert_eq!(
        (status, body["active"].clone()),
        (StatusCode::OK, json!(true))
    );
}
