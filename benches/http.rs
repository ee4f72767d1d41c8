//! HTTP benchmark: throughput and latency of an authenticated WHM API call
//! (`version`) and of the tokens page (one user's filtered list), next to
//! an unauthenticated static file of the same server, in the same run, on
//! SQLite and (when WHM_TOKENS_BENCH_PG_URL is set) PostgreSQL, with 10 and
//! with 100,000 tokens in the store. Load comes from `wrk` (Debian package).
//!
//!     cargo bench --bench http
//!     WHM_TOKENS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench http
//!
//! Knobs: WHM_TOKENS_BENCH_SECONDS (default 5), WHM_TOKENS_BENCH_TOKENS
//! (default "10,100000"), WHM_TOKENS_BENCH_CONNECTIONS (default 16).

// The integration tests' harness: the same app, started the same way.
#[allow(dead_code)]
#[path = "../tests/integration/helpers.rs"]
mod helpers;

use std::process::Command;
use std::time::Instant;

use helpers::{spawn_app_on, TestDatabase, ROOT_PASSWORD};

struct Measured {
    rps: f64,
    p50: String,
    p99: String,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn wrk(url: &str, headers: &[String], seconds: &str, connections: &str) -> Measured {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        "-c",
        connections,
        "-d",
        &format!("{seconds}s"),
        "--latency",
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !text.contains("Non-2xx"),
        "wrk saw errors for {url}:\n{text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_owned()
    };
    Measured {
        rps: field("Requests/sec:").parse().unwrap_or(0.0),
        p50: field("50%"),
        p99: field("99%"),
    }
}

/// One store size on one backend: `total - 10` tokens belong to another
/// account and 10 to root, so root's page stays one page whatever the total.
async fn scenario(
    backend: &str,
    pg_admin: Option<String>,
    total: usize,
    seconds: &str,
    connections: &str,
) {
    let app = spawn_app_on(TestDatabase::create_on(pg_admin), |c| {
        c.workers = Some(2);
        c.db_pool_size = 8;
    })
    .await;
    let seeding = Instant::now();
    app.create_reseller("filler", None).await;
    app.bulk_tokens("filler", total.saturating_sub(10)).await;
    let mut secret = String::new();
    for i in 0..total.min(10) {
        secret = app.token("root", &format!("root-{i}")).await;
    }
    eprintln!(
        "{backend}: seeded {total} tokens in {:.1}s",
        seeding.elapsed().as_secs_f64()
    );
    let cookie = app.sign_in("root", ROOT_PASSWORD).await.cookie_header();

    let base = app.address.clone();
    let runs = [
        (
            "static file (baseline)",
            format!("{base}{}", whm_tokens::web::assets::url("app.css")),
            vec![],
        ),
        (
            "API version, authenticated",
            format!("{base}/json-api/version?api.version=1"),
            vec![format!("Authorization: whm root:{secret}")],
        ),
        (
            "tokens page, filtered (htmx)",
            format!("{base}/tokens?q=root"),
            vec![format!("Cookie: {cookie}"), "HX-Request: true".to_owned()],
        ),
    ];
    let (seconds, connections) = (seconds.to_owned(), connections.to_owned());
    let results = actix_web::web::block(move || {
        runs.into_iter()
            .map(|(label, url, headers)| (label, wrk(&url, &headers, &seconds, &connections)))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let baseline = results[0].1.rps;
    for (label, m) in &results {
        println!(
            "| {backend} | {total} | {label} | {:.0} | {} | {} | {:.2} |",
            m.rps,
            m.p50,
            m.p99,
            m.rps / baseline
        );
    }
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: apt-get install wrk");
        std::process::exit(1);
    }
    let seconds = env_or("WHM_TOKENS_BENCH_SECONDS", "5");
    let connections = env_or("WHM_TOKENS_BENCH_CONNECTIONS", "16");
    let totals: Vec<usize> = env_or("WHM_TOKENS_BENCH_TOKENS", "10,100000")
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let pg = std::env::var("WHM_TOKENS_BENCH_PG_URL")
        .ok()
        .filter(|u| !u.is_empty());
    println!("| backend | tokens in store | route | requests/s | p50 | p99 | ratio to static |");
    println!("|---|---|---|---|---|---|---|");
    actix_web::rt::System::new().block_on(async {
        for &total in &totals {
            scenario("SQLite", None, total, &seconds, &connections).await;
        }
        if let Some(pg) = &pg {
            for &total in &totals {
                scenario(
                    "PostgreSQL",
                    Some(pg.clone()),
                    total,
                    &seconds,
                    &connections,
                )
                .await;
            }
        }
    });
}
