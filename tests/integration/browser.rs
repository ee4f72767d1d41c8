//! Browser tests: real headless Chromium driven through chromedriver
//! (Debian's `chromium` and `chromium-driver`). Without them the tests say
//! they were skipped, unless WHM_TOKENS_REQUIRE_BROWSER=1 (as in CI), which
//! makes a missing browser a failure.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use whm_tokens::domain::Expiry;

use crate::helpers::*;

/// One browser test at a time: two cores do not run several Chromiums well.
pub(crate) static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub(crate) struct Driver {
    process: Child,
    port: u16,
    profiles: Vec<std::path::PathBuf>,
}

impl Drop for Driver {
    /// Ends chromedriver and every Chromium it started: they share a
    /// process group of their own, so a test that failed before closing
    /// its browser leaves nothing running.
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's process group.
        unsafe {
            libc::kill(-(self.process.id() as i32), libc::SIGKILL);
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
        for p in &self.profiles {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

pub(crate) fn browser_available() -> bool {
    let present =
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !present {
        let required = std::env::var("WHM_TOKENS_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "WHM_TOKENS_REQUIRE_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing"
        );
        eprintln!("SKIPPED browser test: install Debian's chromium and chromium-driver to run it");
    }
    present
}

pub(crate) async fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let process = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromedriver");
    wait_until("chromedriver to start", Duration::from_secs(20), || {
        let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        async move { up }
    })
    .await;
    Driver {
        process,
        port,
        profiles: Vec::new(),
    }
}

pub(crate) async fn open_browser(driver: &mut Driver) -> Client {
    let profile = std::env::temp_dir().join(format!("whm-chromium-{:016x}", rand::random::<u64>()));
    driver.profiles.push(profile.clone());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--lang=en-US",
                "--window-size=1280,1000", format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("open a Chromium session")
}

/// Polls `check` until it holds or five seconds pass.
pub(crate) async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_until(what, Duration::from_secs(5), check).await
}

pub(crate) async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect("run script")
}

pub(crate) async fn row_names(c: &Client) -> Vec<String> {
    let v = js(c, "return Array.from(document.querySelectorAll('#tokens-table tbody tr')).map(r => r.dataset.token);").await;
    serde_json::from_value(v).unwrap()
}

/// The element, scrolled to the middle of the window (clear of the form's
/// sticky bar) first.
pub(crate) async fn in_view(c: &Client, sel: &str) -> fantoccini::elements::Element {
    let element = css(c, sel).await;
    c.execute(
        "arguments[0].scrollIntoView({block: 'center'}); return true;",
        vec![serde_json::to_value(&element).unwrap()],
    )
    .await
    .unwrap();
    element
}

pub(crate) async fn css(c: &Client, sel: &str) -> fantoccini::elements::Element {
    c.wait()
        .for_element(Locator::Css(sel))
        .await
        .unwrap_or_else(|_| panic!("no element {sel}"))
}

pub(crate) async fn sign_in(c: &Client, app: &TestApp, user: &str, password: &str) {
    c.goto(&format!("{}/login", app.address)).await.unwrap();
    css(c, "#username").await.send_keys(user).await.unwrap();
    css(c, "#password").await.send_keys(password).await.unwrap();
    css(c, "button[type=submit]").await.click().await.unwrap();
    eventually("the tokens page after sign-in", || async {
        c.current_url()
            .await
            .map(|u| u.path() == "/tokens")
            .unwrap_or(false)
    })
    .await;
}

/// Headless Chromium signed in as root on a fresh app, holding the one
/// browser turn; `None` when the browser is missing (the test is skipped).
pub(crate) struct Chromium {
    pub(crate) app: TestApp,
    pub(crate) c: Client,
    pub(crate) _driver: Driver,
    pub(crate) _turn: tokio::sync::MutexGuard<'static, ()>,
}

pub(crate) async fn root_in_chromium() -> Option<Chromium> {
    if !browser_available() {
        return None;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    let mut driver = start_driver().await;
    let c = open_browser(&mut driver).await;
    sign_in(&c, &app, "root", ROOT_PASSWORD).await;
    Some(Chromium {
        app,
        c,
        _driver: driver,
        _turn,
    })
}

/// Waits for the confirmation the server sent to open as a dialog.
pub(crate) async fn wait_for_dialog(c: &Client) {
    eventually("the confirmation dialog to open", || async {
        js(
            c,
            "var d = document.getElementById('confirm-dialog'); \
             return d.open && d.querySelector('[data-confirm]') !== null;",
        )
        .await
            == json!(true)
    })
    .await;
}

pub(crate) async fn toast_text(c: &Client) -> String {
    js(c, "return document.getElementById('toasts').textContent;")
        .await
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[actix_web::test]
async fn a_user_generates_sees_once_filters_edits_and_revokes_tokens_in_chromium() {
    let Some(Chromium {
        app,
        c,
        _driver,
        _turn,
    }) = root_in_chromium().await
    else {
        return;
    };
    css(&c, "#generate").await.click().await.unwrap();
    css(&c, "#name").await.send_keys("deploy").await.unwrap();

    // The date field is hidden until a date is asked for; it defaults to a
    // year ahead and refuses dates before today.
    assert!(!css(&c, "#expires_on").await.is_displayed().await.unwrap());
    // The default is WHM's: a year ahead; "never" comes with a warning.
    assert!(css(&c, "#expires-365").await.is_selected().await.unwrap());
    assert!(!css(&c, "#never-warning")
        .await
        .is_displayed()
        .await
        .unwrap());
    css(&c, "#expires-never").await.click().await.unwrap();
    assert!(css(&c, "#never-warning")
        .await
        .is_displayed()
        .await
        .unwrap());
    css(&c, "#expires-date").await.click().await.unwrap();
    let date = css(&c, "#expires_on").await;
    assert!(date.is_displayed().await.unwrap());
    let year_ahead = (chrono::Utc::now() + chrono::Duration::days(365))
        .format("%Y")
        .to_string();
    assert!(date
        .prop("value")
        .await
        .unwrap()
        .unwrap()
        .starts_with(&year_ahead[..3]));
    assert_eq!(
        date.attr("min").await.unwrap().unwrap(),
        chrono::Utc::now().format("%Y-%m-%d").to_string()
    );
    let target = chrono::Utc::now() + chrono::Duration::days(40);
    // The calendar fills the field...
    js(
        &c,
        &format!(
            "var p = document.getElementById('expires_pick'); p.value = '{}'; \
             p.dispatchEvent(new Event('input', {{bubbles: true}})); return null;",
            (target + chrono::Duration::days(1)).format("%Y-%m-%d")
        ),
    )
    .await;
    assert_eq!(
        date.prop("value").await.unwrap().unwrap(),
        (target + chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string()
    );
    // ...and typing YYYY-MM-DD, as the help text says, works too.
    date.clear().await.unwrap();
    date.send_keys(&target.format("%Y-%m-%d").to_string())
        .await
        .unwrap();
    assert_eq!(
        date.prop("value").await.unwrap().unwrap(),
        target.format("%Y-%m-%d").to_string()
    );

    css(&c, "#ips")
        .await
        .send_keys("127.0.0.1\n10.0.0.0/8")
        .await
        .unwrap();

    // "Everything": checking it checks every box; unchecking another box
    // unchecks it and says so.
    let all = css(&c, "input[name=acl][value=all]").await;
    assert!(all.is_selected().await.unwrap(), "all boxes start checked");
    in_view(&c, "input[name=acl][value=passwd]")
        .await
        .click()
        .await
        .unwrap();
    assert!(!all.is_selected().await.unwrap());
    assert!(css(&c, "#all-note")
        .await
        .text()
        .await
        .unwrap()
        .contains("Change Passwords"));
    in_view(&c, "input[name=acl][value=all]")
        .await
        .click()
        .await
        .unwrap();
    let unchecked = js(
        &c,
        "return document.querySelectorAll('input[name=acl]:not(:checked)').length;",
    )
    .await;
    assert_eq!(unchecked, json!(0));
    // Keep three privileges: clear the boxes, then tick three by hand.
    js(
        &c,
        "document.querySelectorAll('input[name=acl]').forEach(b => b.checked = false); return 0;",
    )
    .await;
    for key in ["list-accts", "suspend-acct", "manage-api-tokens"] {
        in_view(&c, &format!("input[name=acl][value={key}]"))
            .await
            .click()
            .await
            .unwrap();
    }
    css(&c, "#submit").await.click().await.unwrap();

    let secret = css(&c, "#secret").await.text().await.unwrap();
    assert_eq!(secret.len(), 32);
    assert!(css(&c, "#created-expires")
        .await
        .text()
        .await
        .unwrap()
        .contains("23:59:59"));
    assert!(css(&c, "button.copy").await.is_displayed().await.unwrap());
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
        json!(["list-accts", "manage-api-tokens", "suspend-acct"])
    );
    assert_eq!(data["whitelist_ips"], json!(["10.0.0.0/8", "127.0.0.1"]));
    assert_eq!(
        data["expires_at"].as_i64().unwrap() % 86_400,
        86_399,
        "23:59:59 UTC on the chosen day"
    );

    css(&c, "#saved").await.click().await.unwrap();
    eventually("the list", || async { row_names(&c).await == ["deploy"] }).await;
    assert!(!c.source().await.unwrap().contains(&secret));
    c.back().await.unwrap();
    assert!(
        !c.source().await.unwrap().contains(&secret),
        "going back never shows the secret"
    );
    c.goto(&format!("{}/tokens", app.address)).await.unwrap();

    // A yellow and a red row.
    app.token_with("root", "alpha-soon", Expiry::At(now() + 3600), "", None)
        .await
        .unwrap();
    app.token_with("root", "alpha-gone", Expiry::At(now() + 3600), "", None)
        .await
        .unwrap();
    app.set_expiry("alpha-gone", now() - 5).await;
    css(&c, "#gear summary").await.click().await.unwrap();
    css(&c, "#refresh-list").await.click().await.unwrap();
    eventually("refreshed rows", || async {
        row_names(&c).await.len() == 3
    })
    .await;
    let colour = |name: &'static str| {
        let c = c.clone();
        async move {
            let e = c
                .find(Locator::Css(&format!("tr[data-token={name}]")))
                .await
                .unwrap();
            (
                e.attr("class").await.unwrap().unwrap_or_default(),
                e.css_value("background-color").await.unwrap(),
            )
        }
    };
    assert_eq!(
        colour("alpha-soon").await,
        ("expiring".into(), "rgba(255, 244, 204, 1)".into())
    );
    assert_eq!(
        colour("alpha-gone").await,
        ("expired".into(), "rgba(253, 232, 231, 1)".into())
    );

    // Sort by name, then filter by typing: the URL keeps both.
    css(&c, "th a[href*='sort=name']")
        .await
        .click()
        .await
        .unwrap();
    eventually("rows sorted by name", || async {
        row_names(&c).await == ["alpha-gone", "alpha-soon", "deploy"]
    })
    .await;
    css(&c, "#search").await.send_keys("ALP").await.unwrap();
    eventually("filtered rows", || async { row_names(&c).await.len() == 2 }).await;
    assert!(c
        .current_url()
        .await
        .unwrap()
        .query()
        .unwrap_or("")
        .contains("q=ALP"));
    c.refresh().await.unwrap();
    eventually("the same view after a reload", || async {
        row_names(&c).await.len() == 2
    })
    .await;
    assert_eq!(
        css(&c, "#search")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap(),
        "ALP"
    );

    // Edit.
    c.goto(&format!("{}/tokens", app.address)).await.unwrap();
    css(&c, "tr[data-token=deploy] a.edit")
        .await
        .click()
        .await
        .unwrap();
    let name = css(&c, "#name").await;
    name.clear().await.unwrap();
    name.send_keys("deploy-web").await.unwrap();
    css(&c, "#submit").await.click().await.unwrap();
    eventually("the saved toast", || async {
        toast_text(&c).await.contains("“deploy-web” was saved")
    })
    .await;
    ok_data(&app.api("root", &secret, "listaccts", &[]).await);

    // Revoke through the dialog the server sends: Escape cancels and gives
    // focus back.
    let revoke = css(&c, "tr[data-token=deploy-web] a.revoke").await;
    revoke.click().await.unwrap();
    wait_for_dialog(&c).await;
    assert_eq!(
        css(&c, "#confirm-dialog strong")
            .await
            .text()
            .await
            .unwrap(),
        "the token “deploy-web”"
    );
    assert_eq!(
        js(
            &c,
            "return document.activeElement.matches('#confirm-dialog [data-cancel]');"
        )
        .await,
        json!(true),
        "focus starts on Cancel"
    );
    c.active_element()
        .await
        .unwrap()
        .send_keys("\u{e00c}")
        .await
        .unwrap();
    eventually("the dialog to close", || async {
        js(&c, "return document.getElementById('confirm-dialog').open;").await == json!(false)
    })
    .await;
    assert_eq!(
        js(
            &c,
            "return document.activeElement.classList.contains('revoke');"
        )
        .await,
        json!(true)
    );
    assert_eq!(app.count("tokens").await, 3, "cancel revokes nothing");
    revoke.click().await.unwrap();
    wait_for_dialog(&c).await;
    css(&c, "#confirm-dialog [data-confirm]")
        .await
        .click()
        .await
        .unwrap();
    eventually("the row to go", || async {
        !row_names(&c).await.contains(&"deploy-web".to_owned())
    })
    .await;
    eventually("the revoked toast", || async {
        toast_text(&c).await.contains("“deploy-web” was revoked")
    })
    .await;
    assert_eq!(
        js(&c, "return document.getElementById('confirm-dialog').open;").await,
        json!(false)
    );
    assert_denied(&app.api("root", &secret, "version", &[]).await);

    // Revoke Selected with nothing selected (as from a stale page): the
    // server's message arrives as a toast, and the table stays. (Once the
    // new table has settled, the button is disabled: enable it as a stale
    // page would have it.)
    eventually("the new table to settle", || async {
        js(
            &c,
            "return document.getElementById('revoke-selected').disabled;",
        )
        .await
            == json!(true)
    })
    .await;
    js(
        &c,
        "var b = document.getElementById('revoke-selected'); \
         b.disabled = false; b.click(); return null;",
    )
    .await;
    eventually("the nothing-selected toast", || async {
        toast_text(&c)
            .await
            .contains("Select at least one token to revoke.")
    })
    .await;
    assert!(
        !toast_text(&c).await.contains("(error"),
        "the real message, not a status"
    );
    assert_eq!(row_names(&c).await.len(), 2, "the table stays as it was");

    // Revoke Selected, then Revoke All from the gear menu.
    css(&c, "input[name=names][value=alpha-soon]")
        .await
        .click()
        .await
        .unwrap();
    let selected = css(&c, "#revoke-selected").await;
    assert!(selected.is_enabled().await.unwrap());
    selected.click().await.unwrap();
    wait_for_dialog(&c).await;
    assert_eq!(
        css(&c, "#confirm-dialog strong")
            .await
            .text()
            .await
            .unwrap(),
        "1 selected token: “alpha-soon”"
    );
    css(&c, "#confirm-dialog [data-confirm]")
        .await
        .click()
        .await
        .unwrap();
    eventually("one row left", || async {
        row_names(&c).await == ["alpha-gone"]
    })
    .await;
    css(&c, "#gear summary").await.click().await.unwrap();
    css(&c, "#revoke-all").await.click().await.unwrap();
    wait_for_dialog(&c).await;
    assert!(css(&c, "#confirm-dialog")
        .await
        .text()
        .await
        .unwrap()
        .contains("all of your tokens"));
    css(&c, "#confirm-dialog [data-confirm]")
        .await
        .click()
        .await
        .unwrap();
    eventually("an empty table", || async {
        row_names(&c).await.is_empty()
    })
    .await;
    eventually("the revoke-all toast", || async {
        toast_text(&c)
            .await
            .contains("All of your tokens were revoked")
    })
    .await;
    assert_eq!(app.count("tokens").await, 0);

    c.close().await.unwrap();
}

#[actix_web::test]
async fn root_suspends_a_reseller_and_the_resellers_open_page_is_signed_out() {
    if !browser_available() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    app.create_reseller("bob", None).await;
    app.token("bob", "bobs-token").await;
    let mut driver = start_driver().await;
    let bob = open_browser(&mut driver).await;
    let root = open_browser(&mut driver).await;

    sign_in(&bob, &app, "bob", USER_PASSWORD).await;
    assert_eq!(row_names(&bob).await, ["bobs-token"]);

    sign_in(&root, &app, "root", ROOT_PASSWORD).await;
    root.goto(&format!("{}/accounts/bob", app.address))
        .await
        .unwrap();
    css(&root, "#suspend").await.click().await.unwrap();
    eventually("the suspended badge", || async {
        root.source()
            .await
            .map(|s| s.contains("Unsuspend “bob”"))
            .unwrap_or(false)
    })
    .await;

    // Bob's next click (an htmx refresh) lands on the sign-in page.
    css(&bob, "#gear summary").await.click().await.unwrap();
    css(&bob, "#refresh-list").await.click().await.unwrap();
    eventually("bob to be signed out", || async {
        bob.current_url()
            .await
            .map(|u| u.path() == "/login")
            .unwrap_or(false)
    })
    .await;

    // Root deletes bob through the confirmation dialog, which names what
    // goes; Cancel keeps him.
    root.goto(&format!("{}/accounts/bob", app.address))
        .await
        .unwrap();
    css(&root, "#delete").await.click().await.unwrap();
    wait_for_dialog(&root).await;
    assert_eq!(
        css(&root, "#confirm-dialog strong")
            .await
            .text()
            .await
            .unwrap(),
        "the account “bob” and its 1 API token(s)"
    );
    css(&root, "#confirm-dialog [data-cancel]")
        .await
        .click()
        .await
        .unwrap();
    eventually("the dialog to close", || async {
        js(
            &root,
            "return document.getElementById('confirm-dialog').open;",
        )
        .await
            == json!(false)
    })
    .await;
    assert_eq!(
        js(&root, "return document.activeElement.id;").await,
        json!("delete"),
        "focus back on Delete"
    );
    assert_eq!(app.count("accounts").await, 2, "cancel deletes nothing");
    css(&root, "#delete").await.click().await.unwrap();
    wait_for_dialog(&root).await;
    css(&root, "#confirm-dialog [data-confirm]")
        .await
        .click()
        .await
        .unwrap();
    eventually("the accounts page after deleting", || async {
        root.current_url()
            .await
            .map(|u| u.path() == "/accounts")
            .unwrap_or(false)
    })
    .await;
    eventually("the deleted toast", || async {
        toast_text(&root)
            .await
            .contains("“bob” was deleted and its tokens revoked")
    })
    .await;
    assert_eq!(app.count("accounts").await, 1);

    bob.close().await.unwrap();
    root.close().await.unwrap();
}

#[actix_web::test]
async fn a_user_signs_out_another_browser_from_the_sessions_page() {
    let Some(Chromium {
        app,
        c: laptop,
        mut _driver,
        _turn,
    }) = root_in_chromium().await
    else {
        return;
    };
    let phone = open_browser(&mut _driver).await;
    sign_in(&phone, &app, "root", ROOT_PASSWORD).await;

    laptop
        .goto(&format!("{}/account/sessions", app.address))
        .await
        .unwrap();
    assert_eq!(
        js(
            &laptop,
            "return document.querySelectorAll('tr[data-session]').length;"
        )
        .await,
        json!(2)
    );
    assert!(css(&laptop, "tr.current")
        .await
        .text()
        .await
        .unwrap()
        .contains("This browser"));
    css(&laptop, "button.end-session")
        .await
        .click()
        .await
        .unwrap();
    eventually("the signed-out toast", || async {
        toast_text(&laptop)
            .await
            .contains("That session was signed out")
    })
    .await;
    assert_eq!(
        js(
            &laptop,
            "return document.querySelectorAll('tr[data-session]').length;"
        )
        .await,
        json!(1)
    );
    phone
        .goto(&format!("{}/tokens", app.address))
        .await
        .unwrap();
    eventually("the phone to be signed out", || async {
        phone
            .current_url()
            .await
            .map(|u| u.path() == "/login")
            .unwrap_or(false)
    })
    .await;

    laptop.close().await.unwrap();
    phone.close().await.unwrap();
}

#[actix_web::test]
async fn a_user_sets_up_two_factor_sign_in_and_signs_in_with_a_code() {
    let Some(Chromium {
        app,
        c,
        _driver,
        _turn,
    }) = root_in_chromium().await
    else {
        return;
    };
    c.goto(&format!("{}/account/two-factor", app.address))
        .await
        .unwrap();
    assert!(css(&c, ".qr svg").await.is_displayed().await.unwrap());
    let text = css(&c, "#totp-secret").await.text().await.unwrap();
    let secret = whm_tokens::auth::two_factor::TotpSecret::from_bytes(
        totp_rs::Secret::Encoded(text).to_bytes().unwrap(),
    )
    .unwrap();
    let code_at = |offset: i64| secret.code_at((now() + offset * 30) as u64);
    css(&c, "#enable_password")
        .await
        .send_keys(ROOT_PASSWORD)
        .await
        .unwrap();
    css(&c, "#code").await.send_keys(&code_at(0)).await.unwrap();
    css(&c, "#enable-two-factor").await.click().await.unwrap();
    eventually("the recovery codes", || async {
        js(
            &c,
            "var l = document.getElementById('recovery-codes'); return l ? l.children.length : 0;",
        )
        .await
            == json!(10)
    })
    .await;

    css(&c, "form.signout button").await.click().await.unwrap();
    eventually("the sign-in page", || async {
        c.current_url()
            .await
            .map(|u| u.path() == "/login")
            .unwrap_or(false)
    })
    .await;
    css(&c, "#username").await.send_keys("root").await.unwrap();
    css(&c, "#password")
        .await
        .send_keys(ROOT_PASSWORD)
        .await
        .unwrap();
    css(&c, "button[type=submit]").await.click().await.unwrap();
    eventually("the code page", || async {
        c.current_url()
            .await
            .map(|u| u.path() == "/login/two-factor")
            .unwrap_or(false)
    })
    .await;
    css(&c, "#code").await.send_keys(&code_at(1)).await.unwrap();
    css(&c, "button[type=submit]").await.click().await.unwrap();
    eventually("the tokens page", || async {
        c.current_url()
            .await
            .map(|u| u.path() == "/tokens")
            .unwrap_or(false)
    })
    .await;
    assert!(css(&c, ".who").await.text().await.unwrap().contains("root"));
    c.close().await.unwrap();
}

#[actix_web::test]
async fn last_used_shows_its_detail_on_focus_and_activity_filters_as_you_type() {
    let Some(Chromium {
        app,
        c,
        _driver,
        _turn,
    }) = root_in_chromium().await
    else {
        return;
    };
    let deploy = app.token("root", "deploy").await;
    app.token("root", "idle").await;
    ok_data(&app.api("root", &deploy, "version", &[]).await);
    // Written within a few seconds; the page shows it on the next load.
    let (browser, address) = (&c, &app.address);
    wait_until("the use shown", Duration::from_secs(5), || async move {
        browser.goto(&format!("{address}/tokens")).await.unwrap();
        css(browser, "tr[data-token=deploy] td.used .detail")
            .await
            .text()
            .await
            .unwrap()
            .starts_with("just now")
    })
    .await;
    assert!(css(&c, "tr[data-token=idle] td.used")
        .await
        .text()
        .await
        .unwrap()
        .starts_with("Never"));
    js(
        &c,
        "document.querySelector('tr[data-token=deploy] td.used .detail').focus(); return null;",
    )
    .await;
    let shown = js(
        &c,
        "return getComputedStyle(document.activeElement, '::after').content;",
    )
    .await;
    assert!(
        shown
            .as_str()
            .unwrap_or("")
            .contains("from 127.0.0.1; 1 call in all"),
        "{shown}"
    );

    c.goto(&format!("{}/activity", app.address)).await.unwrap();
    let rows = |c: &Client| {
        let c = c.clone();
        async move {
            js(&c, "return Array.from(document.querySelectorAll('#activity-table tbody tr')).map(r => r.dataset.event + ':' + (r.querySelector('a.token') ? r.querySelector('a.token').textContent : ''));")
                .await
        }
    };
    let all = rows(&c).await;
    assert!(all.as_array().unwrap().len() >= 3, "{all}");
    css(&c, "input[name=token]")
        .await
        .send_keys("idle")
        .await
        .unwrap();
    eventually("only idle's events", || async {
        rows(&c).await == json!(["token_created:idle"])
    })
    .await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("token=idle"),
        "kept in the URL"
    );
    c.close().await.unwrap();
}

#[actix_web::test]
async fn a_user_regenerates_through_the_dialog_and_disables_a_token_in_chromium() {
    let Some(Chromium {
        app,
        c,
        _driver,
        _turn,
    }) = root_in_chromium().await
    else {
        return;
    };
    let old = app.token("root", "deploy").await;
    c.goto(&format!("{}/tokens", app.address)).await.unwrap();
    css(&c, "tr[data-token=deploy] a.regenerate")
        .await
        .click()
        .await
        .unwrap();
    wait_for_dialog(&c).await;
    assert!(css(&c, "#confirm-dialog")
        .await
        .text()
        .await
        .unwrap()
        .contains("scripts using the old secret will stop working"));
    css(&c, "#confirm-dialog [data-confirm]")
        .await
        .click()
        .await
        .unwrap();
    let secret = css(&c, "#secret").await.text().await.unwrap();
    assert_eq!(secret.len(), 32);
    assert_denied(&app.api("root", &old, "version", &[]).await);
    ok_data(&app.api("root", &secret, "version", &[]).await);

    css(&c, "#saved").await.click().await.unwrap();
    css(&c, "tr[data-token=deploy] button.toggle")
        .await
        .click()
        .await
        .unwrap();
    eventually("the grey, disabled row", || async {
        js(&c, "var r = document.querySelector('tr[data-token=deploy]'); return r.classList.contains('disabled') && r.textContent.includes('Disabled');")
            .await
            == json!(true)
    })
    .await;
    assert_denied(&app.api("root", &secret, "version", &[]).await);
    c.close().await.unwrap();
}

/// Writes a screenshot of the tokens page for the README when
/// WHM_TOKENS_SCREENSHOT names a file (`static/screenshot.png`).
#[actix_web::test]
async fn screenshot_of_the_tokens_page_for_the_readme() {
    let Ok(path) = std::env::var("WHM_TOKENS_SCREENSHOT") else {
        return;
    };
    if !browser_available() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_app().await;
    app.token_with(
        "root",
        "deploy-production",
        Expiry::At(now() + 86_400 * 200),
        "203.0.113.10, 2001:db8::/48",
        Some("list-accts suspend-acct"),
    )
    .await
    .unwrap();
    app.token_with(
        "root",
        "backup-nightly",
        Expiry::Never,
        "198.51.100.7",
        Some("list-accts"),
    )
    .await
    .unwrap();
    app.token_with("root", "ci-runner", Expiry::At(now() + 3 * 3600), "", None)
        .await
        .unwrap();
    app.token_with("root", "old-migration", Expiry::At(now() + 3600), "", None)
        .await
        .unwrap();
    app.set_expiry("old-migration", now() - 86_400 * 3).await;
    app.token("root", "monitoring").await;
    app.token("root", "legacy-billing").await;
    app.disable("root", "legacy-billing").await;
    let mut driver = start_driver().await;
    let c = open_browser(&mut driver).await;
    c.set_window_size(1366, 900).await.unwrap();
    sign_in(&c, &app, "root", ROOT_PASSWORD).await;
    let rows = js(
        &c,
        "return document.querySelectorAll('tr[data-token]').length;",
    )
    .await;
    assert_eq!(rows, 6, "every token is in the picture");
    let shot = c.screenshot().await.unwrap();
    assert!(shot.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    std::fs::write(&path, shot).unwrap();
    // And on a phone.
    c.set_window_size(390, 844).await.unwrap();
    c.refresh().await.unwrap();
    css(&c, "#tokens-table").await;
    c.execute(
        "document.querySelector('.toolbar').scrollIntoView(); return true;",
        vec![],
    )
    .await
    .unwrap();
    let phone = path.replace(".png", "-phone.png");
    std::fs::write(&phone, c.screenshot().await.unwrap()).unwrap();
    c.close().await.unwrap();
}
