//! What the log says: the real binary, started with
//! `WHM_TOKENS_LOG_FORMAT=json`, writes one JSON object per line, and
//! every line of one request (the request line, the operation's event
//! written on the blocking pool) carries the id the answer returned.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

#[actix_web::test]
async fn json_log_lines_carry_one_request_id_from_the_request_line_to_the_operations_event() {
    let mut served = Served::start(&[("WHM_TOKENS_LOG_FORMAT", "json")]).await;
    let app = TestApp::at(&served.address);
    let root = app.sign_in("root", ROOT_PASSWORD).await;
    let response = root
        .post(
            "/tokens/new",
            &[("name", "logged"), ("expires", "never"), ("acl", "all")],
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let id = response
        .headers()
        .get("x-request-id")
        .expect("the answer names its request id")
        .to_str()
        .unwrap()
        .to_owned();
    // Lines are written by a thread of their own: read until both are in.
    let mut of_request: Vec<Value> = Vec::new();
    let seen = |entries: &[Value], message: &str| {
        entries.iter().any(|e| e["fields"]["message"] == message)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(seen(&of_request, "token created") && seen(&of_request, "request")) {
        let line = tokio::time::timeout_at(deadline, served.lines.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("no request line and operation event for {id}: {of_request:?}")
            })
            .expect("the server exited");
        if !line.starts_with('{') {
            continue; // the plain start-up banner
        }
        let entry: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        if entry["spans"][0]["request_id"] == id.as_str() {
            of_request.push(entry);
        }
    }
    served.child.start_kill().unwrap();
    let _ = served.child.wait().await;
    let created = of_request
        .iter()
        .find(|e| e["fields"]["message"] == "token created")
        .unwrap();
    assert_eq!(created["fields"]["token"], "logged");
    assert_eq!(created["spans"][1]["name"], "create_token");
    assert_eq!(created["spans"][1]["actor"], "root");
    let request = of_request
        .iter()
        .find(|e| e["fields"]["message"] == "request")
        .unwrap();
    assert_eq!(request["fields"]["path"], "/tokens/new");
    assert_eq!(request["fields"]["status"], 200);
}
