//! `spawn_app()`: the real application on a random port, against a fresh
//! database of its own (SQLite by default; PostgreSQL when
//! `WHM_TOKENS_TEST_DATABASE_URL` names a server to create databases on).

use std::path::PathBuf;

use diesel::prelude::*;
use diesel::Connection;
use rand::Rng;
use reqwest::StatusCode;
use serde_json::Value;

use whm_tokens::auth::password;
use whm_tokens::config::Config;
use whm_tokens::db::Db;
use whm_tokens::domain::{Expiry, IpAllowList, Password, PrivilegeSet, TokenName, Username};
use whm_tokens::ops::accounts::{self, NewAccount};
use whm_tokens::ops::tokens::{self as token_ops, NewToken};
use whm_tokens::ops::{AccountKind, Actor, OpError};
use whm_tokens::startup::{prepare, Application};
use whm_tokens::state::AppState;

pub const ROOT_PASSWORD: &str = "root-password-for-tests";
pub const USER_PASSWORD: &str = "user-password-for-tests";

/// A database that exists for one test and is removed after it.
pub enum TestDatabase {
    Sqlite(PathBuf),
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl TestDatabase {
    /// On the PostgreSQL server that WHM_TOKENS_TEST_DATABASE_URL names, or
    /// SQLite.
    pub fn create() -> Self {
        Self::create_on(
            std::env::var("WHM_TOKENS_TEST_DATABASE_URL")
                .ok()
                .filter(|u| !u.is_empty()),
        )
    }

    /// A database on the other backend than the suite's: SQLite when the
    /// suite runs on PostgreSQL; PostgreSQL (the server
    /// WHM_TOKENS_TEST_PG_URL names) when it runs on SQLite, or SQLite again
    /// where no such server is named.
    pub fn create_other() -> Self {
        let suite = std::env::var("WHM_TOKENS_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty());
        let other = std::env::var("WHM_TOKENS_TEST_PG_URL")
            .ok()
            .filter(|u| !u.is_empty());
        match (suite, other) {
            (Some(_), _) => Self::create_on(None),
            (None, Some(pg)) => Self::create_on(Some(pg)),
            (None, None) => {
                eprintln!("NOTE: SQLite to SQLite: set WHM_TOKENS_TEST_PG_URL to cross backends");
                Self::create_on(None)
            }
        }
    }

    /// A new database on the PostgreSQL server at `admin_url` (any database
    /// of it), or a new SQLite file when `None`.
    pub fn create_on(admin_url: Option<String>) -> Self {
        let suffix = format!("{:016x}", rand::rng().random::<u64>());
        match admin_url {
            Some(admin_url) => {
                let name = format!("whm_test_{suffix}");
                let mut admin = diesel::PgConnection::establish(&admin_url)
                    .expect("cannot connect to the PostgreSQL server for tests");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b)
                    .unwrap_or(&admin_url);
                // Without TLS: the server is on loopback, and connections that
                // outlive a test (its server's worker threads) must not be in
                // OpenSSL when the test process exits.
                let url = format!("{base}/{name}?sslmode=disable");
                Self::Postgres {
                    admin_url,
                    name,
                    url,
                }
            }
            _ => Self::Sqlite(std::env::temp_dir().join(format!("whm-test-{suffix}.sqlite3"))),
        }
    }

    /// A new PostgreSQL database whose text sorts by a language's rules
    /// (ICU's `en`: punctuation before digits), as most clusters' default
    /// collation does, rather than by bytes as the test cluster's `C`.
    pub fn create_collated(admin_url: String) -> Self {
        let name = format!("whm_test_{:016x}", rand::rng().random::<u64>());
        let mut admin = diesel::PgConnection::establish(&admin_url).unwrap();
        diesel::sql_query(format!(
            "CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en'"
        ))
        .execute(&mut admin)
        .expect("create a database collated by ICU");
        let base = admin_url.rsplit_once('/').map_or(&*admin_url, |(b, _)| b);
        let url = format!("{base}/{name}?sslmode=disable");
        Self::Postgres {
            admin_url,
            name,
            url,
        }
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres { url, .. } => url.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match self {
            Self::Sqlite(path) => {
                for ext in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
                }
            }
            Self::Postgres {
                admin_url, name, ..
            } => {
                if let Ok(mut admin) = diesel::PgConnection::establish(admin_url) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin);
                }
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub db: Db,
    pub database: TestDatabase,
    /// The server's shared state: to write what it counts in memory at
    /// once, or to see its notice checker's rounds.
    pub state: AppState,
    /// `http://127.0.0.1:PORT` of the metrics listener, when configured.
    pub metrics_address: Option<String>,
}

pub fn test_config(database_url: String) -> Config {
    let mut key = vec![0u8; 64];
    rand::rng().fill(&mut key[..]);
    Config {
        database_url,
        database_direct_url: None,
        data_dir: std::env::temp_dir(),
        listen: "127.0.0.1:0".parse().unwrap(),
        session_key: key,
        time_zone: chrono_tz::UTC,
        trusted_proxies: Vec::new(),
        public_url: None,
        secure_cookies: false,
        session_max_age: std::time::Duration::from_secs(24 * 3600),
        audit_retention: std::time::Duration::from_secs(90 * 86_400),
        record_usage: true,
        root_password: Some(ROOT_PASSWORD.into()),
        db_pool_size: 4,
        workers: Some(1),
        password_concurrency: 1,
        password_queue: 8,
        // Failed sign-ins answer at once in tests; `limits` tests the delay.
        failed_sign_in_delay: std::time::Duration::ZERO,
        request_timeout: std::time::Duration::from_secs(10),
        shutdown_timeout: std::time::Duration::from_secs(5),
        metrics_listen: None,
        notices: Default::default(),
        forward_rules: std::sync::Arc::new(
            whm_tokens::domain::forward_rules::ForwardRules::ready_made(),
        ),
        introspect_per_minute: 600,
        stalled_reader_cut: whm_tokens::config::STALLED_READER_CUT,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on(TestDatabase::create(), adjust).await
}

pub async fn spawn_app_on(database: TestDatabase, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config(database.url());
    adjust(&mut config);
    let (db, _) = prepare(&config).await.expect("prepare the store");
    let app = Application::build(config, db.clone()).expect("build the app");
    let port = app.port();
    let state = app.state();
    let metrics_address = app.metrics_port().map(|p| format!("http://127.0.0.1:{p}"));
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        db,
        database,
        state,
        metrics_address,
    }
}

/// Waits until `found` finds something, asking every 50 ms, and returns
/// it; fails the test with `what` if nothing is found within `limit`. The
/// one way tests wait for what they mean.
pub async fn wait_for_value<T, F, Fut>(what: &str, limit: std::time::Duration, mut found: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = found().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits, if need be, for the next wall-clock minute, so that at least
/// `room` of the minute is left: limits the server counts per minute then
/// cannot start over in the middle of a test's burst.
pub async fn with_room_in_this_minute(room: std::time::Duration) {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into_minute = std::time::Duration::from_millis((since_epoch.as_millis() % 60_000) as u64);
    let left = std::time::Duration::from_secs(60) - into_minute;
    if left < room {
        // The event waited for is the minute's turn.
        tokio::time::sleep(left + std::time::Duration::from_millis(20)).await;
    }
}

/// Waits until `done` holds (see [`wait_for_value`]).
pub async fn wait_until<F, Fut>(what: &str, limit: std::time::Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_for_value(what, limit, || {
        let done = done();
        async move { done.await.then_some(()) }
    })
    .await
}

impl TestApp {
    /// Writes what the server counts in memory (token use, refused calls)
    /// now, as its flusher does every 2 seconds: after this, what was not
    /// written was never counted.
    pub async fn flush(&self) {
        self.state.flush_usage().await.expect("flush counted use");
    }

    /// Waits until the expiry-notice checker has finished `n` more rounds
    /// (each looks at every due token): what it has not sent by then, it
    /// will not send.
    pub async fn notice_rounds(&self, n: u64) {
        let rounds = self.state.notice_rounds.clone();
        let until = rounds.finished() + n;
        wait_until("notice rounds", std::time::Duration::from_secs(30), || {
            let rounds = rounds.clone();
            async move { rounds.finished() >= until }
        })
        .await;
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A user name written in a test.
pub fn user(name: &str) -> Username {
    Username::parse(name).expect("a valid user name")
}

impl TestApp {
    pub async fn actor(&self, username: &str) -> Actor {
        let name = user(username);
        let (account, _) = self
            .db
            .read(move |conn| accounts::find_for_sign_in(conn, &name))
            .await
            .expect("read account")
            .expect("account exists");
        Actor::signed_in(account)
    }

    /// Creates an account as root: a reseller (with these privileges, or the
    /// Initial ones) or a plain account.
    pub async fn create_account(
        &self,
        username: &str,
        kind: AccountKind,
        privileges: Option<&str>,
    ) {
        let root = self.actor("root").await;
        let username = Username::parse(username).unwrap();
        let privileges = privileges.map(|p| PrivilegeSet::parse([p]).unwrap());
        let hash = password::hash(&Password::parse(USER_PASSWORD).unwrap()).unwrap();
        self.db
            .write(move |conn| {
                accounts::create(
                    conn,
                    &root,
                    NewAccount {
                        username,
                        kind,
                        owner: None,
                        password_hash: Some(hash),
                        privileges,
                        contact_email: None,
                    },
                    now(),
                )
            })
            .await
            .expect("create account");
    }

    pub async fn create_reseller(&self, username: &str, privileges: Option<&str>) {
        self.create_account(username, AccountKind::Reseller, privileges)
            .await
    }

    /// Creates a token for `owner` straight through the operations and
    /// returns its secret.
    pub async fn token_with(
        &self,
        owner: &str,
        name: &str,
        expiry: Expiry,
        ips: &str,
        privileges: Option<&str>,
    ) -> Result<String, OpError> {
        let actor = self.actor(owner).await;
        let new = NewToken {
            name: TokenName::parse(name).unwrap(),
            description: Default::default(),
            expiry,
            ips: IpAllowList::parse(ips).unwrap(),
            privileges: privileges.map(|p| PrivilegeSet::parse([p]).unwrap()),
        };
        self.db
            .write(move |conn| token_ops::create(conn, &actor, new, now()))
            .await
            .map(|c| c.secret.expose().to_owned())
    }

    pub async fn token(&self, owner: &str, name: &str) -> String {
        self.token_with(owner, name, Expiry::Never, "", None)
            .await
            .expect("create token")
    }

    /// Calls a WHM API function with `Authorization: whm USER:SECRET`.
    pub async fn api(
        &self,
        user: &str,
        secret: &str,
        function: &str,
        params: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut query: Vec<(&str, &str)> = vec![("api.version", "1")];
        query.extend_from_slice(params);
        let response = reqwest::Client::new()
            .get(format!("{}/json-api/{function}", self.address))
            .query(&query)
            .header("Authorization", format!("whm {user}:{secret}"))
            .send()
            .await
            .expect("API call");
        let status = response.status();
        let body = response.json().await.expect("JSON answer");
        (status, body)
    }

    /// Counts rows of a table, straight from the store.
    pub async fn count(&self, table: &'static str) -> i64 {
        self.db
            .read(move |conn| {
                diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
                    .get_result::<Count>(conn)
                    .map(|c| c.n)
                    .map_err(anyhow::Error::from)
            })
            .await
            .unwrap()
    }
}

impl TestApp {
    /// Root sets a reseller's privileges, as on its Manage page.
    pub async fn set_privileges(&self, reseller: &str, privileges: &str) {
        let root = self.actor("root").await;
        let reseller = user(reseller);
        let set = PrivilegeSet::parse([privileges]).unwrap();
        self.db
            .write(move |conn| accounts::set_privileges(conn, &root, &reseller, set))
            .await
            .expect("set privileges");
    }

    /// Root suspends the account `name` (or lifts its suspension).
    pub async fn set_suspended(&self, name: &str, suspended: bool) {
        let root = self.actor("root").await;
        let name = user(name);
        self.db
            .write(move |c| accounts::set_suspended(c, &root, &name, suspended, None))
            .await
            .expect("suspend the account");
    }

    /// Disables `owner`'s token `name` through the operations.
    pub async fn disable(&self, owner: &str, name: &str) {
        let actor = self.actor(owner).await;
        let name = TokenName::parse(name).unwrap();
        self.db
            .write(move |conn| token_ops::set_enabled(conn, &actor, &[name], false))
            .await
            .expect("disable the token");
    }

    /// The details of the audit trail's refused-call rows.
    pub async fn refusal_details(&self) -> Vec<String> {
        self.db
            .read(|conn| {
                use whm_tokens::db::schema::audit_events;
                audit_events::table
                    .filter(audit_events::event.eq("api_refused"))
                    .select(audit_events::detail)
                    .load::<String>(conn)
                    .map_err(anyhow::Error::from)
            })
            .await
            .unwrap()
    }

    /// The refused-call rows' details, once each of `wanted` is in one:
    /// the server's own flusher may be writing a batch at the moment a
    /// test flushes, so what was counted is waited for, not read at once.
    pub async fn refusal_details_with(&self, wanted: &[&str]) -> Vec<String> {
        self.flush().await;
        wait_for_value(
            &format!("audit rows saying {wanted:?}"),
            std::time::Duration::from_secs(10),
            || async {
                let details = self.refusal_details().await;
                wanted
                    .iter()
                    .all(|w| details.iter().any(|d| d.contains(w)))
                    .then_some(details)
            },
        )
        .await
    }

    /// Audit events of this kind, at least `n` of them, waited for as
    /// [`TestApp::refusal_details_with`] does.
    pub async fn count_events_at_least(&self, event: &'static str, n: i64) -> i64 {
        self.flush().await;
        wait_for_value(
            &format!("{n} {event} events"),
            std::time::Duration::from_secs(10),
            || async {
                let got = self.count_events(event).await;
                (got >= n).then_some(got)
            },
        )
        .await
    }

    /// Audit events of this kind, straight from the store.
    pub async fn count_events(&self, event: &'static str) -> i64 {
        self.db
            .read(move |conn| {
                use whm_tokens::db::schema::audit_events;
                audit_events::table
                    .filter(audit_events::event.eq(event))
                    .count()
                    .get_result::<i64>(conn)
                    .map_err(anyhow::Error::from)
            })
            .await
            .unwrap()
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Asserts that an API answer succeeded and returns its `data`.
pub fn ok_data(answer: &(StatusCode, Value)) -> Value {
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    assert_eq!(answer.1["metadata"]["result"], 1, "{}", answer.1);
    answer.1["data"].clone()
}

/// Asserts that an API answer failed in the envelope and returns its reason.
/// The Initial Privileges, as a reseller's privilege list.
pub fn initial() -> String {
    PrivilegeSet::initial().to_column()
}

pub fn refused(answer: &(StatusCode, Value)) -> String {
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    assert_eq!(answer.1["metadata"]["result"], 0, "{}", answer.1);
    answer.1["metadata"]["reason"].as_str().unwrap().to_owned()
}

pub fn assert_denied(answer: &(StatusCode, Value)) {
    assert_eq!(answer.0, StatusCode::FORBIDDEN, "{}", answer.1);
    assert_eq!(answer.1["error"], "Access denied");
}

impl TestApp {
    /// Moves a root token's expiry, straight in the store (to test instants
    /// that the API would refuse to set).
    /// Makes `name` a reseller (with the Initial privileges and
    /// [`USER_PASSWORD`]) that the reseller `owner` owns, as root may.
    pub async fn create_reseller_owned_by(&self, name: &str, owner: &str) {
        let root = self.actor("root").await;
        let (name, owner) = (user(name), user(owner));
        let hash = whm_tokens::auth::password::hash(
            &whm_tokens::domain::Password::parse(USER_PASSWORD).unwrap(),
        )
        .unwrap();
        self.db
            .write(move |conn| {
                whm_tokens::ops::accounts::create(
                    conn,
                    &root,
                    whm_tokens::ops::accounts::NewAccount {
                        username: name,
                        kind: whm_tokens::ops::AccountKind::Reseller,
                        owner: Some(owner),
                        password_hash: Some(hash),
                        privileges: None,
                        contact_email: None,
                    },
                    now(),
                )
            })
            .await
            .unwrap();
    }

    pub async fn set_expiry(&self, name: &'static str, at: i64) {
        self.db
            .write(move |conn| {
                use whm_tokens::db::schema::tokens;
                diesel::update(tokens::table.filter(tokens::name.eq(name)))
                    .set(tokens::expires_at.eq(Some(at)))
                    .execute(conn)
                    .map_err(anyhow::Error::from)
            })
            .await
            .unwrap();
    }
}

/// A browser-like client: keeps cookies, does not follow redirects (so
/// tests can see them), and knows its session's CSRF token.
pub struct UiClient {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: String,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl UiClient {
    /// A client for `address` built from `builder` (for TLS settings or a
    /// source address), keeping cookies and not following redirects.
    pub fn with(address: &str, builder: reqwest::ClientBuilder) -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Self {
            http: builder
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: address.to_owned(),
            csrf: String::new(),
            jar,
        }
    }
}

pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a CSRF field in the page") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// An app served by another process, reached by its address.
pub struct Remote {
    pub address: String,
}

impl Remote {
    pub fn browser_client(&self) -> UiClient {
        browser_for(&self.address)
    }

    pub async fn sign_in(&self, user: &str, password: &str) -> UiClient {
        sign_in_at(&self.address, user, password).await
    }
}

fn browser_for(address: &str) -> UiClient {
    UiClient::with(address, reqwest::Client::builder())
}

async fn sign_in_at(address: &str, user: &str, password: &str) -> UiClient {
    let mut client = browser_for(address);
    let response = client.try_sign_in(user, password).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "sign-in of {user} failed"
    );
    // The tokens page, or, for a reseller who must set up two-factor
    // sign-in first, that page.
    for path in ["/tokens", "/account/two-factor"] {
        let page = client.get(path).await.text().await.unwrap();
        if page.contains("name=\"csrf_token\"") {
            client.csrf = csrf_in(&page);
            break;
        }
    }
    client
}

impl TestApp {
    /// A client for an app served elsewhere (another process).
    pub fn at(address: &str) -> Remote {
        Remote {
            address: address.to_owned(),
        }
    }

    pub fn browser(&self) -> UiClient {
        browser_for(&self.address)
    }

    pub async fn sign_in(&self, user: &str, password: &str) -> UiClient {
        sign_in_at(&self.address, user, password).await
    }
}

impl UiClient {
    /// Keeps a cookie as if the server had set it (`name=value; Path=/`).
    pub fn add_cookie(&self, cookie: &str) {
        self.jar.add_cookie_str(cookie, &self.base.parse().unwrap());
    }

    /// The `Cookie` header this client sends, for other tools to reuse.
    pub fn cookie_header(&self) -> String {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&self.base.parse().unwrap())
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn get_htmx(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("HX-Request", "true")
            .send()
            .await
            .unwrap()
    }

    /// The values of `attribute` (`data-token`, say) in the partial htmx
    /// gets for `path`, in page order: the rows a table shows.
    pub async fn listed(&self, path: &str, attribute: &str) -> Vec<String> {
        let html = self.get_htmx(path).await.text().await.unwrap();
        html.split(&format!("{attribute}=\""))
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_owned())
            .collect()
    }

    pub async fn try_sign_in(&mut self, user: &str, password: &str) -> reqwest::Response {
        let page = self.get("/login").await.text().await.unwrap();
        self.csrf = csrf_in(&page);
        self.post("/login", &[("username", user), ("password", password)])
            .await
    }

    /// Posts a form with this session's CSRF token.
    /// The account page's password change, `new` typed twice.
    pub async fn change_password(&self, current: &str, new: &str) -> reqwest::Response {
        self.post(
            "/account/password",
            &[("current", current), ("new", new), ("confirm", new)],
        )
        .await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &self.csrf)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Follows a one-time sign-in link as a person does: opens it, and if
    /// it shows the "Continue as …" page, presses the button (the answer
    /// to that); otherwise the answer to the opening.
    pub async fn follow_link(&self, path: &str) -> reqwest::Response {
        let opened = self.get(path).await;
        if opened.status() != reqwest::StatusCode::OK {
            return opened;
        }
        let page = opened.text().await.unwrap();
        let csrf = csrf_in(&page);
        let session = page
            .split("name=\"session\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the link's page holds its form");
        let action = path.split('?').next().unwrap();
        self.post_raw(action, &[("csrf_token", &csrf), ("session", session)])
            .await
    }

    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Posts as htmx does: the CSRF token in a header, fragments back.
    pub async fn post_htmx(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("HX-Request", "true")
            .header("HX-Current-URL", format!("{}/tokens", self.base))
            .header("X-CSRF-Token", &self.csrf)
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

impl TestApp {
    pub async fn set_created(&self, name: &'static str, at: i64) {
        self.db
            .write(move |conn| {
                use whm_tokens::db::schema::tokens;
                diesel::update(tokens::table.filter(tokens::name.eq(name)))
                    .set(tokens::created_at.eq(at))
                    .execute(conn)
                    .map_err(anyhow::Error::from)
            })
            .await
            .unwrap();
    }

    /// Inserts `n` tokens named `bulk-00000`… for `owner` in one
    /// transaction, with random digests (their secrets are never needed).
    pub async fn bulk_tokens(&self, owner: &str, n: usize) {
        let owner_id = self.actor(owner).await.account.id;
        self.db
            .write(move |conn| {
                let started = now();
                for i in 0..n {
                    insert_token(conn, owner_id, &format!("bulk-{i:05}"), started - i as i64)?;
                }
                Ok::<_, anyhow::Error>(())
            })
            .await
            .unwrap();
    }
}

/// Inserts a token named `name` for the account `owner_id`, with a random
/// digest (its secret is never needed), behind the server's back.
pub fn insert_token(
    conn: &mut whm_tokens::db::DbConnection,
    owner_id: i64,
    name: &str,
    created_at: i64,
) -> diesel::QueryResult<()> {
    use whm_tokens::db::schema::tokens;
    let mut digest = vec![0u8; 32];
    rand::rng().fill(&mut digest[..]);
    diesel::insert_into(tokens::table)
        .values((
            tokens::account_id.eq(owner_id),
            tokens::name.eq(name),
            tokens::digest.eq(digest),
            tokens::created_at.eq(created_at),
            tokens::allowed_ips.eq(""),
            tokens::privileges.eq("all"),
        ))
        .execute(conn)?;
    Ok(())
}

/// Another instance of the application on the same database as a test's
/// app (several instances behind one load balancer).
pub struct Instance {
    pub address: String,
    /// `http://127.0.0.1:PORT` of its metrics listener, when configured.
    pub metrics_address: Option<String>,
}

impl TestApp {
    pub async fn second_instance(&self) -> Instance {
        self.second_instance_with(|_| {}).await
    }

    pub async fn second_instance_with(&self, adjust: impl FnOnce(&mut Config)) -> Instance {
        let mut config = test_config(self.database.url());
        adjust(&mut config);
        let (db, _) = prepare(&config).await.expect("prepare the store");
        let app = Application::build(config, db).expect("build the app");
        let port = app.port();
        let metrics_address = app.metrics_port().map(|p| format!("http://127.0.0.1:{p}"));
        actix_web::rt::spawn(app.run_until_stopped());
        Instance {
            address: format!("http://127.0.0.1:{port}"),
            metrics_address,
        }
    }

    /// Runs the `whm-tokens` command on this test's database and returns
    /// its output.
    pub async fn command(&self, args: &[&str]) -> std::process::Output {
        run_command(&self.database.url(), args).await
    }
}

/// Runs the `whm-tokens` command with `DATABASE_URL=url`.
pub async fn run_command(url: &str, args: &[&str]) -> std::process::Output {
    run_command_with(url, &[], args).await
}

/// Runs the `whm-tokens` command with `DATABASE_URL=url` and `env` added.
pub async fn run_command_with(
    url: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> std::process::Output {
    let data_dir =
        std::env::temp_dir().join(format!("whm-cli-{:016x}", rand::rng().random::<u64>()));
    let mut key = vec![0u8; 64];
    rand::rng().fill(&mut key[..]);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_whm-tokens"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("WHM_TOKENS_DATA_DIR", &data_dir)
        .env("WHM_TOKENS_SESSION_KEY", hex_of(&key))
        .env("WHM_TOKENS_ROOT_PASSWORD", ROOT_PASSWORD)
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run whm-tokens");
    let _ = std::fs::remove_dir_all(&data_dir);
    output
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Calls `version` on `address` with a token.
pub async fn version_at(address: &str, user: &str, secret: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{address}/json-api/version?api.version=1"))
        .header("Authorization", format!("whm {user}:{secret}"))
        .send()
        .await
        .expect("API call")
        .status()
}

/// Calls `version` as root with `secret` through a trusted proxy that says
/// the call came from `ip`.
pub async fn version_via_proxy(address: &str, secret: &str, ip: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{address}/json-api/version?api.version=1"))
        .header("Authorization", format!("whm root:{secret}"))
        .header("X-Forwarded-For", ip)
        .send()
        .await
        .expect("API call")
        .status()
}

/// Asserts that `address` refuses `secret` within moments (2 s): what
/// another instance, or a change made outside the server, must do.
pub async fn assert_refused_soon(address: &str, user: &str, secret: &str) {
    let last = version_until(
        address,
        user,
        secret,
        StatusCode::FORBIDDEN,
        std::time::Duration::from_secs(2),
    )
    .await;
    assert_eq!(last, StatusCode::FORBIDDEN);
}

/// Calls `version` on `address` until it answers `want`, for at most
/// `limit`; returns what it answered last.
pub async fn version_until(
    address: &str,
    user: &str,
    secret: &str,
    want: StatusCode,
    limit: std::time::Duration,
) -> StatusCode {
    let started = std::time::Instant::now();
    loop {
        let got = version_at(address, user, secret).await;
        if got == want || started.elapsed() > limit {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

impl TestApp {
    /// Inserts `n` plain accounts `user0000`… owned by root, without
    /// passwords (nothing to hash), in one transaction.
    pub async fn bulk_accounts(&self, n: usize) {
        let root_id = self.actor("root").await.account.id;
        self.db
            .write(move |conn| {
                use whm_tokens::db::schema::accounts;
                for i in 0..n {
                    diesel::insert_into(accounts::table)
                        .values((
                            accounts::username.eq(format!("user{i:04}")),
                            accounts::kind.eq("user"),
                            accounts::owner_id.eq(Some(root_id)),
                            accounts::privileges.eq(""),
                            accounts::created_at.eq(now()),
                        ))
                        .execute(conn)?;
                }
                Ok::<_, anyhow::Error>(())
            })
            .await
            .unwrap();
    }
}

/// Whether a real part from Debian's packages is installed at `path`.
/// Where it is missing the test says it skipped, unless `require` is set
/// to 1 (as CI does), which makes it a failure.
pub fn real_part(path: &str, package: &str, require: &str) -> bool {
    if std::path::Path::new(path).exists() {
        return true;
    }
    let required = std::env::var(require).is_ok_and(|v| v == "1");
    assert!(!required, "{require}=1 but {path} is missing");
    eprintln!("SKIPPED: {path} is missing (apt-get install {package})");
    false
}

/// A directory of its own under the system's temporary directory, removed
/// when dropped.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(what: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("whm-{what}-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a metrics listener serves at `/metrics`.
pub async fn scrape(metrics: &str) -> String {
    reqwest::get(format!("{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the series `series` (name and labels, exactly as
/// written) in a scrape, if it is there.
pub fn metric_value(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// A free port on 127.0.0.1 for a helper process to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `whm-tokens serve` process on a fresh database, and its log lines.
pub struct Served {
    pub child: tokio::process::Child,
    pub address: String,
    pub lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    _database: TestDatabase,
}

impl Served {
    /// Starts the real binary with `env` added to the test settings, and
    /// waits for it to listen.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let database = TestDatabase::create();
        let mut key = [0u8; 64];
        rand::rng().fill(&mut key[..]);
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_whm-tokens"));
        command
            .arg("serve")
            .env("DATABASE_URL", database.url())
            .env("WHM_TOKENS_DATA_DIR", std::env::temp_dir())
            .env("WHM_TOKENS_LISTEN", "127.0.0.1:0")
            .env("WHM_TOKENS_SESSION_KEY", hex_of(&key))
            .env("WHM_TOKENS_ROOT_PASSWORD", ROOT_PASSWORD)
            .env("WHM_TOKENS_WORKERS", "1")
            .env("WHM_TOKENS_FAILED_SIGN_IN_DELAY_MS", "0")
            .env_remove("RUST_LOG")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start whm-tokens serve");
        let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        actix_web::rt::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // The start-up banner names the address.
        let address = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            loop {
                let line = lines.recv().await.expect("the server exited");
                if let Some(rest) = line.split("listening on ").nth(1) {
                    break rest.trim().to_owned();
                }
            }
        })
        .await
        .expect("the server did not start in 30 s");
        Self {
            child,
            address,
            lines,
            _database: database,
        }
    }

    /// Sends SIGTERM and waits up to `limit` for the process to exit 0.
    pub async fn terminate_cleanly(&mut self, limit: std::time::Duration) {
        self.terminate();
        self.exits_cleanly(limit).await;
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("running") as i32;
        // SAFETY: kill(2) with a pid of our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }

    /// Waits up to `limit` for the process to exit 0.
    pub async fn exits_cleanly(&mut self, limit: std::time::Duration) {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("not stopped within {limit:?}"))
            .unwrap();
        assert!(status.success(), "exit status {status:?}");
    }

    /// The database this server runs on (for commands run beside it).
    pub fn database_url(&self) -> String {
        self._database.url()
    }

    /// Log lines until one contains `needle` (at most 10 s), that one
    /// included.
    pub async fn lines_until(&mut self, needle: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("no log line with {needle:?} in: {seen:#?}"))
                .expect("the server exited");
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return seen;
            }
        }
    }
}

/// The link of a table's pager, Activity or Accounts (`rel`: `prev` or `next`).
pub fn pager_link(html: &str, rel: &str) -> Option<String> {
    let end = html.find(&format!("rel=\"{rel}\""))?;
    let start = html[..end].rfind("href=\"")? + 6;
    let link = &html[start..];
    Some(
        link[..link.find('"')?]
            .replace("&amp;", "&")
            .replace("&#38;", "&"),
    )
}
