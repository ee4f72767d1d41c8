//! HTTP benchmark of the release binary, run as its own process with its
//! default settings, on SQLite and (when WHM_TOKENS_BENCH_PG_URL is set)
//! PostgreSQL in the same run. Load comes from `wrk` (Debian package) and
//! from this program; every target is on loopback, and every loop stops by
//! itself.
//!
//!     cargo bench --bench http
//!     WHM_TOKENS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench http
//!
//! It prints Markdown tables: requests per second and the ratio to a
//! baseline measured in the same run:
//! - a bare actix-web route serving app.css's bytes with no middleware
//!   (the baseline of the app's own static asset);
//! - the app's static asset (the baseline of authenticated `version`);
//! - `version` alone (the baseline of `version` during a sign-in storm of
//!   200 concurrent wrong passwords from 127.0.0.2–127.0.0.201, with the
//!   server's peak RSS and threads);
//! - `version` on an instance that trusts the bench as its proxy (the
//!   baseline of forward auth, `/auth/forward`, with the same token and
//!   the headers nginx's recipe sends);
//! - `version` for an owner with no token policy (the baseline of the same
//!   for an owner with root's policy in force);
//! - a burst of 10,000 leaked-token reports from 100 addresses: what is
//!   taken and throttled, peak memory, and the audit rows added;
//! - `api_token_list` and every tokens-page view for an owner with 10
//!   tokens (the baseline of the same for an owner with 10,000), with the
//!   list's time per call and the memory one call and 32 concurrent calls
//!   add.
//!
//! Knobs: WHM_TOKENS_BENCH_SECONDS (per wrk run, default 3),
//! WHM_TOKENS_BENCH_CONNECTIONS (default 32), WHM_TOKENS_BENCH_BIG (default
//! 10000).

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use rand::Rng;

use whm_tokens::auth::password;
use whm_tokens::db::schema::tokens;
use whm_tokens::db::Db;
use whm_tokens::domain::{Password, Username};
use whm_tokens::ops::accounts::{self, NewAccount};
use whm_tokens::ops::AccountKind;

mod support;

use support::*;

// ---------------------------------------------------------------- seeding

struct Owner {
    name: &'static str,
    /// A token with every privilege the owner holds.
    secret: String,
    cookie: String,
}

/// A reseller with `n` tokens (a third never expire), one of them usable.
async fn seed_owner(db: &Db, base: &str, name: &'static str, n: usize) -> Owner {
    let root = actor(db, "root").await;
    let hash = password::hash(&Password::parse(USER_PASSWORD).unwrap()).unwrap();
    let now = chrono::Utc::now().timestamp();
    db.write(move |c| {
        accounts::create(
            c,
            &root,
            NewAccount {
                username: Username::parse(name).unwrap(),
                kind: AccountKind::Reseller,
                owner: None,
                password_hash: Some(hash),
                privileges: None,
                contact_email: None,
            },
            now,
        )
    })
    .await
    .unwrap();
    let owner = actor(db, name).await;
    let owner_id = owner.account.id;
    let filler = n.saturating_sub(1);
    db.write(move |c| {
        for i in 0..filler {
            let mut digest = vec![0u8; 32];
            rand::rng().fill(&mut digest[..]);
            diesel::insert_into(tokens::table)
                .values((
                    tokens::account_id.eq(owner_id),
                    tokens::name.eq(format!("bulk-{i:05}")),
                    tokens::digest.eq(digest),
                    tokens::created_at.eq(now - i as i64),
                    tokens::expires_at.eq((i % 3 != 0).then_some(now + 86_400 + i as i64)),
                    tokens::allowed_ips.eq(""),
                    tokens::privileges.eq("all"),
                ))
                .execute(c)?;
        }
        Ok::<_, anyhow::Error>(())
    })
    .await
    .unwrap();
    let secret = full_token(db, owner, "bench-admin", now).await;
    Owner {
        name,
        secret,
        cookie: sign_in(base, name, USER_PASSWORD).await,
    }
}

// ---------------------------------------------------------------- the storm

struct Storm {
    stop: Arc<AtomicBool>,
    attempts: Arc<AtomicU64>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

/// 200 clients, one per loopback source address, each posting wrong
/// passwords as fast as answers come, until stopped (or 60 s at most).
async fn start_storm(base: &str) -> Storm {
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for i in 0..200u32 {
        // 127.0.0.2 to 127.0.0.201: each client its own address.
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, (2 + i) as u8));
        let base = base.to_owned();
        let stop = stop.clone();
        let attempts = attempts.clone();
        handles.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .local_address(source)
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let Ok(page) = http.get(format!("{base}/login")).send().await else {
                return;
            };
            let csrf = csrf_in(&page.text().await.unwrap_or_default());
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                n += 1;
                let user = format!("guess{i}x{n}");
                let sent = http
                    .post(format!("{base}/login"))
                    .form(&[
                        ("csrf_token", csrf.as_str()),
                        ("username", user.as_str()),
                        ("password", "wrong-password-guess"),
                    ])
                    .send()
                    .await;
                attempts.fetch_add(1, Ordering::Relaxed);
                if sent.is_err() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }
    Storm {
        stop,
        attempts,
        handles,
    }
}

impl Storm {
    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles {
            let _ = h.await;
        }
        self.attempts.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------- the baseline server

/// A bare actix-web route serving the same bytes as the app's app.css,
/// with no middleware: what the app's own static asset is held to.
fn start_bare_server(bytes: Vec<u8>) -> (String, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bytes = actix_web::web::Bytes::from(bytes);
    let server = actix_web::HttpServer::new(move || {
        let bytes = bytes.clone();
        actix_web::App::new().route(
            "/app.css",
            actix_web::web::get().to(move || {
                let bytes = bytes.clone();
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("text/css")
                        .body(bytes)
                }
            }),
        )
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
    (format!("http://127.0.0.1:{port}/app.css"), handle)
}

// ---------------------------------------------------------------- the scenario

/// How many rounds of bare route, static asset and `version` the fixed
/// cost of a request is measured in.
const FIXED_COST_ROUNDS: usize = 5;

/// Debian's PgBouncer in transaction mode in front of the server `url`
/// names, on a free port: returns the process and the pooled URL.
fn start_pgbouncer(url: &str, dir: &std::path::Path) -> (Child, String) {
    let server = url.split('@').nth(1).unwrap().split('/').next().unwrap();
    let (host, server_port) = server.split_once(':').unwrap_or((server, "5432"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display();
    std::fs::write(dir.join("users.txt"), "\"postgres\" \"\"\n").unwrap();
    std::fs::write(
        dir.join("pgbouncer.ini"),
        format!(
            "[databases]\n* = host={host} port={server_port}\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {d}/users.txt\npool_mode = transaction\n\
             max_client_conn = 200\ndefault_pool_size = 16\n\
             logfile = {d}/pgbouncer.log\npidfile = {d}/pgbouncer.pid\n\
             ignore_startup_parameters = extra_float_digits,options\n"
        ),
    )
    .unwrap();
    let mut command = Command::new("/usr/sbin/pgbouncer");
    // It will not run as root: it drops to `postgres`, which must reach
    // the folder.
    if unsafe { libc::geteuid() } == 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        command.args(["-u", "postgres"]);
    }
    let child = command
        .arg(dir.join("pgbouncer.ini"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start /usr/sbin/pgbouncer (apt-get install pgbouncer)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "PgBouncer did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, url.replacen(server, &format!("127.0.0.1:{port}"), 1))
}

/// Authenticated calls through PgBouncer against a direct connection: the
/// same calls on a second instance whose pool goes through the pooler
/// (`WHM_TOKENS_DATABASE_DIRECT_URL` for its listener), interleaved with
/// this one, best of two each. `version` is served from the token cache;
/// `api_token_list` reads the store on every call.
async fn pgbouncer_rows(backend: &str, url: &str, base: &str, small: &Owner, k: Knobs, secs: u64) {
    let dir =
        std::env::temp_dir().join(format!("whm-bench-pgb-{:08x}", rand::rng().random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut bouncer, pooled) = start_pgbouncer(url, &dir);
    let behind = Server::start_with(&pooled, &[("WHM_TOKENS_DATABASE_DIRECT_URL", url)]);
    let auth = vec![format!(
        "Authorization: whm {}:{}",
        small.name, small.secret
    )];
    for (label, path) in [
        (
            "`version` (cached check)",
            "/json-api/version?api.version=1",
        ),
        (
            "`api_token_list`, 10 tokens (reads the store)",
            "/json-api/api_token_list?api.version=1",
        ),
    ] {
        let (direct, through) = interleaved(
            k,
            format!("{base}{path}"),
            format!("{}{path}", behind.base),
            auth.clone(),
            secs,
        )
        .await;
        row(
            backend,
            &format!("API {label}, direct"),
            &direct,
            direct.rps,
            "itself",
        );
        row(
            backend,
            &format!("API {label}, through PgBouncer"),
            &through,
            direct.rps,
            "direct",
        );
    }
    drop(behind);
    let _ = bouncer.kill();
    let _ = bouncer.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

async fn scenario(backend: &str, url: &str, knobs: &Knobs) {
    let server = Server::start(url);
    let base = server.base.clone();
    let db = Db::connect(url, 2).unwrap();
    let seeding = Instant::now();
    let small = seed_owner(&db, &base, "small", 10).await;
    let big = seed_owner(&db, &base, "big", knobs.big).await;
    // What autovacuum would do within a minute of such a load: without
    // statistics PostgreSQL's planner ignores the trigram index.
    if backend == "PostgreSQL" {
        db.read(|c| {
            diesel::sql_query("ANALYZE")
                .execute(c)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap();
    }
    eprintln!(
        "{backend}: seeded 10 and {} tokens in {:.1}s",
        knobs.big,
        seeding.elapsed().as_secs_f64()
    );
    let secs = knobs.seconds;

    // Static asset and authenticated version.
    let css_path = whm_tokens::web::assets::url("app.css");
    let css = reqwest::get(format!("{base}{css_path}"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let (bare_url, bare) = start_bare_server(css);
    let k = knobs;
    // Rounds of bare, static, version in turn; each ratio is taken within
    // a round and the median round's is shown with the range: two cores
    // shared with wrk make single runs vary by ±10%, and a ratio within a
    // round keeps the machine's drift out of it.
    let rounds = {
        let (bare_url, static_url) = (bare_url.clone(), format!("{base}{css_path}"));
        let version_url = format!("{base}/json-api/version?api.version=1");
        let auth = vec![format!(
            "Authorization: whm {}:{}",
            small.name, small.secret
        )];
        let knobs = *k;
        actix_web::web::block(move || {
            (0..FIXED_COST_ROUNDS)
                .map(|_| {
                    (
                        wrk(&knobs, &bare_url, &[], secs),
                        wrk(&knobs, &static_url, &[], secs),
                        wrk(&knobs, &version_url, &auth, secs),
                    )
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap()
    };
    bare.stop(true).await;
    // What recording Last used costs the hot path: the same call on a
    // second instance of the same store that does not record it,
    // interleaved with this one, best of two each.
    let auth = vec![format!(
        "Authorization: whm {}:{}",
        small.name, small.secret
    )];
    let here = format!("{base}/json-api/version?api.version=1");
    let (with_usage, without_usage) = {
        let quiet = Server::start_with(url, &[("WHM_TOKENS_RECORD_USAGE", "false")]);
        let there = format!("{}/json-api/version?api.version=1", quiet.base);
        let measured = interleaved(*k, here.clone(), there, auth.clone(), secs).await;
        drop(quiet);
        measured
    };
    // What metrics cost it: the same on an instance that counts them (a
    // metrics listener set) against this one (none set).
    let (without_metrics, with_metrics) = {
        let counting = Server::start_with(url, &[("WHM_TOKENS_METRICS_LISTEN", "127.0.0.1:0")]);
        let there = format!("{}/json-api/version?api.version=1", counting.base);
        let measured = interleaved(*k, here.clone(), there, auth.clone(), secs).await;
        drop(counting);
        measured
    };
    let of_bare: Vec<_> = rounds.iter().map(|(b, s, _)| (b, s)).collect();
    let of_static: Vec<_> = rounds.iter().map(|(_, s, v)| (s, v)).collect();
    let (asset, version) = (median_ratio(&of_bare), median_ratio(&of_static));
    row(
        backend,
        "bare actix-web route, same bytes",
        of_bare[asset.round].0,
        of_bare[asset.round].0.rps,
        "bare",
    );
    row_median(backend, "static asset (app.css)", &asset, "bare");
    row_median(backend, "API `version`, authenticated", &version, "static");
    row(
        backend,
        "API `version`, Last used not recorded",
        &without_usage,
        without_usage.rps,
        "itself",
    );
    row(
        backend,
        "API `version`, Last used recorded",
        &with_usage,
        without_usage.rps,
        "not recorded",
    );
    row(
        backend,
        "API `version`, metrics off",
        &without_metrics,
        without_metrics.rps,
        "itself",
    );
    row(
        backend,
        "API `version`, metrics on",
        &with_metrics,
        without_metrics.rps,
        "metrics off",
    );
    // Forward auth against authenticated `version`, on an instance that
    // trusts the bench as its proxy, interleaved: the same token, and the
    // headers nginx's recipe sends (harmless to `version`).
    let (version_there, forward_there) = {
        let trusting = Server::start_with(url, &[("WHM_TOKENS_TRUSTED_PROXIES", "127.0.0.1")]);
        let version = format!("{}/json-api/version?api.version=1", trusting.base);
        let forward = format!("{}/auth/forward", trusting.base);
        let mut headers = auth.clone();
        headers.push("X-Original-Method: GET".to_owned());
        headers.push("X-Original-URI: /json-api/version?api.version=1".to_owned());
        headers.push("X-Forwarded-For: 127.0.0.1".to_owned());
        let measured = interleaved(*k, version, forward, headers, secs).await;
        drop(trusting);
        measured
    };
    row(
        backend,
        "API `version` (trusting a proxy)",
        &version_there,
        version_there.rps,
        "itself",
    );
    row(
        backend,
        "forward auth (`/auth/forward`, ready-made rules)",
        &forward_there,
        version_there.rps,
        "`version`",
    );
    // Root's token policy: `version` with an override in force for the
    // caller's owner (two rules that block nothing here, so the check runs
    // in full) against a caller with none; a, b, b, a, best of two.
    let (no_policy, with_policy) = {
        let root = actor(&db, "root").await;
        let big_name = Username::parse(big.name).unwrap();
        db.write(move |c| {
            whm_tokens::ops::policies::set(
                c,
                &root,
                Some(&big_name),
                &whm_tokens::ops::policies::Changes {
                    disable_unused_days: Some(Some(3650)),
                    delete_expired_days: Some(Some(3650)),
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
        let url = format!("{base}/json-api/version?api.version=1");
        let header = |o: &Owner| vec![format!("Authorization: whm {}:{}", o.name, o.secret)];
        let (plain, governed) = (header(&small), header(&big));
        let knobs = *k;
        actix_web::web::block(move || {
            let best = |x: Measured, y: Measured| if x.rps >= y.rps { x } else { y };
            let (a1, b1) = (
                wrk(&knobs, &url, &plain, secs),
                wrk(&knobs, &url, &governed, secs),
            );
            let (b2, a2) = (
                wrk(&knobs, &url, &governed, secs),
                wrk(&knobs, &url, &plain, secs),
            );
            (best(a1, a2), best(b1, b2))
        })
        .await
        .unwrap()
    };
    row(
        backend,
        "API `version`, no token policy",
        &no_policy,
        no_policy.rps,
        "itself",
    );
    row(
        backend,
        "API `version`, a token policy in force",
        &with_policy,
        no_policy.rps,
        "no policy",
    );
    leak_burst(backend, url, &db).await;
    if backend == "PostgreSQL" && std::env::var_os("WHM_TOKENS_BENCH_PGBOUNCER").is_some() {
        pgbouncer_rows(backend, url, &base, &small, *k, secs).await;
    }
    if std::env::var_os("WHM_TOKENS_BENCH_HOT_ONLY").is_some() {
        return;
    }

    // The sign-in storm, with `version` measured during it.
    let rss_before = server.rss_kib();
    server.reset_peak();
    let storm = start_storm(&base).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = {
        let url = format!("{base}/json-api/version?api.version=1");
        let auth = vec![format!(
            "Authorization: whm {}:{}",
            small.name, small.secret
        )];
        let knobs = *k;
        actix_web::web::block(move || wrk(&knobs, &url, &auth, secs + 2))
            .await
            .unwrap()
    };
    let threads = server.threads();
    let attempts = storm.stop().await;
    let peak = server.peak_kib();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_kib();
    row(
        backend,
        "API `version` during the sign-in storm",
        &during,
        version.measured.rps,
        "alone",
    );
    println!(
        "| {backend} | storm: {attempts} wrong sign-ins from 200 addresses | RSS {} MiB before, peak **{} MiB**, {} MiB 2 s after; {threads} threads | | | |",
        rss_before / 1024,
        peak / 1024,
        after / 1024
    );

    // api_token_list: throughput, time per call, memory.
    let list = |o: &Owner| {
        (
            format!("{base}/json-api/api_token_list?api.version=1"),
            format!("whm {}:{}", o.name, o.secret),
        )
    };
    let http = reqwest::Client::new();
    let (small_url, small_auth) = list(&small);
    let (big_url, big_auth) = list(&big);
    let (small_ms, small_size) = median_ms(&http, &small_url, &small_auth, 9).await;
    let (big_ms, big_size) = median_ms(&http, &big_url, &big_auth, 9).await;
    let base_rss = server.rss_kib();
    server.reset_peak();
    median_ms(&http, &big_url, &big_auth, 1).await;
    let one_call = server.peak_kib().saturating_sub(base_rss);
    server.reset_peak();
    let base_rss = server.rss_kib();
    let concurrent = futures_util::future::join_all((0..32).map(|_| {
        let http = http.clone();
        let (u, a) = (big_url.clone(), big_auth.clone());
        async move { median_ms(&http, &u, &a, 1).await }
    }))
    .await;
    let thirty_two = server.peak_kib().saturating_sub(base_rss);
    let slowest = concurrent.iter().map(|c| c.0).fold(0.0, f64::max);
    println!(
        "| {backend} | `api_token_list`, 10 tokens | {small_ms:.1} ms a call, {small_size} bytes | | | |"
    );
    println!(
        "| {backend} | `api_token_list`, {} tokens | {big_ms:.1} ms a call, {big_size} bytes; one call +{} MiB peak, 32 at once +{} MiB (slowest {slowest:.0} ms) | | | |",
        knobs.big,
        one_call / 1024,
        thirty_two / 1024
    );

    // The tokens page: each view for 10 and for many tokens.
    let last_page = knobs.big.div_ceil(25);
    let views: Vec<(String, String)> = vec![
        ("first page".into(), "/tokens".into()),
        ("sort Name ↑".into(), "/tokens?sort=name&dir=asc".into()),
        ("sort Name ↓".into(), "/tokens?sort=name&dir=desc".into()),
        (
            "sort Created ↑".into(),
            "/tokens?sort=created&dir=asc".into(),
        ),
        (
            "sort Created ↓".into(),
            "/tokens?sort=created&dir=desc".into(),
        ),
        (
            "sort Expires ↑".into(),
            "/tokens?sort=expires&dir=asc".into(),
        ),
        (
            "sort Expires ↓".into(),
            "/tokens?sort=expires&dir=desc".into(),
        ),
        // Nine matches of the small reseller's nine, ten of the big one's: a
        // page of the same size on both.
        ("filter by name".into(), "/tokens?q=bulk-0000".into()),
        ("last page".into(), format!("/tokens?page={last_page}")),
    ];
    let mut rows = Vec::new();
    for (label, path) in views {
        let url = format!("{base}{path}");
        let (small_cookie, big_cookie) = (small.cookie.clone(), big.cookie.clone());
        let knobs = *k;
        let (s, b) = actix_web::web::block(move || {
            let h = |c: &str| vec![format!("Cookie: {c}"), "HX-Request: true".to_owned()];
            (
                wrk(&knobs, &url, &h(&small_cookie), secs),
                wrk(&knobs, &url, &h(&big_cookie), secs),
            )
        })
        .await
        .unwrap();
        rows.push((label, s, b));
    }
    for (label, s, b) in &rows {
        row(
            backend,
            &format!("tokens page, {label}, 10 tokens"),
            s,
            s.rps,
            "10",
        );
        row(
            backend,
            &format!("tokens page, {label}, {} tokens", knobs.big),
            b,
            s.rps,
            "10",
        );
    }
    drop(server);
}

/// A burst of 10,000 leaked-token reports (five secrets each, none live)
/// from 100 addresses, 50 at a time, on an instance that trusts the bench
/// as its proxy: what it costs in memory and in audit rows.
async fn leak_burst(backend: &str, url: &str, db: &Db) {
    use futures_util::StreamExt;
    let server = Server::start_with(url, &[("WHM_TOKENS_TRUSTED_PROXIES", "127.0.0.1")]);
    let events = || async {
        db.read(|c| {
            use whm_tokens::db::schema::audit_events;
            audit_events::table
                .count()
                .get_result::<i64>(c)
                .map_err(anyhow::Error::from)
        })
        .await
        .unwrap()
    };
    let rows_before = events().await;
    let rss_before = server.rss_kib();
    server.reset_peak();
    let http = reqwest::Client::new();
    let started = Instant::now();
    let target = format!("{}/tokens/report-leaked", server.base);
    let statuses: Vec<u16> = futures_util::stream::iter(0..10_000u32)
        .map(|i| {
            let (http, target) = (http.clone(), target.clone());
            async move {
                let secrets: Vec<String> = (0..5)
                    .map(|j| format!("{:0>32}", format!("{i}X{j}")))
                    .collect();
                http.post(&target)
                    .header(
                        "X-Forwarded-For",
                        format!("10.9.{}.{}", i % 100 / 50, i % 100),
                    )
                    .json(&serde_json::json!({ "tokens": secrets }))
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16())
            }
        })
        .buffer_unordered(50)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let peak = server.peak_kib();
    // What the server counted in memory is written within seconds.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let rows_added = events().await - rows_before;
    let count = |code: u16| statuses.iter().filter(|s| **s == code).count();
    println!(
        "| {backend} | 10,000 leaked-token reports from 100 addresses in {elapsed:.1} s | {} taken (202), {} throttled (429), {} other; RSS {} MiB before, peak **{} MiB**; **{rows_added} audit rows** added | | | |",
        count(202),
        count(429),
        statuses.len() - count(202) - count(429),
        rss_before / 1024,
        peak / 1024,
    );
    drop(server);
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: apt-get install wrk");
        std::process::exit(1);
    }
    let knobs = Knobs {
        seconds: env_or("WHM_TOKENS_BENCH_SECONDS", "3").parse().unwrap_or(3),
        connections: env_or("WHM_TOKENS_BENCH_CONNECTIONS", "32")
            .parse()
            .unwrap_or(32),
        big: env_or("WHM_TOKENS_BENCH_BIG", "10000")
            .parse()
            .unwrap_or(10_000),
    };
    let pg = std::env::var("WHM_TOKENS_BENCH_PG_URL")
        .ok()
        .filter(|u| !u.is_empty());
    println!("| backend | what | requests/s | p50 | p99 | ratio |");
    println!("|---|---|---|---|---|---|");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let file = std::env::temp_dir().join(format!(
            "whm-bench-{:08x}.sqlite3",
            rand::rng().random::<u32>()
        ));
        let url = file.display().to_string();
        scenario("SQLite", &url, &knobs).await;
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{url}{ext}"));
        }
        if let Some(admin) = &pg {
            let name = format!("whm_bench_{:08x}", rand::rng().random::<u32>());
            let mut conn =
                diesel::PgConnection::establish(admin).expect("PostgreSQL for the bench");
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .unwrap();
            let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
            scenario("PostgreSQL", &url, &knobs).await;
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .unwrap();
        }
    });
}
