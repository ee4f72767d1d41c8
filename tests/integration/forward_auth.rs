//! Forward auth (`/auth/forward`): each kind of rule, each refusal, the
//! headers a permitted request gets, and the same answer for every
//! refusal. Then through real proxies: Debian's nginx with the
//! `auth_request` recipe in `deploy/`, and Caddy's `forward_auth`, each in
//! front of a small backend this test runs.

use std::net::IpAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use whm_tokens::domain::forward_rules::ForwardRules;
use whm_tokens::domain::Expiry;

use crate::helpers::*;

const RULES: &str = "\
GET,HEAD /billing/**   list-accts
POST     /dns/*        edit-dns,park-dns
*        /status       token
*        /admin/**     deny
*        /json-api/*   whm-api
";

/// An app that trusts the test (on 127.0.0.1) as its proxy, with `rules`.
async fn app_with(rules: &str) -> TestApp {
    let rules = ForwardRules::parse(rules).unwrap();
    spawn_app_with(move |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.forward_rules = Arc::new(rules);
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

/// Asks forward auth about `method uri`, from `client` as the proxy says.
async fn ask(
    address: &str,
    auth: Option<(&str, &str)>,
    method: &str,
    uri: &str,
    client: &str,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("{address}/auth/forward"))
        .header("X-Original-Method", method)
        .header("X-Original-URI", uri)
        .header("X-Forwarded-For", client);
    if let Some((user, secret)) = auth {
        request = request.header("Authorization", format!("whm {user}:{secret}"));
    }
    request.send().await.unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[actix_web::test]
async fn forward_auth_allows_what_a_rule_allows_and_refuses_the_rest_alike() {
    let app = app_with(RULES).await;
    app.create_reseller("bob", Some("list-accts manage-api-tokens edit-dns"))
        .await;
    let narrow = app
        .token_with("bob", "billing", Expiry::Never, "", Some("list-accts"))
        .await
        .unwrap();
    let dns = app
        .token_with(
            "bob",
            "dns",
            Expiry::At(now() + 86_400),
            "",
            Some("edit-dns"),
        )
        .await
        .unwrap();
    let root = app.token("root", "everything").await;
    let a = app.address.as_str();
    let from = "198.51.100.7";

    // Allowed: the headers name the account, the token and what it may do.
    let allowed = ask(
        a,
        Some(("bob", &narrow)),
        "GET",
        "/billing/invoices/7?page=2",
        from,
    )
    .await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(header(&allowed, "x-whm-user").as_deref(), Some("bob"));
    assert_eq!(header(&allowed, "x-whm-token").as_deref(), Some("billing"));
    assert_eq!(
        header(&allowed, "x-whm-privileges").as_deref(),
        Some("list-accts")
    );
    assert_eq!(header(&allowed, "x-whm-tokens-expiration"), None);
    let root_allowed = ask(a, Some(("root", &root)), "GET", "/status", from).await;
    assert_eq!(root_allowed.status(), StatusCode::OK);
    assert_eq!(
        header(&root_allowed, "x-whm-privileges").as_deref(),
        Some("all")
    );
    let expiring = ask(a, Some(("bob", &dns)), "GET", "/status", from).await;
    assert_eq!(expiring.status(), StatusCode::OK);
    assert!(header(&expiring, "x-whm-tokens-expiration").is_some_and(|e| e.ends_with(" UTC")));

    // Each kind of rule.
    for (case, user, secret, method, uri, want) in [
        (
            "a privilege rule, held",
            "bob",
            &narrow,
            "HEAD",
            "/billing",
            StatusCode::OK,
        ),
        (
            "a method the rule does not list",
            "bob",
            &narrow,
            "POST",
            "/billing/x",
            StatusCode::FORBIDDEN,
        ),
        (
            "two privileges, one held",
            "bob",
            &dns,
            "POST",
            "/dns/example.com",
            StatusCode::FORBIDDEN,
        ),
        (
            "two privileges, root holds all",
            "root",
            &root,
            "POST",
            "/dns/example.com",
            StatusCode::OK,
        ),
        (
            "any valid token",
            "bob",
            &narrow,
            "DELETE",
            "/status",
            StatusCode::OK,
        ),
        (
            "deny, whatever the token",
            "root",
            &root,
            "GET",
            "/admin/users",
            StatusCode::FORBIDDEN,
        ),
        (
            "whm-api: the function's privilege, held",
            "bob",
            &narrow,
            "GET",
            "/json-api/listaccts?api.version=1",
            StatusCode::OK,
        ),
        (
            "whm-api: the function's privilege, lacking",
            "bob",
            &narrow,
            "GET",
            "/json-api/api_token_list",
            StatusCode::FORBIDDEN,
        ),
        (
            "whm-api: a function for any token",
            "bob",
            &dns,
            "POST",
            "/json-api/version",
            StatusCode::OK,
        ),
        (
            "whm-api: not a function of the table",
            "root",
            &root,
            "GET",
            "/json-api/nosuchfunction",
            StatusCode::FORBIDDEN,
        ),
        (
            "no rule matches",
            "root",
            &root,
            "GET",
            "/elsewhere",
            StatusCode::FORBIDDEN,
        ),
        (
            "a path read two ways",
            "root",
            &root,
            "GET",
            "/status/../admin/users",
            StatusCode::FORBIDDEN,
        ),
    ] {
        let got = ask(a, Some((user, secret)), method, uri, from)
            .await
            .status();
        assert_eq!(got, want, "{case}: {method} {uri}");
    }

    // Every refusal: the same body; 401 only for no credential at all.
    let denied_body = |r: reqwest::Response| async move { (r.status(), r.text().await.unwrap()) };
    let (status, body) = denied_body(ask(a, None, "GET", "/status", from).await).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, "Access denied\n")
    );
    let no_rule = denied_body(ask(a, Some(("root", &root)), "GET", "/elsewhere", from).await).await;
    // Its query string carries a secret: it is not logged nor kept.
    let no_privilege = denied_body(
        ask(
            a,
            Some(("bob", &narrow)),
            "GET",
            "/json-api/api_token_list?api.version=1&password=hunter2-secret",
            from,
        )
        .await,
    )
    .await;
    let unknown = denied_body(
        ask(
            a,
            Some(("bob", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345")),
            "GET",
            "/status",
            from,
        )
        .await,
    )
    .await;
    let wrong_user =
        denied_body(ask(a, Some(("root", &narrow)), "GET", "/status", from).await).await;
    app.disable("bob", "dns").await;
    let disabled = denied_body(ask(a, Some(("bob", &dns)), "GET", "/status", from).await).await;
    for refused in [&no_rule, &no_privilege, &unknown, &wrong_user, &disabled] {
        assert_eq!(
            refused,
            &(StatusCode::FORBIDDEN, "Access denied\n".to_owned())
        );
    }

    // The real reasons are in the audit trail and the metrics.
    app.refusal_details_with(&[
        "forward auth: no valid whm Authorization header",
        "forward auth: unknown token",
        "forward auth: the token belongs to another account",
        "forward auth: disabled",
        "forward auth: no rule allows",
        "GET /json-api/api_token_list: rule 5 of the rules file needs manage-api-tokens",
        "GET /admin/users: denied by rule 4",
    ])
    .await;
    let kept = app.refusal_details().await;
    assert!(
        !kept.iter().any(|d| d.contains("hunter2")),
        "a query string in the audit trail: {kept:?}"
    );
    let metrics = scrape(app.metrics_address.as_deref().unwrap()).await;
    for (series, at_least) in [
        (
            "whm_tokens_decisions_total{front=\"forward_auth\",outcome=\"allowed\"}",
            8.0,
        ),
        (
            "whm_tokens_decisions_total{front=\"forward_auth\",outcome=\"refused\"}",
            10.0,
        ),
        (
            "whm_tokens_decisions_total{front=\"forward_auth\",outcome=\"no_credential\"}",
            1.0,
        ),
        ("whm_tokens_api_refusals_total{reason=\"no_rule\"}", 4.0),
    ] {
        let got = metric_value(&metrics, series).unwrap_or(0.0);
        assert!(got >= at_least, "{series} = {got}");
    }
}

#[actix_web::test]
async fn forward_auth_checks_the_original_clients_address_and_believes_only_trusted_proxies() {
    let app = app_with(RULES).await;
    let listed = app
        .token_with("root", "office", Expiry::Never, "192.0.2.0/24", None)
        .await
        .unwrap();
    let a = app.address.as_str();
    let auth = Some(("root", listed.as_str()));
    assert_eq!(
        ask(a, auth, "GET", "/status", "192.0.2.9").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(a, auth, "GET", "/status", "203.0.113.9").await.status(),
        StatusCode::FORBIDDEN
    );
    // A client's own X-Forwarded-For entry before the proxy's is skipped:
    // the right-most address that is not a trusted proxy counts.
    assert_eq!(
        ask(a, auth, "GET", "/status", "192.0.2.9, 203.0.113.9")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // From an address that is not a trusted proxy, the original request's
    // headers are not believed: no rule can allow what is unknown.
    let untrusting = spawn_app().await;
    let token = untrusting.token("root", "any").await;
    let direct = ask(
        &untrusting.address,
        Some(("root", &token)),
        "GET",
        "/json-api/version",
        "192.0.2.9",
    )
    .await;
    assert_eq!(direct.status(), StatusCode::FORBIDDEN);
    // Traefik's and Caddy's headers are read as nginx's are.
    let traefik = reqwest::Client::new()
        .get(format!("{a}/auth/forward"))
        .header("Authorization", format!("whm root:{listed}"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Uri", "/json-api/version?api.version=1")
        .header("X-Forwarded-For", "192.0.2.10")
        .send()
        .await
        .unwrap();
    assert_eq!(traefik.status(), StatusCode::OK);
    // Caddy and Traefik pass on the client's other headers: an
    // `X-Original-URI` beside theirs is the client's own, and the call
    // is refused rather than judged by what the client says it is.
    let injected = reqwest::Client::new()
        .get(format!("{a}/auth/forward"))
        .header("Authorization", format!("whm root:{listed}"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Uri", "/json-api/version?api.version=1")
        .header("X-Original-Method", "GET")
        .header("X-Original-URI", "/json-api/version?api.version=1")
        .header("X-Forwarded-For", "192.0.2.10")
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), StatusCode::FORBIDDEN);
    app.refusal_details_with(&["both X-Original-* and X-Forwarded-* were sent"])
        .await;
}

#[actix_web::test]
async fn with_no_rules_file_only_the_ready_made_whm_api_rules_apply() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    app.create_reseller("bob", Some("list-accts manage-api-tokens"))
        .await;
    let t = app
        .token_with("bob", "lister", Expiry::Never, "", Some("list-accts"))
        .await
        .unwrap();
    let a = app.address.as_str();
    let auth = Some(("bob", t.as_str()));
    for (uri, want) in [
        ("/json-api/listaccts?api.version=1", StatusCode::OK),
        ("/cpsess0123456789/json-api/listaccts", StatusCode::OK),
        ("/json-api/createacct", StatusCode::FORBIDDEN),
        ("/json-api/api_token_create", StatusCode::FORBIDDEN),
        ("/billing/invoices", StatusCode::FORBIDDEN),
    ] {
        assert_eq!(
            ask(a, auth, "POST", uri, "192.0.2.1").await.status(),
            want,
            "{uri}"
        );
    }
}

/// A backend that answers every request with 200 and remembers the path
/// and the `X-WHM-User` and `Authorization` headers it got.
struct Backend {
    address: String,
    seen: Arc<Mutex<Vec<(String, String, bool)>>>,
}

impl Backend {
    async fn start() -> Self {
        let seen: Arc<Mutex<Vec<(String, String, bool)>>> = Arc::default();
        let kept = seen.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = actix_web::HttpServer::new(move || {
            let seen = kept.clone();
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest| {
                    let seen = seen.clone();
                    async move {
                        let user = req
                            .headers()
                            .get("x-whm-user")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let has_secret = req.headers().contains_key("authorization");
                        seen.lock().unwrap().push((
                            req.uri().to_string(),
                            user.clone(),
                            has_secret,
                        ));
                        actix_web::HttpResponse::Ok().body(format!("backend: hello {user}"))
                    }
                },
            ))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        Self { address, seen }
    }

    fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// Calls `path` through the proxy at `base` from `client`, with a token.
async fn through(
    base: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    client: IpAddr,
) -> (StatusCode, String) {
    let mut request = reqwest::Client::builder()
        .local_address(client)
        .build()
        .unwrap()
        .get(format!("{base}{path}"));
    if let Some((user, secret)) = auth {
        request = request.header("Authorization", format!("whm {user}:{secret}"));
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// What the proxy tests share: two instances on one store (the proxy asks
/// the first), a backend, and tokens.
struct Guarded {
    first: TestApp,
    second: Instance,
    backend: Backend,
    allowed: String,
    narrow: String,
    elsewhere: String,
    doomed: String,
    /// Covers `doomed`, to revoke it.
    keeper: String,
}

/// The client's own loopback address, neither the proxy's nor a token's
/// other allow-list.
const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 5));

async fn guarded() -> Guarded {
    let trust = |c: &mut whm_tokens::config::Config| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    };
    let first = spawn_app_with(trust).await;
    let second = first.second_instance_with(trust).await;
    first
        .create_reseller("bob", Some("list-accts manage-api-tokens"))
        .await;
    let token = |name: &'static str, ips: &'static str, privileges: &'static str| {
        let first = &first;
        async move {
            first
                .token_with("bob", name, Expiry::Never, ips, Some(privileges))
                .await
                .unwrap()
        }
    };
    Guarded {
        allowed: token("allowed", "127.0.0.5", "list-accts").await,
        narrow: token("narrow", "127.0.0.5", "manage-api-tokens").await,
        elsewhere: token("elsewhere", "127.0.0.9", "list-accts").await,
        doomed: token("doomed", "", "list-accts").await,
        keeper: token("keeper", "", "list-accts,manage-api-tokens").await,
        backend: Backend::start().await,
        first,
        second,
    }
}

/// Through the proxy at `base`: the permitted call reaches the backend
/// with the user header (and without the secret: the recipes drop it);
/// the others never reach it.
async fn proves_the_guard(g: &Guarded, base: &str) {
    let listaccts = "/json-api/listaccts?api.version=1";
    let (status, body) = through(base, listaccts, Some(("bob", &g.allowed)), CLIENT).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "backend: hello bob")
    );
    {
        let seen = g.backend.seen.lock().unwrap();
        let (path, user, has_secret) = seen.last().unwrap();
        assert_eq!((path.as_str(), user.as_str()), (listaccts, "bob"));
        assert!(!has_secret, "the backend got the token's secret");
    }
    // A client cannot claim a user by sending the header itself.
    let spoofed = reqwest::Client::builder()
        .local_address(CLIENT)
        .build()
        .unwrap()
        .get(format!("{base}{listaccts}"))
        .header("Authorization", format!("whm bob:{}", g.allowed))
        .header("X-WHM-User", "root")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.text().await.unwrap(), "backend: hello bob");

    let reached = g.backend.hits();
    // Warm the doomed token on the proxy's instance, then revoke it on the
    // other one.
    assert_eq!(
        through(base, listaccts, Some(("bob", &g.doomed)), CLIENT)
            .await
            .0,
        StatusCode::OK
    );
    let reached = reached + 1;
    let client = reqwest::Client::new();
    let revoked = client
        .get(format!(
            "{}/json-api/api_token_revoke?api.version=1&token_name=doomed",
            g.second.address
        ))
        .header("Authorization", format!("whm bob:{}", g.keeper))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_refused_soon(&g.first.address, "bob", &g.doomed).await;

    for (case, auth, want) in [
        (
            "without the privilege",
            Some(("bob", g.narrow.as_str())),
            StatusCode::FORBIDDEN,
        ),
        (
            "from outside its allow-list",
            Some(("bob", g.elsewhere.as_str())),
            StatusCode::FORBIDDEN,
        ),
        (
            "revoked on another instance",
            Some(("bob", g.doomed.as_str())),
            StatusCode::FORBIDDEN,
        ),
        (
            "with no Authorization header",
            None,
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        assert_eq!(
            through(base, listaccts, auth, CLIENT).await.0,
            want,
            "{case}"
        );
    }
    assert_eq!(
        g.backend.hits(),
        reached,
        "a refused call reached the backend"
    );
}

fn nginx_configuration(dir: &ScratchDir, port: u16, auth: &str, backend: &str) -> String {
    let recipe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/nginx-forward-auth.conf"
    ))
    .unwrap();
    let replaced = [
        ("listen 443 ssl;", format!("listen 127.0.0.1:{port};")),
        ("server 127.0.0.1:8081;", format!("server {auth};")),
        ("server 127.0.0.1:9000;", format!("server {backend};")),
        (
            "    ssl_certificate     /etc/ssl/certs/api.example.com.pem;\n",
            String::new(),
        ),
        (
            "    ssl_certificate_key /etc/ssl/private/api.example.com.key;\n",
            String::new(),
        ),
    ]
    .iter()
    .fold(recipe, |text, (from, to)| {
        assert!(text.contains(from), "the recipe has no `{from}`");
        text.replace(from, to)
    });
    let d = dir.0.display();
    format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         {replaced}\n}}\n"
    )
}

#[actix_web::test]
async fn through_nginx_auth_request_only_permitted_calls_reach_the_backend() {
    if !real_part("/usr/sbin/nginx", "nginx", "WHM_TOKENS_REQUIRE_NGINX") {
        return;
    }
    let g = guarded().await;
    let dir = ScratchDir::new("nginx-forward");
    let port = free_port();
    let auth = g.first.address.trim_start_matches("http://");
    std::fs::write(
        dir.join("nginx.conf"),
        nginx_configuration(&dir, port, auth, &g.backend.address),
    )
    .unwrap();
    let mut nginx = tokio::process::Command::new("/usr/sbin/nginx")
        .arg("-p")
        .arg(&dir.0)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start nginx");
    let base = format!("http://127.0.0.1:{port}");
    wait_for_proxy(&base, &mut nginx, "nginx").await;
    proves_the_guard(&g, &base).await;
    nginx.kill().await.unwrap();
}

#[actix_web::test]
async fn through_caddy_forward_auth_only_permitted_calls_reach_the_backend() {
    if !real_part("/usr/bin/caddy", "caddy", "WHM_TOKENS_REQUIRE_CADDY") {
        return;
    }
    let g = guarded().await;
    let dir = ScratchDir::new("caddy-forward");
    let port = free_port();
    let recipe =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/Caddyfile")).unwrap();
    let auth = g.first.address.trim_start_matches("http://");
    let caddyfile = [
        (
            "api.example.com {",
            format!("{{\n\tadmin off\n\tauto_https off\n}}\n\nhttp://127.0.0.1:{port} {{"),
        ),
        (
            "forward_auth 127.0.0.1:8081",
            format!("forward_auth {auth}"),
        ),
        (
            "reverse_proxy 127.0.0.1:9000",
            format!("reverse_proxy {}", g.backend.address),
        ),
    ]
    .iter()
    .fold(recipe, |text, (from, to)| {
        assert!(text.contains(from), "the recipe has no `{from}`");
        text.replace(from, to)
    });
    std::fs::write(dir.join("Caddyfile"), caddyfile).unwrap();
    let mut caddy = tokio::process::Command::new("/usr/bin/caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(dir.join("Caddyfile"))
        .env("HOME", &dir.0)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start caddy");
    let base = format!("http://127.0.0.1:{port}");
    wait_for_proxy(&base, &mut caddy, "caddy").await;
    proves_the_guard(&g, &base).await;
    caddy.kill().await.unwrap();
}

/// Waits until the proxy answers at all (401: it asked whm-tokens).
async fn wait_for_proxy(base: &str, proxy: &mut tokio::process::Child, what: &str) {
    let probe = format!("{base}/json-api/version");
    wait_until(
        &format!("{what} to answer"),
        Duration::from_secs(20),
        || {
            let probe = reqwest::get(probe.clone());
            async move {
                probe
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::UNAUTHORIZED)
            }
        },
    )
    .await;
    if let Ok(Some(status)) = proxy.try_wait() {
        panic!("{what} exited: {status}");
    }
}
