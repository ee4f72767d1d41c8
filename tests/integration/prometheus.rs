//! A real Prometheus (Debian's `prometheus` package) scrapes the metrics
//! listener with the recipe in `deploy/prometheus.yml`, and a counter is
//! read back through its query API; `promtool check metrics` finds no
//! problem in what is served. Skipped where Prometheus is missing, unless
//! WHM_TOKENS_REQUIRE_PROMETHEUS=1 (as in CI).

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";
const REQUIRE: &str = "WHM_TOKENS_REQUIRE_PROMETHEUS";

/// The recipe, scraping `target` every second.
fn recipe(target: &str) -> String {
    let recipe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus.yml"
    ))
    .unwrap();
    assert!(recipe.contains("\"127.0.0.1:9464\"") && recipe.contains("scrape_interval: 15s"));
    recipe
        .replace("\"127.0.0.1:9464\"", &format!("\"{target}\""))
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
}

#[actix_web::test]
async fn a_real_prometheus_scrapes_the_metrics_listener_and_promtool_finds_no_problem() {
    if !real_part(PROMETHEUS, "prometheus", REQUIRE) || !real_part(PROMTOOL, "prometheus", REQUIRE)
    {
        return;
    }
    let app = spawn_app_with(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let metrics = app.metrics_address.clone().expect("a metrics listener");
    let secret = app.token("root", "scraped").await;
    for _ in 0..3 {
        ok_data(&app.api("root", &secret, "version", &[]).await);
    }

    // promtool lints what the listener serves.
    let scrape = scrape(&metrics).await;
    let mut lint = tokio::process::Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = lint.stdin.take().unwrap();
        stdin.write_all(scrape.as_bytes()).await.unwrap();
    }
    let linted = lint.wait_with_output().await.unwrap();
    assert!(
        linted.status.success() && linted.stdout.is_empty() && linted.stderr.is_empty(),
        "promtool: {linted:?}"
    );

    // Prometheus, scraping every second.
    let dir = ScratchDir::new("prometheus");
    let config = dir.join("prometheus.yml");
    let target = metrics.trim_start_matches("http://").to_owned();
    std::fs::write(&config, recipe(&target)).unwrap();
    let port = free_port();
    let _prometheus = tokio::process::Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start prometheus");

    // The counter, read back through Prometheus once it has scraped.
    let query = format!(
        "http://127.0.0.1:{port}/api/v1/query?query={}",
        "whm_tokens_api_calls_total%7Bfunction%3D%22version%22%2Cresult%3D%22ok%22%7D"
    );
    let client = reqwest::Client::new();
    let value = wait_for_value(
        "Prometheus to have scraped",
        Duration::from_secs(30),
        || {
            let (client, query) = (client.clone(), query.clone());
            async move {
                let answer: Value = client.get(&query).send().await.ok()?.json().await.ok()?;
                let result = &answer["data"]["result"][0];
                assert!(
                    answer["status"] == "success",
                    "Prometheus answered {answer}"
                );
                (result["metric"]["job"] == "whm-tokens")
                    .then(|| result["value"][1].as_str().map(str::to_owned))
                    .flatten()
            }
        },
    )
    .await;
    assert_eq!(value, "3");
}
