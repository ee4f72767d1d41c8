//! Expiry notices: by email through a real SMTP server and by webhook,
//! each sent once per token and threshold, from one instance or several.

use std::time::Duration;

use whm_tokens::config::Config;
use whm_tokens::domain::{EmailAddress, Expiry};
use whm_tokens::ops::accounts;

use crate::helpers::*;
use crate::receivers::{SilentSmtp, SmtpSink, WebhookReceiver};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
pub const SECRET: &str = "webhook-signing-key";
pub const LIMIT: Duration = Duration::from_secs(20);

/// Notices every second, to the sink and the receiver.
pub fn notify(config: &mut Config, smtp: &SmtpSink, hook: &WebhookReceiver) {
    notify_to(config, &smtp.url(), hook);
}

/// Notices every second, to the mail server at `smtp` and the receiver.
fn notify_to(config: &mut Config, smtp: &str, hook: &WebhookReceiver) {
    config.notices = whm_tokens::config::NoticeSettings::parse(
        1,
        Some(smtp),
        Some("WHM Tokens <tokens@example.com>"),
        Some(&hook.url()),
        Some(SECRET),
    )
    .unwrap();
}

pub async fn set_email(app: &TestApp, username: &str, email: &str) {
    let root = app.actor("root").await;
    let name = user(username);
    let email = EmailAddress::parse(email).unwrap();
    app.db
        .write(move |conn| accounts::set_contact_email(conn, &root, &name, Some(&email)))
        .await
        .unwrap();
}

async fn expiring(app: &TestApp, owner: &str, name: &str, in_secs: i64) -> String {
    app.token_with(owner, name, Expiry::At(now() + in_secs), "", None)
        .await
        .unwrap()
}

pub fn subjects(mail: &[crate::receivers::Mail]) -> Vec<String> {
    let mut subjects: Vec<String> = mail
        .iter()
        .map(|m| {
            m.data
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .map(decode_words)
                .unwrap_or_default()
        })
        .collect();
    subjects.sort();
    subjects
}

/// The tokens of the deliveries `hook` accepted, sorted.
fn posted_tokens(hook: &WebhookReceiver) -> Vec<String> {
    let mut tokens: Vec<String> = hook
        .accepted()
        .iter()
        .map(|d| d.json()["token"].as_str().unwrap().to_owned())
        .collect();
    tokens.sort();
    tokens
}

/// Undoes RFC 2047's `=?utf-8?b?…?=` words, as a mail reader does.
fn decode_words(header: &str) -> String {
    use base64::Engine;
    header
        .split(' ')
        .map(|word| {
            word.strip_prefix("=?utf-8?b?")
                .and_then(|w| w.strip_suffix("?="))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .unwrap_or_else(|| word.to_owned())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[actix_web::test]
async fn each_token_gets_one_notice_for_the_nearest_threshold_by_mail_to_its_owner_and_by_webhook()
{
    let smtp = SmtpSink::start().await;
    let hook = WebhookReceiver::start().await;
    let app = spawn_app_with(|c| notify(c, &smtp, &hook)).await;
    app.create_reseller("alice", None).await;
    set_email(&app, "alice", "alice@example.com").await;
    let week = expiring(&app, "alice", "deploy", 3 * DAY).await;
    // Inside the 7-day and the 1-day thresholds at once: one notice.
    let soon = expiring(&app, "alice", "backup", 6 * HOUR).await;
    expiring(&app, "alice", "later", 30 * DAY).await;
    app.token("alice", "forever").await;
    // Root has no contact address: its token goes to the webhook only.
    expiring(&app, "root", "rootjob", 2 * DAY).await;

    let mail = smtp.wait_for(2, LIMIT).await;
    let posts = hook.wait_for(3, LIMIT).await;
    // Three more rounds change nothing.
    app.notice_rounds(3).await;
    let mail_after = smtp.mail();
    let posts_after = hook.accepted();
    assert_eq!(mail_after.len(), 2, "{:?}", subjects(&mail_after));
    assert_eq!(posts_after.len(), 3);
    assert_eq!(mail.len(), mail_after.len());
    assert_eq!(posts.len(), posts_after.len());

    assert_eq!(
        subjects(&mail_after),
        [
            "API token “backup” expires within a day",
            "API token “deploy” expires in 3 days"
        ]
    );
    for m in &mail_after {
        assert_eq!(m.to, ["<alice@example.com>"]);
        assert_eq!(m.from, "<tokens@example.com>");
        assert!(m.data.contains("alice"), "{}", m.data);
        assert!(!m.data.contains(&week) && !m.data.contains(&soon));
    }

    let mut bodies: Vec<serde_json::Value> = posts_after.iter().map(|d| d.json()).collect();
    bodies.sort_by_key(|b| b["token"].as_str().unwrap().to_owned());
    let summary: Vec<(String, String, String, i64)> = bodies
        .iter()
        .map(|b| {
            (
                b["event"].as_str().unwrap().to_owned(),
                b["account"].as_str().unwrap().to_owned(),
                b["token"].as_str().unwrap().to_owned(),
                b["days_left"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("token_expiring".into(), "alice".into(), "backup".into(), 1),
            ("token_expiring".into(), "alice".into(), "deploy".into(), 3),
            ("token_expiring".into(), "root".into(), "rootjob".into(), 2),
        ]
    );
    for b in &bodies {
        assert!(b["expires_at"].as_i64().unwrap() > now());
        assert_eq!(b.as_object().unwrap().len(), 5, "{b}");
    }
    // Each delivery is signed with the shared secret: its time, its
    // delivery id and its body.
    for d in &posts_after {
        let at = d.signed_at(SECRET).expect("a signature that holds");
        assert!((now() - 60..=now()).contains(&at), "signed at {at}");
        assert!(d.signed_at("another-key").is_none());
        assert_eq!(d.header("Content-Type"), Some("application/json"));
    }
    // A delivery id changed (to pass a receiver's de-duplication), or a
    // body changed, no longer matches the signature.
    let mut forged = posts_after[0].clone();
    for (name, value) in forged.headers.iter_mut() {
        if name.eq_ignore_ascii_case("X-WHM-Tokens-Delivery") {
            value.push('0');
        }
    }
    assert!(forged.signed_at(SECRET).is_none());
    let mut forged = posts_after[0].clone();
    forged.body.push(b' ');
    assert!(forged.signed_at(SECRET).is_none());
    // The owner's audit trail says what was sent.
    let events = app.count_events("expiry_notice_sent").await;
    assert_eq!(events, 5);
}

#[actix_web::test]
async fn a_token_that_expires_gets_its_expired_notice_after_the_one_before() {
    let smtp = SmtpSink::start().await;
    let hook = WebhookReceiver::start().await;
    let app = spawn_app_with(|c| notify(c, &smtp, &hook)).await;
    expiring(&app, "root", "brief", 3).await;
    let posts = hook.wait_for(2, LIMIT).await;
    let events: Vec<String> = posts
        .iter()
        .map(|d| d.json()["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["token_expiring", "token_expired"]);
    assert_eq!(posts[1].json()["days_left"], 0);
    // Disabled tokens, and tokens that expired long ago, get none.
    expiring(&app, "root", "paused", 2 * DAY).await;
    app.disable("root", "paused").await;
    app.token("root", "ancient").await;
    app.set_expiry("ancient", now() - 30 * DAY).await;
    app.notice_rounds(2).await;
    assert_eq!(hook.accepted().len(), 2);
}

#[actix_web::test]
async fn two_instances_on_one_database_send_each_notice_once() {
    let smtp = SmtpSink::start().await;
    let hook = WebhookReceiver::start().await;
    let app = spawn_app_with(|c| notify(c, &smtp, &hook)).await;
    let _other = app.second_instance_with(|c| notify(c, &smtp, &hook)).await;
    app.create_reseller("alice", None).await;
    set_email(&app, "alice", "alice@example.com").await;
    for i in 0..6 {
        expiring(&app, "alice", &format!("job{i}"), 2 * DAY + i).await;
    }
    smtp.wait_for(6, LIMIT).await;
    hook.wait_for(6, LIMIT).await;
    // Three more rounds of this instance (the other runs as often).
    app.notice_rounds(3).await;
    assert_eq!(
        posted_tokens(&hook),
        ["job0", "job1", "job2", "job3", "job4", "job5"]
    );
    assert_eq!(smtp.mail().len(), 6, "{:?}", subjects(&smtp.mail()));
    assert_eq!(smtp.attempts(), 6);
}

#[actix_web::test]
async fn a_failed_send_is_retried_until_accepted_and_never_sent_twice() {
    let smtp = SmtpSink::start().await;
    let hook = WebhookReceiver::start().await;
    // The mail server refuses the first message; the receiver fails all
    // three tries of the first round (with back-off between them).
    smtp.refuse_next(1);
    hook.refuse_next(3);
    let app = spawn_app_with(|c| {
        notify(c, &smtp, &hook);
        // Counted only where a metrics listener is set.
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    set_email(&app, "root", "ops@example.com").await;
    expiring(&app, "root", "nightly", 2 * DAY).await;

    let mail = smtp.wait_for(1, LIMIT).await;
    let posts = hook.wait_for(1, LIMIT).await;
    app.notice_rounds(3).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(smtp.mail().len(), 1);
    assert_eq!(smtp.attempts(), 2, "refused once, then accepted once");
    // The metrics count both tries of the mail and the webhook's.
    let scrape = app.state.scrape();
    for (series, count) in [
        (
            "whm_tokens_expiry_notices_total{channel=\"email\",outcome=\"failed\"} ",
            1,
        ),
        (
            "whm_tokens_expiry_notices_total{channel=\"email\",outcome=\"sent\"} ",
            1,
        ),
        (
            "whm_tokens_expiry_notices_total{channel=\"webhook\",outcome=\"sent\"} ",
            1,
        ),
    ] {
        assert!(
            scrape.contains(&format!("{series}{count}")),
            "{series} in:\n{scrape}"
        );
    }
    assert_eq!(posts.len(), 1);
    let seen = hook.seen();
    assert_eq!(seen.len(), 4, "three refused tries, then one accepted");
    let deliveries: std::collections::HashSet<_> = seen
        .iter()
        .map(|d| d.header("X-WHM-Tokens-Delivery").unwrap().to_owned())
        .collect();
    assert_eq!(
        deliveries.len(),
        1,
        "every try carries the same delivery id"
    );
}

#[actix_web::test]
async fn a_token_given_a_new_expiry_is_noticed_again() {
    let smtp = SmtpSink::start().await;
    let hook = WebhookReceiver::start().await;
    let app = spawn_app_with(|c| notify(c, &smtp, &hook)).await;
    let admin = app.token("root", "admin").await;
    expiring(&app, "root", "renewed", 2 * DAY).await;
    hook.wait_for(1, LIMIT).await;
    let later = (now() + 5 * DAY).to_string();
    ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_update",
            &[("token_name", "renewed"), ("expires_at", &later)],
        )
        .await,
    );
    let posts = hook.wait_for(2, LIMIT).await;
    assert_eq!(posts[1].json()["days_left"], 5);
}

#[actix_web::test]
async fn the_check_walks_due_tokens_a_page_at_a_time_without_skipping_any() {
    let app = spawn_app().await;
    let at = now() + 2 * DAY;
    // Several share one expiry: the cursor breaks ties by id.
    for i in 0..7 {
        app.token_with(
            "root",
            &format!("t{i}"),
            Expiry::At(at + i64::from(i > 3)),
            "",
            None,
        )
        .await
        .unwrap();
    }
    app.token_with("root", "far", Expiry::At(now() + 20 * DAY), "", None)
        .await
        .unwrap();
    let seen = app
        .db
        .read(move |conn| {
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let page = whm_tokens::ops::notices::due(conn, now(), after, 3)?;
                assert!(page.due.len() <= 3);
                seen.extend(page.due.iter().map(|d| d.token.to_string()));
                match page.next {
                    Some(next) => after = Some(next),
                    None => return Ok::<_, whm_tokens::ops::OpError>(seen),
                }
            }
        })
        .await
        .unwrap();
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert_eq!(sorted, ["t0", "t1", "t2", "t3", "t4", "t5", "t6"]);
}

/// Root's policy disables tokens unused for `days` days.
pub async fn disable_unused_after(app: &TestApp, days: &str) {
    let admin = app.token("root", "policy-admin").await;
    ok_data(
        &app.api(
            "root",
            &admin,
            "api_token_policy_set",
            &[("disable_unused_days", days)],
        )
        .await,
    );
}

#[actix_web::test]
async fn every_token_the_policy_disables_soon_is_told_however_many_there_are() {
    let smtp = SmtpSink::start().await;
    let hook = WebhookReceiver::start().await;
    let app = spawn_app_with(|c| notify(c, &smtp, &hook)).await;
    // More than a page of tokens, all made five days ago: disabled for
    // disuse in five days.
    app.bulk_tokens("root", 250).await;
    let made = now() - 5 * DAY;
    app.db
        .write(move |conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::tokens;
            diesel::update(tokens::table.filter(tokens::name.like("bulk-%")))
                .set(tokens::created_at.eq(made))
                .execute(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    disable_unused_after(&app, "10").await;
    let unused = |posts: &[crate::receivers::Delivery]| {
        let mut tokens: Vec<String> = posts
            .iter()
            .map(|d| d.json())
            .filter(|b| b["event"] == "token_unused")
            .map(|b| b["token"].as_str().unwrap().to_owned())
            .collect();
        tokens.sort();
        tokens
    };
    wait_until("every unused token told", Duration::from_secs(60), || {
        let told = unused(&hook.accepted()).len();
        async move { told >= 250 }
    })
    .await;
    app.notice_rounds(2).await;
    let told = unused(&hook.accepted());
    let expected: Vec<String> = (0..250).map(|i| format!("bulk-{i:05}")).collect();
    assert_eq!(told, expected, "each once");
}

#[actix_web::test]
async fn a_suspended_account_is_told_of_a_leak_but_not_of_tokens_it_cannot_use_to_keep() {
    let smtp = SmtpSink::start().await;
    let hook = WebhookReceiver::start().await;
    let app = spawn_app_with(|c| notify(c, &smtp, &hook)).await;
    for name in ["alice", "bob"] {
        app.create_reseller(name, None).await;
        set_email(&app, name, &format!("{name}@example.com")).await;
        app.token(name, &format!("{name}-idle")).await;
    }
    app.set_created("alice-idle", now() - 5 * DAY).await;
    app.set_created("bob-idle", now() - 5 * DAY).await;
    let spilled = app.token("bob", "bob-spilled").await;
    app.set_suspended("bob", true).await;
    crate::leaks::report(&app.address, &[&spilled], "203.0.113.9").await;
    disable_unused_after(&app, "10").await;

    // alice's idle token is told; bob's leak is told to bob, suspended or
    // not (a leak is about the secret, and bob may be back).
    hook.wait_for(2, LIMIT).await;
    let mail = smtp.wait_for(2, LIMIT).await;
    app.notice_rounds(2).await;
    let mut told: Vec<(String, String)> = hook
        .accepted()
        .iter()
        .map(|d| d.json())
        .map(|b| {
            (
                b["event"].as_str().unwrap().to_owned(),
                b["token"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    told.sort();
    assert_eq!(
        told,
        [
            ("token_leaked".to_owned(), "bob-spilled".to_owned()),
            ("token_unused".to_owned(), "alice-idle".to_owned()),
        ],
        "no token_unused for a suspended account's token"
    );
    assert_eq!(smtp.mail().len(), mail.len());
    let bobs: Vec<_> = mail
        .iter()
        .filter(|m| m.to == ["<bob@example.com>"])
        .cloned()
        .collect();
    assert_eq!(
        subjects(&bobs),
        ["API token “bob-spilled” was reported leaked"]
    );
}

#[actix_web::test]
async fn a_notice_says_what_is_true_when_it_is_sent_not_when_its_round_began() {
    let smtp = SmtpSink::start().await;
    let hook = WebhookReceiver::start().await;
    let mut hold = hook.hold_next();
    let app = spawn_app_with(|c| notify(c, &smtp, &hook)).await;
    app.create_reseller("alice", None).await;
    set_email(&app, "alice", "alice@example.com").await;
    // One page, sent in order of expiry (each token's webhook, then its
    // mail): the receiver holds its answer to the first token's webhook
    // while the rest wait their turn.
    expiring(&app, "alice", "first", 2 * DAY).await;
    expiring(&app, "alice", "second", 3 * DAY).await;
    expiring(&app, "alice", "third", 4 * DAY).await;
    hold.arrived(LIMIT).await;
    // Meanwhile the second is revoked and alice's address changes.
    let alice = app.actor("alice").await;
    app.db
        .write(move |c| {
            whm_tokens::ops::tokens::revoke(
                c,
                &alice,
                &[whm_tokens::domain::TokenName::parse("second").unwrap()],
            )
        })
        .await
        .unwrap();
    set_email(&app, "alice", "alice@new.example.com").await;
    hold.release();

    hook.wait_for(2, LIMIT).await;
    smtp.wait_for(2, LIMIT).await;
    app.notice_rounds(2).await;
    assert_eq!(
        posted_tokens(&hook),
        ["first", "third"],
        "none for the revoked token"
    );
    let mail: Vec<(String, Vec<String>)> = smtp
        .mail()
        .iter()
        .map(|m| (subjects(std::slice::from_ref(m)).remove(0), m.to.clone()))
        .collect();
    assert_eq!(
        mail,
        [
            (
                "API token “first” expires in 2 days".to_owned(),
                vec!["<alice@new.example.com>".to_owned()]
            ),
            (
                "API token “third” expires in 4 days".to_owned(),
                vec!["<alice@new.example.com>".to_owned()]
            ),
        ],
        "to the address alice has now"
    );
}

#[actix_web::test]
async fn a_notice_marked_sent_twice_is_in_the_activity_once() {
    let app = spawn_app().await;
    let at = now() + 2 * DAY;
    app.token_with("root", "twice", Expiry::At(at), "", None)
        .await
        .unwrap();
    use whm_tokens::ops::notices::{self, Channel};
    let due = app
        .db
        .read(move |c| notices::due(c, now(), None, 10))
        .await
        .unwrap()
        .due
        .remove(0);
    let claimed = due.clone();
    let current = app
        .db
        .write(move |c| notices::claim(c, &claimed, Channel::Webhook, now()))
        .await
        .unwrap()
        .expect("claimed");
    assert_eq!(current.token.to_string(), "twice");
    // A write that committed after its caller stopped waiting, then the
    // caller's next try.
    for _ in 0..2 {
        let sent = due.clone();
        app.db
            .write(move |c| notices::mark_sent(c, &sent, Channel::Webhook, now()))
            .await
            .unwrap();
    }
    assert_eq!(app.count_events("expiry_notice_sent").await, 1);
    // And it is not claimed again.
    let again = app
        .db
        .write(move |c| notices::claim(c, &due, Channel::Webhook, now()))
        .await
        .unwrap();
    assert!(again.is_none());
}

#[actix_web::test]
async fn a_mail_server_that_never_answers_holds_up_no_webhook_and_leaks_go_first() {
    let silent = SilentSmtp::start().await;
    let hook = WebhookReceiver::start().await;
    let app = spawn_app_with(|c| {
        notify_to(c, &silent.url(), &hook);
        c.notices.mail.as_mut().unwrap().timeout = Duration::from_secs(1);
    })
    .await;
    set_email(&app, "root", "ops@example.com").await;
    // Thirty tokens due, each one to mail: a second apiece, more than the
    // test waits, if each waited for the server.
    app.bulk_tokens("root", 30).await;
    app.token("root", "spilled").await;
    // Due, and reported leaked, in one transaction: the first round to see
    // either sees both.
    let (expires, reported) = (now() + 3 * DAY, now());
    app.db
        .write(move |conn| {
            use diesel::prelude::*;
            use whm_tokens::db::schema::tokens;
            diesel::update(tokens::table.filter(tokens::name.like("bulk-%")))
                .set(tokens::expires_at.eq(Some(expires)))
                .execute(conn)?;
            diesel::update(tokens::table.filter(tokens::name.eq("spilled")))
                .set((
                    tokens::enabled.eq(false),
                    tokens::leaked_at.eq(Some(reported)),
                    tokens::leaked_from.eq(Some("203.0.113.9")),
                ))
                .execute(conn)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    let posts = hook.wait_for(31, LIMIT).await;
    assert_eq!(posts[0].json()["event"], "token_leaked", "the leak first");
    // The mail is tried again at each round, once.
    let tried = silent.connections();
    app.notice_rounds(2).await;
    assert!(silent.connections() > tried, "mail tried again next round");
}
