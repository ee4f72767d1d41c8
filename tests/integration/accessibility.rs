//! Every page and dialog, in headless Chromium, at a laptop's and a phone's
//! size: axe-core (vendored in tests/vendor, never served by the app) finds
//! no serious or critical problem, nothing scrolls sideways, and keyboard
//! focus goes where a keyboard or screen-reader user expects.

use fantoccini::Client;
use serde_json::json;

use whm_tokens::domain::Expiry;

use crate::browser::{css, eventually, in_view, js, root_in_chromium, toast_text, wait_for_dialog};
use crate::helpers::*;

const AXE: &str = include_str!("../vendor/axe-4.14.1.min.js");

/// Runs axe-core on the page as it is now and returns its serious and
/// critical violations, one line each.
pub(crate) async fn violations(c: &Client) -> Vec<String> {
    let loaded = js(c, "return typeof window.axe !== 'undefined';").await;
    if loaded != json!(true) {
        c.execute(&format!("{AXE}\nreturn true;"), vec![])
            .await
            .expect("load axe-core");
    }
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                      v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("run axe-core");
    serde_json::from_value(found).unwrap()
}

/// How far the page scrolls sideways (0: it fits the window).
async fn overflow(c: &Client) -> i64 {
    js(
        c,
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
    )
    .await
    .as_i64()
    .unwrap()
}

async fn visit(c: &Client, app: &TestApp, path: &str) {
    c.goto(&format!("{}{path}", app.address)).await.unwrap();
    css(c, "main").await;
}

/// The pages a signed-in root can reach, with something on each.
const PAGES: &[&str] = &[
    "/tokens",
    "/tokens/new",
    "/tokens/ci/edit",
    "/tokens/all",
    "/accounts",
    "/accounts/bob",
    "/activity",
    "/account/sessions",
    "/account/two-factor",
    "/account/password",
    "/account/email",
];

const ESCAPE: &str = "\u{e00c}";

async fn active_matches(c: &Client, selector: &str) -> bool {
    js(
        c,
        &format!("return document.activeElement.matches(\"{selector}\");"),
    )
    .await
        == json!(true)
}

async fn furnish(app: &TestApp) {
    app.create_reseller("bob", None).await;
    app.token_with(
        "root",
        "ci",
        Expiry::At(now() + 3 * 86_400),
        "10.0.0.1",
        None,
    )
    .await
    .unwrap();
    app.token("root", "deploy").await;
    app.token("root", "old").await;
    app.set_expiry("old", now() - 60).await;
    app.token("bob", "bobs").await;
}

#[actix_web::test]
async fn every_page_and_dialog_passes_axe_at_laptop_and_phone_sizes_without_sideways_scrolling() {
    let Some(chromium) = root_in_chromium().await else {
        return;
    };
    let (c, app) = (&chromium.c, &chromium.app);
    furnish(app).await;
    let mut problems: Vec<String> = Vec::new();
    for (width, height) in [(1366, 900), (390, 844)] {
        c.set_window_size(width, height).await.unwrap();
        for path in PAGES {
            visit(c, app, path).await;
            for v in violations(c).await {
                problems.push(format!("{width}px {path}: {v}"));
            }
            let over = overflow(c).await;
            if over > 0 {
                problems.push(format!("{width}px {path}: scrolls {over}px sideways"));
            }
        }
        // The page that shows a new secret once, and what a reload shows.
        visit(c, app, "/tokens/new").await;
        let name = format!("made-at-{width}");
        css(c, "#name").await.send_keys(&name).await.unwrap();
        in_view(c, "#submit").await.click().await.unwrap();
        css(c, "#secret").await;
        for step in ["secret", "reload"] {
            if step == "reload" {
                c.refresh().await.unwrap();
                css(c, "#already-generated").await;
            }
            for v in violations(c).await {
                problems.push(format!("{width}px {step} page: {v}"));
            }
            let over = overflow(c).await;
            if over > 0 {
                problems.push(format!("{width}px {step} page: scrolls {over}px sideways"));
            }
        }
        // The dialogs.
        for (path, opener) in [
            ("/tokens", "tr[data-token='deploy'] a.revoke"),
            ("/tokens", "tr[data-token='deploy'] a.regenerate"),
        ] {
            visit(c, app, path).await;
            js(
                c,
                &format!("document.querySelector(\"{opener}\").click(); return true;"),
            )
            .await;
            wait_for_dialog(c).await;
            for v in violations(c).await {
                problems.push(format!("{width}px dialog {opener}: {v}"));
            }
            let over = overflow(c).await;
            if over > 0 {
                problems.push(format!(
                    "{width}px dialog {opener}: scrolls {over}px sideways"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[actix_web::test]
async fn escape_closes_the_gear_menu_and_gives_focus_back_to_the_gear() {
    let Some(chromium) = root_in_chromium().await else {
        return;
    };
    let c = &chromium.c;
    let gear = css(c, "#gear summary").await;
    gear.click().await.unwrap();
    assert_eq!(
        js(c, "return document.getElementById('gear').open;").await,
        json!(true)
    );
    css(c, "#gear .menu a")
        .await
        .send_keys(ESCAPE)
        .await
        .unwrap();
    eventually("the gear menu to close", || async {
        js(c, "return document.getElementById('gear').open;").await == json!(false)
    })
    .await;
    assert!(active_matches(c, "#gear summary").await);
}

#[actix_web::test]
async fn on_a_phone_the_menu_collapses_behind_a_button_and_rows_are_cards_with_actions_first() {
    let Some(chromium) = root_in_chromium().await else {
        return;
    };
    let (c, app) = (&chromium.c, &chromium.app);
    furnish(app).await;
    c.set_window_size(360, 740).await.unwrap();
    visit(c, app, "/tokens").await;
    let shown = |sel: &'static str| async move {
        js(
            c,
            &format!(
                "var e = document.querySelector('{sel}'); return !!e && e.offsetParent !== null;"
            ),
        )
        .await
            == json!(true)
    };
    assert!(shown("#menu-button").await);
    assert!(!shown("#main-nav").await, "the navigation is collapsed");
    assert!(!shown(".signout button").await);
    css(c, "#menu-button").await.click().await.unwrap();
    assert!(shown("#main-nav").await);
    assert!(shown(".signout button").await, "Sign out is reachable");
    assert_eq!(
        js(
            c,
            "return document.getElementById('menu-button').getAttribute('aria-expanded');"
        )
        .await,
        json!("true")
    );
    assert_eq!(overflow(c).await, 0);
    css(c, "#menu-button")
        .await
        .send_keys(ESCAPE)
        .await
        .unwrap();
    assert!(!shown("#main-nav").await);
    // Each row is a card whose actions come first.
    let order = js(
        c,
        "var row = document.querySelector(\"tr[data-token='deploy']\"); \
         var actions = row.querySelector('.row-actions').getBoundingClientRect(); \
         var created = row.querySelector('[data-label=Created]').getBoundingClientRect(); \
         return [actions.top < created.top, row.getBoundingClientRect().width <= window.innerWidth];",
    )
    .await;
    assert_eq!(order, json!([true, true]));
    // The expired row says so in words, not only in red.
    assert_eq!(
        js(
            c,
            "return document.querySelector(\"tr[data-token='old'] .status\").textContent;"
        )
        .await,
        json!("Expired")
    );
    assert_eq!(
        js(
            c,
            "return document.querySelector(\"tr[data-token='ci'] .status\") === null;"
        )
        .await,
        json!(true),
        "three days left is not yet 'soon'"
    );
}

#[actix_web::test]
async fn after_continue_in_a_dialog_focus_moves_to_the_message_saying_what_happened() {
    let Some(chromium) = root_in_chromium().await else {
        return;
    };
    let (c, app) = (&chromium.c, &chromium.app);
    furnish(app).await;
    visit(c, app, "/tokens").await;
    css(c, "tr[data-token='deploy'] a.revoke")
        .await
        .click()
        .await
        .unwrap();
    wait_for_dialog(c).await;
    css(c, "#confirm-dialog [data-confirm]")
        .await
        .click()
        .await
        .unwrap();
    eventually("focus on the toast", || async {
        active_matches(c, "#toasts .toast").await
    })
    .await;
    let said = js(c, "return document.activeElement.textContent;").await;
    assert!(
        said.as_str().unwrap().contains("“deploy” was revoked"),
        "{said}"
    );
}

#[actix_web::test]
async fn a_form_that_failed_focuses_a_summary_linking_every_field_in_error() {
    let Some(chromium) = root_in_chromium().await else {
        return;
    };
    let (c, app) = (&chromium.c, &chromium.app);
    visit(c, app, "/tokens/new").await;
    css(c, "#name").await.send_keys("no spaces").await.unwrap();
    css(c, "#ips")
        .await
        .send_keys("10.0.0.300, example.com")
        .await
        .unwrap();
    // Select none: every privilege unchecked at once.
    css(c, "#select-every [data-select=none]")
        .await
        .click()
        .await
        .unwrap();
    assert_eq!(
        js(
            c,
            "return document.querySelectorAll('input[name=acl]:checked').length;"
        )
        .await,
        json!(0)
    );
    // Generate is in view without scrolling past 64 boxes.
    assert_eq!(
        js(
            c,
            "window.scrollTo(0, 0); var r = document.getElementById('submit').getBoundingClientRect(); \
             return r.bottom <= window.innerHeight && r.top >= 0;"
        )
        .await,
        json!(true)
    );
    css(c, "#submit").await.click().await.unwrap();
    eventually("the error summary to take focus", || async {
        active_matches(c, "#error-summary").await
    })
    .await;
    let links = js(
        c,
        "return Array.from(document.querySelectorAll('#error-summary a')).map(a => a.getAttribute('href'));",
    )
    .await;
    assert_eq!(links, json!(["#name", "#ips", "#privileges"]));
    let summary = js(
        c,
        "return document.getElementById('error-summary').textContent;",
    )
    .await;
    assert!(
        summary.as_str().unwrap().contains("“example.com”"),
        "{summary}"
    );
    assert!(violations(c).await.is_empty());
    // Each link leads to its field.
    css(c, "#error-summary a[href='#ips']")
        .await
        .click()
        .await
        .unwrap();
    assert!(active_matches(c, "#ips").await);
}

#[actix_web::test]
async fn signed_out_and_refused_pages_pass_axe_and_keep_the_normal_layout() {
    let Some(chromium) = root_in_chromium().await else {
        return;
    };
    let (c, app) = (&chromium.c, &chromium.app);
    app.create_reseller("bob", None).await;
    // A 403 keeps the top bar (with Sign out) and the viewport.
    visit(c, app, "/accounts/bob/delete").await;
    visit(c, app, "/accounts/root").await;
    assert!(js(c, "return document.title;")
        .await
        .as_str()
        .unwrap()
        .contains("Not allowed"));
    assert_eq!(
        js(c, "return !!document.querySelector('.topbar .signout') && !!document.querySelector('meta[name=viewport]');").await,
        json!(true)
    );
    assert!(violations(c).await.is_empty());
    // The sign-in card is centred.
    css(c, ".signout button").await.click().await.unwrap();
    eventually("the sign-in page", || async {
        c.current_url()
            .await
            .map(|u| u.path() == "/login")
            .unwrap_or(false)
    })
    .await;
    let centred = js(
        c,
        "var r = document.querySelector('.card').getBoundingClientRect(); \
         return Math.abs(r.left - (window.innerWidth - r.right)) <= 2;",
    )
    .await;
    assert_eq!(centred, json!(true));
    assert!(violations(c).await.is_empty());
    c.set_window_size(390, 844).await.unwrap();
    visit(c, app, "/login").await;
    assert_eq!(overflow(c).await, 0);
    assert!(violations(c).await.is_empty());
}

#[actix_web::test]
async fn reloading_the_page_that_showed_a_secret_says_the_token_exists() {
    let Some(chromium) = root_in_chromium().await else {
        return;
    };
    let (c, app) = (&chromium.c, &chromium.app);
    visit(c, app, "/tokens/new").await;
    css(c, "#name").await.send_keys("reloaded").await.unwrap();
    css(c, "#submit").await.click().await.unwrap();
    css(c, "#secret").await;
    c.refresh().await.unwrap();
    let heading = css(c, "#already-generated h1").await.text().await.unwrap();
    assert_eq!(heading, "The token “reloaded” exists");
    assert!(js(c, "return document.getElementById('secret') === null;").await == json!(true));
    assert_eq!(app.count("tokens").await, 1);
}

#[actix_web::test]
async fn creating_an_account_shows_owner_only_for_plain_accounts_and_generates_a_password() {
    let Some(chromium) = root_in_chromium().await else {
        return;
    };
    let (c, app) = (&chromium.c, &chromium.app);
    visit(c, app, "/accounts").await;
    let owner_shown = || async {
        js(
            c,
            "return document.getElementById('owner-field').offsetParent !== null;",
        )
        .await
    };
    assert_eq!(owner_shown().await, json!(false), "a reseller is root's");
    in_view(c, "input[name=kind][value=user]")
        .await
        .click()
        .await
        .unwrap();
    assert_eq!(owner_shown().await, json!(true));
    in_view(c, "input[name=kind][value=reseller]")
        .await
        .click()
        .await
        .unwrap();
    css(c, "#new-username")
        .await
        .send_keys("dave")
        .await
        .unwrap();
    in_view(c, "#generate-password")
        .await
        .click()
        .await
        .unwrap();
    let password = js(c, "return document.getElementById('new-password').value;").await;
    let password = password.as_str().unwrap().to_owned();
    assert_eq!(password.len(), 20);
    in_view(c, "#new-owner").await;
    js(
        c,
        "document.querySelector('form[action=\"/accounts\"][method=post]').submit(); return true;",
    )
    .await;
    eventually("the account to be created", || async {
        toast_text(c).await.contains("“dave” was created")
    })
    .await;
    // The generated password signs in.
    app.sign_in("dave", &password).await;
}

#[actix_web::test]
async fn columns_keep_their_widths_while_the_list_is_filtered() {
    let Some(chromium) = root_in_chromium().await else {
        return;
    };
    let (c, app) = (&chromium.c, &chromium.app);
    furnish(app).await;
    app.token("root", "a-very-long-token-name-for-the-nightly-backup-job")
        .await;
    c.set_window_size(1366, 900).await.unwrap();
    visit(c, app, "/tokens").await;
    let widths = || async {
        js(
            c,
            "return Array.from(document.querySelectorAll('#tokens-table thead th')).map(th => Math.round(th.getBoundingClientRect().width));",
        )
        .await
    };
    let before = widths().await;
    css(c, "#search").await.send_keys("ci").await.unwrap();
    eventually("the filter to apply", || async {
        crate::browser::row_names(c).await == ["ci"]
    })
    .await;
    assert_eq!(widths().await, before);
}

#[actix_web::test]
async fn on_every_accounts_tokens_ticking_a_row_enables_revoke_selected() {
    let Some(chromium) = root_in_chromium().await else {
        return;
    };
    let (c, app) = (&chromium.c, &chromium.app);
    furnish(app).await;
    visit(c, app, "/tokens/all").await;
    let disabled = || async {
        js(
            c,
            "return document.getElementById('revoke-selected').disabled;",
        )
        .await
    };
    assert_eq!(disabled().await, json!(true));
    in_view(c, "#tokens-form input[name=ids]")
        .await
        .click()
        .await
        .unwrap();
    assert_eq!(disabled().await, json!(false));
    in_view(c, "#select-all").await.click().await.unwrap();
    assert_eq!(
        js(c, "return document.querySelectorAll('#tokens-form input[name=ids]:not(:checked)').length;").await,
        json!(0)
    );
}
