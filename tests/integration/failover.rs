//! PostgreSQL primary failover, against real clusters the test makes
//! itself (`initdb`, `pg_basebackup -R`, `pg_ctl` on ports of its own): a
//! primary and a synchronous streaming standby. Two instances serve a
//! multi-host `DATABASE_URL` with `target_session_attrs=read-write`; under
//! load the primary dies and the standby is promoted. Writes then go to
//! the new primary without a restart, the outage is answered with 503 and
//! Retry-After (never a hang or an internal error), no acknowledged write
//! is lost, and the change listener follows. Runs where the suite runs on
//! PostgreSQL; skipped where PostgreSQL's server programs are missing,
//! unless WHM_TOKENS_REQUIRE_POSTGRES_SERVER=1 (as in CI).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

const REQUIRE: &str = "WHM_TOKENS_REQUIRE_POSTGRES_SERVER";

/// The folder of PostgreSQL's server programs (`initdb`, `pg_ctl`): the
/// newest under Debian's `/usr/lib/postgresql`.
fn server_programs() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_basebackup").exists())
        .collect();
    found.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

/// Runs one of PostgreSQL's programs, as the `postgres` user when the test
/// runs as root (PostgreSQL refuses to run as root).
fn run(bin: &Path, program: &str, args: &[&str]) {
    let path = bin.join(program);
    let output = if unsafe { libc::geteuid() } == 0 {
        std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&path)
            .args(args)
            .output()
    } else {
        std::process::Command::new(&path).args(args).output()
    }
    .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One PostgreSQL cluster in a folder of the scratch directory.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl Cluster {
    fn data(&self) -> &str {
        self.data.to_str().unwrap()
    }

    fn start(&self) {
        let log = self.data.with_extension("log");
        run(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                self.data(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stops it at once, as a crash or a lost machine does.
    fn kill(&self) {
        run(
            &self.bin,
            "pg_ctl",
            &["-D", self.data(), "-m", "immediate", "stop"],
        );
    }

    fn promote(&self) {
        run(
            &self.bin,
            "pg_ctl",
            &["-D", self.data(), "-w", "-t", "60", "promote"],
        );
    }

    fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    fn connect(&self, database: &str) -> diesel::PgConnection {
        diesel::PgConnection::establish(&self.url(database)).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let _ = std::panic::catch_unwind(|| self.kill());
        }
    }
}

/// A primary that waits for a synchronous standby, and that standby.
fn primary_and_standby(bin: &Path, dir: &ScratchDir) -> (Cluster, Cluster) {
    if unsafe { libc::geteuid() } == 0 {
        // The clusters are the `postgres` user's.
        let status = std::process::Command::new("chown")
            .args(["postgres:postgres", dir.0.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let primary = Cluster {
        bin: bin.to_owned(),
        data: dir.join("primary"),
        port: free_port(),
    };
    run(
        bin,
        "initdb",
        &[
            "-D",
            primary.data(),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
    );
    let socket_dir = dir.0.to_str().unwrap();
    let settings = format!(
        "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{socket_dir}'\n\
         wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nfsync = off\n\
         shared_buffers = 16MB\nsynchronous_standby_names = '*'\nsynchronous_commit = on\n",
        primary.port
    );
    append(&primary.data.join("postgresql.conf"), &settings);
    primary.start();

    let standby = Cluster {
        bin: bin.to_owned(),
        data: dir.join("standby"),
        port: free_port(),
    };
    run(
        bin,
        "pg_basebackup",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &primary.port.to_string(),
            "-U",
            "postgres",
            "-D",
            standby.data(),
            "-R",
            "-X",
            "stream",
            "--no-sync",
        ],
    );
    // The copied settings name the primary's port; the standby has its own.
    // Once promoted it has no standby of its own to wait for: with the
    // primary's `synchronous_standby_names` every commit would wait for
    // ever (whm-tokens would answer 503 after its deadline). A failover
    // manager (Patroni, pg_auto_failover) changes this setting as it
    // promotes; here the standby starts without it.
    append(
        &standby.data.join("postgresql.conf"),
        &format!(
            "\nport = {}\nsynchronous_standby_names = ''\n",
            standby.port
        ),
    );
    standby.start();
    (primary, standby)
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// What one call under load came to.
enum Outcome {
    /// Acknowledged: the token was made.
    Made(String),
    /// 503 with Retry-After: nothing is promised.
    Unavailable,
    /// Anything else: a hang, an internal error, a 503 without Retry-After.
    Wrong(String),
}

struct Call {
    started: Instant,
    ended: Instant,
    outcome: Outcome,
}

async fn create(client: &reqwest::Client, address: &str, secret: &str, name: &str) -> Outcome {
    let response = client
        .get(format!("{address}/json-api/api_token_create"))
        .query(&[("api.version", "1"), ("token_name", name)])
        .header("Authorization", format!("whm root:{secret}"))
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) => return Outcome::Wrong(format!("{name}: no answer: {e}")),
    };
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match status {
        StatusCode::OK if body["metadata"]["result"] == 1 => Outcome::Made(name.to_owned()),
        StatusCode::SERVICE_UNAVAILABLE if retry_after => Outcome::Unavailable,
        _ => Outcome::Wrong(format!("{name}: {status} {body}")),
    }
}

/// Creates tokens `{prefix}-0`, `{prefix}-1`, … on `address` until `stop`.
async fn keep_creating(
    address: String,
    secret: String,
    prefix: String,
    stop: Arc<AtomicBool>,
) -> Vec<Call> {
    // A call that takes longer than this hung: whm-tokens answers by its
    // deadline.
    let client = reqwest::Client::builder()
        .timeout(whm_tokens::db::WORK_DEADLINE + Duration::from_secs(10))
        .build()
        .unwrap();
    let mut calls = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Acquire) {
        let started = Instant::now();
        let outcome = create(&client, &address, &secret, &format!("{prefix}-{i}")).await;
        let unavailable = matches!(outcome, Outcome::Unavailable);
        calls.push(Call {
            started,
            ended: Instant::now(),
            outcome,
        });
        i += 1;
        if unavailable {
            // As a client told to retry later does, if not for as long.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    calls
}

#[actix_web::test]
async fn after_the_primary_dies_and_the_standby_is_promoted_writes_go_on_with_nothing_acknowledged_lost(
) {
    if !matches!(TestDatabase::create(), TestDatabase::Postgres { .. }) {
        eprintln!("SKIPPED: failover is PostgreSQL's (run with WHM_TOKENS_TEST_DATABASE_URL)");
        return;
    }
    let Some(bin) = server_programs() else {
        assert!(
            !std::env::var(REQUIRE).is_ok_and(|v| v == "1"),
            "{REQUIRE}=1 but PostgreSQL's server programs are missing"
        );
        eprintln!("SKIPPED: no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)");
        return;
    };
    let dir = ScratchDir::new("failover");
    let made_at = Instant::now();
    let (primary, standby) = primary_and_standby(&bin, &dir);
    let mut admin = primary.connect("postgres");
    wait_for_value(
        "the standby to stream synchronously",
        Duration::from_secs(30),
        || {
            let n = diesel::sql_query(
                "SELECT COUNT(*) AS n FROM pg_stat_replication WHERE sync_state = 'sync'",
            )
            .get_result::<Count>(&mut admin)
            .unwrap()
            .n;
            async move { (n == 1).then_some(()) }
        },
    )
    .await;
    drop(admin);
    eprintln!("failover: two clusters made in {:?}", made_at.elapsed());

    let database = TestDatabase::create_on(Some(primary.url("postgres")));
    let TestDatabase::Postgres { name, .. } = &database else {
        unreachable!()
    };
    let name = name.clone();
    let both = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{name}?sslmode=disable&target_session_attrs=read-write",
        primary.port, standby.port
    );
    let multi_host = |c: &mut whm_tokens::config::Config| c.database_url = both.clone();
    let first = spawn_app_on(database, multi_host).await;
    let second = first.second_instance_with(multi_host).await;
    let secret = first.token("root", "writer").await;
    let watched = first.token("root", "watched").await;
    assert_eq!(
        version_at(&second.address, "root", &watched).await,
        StatusCode::OK
    );

    // Load on both instances, then the primary dies and the standby is
    // promoted, as a failover manager does once it has fenced the primary.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for (i, address) in [
        &first.address,
        &second.address,
        &first.address,
        &second.address,
    ]
    .into_iter()
    .enumerate()
    {
        load.push(tokio::spawn(keep_creating(
            address.clone(),
            secret.clone(),
            format!("load{i}"),
            stop.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let died = Instant::now();
    primary.kill();
    // A failover manager takes a while to decide that the primary is gone;
    // longer than a request waits for a connection (1.5 s), so the outage
    // is answered.
    tokio::time::sleep(Duration::from_secs(3)).await;
    standby.promote();
    let promoted = Instant::now();
    // Load goes on until writes have come back, and a while after.
    let first_address = first.address.clone();
    let secret_now = secret.clone();
    wait_for_value(
        "a write on the new primary",
        Duration::from_secs(60),
        || {
            let (address, secret) = (first_address.clone(), secret_now.clone());
            async move {
                let name = format!("probe-{}", rand::random::<u32>());
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                matches!(
                    create(&client, &address, &secret, &name).await,
                    Outcome::Made(_)
                )
                .then_some(())
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Release);
    let mut calls = Vec::new();
    for task in load {
        calls.extend(task.await.unwrap());
    }

    // Never a hang or an internal error: every call was acknowledged or a
    // 503 with Retry-After.
    let wrong: Vec<&String> = calls
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Wrong(why) => Some(why),
            _ => None,
        })
        .collect();
    assert!(wrong.is_empty(), "calls answered wrongly: {wrong:?}");
    let slowest = calls
        .iter()
        .map(|c| c.ended - c.started)
        .max()
        .unwrap_or_default();
    let unavailable = calls
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Unavailable))
        .count();
    // While there was no primary, calls were told to come back later.
    assert!(unavailable > 0, "the load never saw the outage");
    // The outage: from the primary's death to the first write started
    // after it that was acknowledged.
    let back = calls
        .iter()
        .filter(|c| c.started >= died && matches!(c.outcome, Outcome::Made(_)))
        .map(|c| c.ended)
        .min()
        .expect("writes came back under load");
    let acknowledged: Vec<&String> = calls
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Made(name) => Some(name),
            _ => None,
        })
        .collect();
    eprintln!(
        "failover: {} calls, {} acknowledged, {unavailable} answered 503; \
         promotion ended {:?} after the primary died; the first write was acknowledged {:?} after it died \
         ({:?} after the promotion ended); slowest call {slowest:?}",
        calls.len(),
        acknowledged.len(),
        promoted - died,
        back - died,
        back.saturating_duration_since(promoted),
    );

    // Every acknowledged write is on the new primary.
    let on_new_primary: std::collections::HashSet<String> =
        diesel::sql_query("SELECT name FROM tokens")
            .load::<Name>(&mut standby.connect(&name))
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect();
    let lost: Vec<&&String> = acknowledged
        .iter()
        .filter(|n| !on_new_primary.contains(n.as_str()))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");

    // Both instances serve from the new primary, and the listener followed
    // it: a revoke on one is refused at once by the other.
    assert_eq!(
        version_at(&second.address, "root", &watched).await,
        StatusCode::OK
    );
    ok_data(
        &first
            .api(
                "root",
                &secret,
                "api_token_revoke",
                &[("token_name", "watched")],
            )
            .await,
    );
    assert_refused_soon(&second.address, "root", &watched).await;
}
