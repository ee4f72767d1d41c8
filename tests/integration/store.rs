//! The foundation's rules, through the operations the page and the API share.

use diesel::prelude::*;
use sha2::{Digest, Sha256};

use whm_tokens::domain::Privilege;
use whm_tokens::domain::{Expiry, TokenName, Username};
use whm_tokens::ops::accounts;
use whm_tokens::ops::token_listing::{self as listing, Direction, ListQuery, SortKey};
use whm_tokens::ops::tokens::{self as token_ops, TokenChanges};
use whm_tokens::ops::{AccountKind, OpError};

use crate::helpers::*;

#[actix_web::test]
async fn token_names_are_unique_per_owner_but_free_across_owners() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    app.token("root", "deploy").await;
    app.token("bob", "deploy").await;
    let again = app
        .token_with("root", "deploy", Expiry::Never, "", None)
        .await;
    assert!(
        matches!(again, Err(OpError::TokenNameTaken(ref n)) if n == "deploy"),
        "{again:?}"
    );
    assert_eq!(app.count("tokens").await, 2);
}

#[actix_web::test]
async fn two_concurrent_creates_of_one_name_give_one_token_and_one_clear_error() {
    let app = spawn_app().await;
    let (a, b) = futures_util::future::join(
        app.token_with("root", "race", Expiry::Never, "", None),
        app.token_with("root", "race", Expiry::Never, "", None),
    )
    .await;
    let outcomes = [a, b];
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Err(OpError::TokenNameTaken(_)))),
        "{outcomes:?}"
    );
    assert_eq!(app.count("tokens").await, 1);
}

#[actix_web::test]
async fn many_concurrent_creates_of_distinct_names_all_succeed() {
    let app = spawn_app().await;
    let names: Vec<String> = (0..12).map(|i| format!("t{i}")).collect();
    let results = futures_util::future::join_all(
        names
            .iter()
            .map(|n| app.token_with("root", n, Expiry::Never, "", None)),
    )
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(app.count("tokens").await, 12);
}

#[actix_web::test]
async fn renaming_an_account_keeps_its_tokens_authenticating_under_the_new_name() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let secret = app.token("bob", "ci").await;
    let root = app.actor("root").await;
    app.db
        .write(move |c| {
            accounts::rename(c, &root, &user("bob"), &Username::parse("robert").unwrap())
        })
        .await
        .unwrap();
    ok_data(&app.api("robert", &secret, "version", &[]).await);
    assert_denied(&app.api("bob", &secret, "version", &[]).await);
}

#[actix_web::test]
async fn deleting_an_account_removes_its_tokens_and_nobody_elses() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let secret = app.token("bob", "ci").await;
    app.token("bob", "other").await;
    app.token("root", "mine").await;
    let root = app.actor("root").await;
    app.db
        .write(move |c| accounts::delete(c, &root, &user("bob")))
        .await
        .unwrap();
    assert_eq!(app.count("tokens").await, 1);
    assert_denied(&app.api("bob", &secret, "version", &[]).await);
}

#[actix_web::test]
async fn deleting_a_reseller_hands_its_accounts_to_root() {
    let app = spawn_app().await;
    app.create_reseller("bob", Some("create-acct list-accts"))
        .await;
    let bob = app.actor("bob").await;
    app.db
        .write(move |c| {
            accounts::create(
                c,
                &bob,
                accounts::NewAccount {
                    username: Username::parse("client").unwrap(),
                    kind: AccountKind::User,
                    owner: None,
                    password_hash: None,
                    privileges: None,
                    contact_email: None,
                },
                now(),
            )
        })
        .await
        .unwrap();
    let root = app.actor("root").await;
    app.db
        .write(move |c| accounts::delete(c, &root, &user("bob")))
        .await
        .unwrap();
    let root = app.actor("root").await;
    let client = app
        .db
        .read(move |c| accounts::find_managed(c, &root, &user("client")))
        .await
        .unwrap();
    assert_eq!(client.owner_id, Some(app.actor("root").await.account.id));
}

#[actix_web::test]
async fn a_suspended_owner_cannot_get_a_token_nor_authenticate() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let secret = app.token("bob", "before").await;
    let root = app.actor("root").await;
    app.db
        .write(move |c| accounts::set_suspended(c, &root, &user("bob"), true, None))
        .await
        .unwrap();
    let refused = app
        .token_with("bob", "after", Expiry::Never, "", None)
        .await;
    assert!(
        matches!(refused, Err(OpError::AccountSuspended(_))),
        "{refused:?}"
    );
    assert_denied(&app.api("bob", &secret, "version", &[]).await);

    let root = app.actor("root").await;
    app.db
        .write(move |c| accounts::set_suspended(c, &root, &user("bob"), false, None))
        .await
        .unwrap();
    ok_data(&app.api("bob", &secret, "version", &[]).await);
}

#[actix_web::test]
async fn removing_a_privilege_from_a_reseller_removes_it_from_all_its_tokens_at_once() {
    let app = spawn_app().await;
    app.create_reseller("bob", Some("manage-api-tokens list-accts"))
        .await;
    let full = app.token("bob", "full").await;
    let narrow = app
        .token_with("bob", "narrow", Expiry::Never, "", Some("list-accts"))
        .await
        .unwrap();
    for secret in [&full, &narrow] {
        ok_data(&app.api("bob", secret, "listaccts", &[]).await);
    }
    app.set_privileges("bob", "manage-api-tokens").await;
    for secret in [&full, &narrow] {
        let reason = refused(&app.api("bob", secret, "listaccts", &[]).await);
        assert!(reason.contains("list-accts"), "{reason}");
    }
    let privs = ok_data(&app.api("bob", &full, "myprivs", &[]).await);
    assert_eq!(privs["privileges"][0]["manage-api-tokens"], 1);
    assert_eq!(privs["privileges"][0]["list-accts"], 0);
}

#[actix_web::test]
async fn a_token_cannot_get_privileges_its_owner_lacks_and_nothing_is_written() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    let refused = app
        .token_with("bob", "greedy", Expiry::Never, "", Some("kill-acct"))
        .await;
    assert!(
        matches!(refused, Err(OpError::PrivilegesNotHeld(ref p)) if p[..] == [Privilege::KILL_ACCOUNT]),
        "{refused:?}"
    );
    let refused = app
        .token_with("bob", "greedier", Expiry::Never, "", Some("all"))
        .await;
    assert!(
        matches!(refused, Err(OpError::PrivilegesNotHeld(ref p)) if p[..] == [Privilege::ALL]),
        "{refused:?}"
    );
    assert_eq!(app.count("tokens").await, 0);
}

#[actix_web::test]
async fn plain_accounts_cannot_own_tokens() {
    let app = spawn_app().await;
    app.create_account("client", AccountKind::User, None).await;
    let refused = app.token_with("client", "x", Expiry::Never, "", None).await;
    assert!(
        matches!(
            refused,
            Err(OpError::MissingPrivilege(_)) | Err(OpError::CannotOwnTokens(_))
        ),
        "{refused:?}"
    );
}

#[actix_web::test]
async fn the_store_never_holds_a_secret_in_plain_text_only_its_sha256() {
    let app = spawn_app().await;
    let secret = app.token("root", "ci").await;
    let digests: Vec<Vec<u8>> = app
        .db
        .read(|c| {
            use whm_tokens::db::schema::tokens;
            tokens::table
                .select(tokens::digest)
                .load(c)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    assert_eq!(digests, vec![Sha256::digest(secret.as_bytes()).to_vec()]);
    // No text column of any table holds the secret.
    let rows: Vec<String> = app
        .db
        .read(|c| {
            use whm_tokens::db::schema::{accounts, sessions, tokens};
            let mut all: Vec<String> = tokens::table
                .select((tokens::name, tokens::allowed_ips, tokens::privileges))
                .load::<(String, String, String)>(c)?
                .into_iter()
                .map(|(a, b, d)| format!("{a}{b}{d}"))
                .collect();
            all.extend(
                accounts::table
                    .select(accounts::username)
                    .load::<String>(c)?,
            );
            all.extend(sessions::table.select(sessions::state).load::<String>(c)?);
            Ok::<_, anyhow::Error>(all)
        })
        .await
        .unwrap();
    assert!(rows.iter().all(|r| !r.contains(&secret)));
}

#[actix_web::test]
async fn a_failed_update_leaves_the_token_as_it_was() {
    let app = spawn_app().await;
    app.token("root", "one").await;
    app.token("root", "two").await;
    let root = app.actor("root").await;
    let result = app
        .db
        .write(move |c| {
            token_ops::update(
                c,
                &root,
                &TokenName::parse("one").unwrap(),
                TokenChanges {
                    new_name: Some(TokenName::parse("two").unwrap()),
                    expiry: Some(Expiry::At(now() + 3600)),
                    ..Default::default()
                },
            )
        })
        .await;
    assert!(
        matches!(result, Err(OpError::TokenNameTaken(_))),
        "{result:?}"
    );
    let root = app.actor("root").await;
    let one = app
        .db
        .read(move |c| token_ops::get(c, &root, &TokenName::parse("one").unwrap()))
        .await
        .unwrap();
    assert_eq!(one.expiry, Expiry::Never);
}

#[actix_web::test]
async fn listing_filters_by_name_case_insensitively_sorts_and_pages() {
    let app = spawn_app().await;
    for name in ["alpha", "Beta", "gamma_1", "gamma-2", "delta"] {
        app.token_with(
            "root",
            name,
            Expiry::At(now() + 1000 + name.len() as i64),
            "",
            None,
        )
        .await
        .unwrap();
    }
    app.token("root", "never").await;
    let root = app.actor("root").await;
    let list = |q: ListQuery| {
        let root = root.clone();
        let db = app.db.clone();
        async move {
            db.read(move |c| listing::list(c, &root, &q, &Default::default()))
                .await
                .unwrap()
        }
    };
    let page = list(ListQuery {
        filter: "BET".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(
        page.tokens
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["Beta"]
    );
    // `_` is a literal, not a wildcard.
    let page = list(ListQuery {
        filter: "a_".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(
        page.tokens
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["gamma_1"]
    );
    let page = list(ListQuery {
        sort: SortKey::Name,
        direction: Direction::Asc,
        ..Default::default()
    })
    .await;
    assert_eq!(
        page.tokens
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        // Case does not decide the order.
        ["alpha", "Beta", "delta", "gamma-2", "gamma_1", "never"]
    );
    let page = list(ListQuery {
        sort: SortKey::Expires,
        direction: Direction::Asc,
        ..Default::default()
    })
    .await;
    assert_eq!(
        page.tokens.last().unwrap().name.as_str(),
        "never",
        "never sorts last"
    );
    let page = list(ListQuery {
        per_page: 4,
        page: 2,
        ..Default::default()
    })
    .await;
    assert_eq!((page.total, page.tokens.len(), page.pages()), (6, 2, 2));
}

#[actix_web::test]
async fn one_account_never_reaches_another_accounts_tokens() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    app.token("root", "roots").await;
    let bob = app.actor("bob").await;
    let result = app
        .db
        .write(move |c| {
            let name = TokenName::parse("roots").unwrap();
            let got = token_ops::get(c, &bob, &name);
            let revoked = token_ops::revoke(c, &bob, &[name])?;
            Ok::<_, OpError>((got.is_err(), revoked))
        })
        .await
        .unwrap();
    assert_eq!(result, (true, 0));
    assert_eq!(app.count("tokens").await, 1);
}

/// Every page of `q`, read page by page, in order.
async fn all_pages(app: &TestApp, q: ListQuery) -> (Vec<String>, i64) {
    let actor = app.actor("root").await;
    let mut names = Vec::new();
    let mut total = 0;
    for page in 1.. {
        let (actor, q) = (actor.clone(), ListQuery { page, ..q.clone() });
        let got = app
            .db
            .read(move |conn| listing::list(conn, &actor, &q, &Default::default()))
            .await
            .unwrap();
        total = got.total;
        names.extend(got.tokens.iter().map(|t| t.name.to_string()));
        if page >= got.pages() {
            break;
        }
    }
    (names, total)
}

#[actix_web::test]
async fn pages_read_from_either_end_agree_with_one_long_page_for_every_sort() {
    let app = spawn_app().await;
    app.bulk_tokens("root", 61).await;
    // A third never expire, the rest on dates with ties.
    app.db
        .write(|conn| {
            use whm_tokens::db::schema::tokens;
            diesel::update(tokens::table.filter(tokens::name.like("bulk-%0")))
                .set(tokens::expires_at.eq(Some(now() + 5_000)))
                .execute(conn)?;
            diesel::update(tokens::table.filter(tokens::name.like("bulk-%1")))
                .set(tokens::expires_at.eq(Some(now() + 9_000)))
                .execute(conn)?;
            diesel::update(tokens::table.filter(tokens::name.like("bulk-%2")))
                .set(tokens::expires_at.eq(Some(now() + 7_000)))
                .execute(conn)?;
            Ok::<_, anyhow::Error>(())
        })
        .await
        .unwrap();
    for sort in [
        SortKey::Name,
        SortKey::Created,
        SortKey::Expires,
        SortKey::LastUsed,
    ] {
        for direction in [Direction::Asc, Direction::Desc] {
            for filter in ["", "bulk-001", "BULK-00", "k-", "3"] {
                let base = ListQuery {
                    filter: filter.into(),
                    hide_disabled: false,
                    sort,
                    direction,
                    page: 1,
                    per_page: 500,
                };
                let (whole, total) = all_pages(&app, base.clone()).await;
                let (paged, paged_total) = all_pages(
                    &app,
                    ListQuery {
                        per_page: 7,
                        ..base
                    },
                )
                .await;
                assert_eq!(paged, whole, "{sort:?} {direction:?} {filter:?}");
                assert_eq!(paged_total, total);
                assert_eq!(whole.len() as i64, total);
                let wanted = whole
                    .iter()
                    .filter(|n| n.to_lowercase().contains(&filter.to_lowercase()))
                    .count();
                assert_eq!(whole.len(), wanted, "{filter:?}: substring, any case");
            }
        }
    }
    // A never-expiring token sorts last both ways.
    let (asc, _) = all_pages(
        &app,
        ListQuery {
            sort: SortKey::Expires,
            direction: Direction::Asc,
            per_page: 7,
            ..ListQuery::default()
        },
    )
    .await;
    let last = asc.last().unwrap();
    assert!(
        !last.ends_with(['0', '1', '2']),
        "{last} has an expiry yet sorts after tokens without"
    );
    assert!(asc[0].ends_with('0'), "the earliest expiry comes first");
}

#[actix_web::test]
async fn the_stored_token_count_follows_creates_revokes_and_deletes() {
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    app.bulk_tokens("bob", 5).await;
    app.token("bob", "one").await;
    let count = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            db.read(|conn| {
                use whm_tokens::db::schema::accounts;
                accounts::table
                    .filter(accounts::username.eq("bob"))
                    .select(accounts::token_count)
                    .first::<i64>(conn)
                    .map_err(anyhow::Error::from)
            })
            .await
            .unwrap()
        }
    };
    assert_eq!(count(&app).await, 6);
    let bob = app.actor("bob").await;
    app.db
        .write(move |conn| token_ops::revoke(conn, &bob, &[TokenName::parse("one").unwrap()]))
        .await
        .unwrap();
    assert_eq!(count(&app).await, 5);
}

#[actix_web::test]
async fn a_search_with_quotes_is_answered_not_an_error() {
    let app = spawn_app().await;
    app.token("root", "deploy-prod").await;
    let actor = app.actor("root").await;
    for filter in ["de\"ploy", "\"\"\"", "\"", "ploy\""] {
        let (actor, q) = (
            actor.clone(),
            ListQuery {
                filter: filter.into(),
                ..ListQuery::default()
            },
        );
        let found = app
            .db
            .read(move |conn| listing::list(conn, &actor, &q, &Default::default()))
            .await;
        let page = found.unwrap_or_else(|e| panic!("{filter:?}: {e:?}"));
        assert_eq!(page.total, 0, "{filter:?}: no name holds a quote");
        assert!(page.tokens.is_empty(), "{filter:?}");
    }
    // And a quote-free part of the same search still finds it.
    let q = ListQuery {
        filter: "ploy".into(),
        ..ListQuery::default()
    };
    let page = app
        .db
        .read(move |conn| listing::list(conn, &actor, &q, &Default::default()))
        .await
        .unwrap();
    assert_eq!(page.total, 1);
}

#[derive(QueryableByName)]
struct PlanStep {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

/// The statements `run` sends, as SQL without their binds (an unbound
/// parameter is NULL to `EXPLAIN QUERY PLAN`, which plans the same).
fn statements_of<T>(
    conn: &mut whm_tokens::db::DbConnection,
    run: impl FnOnce(&mut whm_tokens::db::DbConnection) -> T,
) -> (T, Vec<String>) {
    use diesel::connection::{Connection, InstrumentationEvent};
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = seen.clone();
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            let sql = query.to_string();
            let sql = sql
                .split(" -- binds:")
                .next()
                .unwrap_or_default()
                .to_owned();
            into.lock().unwrap().push(sql);
        }
    });
    let out = run(conn);
    conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
    let seen = seen.lock().unwrap().clone();
    (out, seen)
}

#[actix_web::test]
async fn a_search_that_finds_a_few_of_a_big_owners_tokens_reads_those_few_not_the_owners_index() {
    let app = spawn_app().await;
    if whm_tokens::db::Backend::of_url(&app.database.url()) != whm_tokens::db::Backend::Sqlite {
        eprintln!("SKIPPED: PostgreSQL's planner chooses by its own estimate");
        return;
    }
    // An owner of many tokens (bulk-00000 …) among a thousand owners of
    // ten, as on a host, with the planner's statistics gathered as a
    // server gathers them: they say an owner has few tokens.
    app.bulk_tokens("root", 3_000).await;
    let root = app.actor("root").await;
    app.db
        .write_bookkeeping(|conn| {
            use diesel::connection::SimpleConnection;
            conn.batch_execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
                 INSERT INTO accounts (username, kind, owner_id, created_at) \
                 SELECT printf('acct%06d', i), 'user', 1, 0 FROM n; \
                 WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999) \
                 INSERT INTO tokens (account_id, name, digest, created_at, privileges) \
                 SELECT a.id, printf('t-%05d', n.i), randomblob(32), 1000 + n.i, '' \
                 FROM n JOIN accounts a ON a.username = printf('acct%06d', 1 + n.i % 1000);",
            )?;
            whm_tokens::db::Db::gather_statistics(conn)
        })
        .await
        .unwrap();
    let (names, plan) = app
        .db
        .read(move |conn| {
            let (page, sent) = statements_of(conn, |conn| {
                listing::list(
                    conn,
                    &root,
                    &ListQuery {
                        filter: "bulk-0000".into(),
                        ..Default::default()
                    },
                    &Default::default(),
                )
            });
            let page = page?;
            // The page's own query: the last one, in the page's order.
            let sql = sent
                .iter()
                .rev()
                .find(|s| s.contains("ORDER BY"))
                .expect("the page was read")
                .clone();
            let plan: Vec<String> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load::<PlanStep>(conn)?
                .into_iter()
                .map(|s| s.detail)
                .collect();
            let names: Vec<String> = page.tokens.iter().map(|t| t.name.to_string()).collect();
            Ok::<_, anyhow::Error>((names, plan))
        })
        .await
        .unwrap();
    // Every match, newest first (bulk-00000 is the newest).
    assert_eq!(
        names,
        (0..10).map(|i| format!("bulk-{i:05}")).collect::<Vec<_>>()
    );
    // Each found token by its id, and only the few sorted: no walk of an
    // index holding every token of the owner.
    assert!(
        plan.iter().any(|s| s.contains("INTEGER PRIMARY KEY")),
        "{plan:?}"
    );
    assert!(
        !plan.iter().any(|s| s.contains("tokens_account_")),
        "{plan:?}"
    );
}

#[actix_web::test]
async fn a_search_finds_what_the_stores_own_case_folding_finds() {
    let app = spawn_app().await;
    let admin = app.token("root", "admin").await;
    ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_create",
            &[("token_name", "office"), ("description", "İzmir ΟΣ")],
        )
        .await,
    );
    let root = app.actor("root").await;
    let found = |term: &'static str| {
        let root = root.clone();
        let db = app.db.clone();
        async move {
            let q = ListQuery {
                filter: term.into(),
                ..Default::default()
            };
            db.read(move |c| listing::list(c, &root, &q, &Default::default()))
                .await
                .unwrap()
                .tokens
                .iter()
                .map(|t| t.name.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found("İzmir").await, ["office"]);
    if whm_tokens::db::Backend::of_url(&app.database.url()) == whm_tokens::db::Backend::Postgres {
        // PostgreSQL folds every letter, one for one: İ is i, Σ is σ.
        assert_eq!(found("izmir").await, ["office"]);
        assert_eq!(found("οσ").await, ["office"]);
    } else {
        // SQLite's LIKE folds ASCII letters only.
        assert_eq!(found("iZMir").await, Vec::<String>::new());
        assert_eq!(found("İZMIR").await, ["office"]);
    }
}
