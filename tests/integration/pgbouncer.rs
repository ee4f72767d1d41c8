//! Behind a real PgBouncer (Debian's package) in transaction pooling mode,
//! with `WHM_TOKENS_DATABASE_DIRECT_URL` for the change listener and
//! migrations: calls work (no prepared statements through the pooler), a
//! revoke on one instance is refused at once on the other, and instances
//! starting together migrate once. Runs where the suite runs on
//! PostgreSQL; skipped where PgBouncer is missing, unless
//! WHM_TOKENS_REQUIRE_PGBOUNCER=1 (as in CI).

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::*;

const PGBOUNCER: &str = "/usr/sbin/pgbouncer";
const REQUIRE: &str = "WHM_TOKENS_REQUIRE_PGBOUNCER";

/// PgBouncer on `port` in front of the PostgreSQL server `server`
/// (`host:port`), pooling transactions, trusting the user `postgres`.
async fn start_pgbouncer(dir: &ScratchDir, server: &str, port: u16) -> tokio::process::Child {
    let (host, server_port) = server.split_once(':').unwrap();
    let d = dir.0.display();
    std::fs::write(dir.join("users.txt"), "\"postgres\" \"\"\n").unwrap();
    std::fs::write(
        dir.join("pgbouncer.ini"),
        format!(
            "[databases]\n* = host={host} port={server_port}\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {d}/users.txt\npool_mode = transaction\n\
             max_client_conn = 200\ndefault_pool_size = 8\n\
             logfile = {d}/pgbouncer.log\npidfile = {d}/pgbouncer.pid\n\
             ignore_startup_parameters = extra_float_digits,options\n"
        ),
    )
    .unwrap();
    // It will not run as root: it drops to `postgres`, which must reach
    // the folder.
    let mut command = tokio::process::Command::new(PGBOUNCER);
    if unsafe { libc::geteuid() } == 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o777)).unwrap();
        command.args(["-u", "postgres"]);
    }
    let child = command
        .arg(dir.join("pgbouncer.ini"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start pgbouncer");
    wait_until(
        "PgBouncer to listen",
        Duration::from_secs(20),
        || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        },
    )
    .await;
    child
}

#[actix_web::test]
async fn behind_pgbouncer_in_transaction_mode_calls_work_and_revokes_reach_every_instance() {
    let database = TestDatabase::create();
    let TestDatabase::Postgres { url: direct, .. } = &database else {
        eprintln!("SKIPPED: PgBouncer is for PostgreSQL (run with WHM_TOKENS_TEST_DATABASE_URL)");
        return;
    };
    if !real_part(PGBOUNCER, "pgbouncer", REQUIRE) {
        return;
    }
    let direct = direct.clone();
    let server = direct
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let dir = ScratchDir::new("pgbouncer");
    let port = free_port();
    let _bouncer = start_pgbouncer(&dir, &server, port).await;
    let pooled = direct.replacen(&server, &format!("127.0.0.1:{port}"), 1);
    let env = [("WHM_TOKENS_DATABASE_DIRECT_URL", direct.as_str())];

    // Two instances starting together migrate once.
    let (a, b) = tokio::join!(
        run_command_with(&pooled, &env, &["migrate"]),
        run_command_with(&pooled, &env, &["migrate"])
    );
    for output in [a, b] {
        assert!(output.status.success(), "{output:?}");
    }

    let behind = |c: &mut whm_tokens::config::Config| {
        c.database_url = pooled.clone();
        c.database_direct_url = Some(direct.clone());
    };
    let first = spawn_app_on(database, behind).await;
    let second = first.second_instance_with(behind).await;
    let secret = first.token("root", "pooled").await;
    let admin = first.token("root", "admin").await;
    // Many calls through the pooler, on both instances: no prepared
    // statement is looked for on the wrong server connection.
    for _ in 0..20 {
        ok_data(&first.api("root", &admin, "api_token_list", &[]).await);
        assert_eq!(
            version_at(&second.address, "root", &secret).await,
            StatusCode::OK
        );
    }
    let root = first.sign_in("root", ROOT_PASSWORD).await;
    assert_eq!(root.get("/tokens").await.status(), StatusCode::OK);

    // Revoked on the first instance, refused by the second at once.
    ok_data(
        &first
            .api(
                "root",
                &admin,
                "api_token_revoke",
                &[("token_name", "pooled")],
            )
            .await,
    );
    assert_refused_soon(&second.address, "root", &secret).await;
}
