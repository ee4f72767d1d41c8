//! What the benches share: the release binary run as a server process,
//! `wrk` runs and their rows, signing in.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use whm_tokens::db::Db;
use whm_tokens::domain::{Expiry, IpAllowList, TokenName, Username};
use whm_tokens::ops::accounts;
use whm_tokens::ops::tokens::{self as token_ops, NewToken};
use whm_tokens::ops::Actor;

pub const ROOT_PASSWORD: &str = "bench-root-password";
pub const USER_PASSWORD: &str = "bench-user-password";

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[derive(Clone, Copy)]
pub struct Knobs {
    pub seconds: u64,
    pub connections: u32,
    pub big: usize,
}

// ---------------------------------------------------------------- wrk

pub struct Measured {
    pub rps: f64,
    pub p50: String,
    pub p99: String,
}

pub fn wrk(knobs: &Knobs, url: &str, headers: &[String], seconds: u64) -> Measured {
    let (measured, refused) = wrk_counting(knobs, url, headers, seconds);
    assert_eq!(
        refused, 0,
        "wrk saw {refused} answers other than 2xx for {url}"
    );
    measured
}

/// A `wrk` run that counts answers other than 2xx and 3xx (a 503 when
/// every connection stayed busy) instead of failing: `rps` is then the
/// rate of good answers.
pub fn wrk_counting(knobs: &Knobs, url: &str, headers: &[String], seconds: u64) -> (Measured, u64) {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        "-c",
        &knobs.connections.to_string(),
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
    let field = |prefix: &str, nth: usize| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(nth))
            .unwrap_or("?")
            .to_owned()
    };
    let refused: u64 = field("Non-2xx or 3xx responses:", 4).parse().unwrap_or(0);
    // "N requests in 2.00s, …"
    let total: u64 = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let rps: f64 = field("Requests/sec:", 1).parse().unwrap_or(0.0);
    let good = if total > 0 {
        rps * (total.saturating_sub(refused)) as f64 / total as f64
    } else {
        rps
    };
    (
        Measured {
            rps: good,
            p50: field("50%", 1),
            p99: field("99%", 1),
        },
        refused,
    )
}

// ---------------------------------------------------------------- the server process

pub struct Server {
    pub child: Child,
    pub base: String,
    log: PathBuf,
    data_dir: PathBuf,
}

impl Server {
    pub fn start(database_url: &str) -> Self {
        Self::start_with(database_url, &[])
    }

    pub fn start_with(database_url: &str, env: &[(&str, &str)]) -> Self {
        let tag = format!("{:08x}", rand::rng().random::<u32>());
        let data_dir = std::env::temp_dir().join(format!("whm-bench-{tag}"));
        std::fs::create_dir_all(&data_dir).unwrap();
        let log = data_dir.join("server.log");
        let child = Command::new(env!("CARGO_BIN_EXE_whm-tokens"))
            .env("DATABASE_URL", database_url)
            .env("WHM_TOKENS_DATA_DIR", &data_dir)
            .env("WHM_TOKENS_LISTEN", "127.0.0.1:0")
            .env("WHM_TOKENS_ROOT_PASSWORD", ROOT_PASSWORD)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start the whm-tokens binary");
        let started = Instant::now();
        let base = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains("is listening on ")) {
                break line.rsplit(' ').next().unwrap().trim().to_owned();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Self {
            child,
            base,
            log,
            data_dir,
        }
    }

    pub fn status_field(&self, name: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    pub fn rss_kib(&self) -> u64 {
        self.status_field("VmRSS:")
    }

    pub fn peak_kib(&self) -> u64 {
        self.status_field("VmHWM:")
    }

    pub fn threads(&self) -> u64 {
        self.status_field("Threads:")
    }

    /// Starts counting the peak RSS afresh (Linux: clear_refs 5).
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

// ---------------------------------------------------------------- signing in

pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub async fn sign_in(base: &str, user: &str, password: &str) -> String {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let http = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answer = http
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", csrf_in(&page).as_str()),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "sign-in of {user} failed");
    use reqwest::cookie::CookieStore;
    jar.cookies(&base.parse().unwrap())
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------- measuring

pub fn row(backend: &str, what: &str, m: &Measured, baseline: f64, of: &str) {
    println!(
        "| {backend} | {what} | {:.0} | {} | {} | {:.2}× {of} |",
        m.rps,
        m.p50,
        m.p99,
        m.rps / baseline
    );
}

/// The median of some rounds' ratios (each round's second measurement
/// against its first), the lowest and highest, and the median's round.
pub struct Ratio<'a> {
    pub median: f64,
    pub low: f64,
    pub high: f64,
    pub round: usize,
    pub measured: &'a Measured,
}

pub fn median_ratio<'a>(rounds: &[(&Measured, &'a Measured)]) -> Ratio<'a> {
    let mut ratios: Vec<(f64, usize)> = rounds
        .iter()
        .enumerate()
        .map(|(i, (base, m))| (m.rps / base.rps, i))
        .collect();
    ratios.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (median, round) = ratios[ratios.len() / 2];
    Ratio {
        median,
        low: ratios[0].0,
        high: ratios[ratios.len() - 1].0,
        round,
        measured: rounds[round].1,
    }
}

/// A row whose ratio is the median of rounds, with their range.
pub fn row_median(backend: &str, what: &str, r: &Ratio, of: &str) {
    println!(
        "| {backend} | {what} | {:.0} | {} | {} | {:.2}× {of} (median; {:.2}–{:.2}×) |",
        r.measured.rps, r.measured.p50, r.measured.p99, r.median, r.low, r.high
    );
}

pub async fn median_ms(http: &reqwest::Client, url: &str, auth: &str, n: usize) -> (f64, usize) {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..n {
        let started = Instant::now();
        let body = http
            .get(url)
            .header("Authorization", auth)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        size = body.len();
    }
    times.sort_by(f64::total_cmp);
    (times[n / 2], size)
}

/// `a` and `b` measured in turn, twice each (a, b, b, a), best of two for
/// each: interleaving keeps the machine's drift out of their ratio.
pub async fn interleaved(
    knobs: Knobs,
    a: String,
    b: String,
    auth: Vec<String>,
    secs: u64,
) -> (Measured, Measured) {
    actix_web::web::block(move || {
        let best = |x: Measured, y: Measured| if x.rps >= y.rps { x } else { y };
        let (a1, b1) = (wrk(&knobs, &a, &auth, secs), wrk(&knobs, &b, &auth, secs));
        let (b2, a2) = (wrk(&knobs, &b, &auth, secs), wrk(&knobs, &a, &auth, secs));
        (best(a1, a2), best(b1, b2))
    })
    .await
    .unwrap()
}

// ---------------------------------------------------------------- the store

/// The account `name`, acting as itself.
pub async fn actor(db: &Db, name: &'static str) -> Actor {
    let name = Username::parse(name).unwrap();
    let (account, _) = db
        .read(move |c| accounts::find_for_sign_in(c, &name))
        .await
        .unwrap()
        .unwrap();
    Actor::signed_in(account)
}

/// A token named `name` with every privilege its owner holds, made through
/// the server's own code: returns its secret.
pub async fn full_token(db: &Db, owner: Actor, name: &'static str, now: i64) -> String {
    let created = db
        .write(move |c| {
            token_ops::create(
                c,
                &owner,
                NewToken {
                    description: Default::default(),
                    name: TokenName::parse(name).unwrap(),
                    expiry: Expiry::Never,
                    ips: IpAllowList::any(),
                    privileges: None,
                },
                now,
            )
        })
        .await
        .unwrap();
    created.secret.expose().to_owned()
}
