//! `raftflow task complete` against a cluster of real processes: a
//! callback HTTP Task sends its token to an endpoint in this test, and
//! the command line reports it.

use std::io::Write;
use std::time::Duration;

use crate::common::{read_head, stderr, stdout, Cluster};

/// Accepts one request, answers 202 and returns its task token header.
fn endpoint() -> (u16, std::thread::JoinHandle<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let text = read_head(&mut socket);
        socket
            .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("x-raftflow-task-token: "))
            .unwrap_or_default()
            .trim()
            .to_string()
    });
    (port, handle)
}

#[test]
fn a_callback_is_reported_from_the_command_line() {
    let cluster = Cluster::start();
    cluster.wait_leader(Duration::from_secs(30));
    let (port, token) = endpoint();
    let definition = format!(
        r#"{{"StartAt": "Ask", "States": {{"Ask": {{"Type": "Task",
        "Resource": "arn:aws:states:::http:invoke.waitForTaskToken",
        "Parameters": {{"ApiEndpoint": "http://127.0.0.1:{port}/ask", "Method": "POST"}},
        "TimeoutSeconds": 120, "End": true}}}}}}"#
    );
    let path = cluster.dir.path().join("ask.json");
    std::fs::write(&path, definition).unwrap();
    let path = path.to_str().unwrap();
    let out = cluster.cli(&["workflow", "create", "--name", "ask", "--definition", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let start = [
        "execution",
        "start",
        "--state-machine",
        "ask",
        "--name",
        "a-1",
    ];
    let out = cluster.cli(&start);
    assert!(out.status.success(), "{}", stderr(&out));
    let token = token.join().unwrap();
    assert!(!token.is_empty(), "the call carried the token");
    let bad = cluster.cli(&["task", "complete", &token, "--result", "{nope"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("--result is not JSON"),
        "{}",
        stderr(&bad)
    );
    let out = cluster.cli(&[
        "task",
        "complete",
        &token,
        "--result",
        r#"{"approved":true}"#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.cli(&["-o", "json", "execution", "watch", "ask:a-1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("ExecutionSucceeded") && text.contains("approved"),
        "{text}"
    );
}
