//! The systemd unit in `deploy/`: `systemd-analyze` verifies it and rates
//! its sandbox, and the server tells systemd when it is ready (Type=notify).

use std::path::Path;
use std::time::Duration;

use crate::helpers::*;

/// `systemd-analyze`, or a skip message: systemd ships on the machines
/// this is built on, but not every developer's.
fn systemd_analyze() -> Option<&'static str> {
    let path = "/usr/bin/systemd-analyze";
    if Path::new(path).exists() {
        Some(path)
    } else {
        eprintln!("SKIPPED: {path} is missing (apt-get install systemd)");
        None
    }
}

/// The unit as shipped, with ExecStart pointing at the binary under test
/// (verify wants a program that exists).
fn unit_under_test() -> std::path::PathBuf {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/whm-tokens.service"
    ))
    .unwrap();
    assert!(shipped.contains("ExecStart=/usr/bin/whm-tokens serve"));
    let dir = std::env::temp_dir().join(format!("whm-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("whm-tokens.service");
    std::fs::write(
        &path,
        shipped.replace("/usr/bin/whm-tokens", env!("CARGO_BIN_EXE_whm-tokens")),
    )
    .unwrap();
    path
}

#[test]
fn the_unit_verifies_and_its_sandbox_rates_ok_or_better() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let unit = unit_under_test();
    let verify = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{verify:?}");
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        !stderr.contains("whm-tokens.service"),
        "verify found problems: {stderr}"
    );
    let security = std::process::Command::new(analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let overall = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for whm-tokens.service: ")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("no overall rating in: {text}"));
    let score: f64 = overall.split_whitespace().next().unwrap().parse().unwrap();
    // systemd rates below 2.0 as "OK" or better ("SAFE" below 1.0).
    assert!(score < 2.0, "exposure {overall}");
    let _ = std::fs::remove_dir_all(unit.parent().unwrap());
}

#[test]
fn the_units_stop_timeout_covers_a_whole_graceful_stop() {
    use clap::Parser;
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/whm-tokens.service"
    ))
    .unwrap();
    let stop: u64 = shipped
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.strip_suffix('s'))
        .expect("TimeoutStopSec=…s")
        .parse()
        .unwrap();
    let (_, server, _) = whm_tokens::config::Cli::try_parse_from(["whm-tokens", "serve"])
        .unwrap()
        .into_parts()
        .unwrap();
    // Requests, then the notice under way, then the last write: one after
    // another, each bounded; systemd must not kill the process midway.
    let longest = server.shutdown_timeout
        + whm_tokens::startup::NOTICE_AT_STOP.as_secs()
        + whm_tokens::db::WORK_DEADLINE.as_secs();
    assert!(
        stop >= longest,
        "TimeoutStopSec={stop}s, a graceful stop may take {longest} s"
    );
}

#[actix_web::test]
async fn serve_tells_systemd_it_is_ready_once_it_listens() {
    let dir = std::env::temp_dir().join(format!("whm-notify-{}", rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket_path = dir.join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();
    let served = Served::start(&[("NOTIFY_SOCKET", socket_path.to_str().unwrap())]).await;
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(30), socket.recv(&mut buf))
        .await
        .expect("a notification within 30 s")
        .unwrap();
    let message = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(message.contains("READY=1"), "{message}");
    // Ready means listening, with the store migrated.
    let ready = reqwest::get(format!("{}/readyz", served.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    drop(served);
    let _ = std::fs::remove_dir_all(&dir);
}

fn rand_suffix() -> String {
    use rand::Rng;
    format!("{:016x}", rand::rng().random::<u64>())
}
