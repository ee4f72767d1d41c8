//! `/tokens/all`: root's view of every account's tokens, with revoking;
//! a reseller's read-only view of the accounts it owns.

use reqwest::StatusCode;

use crate::helpers::*;

fn owners_of(html: &str) -> Vec<(String, String)> {
    html.split("<tr class=")
        .skip(1)
        .map(|row| {
            let attr = |name: &str| {
                row.split(&format!("{name}=\""))
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .to_owned()
            };
            (attr("data-owner"), attr("data-token"))
        })
        .collect()
}

#[actix_web::test]
async fn root_sees_every_accounts_tokens_with_owners_and_revokes_with_confirmation() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    app.create_reseller("carol", None).await;
    app.token("root", "roots").await;
    let bobs = app.token("bob", "bobs").await;
    app.token("carol", "carols").await;
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let page = root
        .get("/tokens/all?sort=name")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        owners_of(&page),
        [
            ("bob".to_owned(), "bobs".to_owned()),
            ("carol".to_owned(), "carols".to_owned()),
            ("root".to_owned(), "roots".to_owned())
        ]
    );
    assert!(page.contains("3 token(s)"));
    let only_carol = root
        .get_htmx("/tokens/all?owner=carol")
        .await
        .text()
        .await
        .unwrap();
    assert!(!only_carol.contains("<html"));
    assert_eq!(owners_of(&only_carol).len(), 1);
    // The search form with an owner already applied: a key sent twice
    // keeps the filters instead of dropping to everyone's tokens.
    let searched_within = root
        .get_htmx("/tokens/all?q=carol&owner=carol&sort=created&dir=desc&owner=carol")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        owners_of(&searched_within),
        [("carol".to_owned(), "carols".to_owned())]
    );
    assert!(
        !searched_within.contains("type=\"hidden\" name=\"owner\""),
        "the table's state does not repeat the form's owner field"
    );
    let searched = root.get("/tokens/all?q=bob").await.text().await.unwrap();
    assert_eq!(
        owners_of(&searched),
        [("bob".to_owned(), "bobs".to_owned())]
    );

    let id = page
        .split("name=\"ids\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let confirm = root
        .get(&format!("/tokens/all/revoke?ids={id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        confirm.contains("<strong>1 token: “bobs” of bob</strong>"),
        "{confirm}"
    );
    let after = root.post_htmx("/tokens/all/revoke", &[("ids", &id)]).await;
    let html = after.text().await.unwrap();
    assert!(html.contains("1 token revoked."));
    assert_denied(&app.api("bob", &bobs, "version", &[]).await);
    assert_eq!(app.count("tokens").await, 2);
    let events = app.command(&["audit", "--json", "--token", "bobs"]).await;
    let line = String::from_utf8(events.stdout).unwrap();
    assert!(line.contains("\"event\":\"token_revoked\""), "{line}");
    assert!(line.contains("\"actor\":\"root\"") && line.contains("\"target\":\"bob\""));
}

#[actix_web::test]
async fn a_reseller_sees_its_accounts_tokens_read_only_and_never_anothers() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    app.create_reseller("carol", None).await;
    app.create_reseller_owned_by("sub", "bob").await;
    app.token("sub", "subs").await;
    app.token("carol", "carols").await;
    app.token("bob", "bobs").await;
    let bob = app.sign_in("bob", USER_PASSWORD).await;
    let page = bob.get("/tokens/all").await.text().await.unwrap();
    assert_eq!(owners_of(&page), [("sub".to_owned(), "subs".to_owned())]);
    assert!(
        !page.contains("name=\"ids\""),
        "read-only: nothing to select"
    );
    assert!(!page.contains("Revoke Selected"));
    let nosy = bob
        .get("/tokens/all?owner=carol")
        .await
        .text()
        .await
        .unwrap();
    assert!(owners_of(&nosy).is_empty(), "never another reseller's");
    assert_eq!(
        bob.get("/tokens/all/revoke?ids=1").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        bob.post("/tokens/all/revoke", &[("ids", "1"), ("ids", "2")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.count("tokens").await, 3);
}

#[actix_web::test]
async fn a_search_with_a_common_word_finds_every_match_in_names_and_descriptions() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    app.bulk_tokens("root", 300).await;
    app.bulk_tokens("bob", 200).await;
    let url = app.database.url();
    let bob_id = app.actor("bob").await.account.id;
    app.db
        .write(move |conn| {
            use diesel::connection::SimpleConnection;
            use diesel::prelude::*;
            use whm_tokens::db::schema::tokens;
            diesel::update(tokens::table.filter(tokens::name.eq("bulk-00100")))
                .filter(tokens::account_id.eq(bob_id))
                .set(tokens::description.eq("copy of Bulk-00295"))
                .execute(conn)?;
            // The planner's statistics, as autovacuum would gather them.
            conn.batch_execute("ANALYZE")?;
            Ok::<_, anyhow::Error>(())
        })
        .await
        .unwrap();
    if whm_tokens::db::Backend::of_url(&url) == whm_tokens::db::Backend::Postgres {
        // "bulk-00" is in every name: the trigram index is asked for the
        // rest of the term only.
        let part = app
            .db
            .read(|conn| {
                whm_tokens::ops::token_names::TokenNames::default()
                    .rare_part(conn, "bulk-00295")
                    .map_err(anyhow::Error::from)
            })
            .await
            .unwrap();
        let part = part.expect("a rare part");
        assert!(
            !part.contains("bulk") && "bulk-00295".contains(&part),
            "{part}"
        );
    }
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let found = |q: &'static str| {
        let root = &root;
        async move {
            let html = root
                .get_htmx(&format!("/tokens/all?q={q}&sort=name&dir=asc"))
                .await
                .text()
                .await
                .unwrap();
            owners_of(&html)
        }
    };
    let pair = |o: &str, t: &str| (o.to_owned(), t.to_owned());
    assert_eq!(
        found("bulk-00295").await,
        [pair("bob", "bulk-00100"), pair("root", "bulk-00295")]
    );
    let broader = found("BULK-0029").await;
    assert_eq!(broader.len(), 11, "{broader:?}");
    assert_eq!(broader[0], pair("bob", "bulk-00100"));
    assert!(broader[1..]
        .iter()
        .all(|(o, t)| o == "root" && t.starts_with("bulk-0029")));
    assert!(found("bulk-00295x").await.is_empty());
    // "bulk-00295" holds every trigram that covers "bulk-0295" (`bul`,
    // `k-0`, `295`) but not the term: found by the index, not shown.
    assert!(found("bulk-0295").await.is_empty());
}
