//! whm-tokens behind real nginx (Debian's package) with the recipe in
//! `deploy/nginx.conf`: TLS with a certificate the test makes, two
//! instances on one database. Through the proxy: the allow-list sees the
//! real client address, a spoofed `X-Forwarded-For` is ignored, cookies are
//! `Secure` and `__Host-`, links use the public https address, and one
//! session works on either instance. Skipped where nginx or openssl is
//! missing, unless WHM_TOKENS_REQUIRE_NGINX=1 (as in CI).

use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use whm_tokens::domain::Expiry;

use crate::helpers::*;

const NGINX: &str = "/usr/sbin/nginx";
const OPENSSL: &str = "/usr/bin/openssl";
const REQUIRE: &str = "WHM_TOKENS_REQUIRE_NGINX";
/// The client's own loopback address: neither the proxy's nor the one a
/// spoofed header claims.
const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 7);

/// A self-signed certificate for 127.0.0.1, made with openssl.
async fn certificate(dir: &ScratchDir) {
    let made = tokio::process::Command::new(OPENSSL)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(dir.join("tls.key"))
        .arg("-out")
        .arg(dir.join("tls.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(made.success(), "openssl could not make a certificate");
}

/// The recipe with this test's ports, certificate and name, inside a
/// main configuration that keeps everything in `dir`.
fn configuration(dir: &ScratchDir, port: u16, upstreams: [&str; 2]) -> String {
    let recipe =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf")).unwrap();
    let replaced = [
        (
            "listen 443 ssl http2;",
            format!("listen 127.0.0.1:{port} ssl http2;"),
        ),
        (
            "server_name whm.example.com;",
            "server_name 127.0.0.1;".to_owned(),
        ),
        (
            "server 127.0.0.1:8081;",
            format!("server {};", upstreams[0]),
        ),
        (
            "server 127.0.0.1:8082;",
            format!("server {};", upstreams[1]),
        ),
        (
            "/etc/ssl/certs/whm.example.com.pem",
            dir.join("tls.pem").display().to_string(),
        ),
        (
            "/etc/ssl/private/whm.example.com.key",
            dir.join("tls.key").display().to_string(),
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

/// A client from `CLIENT` that trusts the test's certificate.
fn client_from(dir: &ScratchDir, base: &str) -> UiClient {
    let pem = std::fs::read(dir.join("tls.pem")).unwrap();
    UiClient::with(
        base,
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .local_address(IpAddr::V4(CLIENT)),
    )
}

/// `version` through the proxy with a token, and any extra headers.
async fn version(client: &UiClient, secret: &str, extra: &[(&str, &str)]) -> StatusCode {
    let mut call = client
        .http
        .get(format!("{}/json-api/version?api.version=1", client.base))
        .header("Authorization", format!("whm root:{secret}"));
    for (name, value) in extra {
        call = call.header(*name, *value);
    }
    call.send().await.unwrap().status()
}

/// Requests of the signed-in tokens page an instance has answered.
async fn tokens_pages(metrics: &str) -> f64 {
    let series = "whm_tokens_http_requests_total{route=\"/tokens\",method=\"GET\",status=\"2xx\"}";
    metric_value(&scrape(metrics).await, series).unwrap_or(0.0)
}

#[actix_web::test]
async fn through_nginx_with_tls_two_instances_see_the_real_client_and_share_sessions() {
    if !real_part(NGINX, "nginx", REQUIRE) || !real_part(OPENSSL, "openssl", REQUIRE) {
        return;
    }
    let dir = ScratchDir::new("nginx");
    certificate(&dir).await;
    let port = free_port();
    let public = format!("https://127.0.0.1:{port}");

    // Two instances on one database, as the recipe's comment sets them up.
    let key: Vec<u8> = (0..64).map(|_| rand::random::<u8>()).collect();
    let behind_proxy = |c: &mut whm_tokens::config::Config| {
        c.session_key = key.clone();
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.secure_cookies = true;
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    };
    let first = spawn_app_with(behind_proxy).await;
    let second = first.second_instance_with(behind_proxy).await;
    let upstreams = [&first.address, &second.address].map(|a| a.trim_start_matches("http://"));
    std::fs::write(dir.join("nginx.conf"), configuration(&dir, port, upstreams)).unwrap();
    let mut nginx = tokio::process::Command::new(NGINX)
        .arg("-p")
        .arg(&dir.0)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start nginx");

    let mut browser = client_from(&dir, &public);
    wait_until("nginx to answer", Duration::from_secs(20), || {
        let probe = browser.http.get(format!("{public}/readyz")).send();
        async move { probe.await.is_ok_and(|r| r.status() == StatusCode::OK) }
    })
    .await;
    if let Ok(Some(status)) = nginx.try_wait() {
        panic!("nginx exited: {status}");
    }

    // Signed in through the proxy: every cookie is Secure and __Host-.
    let signed_in = browser.try_sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<String> = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(!cookies.is_empty());
    for cookie in &cookies {
        assert!(
            cookie.starts_with("__Host-")
                && cookie.contains("; Secure")
                && cookie.contains("Path=/"),
            "{cookie}"
        );
    }
    // One session, served by either instance (nginx takes turns).
    for _ in 0..6 {
        let page = browser.get("/tokens").await;
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("Manage API Tokens"));
    }
    for instance in [&first.metrics_address, &second.metrics_address] {
        let metrics = instance.clone().expect("a metrics listener");
        assert!(tokens_pages(&metrics).await >= 1.0, "{metrics} served none");
    }

    // The allow-list sees the client's address, not the proxy's…
    let mine = first
        .token_with(
            "root",
            "from-client",
            Expiry::Never,
            &CLIENT.to_string(),
            None,
        )
        .await
        .unwrap();
    let proxys = first
        .token_with("root", "from-proxy", Expiry::Never, "127.0.0.1", None)
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(version(&browser, &mine, &[]).await, StatusCode::OK);
        assert_eq!(version(&browser, &proxys, &[]).await, StatusCode::FORBIDDEN);
    }
    // …and not one the client claims.
    let claimed = first
        .token_with("root", "claimed", Expiry::Never, "127.0.0.9", None)
        .await
        .unwrap();
    for spoof in ["127.0.0.9", "127.0.0.9, 127.0.0.1"] {
        assert_eq!(
            version(&browser, &claimed, &[("X-Forwarded-For", spoof)]).await,
            StatusCode::FORBIDDEN,
            "X-Forwarded-For: {spoof}"
        );
    }

    // Links handed out name the public https address.
    let session = browser
        .http
        .get(format!(
            "{public}/json-api/create_user_session?api.version=1&user=root&service=whostmgrd"
        ))
        .header("Authorization", format!("whm root:{mine}"))
        .send()
        .await
        .unwrap();
    let answer: Value = session.json().await.unwrap();
    let url = answer["data"]["url"].as_str().unwrap_or_default();
    assert!(url.starts_with(&format!("{public}/")), "{answer}");

    drop(browser);
    nginx.kill().await.unwrap();
}
