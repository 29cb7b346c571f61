//! `raftflow run-local` with HTTP Tasks: answered from --task-results
//! under the state's name unless the destination is allowed; called for
//! real when it is (an endpoint in this test).

use std::io::Write;
use std::process::Command;

use crate::common::{read_head, stderr, stdout, BIN};

const CALL: &str = r#"{"StartAt": "Lookup", "States": {"Lookup": {"Type": "Task",
  "Resource": "arn:aws:states:::http:invoke",
  "Parameters": {"ApiEndpoint.$": "$.url", "Method": "GET", "QueryParameters": {"id": 7}},
  "ResultSelector": {"status.$": "$.StatusCode", "body.$": "$.ResponseBody"}, "End": true}}}"#;

/// Answers one request with JSON naming the request line's target.
fn endpoint() -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let text = read_head(&mut socket);
        let target = text.split_whitespace().nth(1).unwrap_or("").to_string();
        let body = format!(r#"{{"target":"{target}"}}"#);
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(reply.as_bytes()).unwrap();
    });
    (port, handle)
}

fn run_local(dir: &std::path::Path, input: &str, extra: &[&str]) -> std::process::Output {
    let def = dir.join("call.json");
    std::fs::write(&def, CALL).unwrap();
    Command::new(BIN)
        .args(["-o", "json", "run-local", "--definition"])
        .arg(&def)
        .args(["--input", input])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn run_local_answers_or_calls_http_tasks() {
    let dir = tempfile::TempDir::new().unwrap();
    let (port, server) = endpoint();
    let input = format!(r#"{{"url": "http://127.0.0.1:{port}/items"}}"#);
    let results = dir.path().join("results.json");
    let answer = r#"{"Lookup": {"output": {"StatusCode": 200, "ResponseBody": {"from": "file"}}}}"#;
    std::fs::write(&results, answer).unwrap();

    let out = run_local(
        dir.path(),
        &input,
        &["--task-results", results.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        result["output"]["body"]["from"], "file",
        "not allowed: answered from the file"
    );

    let none = run_local(dir.path(), &input, &[]);
    assert!(!none.status.success());
    assert!(stderr(&none).contains("`Lookup`"), "{}", stderr(&none));

    let allow = [
        "--allow-http",
        "127.0.0.1",
        "--allow-cidr",
        "127.0.0.0/8",
        "--allow-plain-http",
    ];
    let out = run_local(dir.path(), &input, &allow);
    assert!(out.status.success(), "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(result["output"]["status"], 200);
    assert_eq!(result["output"]["body"]["target"], "/items?id=7");
    server.join().unwrap();

    let refused = run_local(
        dir.path(),
        &input,
        &["--allow-http", "127.0.0.1", "--allow-plain-http"],
    );
    let result: serde_json::Value = serde_json::from_str(&stdout(&refused)).unwrap();
    assert_eq!(
        result["error"], "States.Http.Socket",
        "loopback without --allow-cidr"
    );
    assert!(
        result["cause"].as_str().unwrap().contains("loopback"),
        "{result}"
    );
}
