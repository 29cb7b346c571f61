//! The `raftflow` binary end to end: real processes, SIGKILL, the CLI's
//! commands and a short demo. One test binary keeps link time down.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{stderr, stdout, write_configs, Cluster, BIN};

/// Starts `raftflow server` on a config of `text`, which it must refuse
/// (exit 2) before creating anything; returns its stderr.
fn refused_config(text: &str) -> String {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(BIN)
        .args(["server", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("d").exists(), "nothing was created");
    stderr(&out)
}

#[test]
fn a_bad_config_names_the_file_and_the_field() {
    let err = refused_config(
        "id = 1\nraft_addr = \"127.0.0.1:1\"\napi_addr = \"nowhere\"\ndata_dir = \"d\"\n",
    );
    assert!(
        err.contains("node.toml") && err.contains("api_addr"),
        "{err}"
    );
}

/// Even this test build's `raftflow`, whose libraries carry the
/// fault-injection code, refuses to switch a deliberate defect on.
#[test]
fn the_raftflow_binary_refuses_deliberate_defects() {
    let err = refused_config(
        "id = 1\nraft_addr = \"127.0.0.1:1\"\napi_addr = \"127.0.0.1:2\"\ndata_dir = \"d\"\n\n[fault_injection]\naccept_any_attempt = true\n",
    );
    assert!(
        err.contains("fault_injection") && err.contains("for tests only"),
        "{err}"
    );
}

/// With nothing listening, a command says so at once (it used to wait for
/// a leader for 15 s and then report a connect error).
#[test]
fn with_no_cluster_running_a_command_names_the_endpoints() {
    let endpoints = format!(
        "127.0.0.1:{},127.0.0.1:{}",
        common::free_port(),
        common::free_port()
    );
    let out = Command::new(BIN)
        .args(["--endpoints", &endpoints, "execution", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no raftflow node is listening at") && err.contains("raftflow dev"),
        "{err}"
    );
}

#[test]
fn run_local_and_validate_need_no_cluster() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let def = root.join("examples/order/order.asl.json");
    let answers = root.join("examples/order/task-results.json");
    let out = Command::new(BIN)
        .args(["-o", "json", "run-local", "--definition"])
        .arg(&def)
        .args([
            "--input",
            r#"{"orderId": "o-1", "items": ["book"]}"#,
            "--task-results",
        ])
        .arg(&answers)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(result["status"], "SUCCEEDED");
    assert_eq!(result["output"]["settlement"]["settled"], true);

    let dir = tempfile::TempDir::new().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}"#,
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "--endpoints",
            "127.0.0.1:1",
            "workflow",
            "validate",
            "--definition",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("/States/A/Next [MISSING_TRANSITION_TARGET]"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn sigkill_the_leader_process_and_lose_nothing() {
    let mut cluster = Cluster::start();
    let leader = cluster.wait_leader(Duration::from_secs(30));
    let def = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/order/order.asl.json");
    let out = cluster.cli(&[
        "workflow",
        "create",
        "--name",
        "order",
        "--definition",
        def.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for i in 0..20 {
        let out = cluster.cli(&["cluster", "probe", "--probe-key", &format!("before-{i}")]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    cluster.sigkill(leader);
    let new_leader = cluster.wait_leader(Duration::from_secs(30));
    assert_ne!(new_leader, leader);
    // The killed leader's acknowledged writes are all on the new leader.
    let out = cluster.cli(&["workflow", "describe", "order"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.cli(&["cluster", "probe", "--probe-key", "after"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The killed node restarts from its own data, catches up, never re-initialises.
    cluster.spawn(leader);
    cluster.wait_converged(Duration::from_secs(30));
    let logs: String = std::fs::read_dir(cluster.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("node{leader}."))
        })
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    // Each fresh node bootstraps, or finds a peer's bootstrap already there.
    let bootstraps = logs.matches("bootstrapped the initial membership").count()
        + logs.matches("already bootstrapped by a peer").count();
    assert_eq!(
        bootstraps, 1,
        "node {leader} bootstrapped once, at first start only"
    );

    // A new cluster started on the newest apply version by itself.
    let out = cluster.cli(&["cluster", "upgrade-version"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let newest = format!(
        "apply version {} is already active",
        raftflow_store::version::APPLY_VERSION_MAX
    );
    assert!(text.contains(&newest), "{text}");
    cluster.wait_converged(Duration::from_secs(30));
    let out = cluster.cli(&["-o", "json", "cluster", "status"]);
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for node in nodes.as_array().unwrap() {
        assert_eq!(
            node["apply_version"],
            raftflow_store::version::APPLY_VERSION_MAX,
            "{node}"
        );
    }
}

#[test]
fn a_short_demo_passes_its_checks() {
    let dir = tempfile::TempDir::new().unwrap();
    write_configs(dir.path());
    let out = Command::new(BIN)
        .args(["demo", "--orders", "24", "--seed", "5", "--config-dir"])
        .arg(dir.path().join("cluster-config"))
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("[ok] every submitted order reached a final status"),
        "{text}"
    );
    assert!(text.contains("killing the leader"), "{text}");
}

#[test]
fn workflows_executions_and_a_shell_worker_from_the_command_line() {
    let cluster = Cluster::start();
    cluster.wait_leader(Duration::from_secs(30));
    let def = cluster.dir.path().join("echo.json");
    std::fs::write(
        &def,
        r#"{"StartAt": "Echo", "States": {"Echo": {"Type": "Task", "Resource": "activity:echo",
            "Catch": [{"ErrorEquals": ["Echo.Refused"], "ResultPath": "$.error", "Next": "Refused"}], "End": true},
            "Refused": {"Type": "Fail", "Error": "Refused", "CausePath": "$.error.Cause"}}}"#,
    )
    .unwrap();
    let out = cluster.cli(&[
        "workflow",
        "create",
        "--name",
        "echo",
        "--definition",
        def.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.cli(&["workflow", "graph", "--name", "echo", "--format", "mermaid"]);
    assert!(stdout(&out).starts_with("flowchart TD"), "{}", stdout(&out));

    // A shell worker: echoes orders back, refuses the ones marked "refuse".
    let script = cluster.dir.path().join("echo.sh");
    std::fs::write(&script, "#!/bin/sh\ninput=$(cat)\ncase \"$input\" in *refuse*) echo 'Echo.Refused: not today' >&2; exit 1;; *trace*) echo \"{\\\"traceparent\\\": \\\"$TRACEPARENT\\\"}\"; exit 0;; esac\necho \"$input\"\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut worker = cluster
        .command()
        .arg("--endpoints")
        .arg(cluster.endpoints.join(","))
        .args([
            "worker",
            "run",
            "--activity",
            "echo",
            "--concurrency",
            "2",
            "--",
        ])
        .arg(&script)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let out = cluster.cli(&[
        "-o",
        "json",
        "execution",
        "start",
        "--state-machine",
        "echo",
        "--name",
        "ok-1",
        "--input",
        r#"{"n": 1}"#,
        "--wait",
    ]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let info: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (info["status"].as_str(), &info["output"]),
        (Some("SUCCEEDED"), &serde_json::json!({"n": 1}))
    );

    let out = cluster.cli(&[
        "-o",
        "json",
        "execution",
        "start",
        "--state-machine",
        "echo",
        "--name",
        "no-1",
        "--input",
        r#"{"refuse": true}"#,
        "--wait",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a failed execution exits 3: {}",
        stdout(&out)
    );
    let info: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (info["error"].as_str(), info["cause"].as_str()),
        (Some("Refused"), Some("not today"))
    );

    let out = cluster.cli(&["execution", "watch", "echo:ok-1"]);
    assert!(
        out.status.success() && stdout(&out).contains("ActivitySucceeded"),
        "{}",
        stdout(&out)
    );
    let out = cluster.cli(&[
        "-o",
        "jsonl",
        "execution",
        "list",
        "--state-machine",
        "echo",
    ]);
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
    let out = cluster.cli(&["execution", "history", "echo:no-1"]);
    assert!(stdout(&out).contains("ActivityFailed"), "{}", stdout(&out));
    a_started_trace_reaches_the_shell_worker(&cluster);

    // SIGTERM drains the worker and it exits cleanly.
    nix_term(worker.id());
    let status = worker.wait().unwrap();
    assert!(status.success(), "the worker exits 0 after SIGTERM");
}

fn nix_term(pid: u32) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

const TWO_STEPS: &str = r#"{"StartAt": "A", "States": {
  "A": {"Type": "Task", "Resource": "activity:step-a", "TimeoutSeconds": 4, "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 5}], "Next": "B"},
  "B": {"Type": "Task", "Resource": "activity:step-b", "TimeoutSeconds": 4, "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 5}], "End": true}}}"#;

#[test]
fn sigkill_the_leader_process_with_a_hundred_executions_in_flight() {
    let mut cluster = Cluster::start();
    let leader = cluster.wait_leader(Duration::from_secs(30));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _in_runtime = runtime.enter(); // lazy gRPC channels spawn onto it
    let client = std::sync::Arc::new(cluster.client());
    let ids: Vec<String> = runtime.block_on(async {
        client
            .create_state_machine("two", TWO_STEPS, "")
            .await
            .unwrap();
        let mut ids = Vec::new();
        for i in 0..100 {
            ids.push(
                client
                    .start_execution("two", Some(&format!("e-{i}")), &format!("{{\"i\": {i}}}"))
                    .await
                    .unwrap()
                    .execution_id,
            );
        }
        ids
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = raftflow_client::Worker::new(client.clone(), "cli-test")
        .concurrency(16)
        .poll_timeout(Duration::from_secs(1))
        .handle("step-a", |t| async move {
            Ok(format!("{{\"a\": {}}}", t.attempt))
        })
        .handle("step-b", |t| async move {
            Ok(format!("{{\"b\": {}}}", t.attempt))
        });
    let worker = runtime.spawn(worker.run(async {
        stopped.await.ok();
    }));
    // Kill the leader while the executions run.
    std::thread::sleep(Duration::from_millis(300));
    cluster.sigkill(leader);
    runtime.block_on(async {
        for id in &ids {
            let info = tokio::time::timeout(Duration::from_secs(90), client.wait_for_end(id))
                .await
                .expect("in time")
                .expect("wait");
            assert_eq!(info.status, "SUCCEEDED", "{id}: {info:?}");
            let history = client.history(id, false).await.unwrap();
            let mut per_state = std::collections::BTreeMap::new();
            let mut current = String::new();
            for e in &history {
                let details: serde_json::Value = serde_json::from_str(&e.details).unwrap();
                if e.r#type == "TaskStateEntered" {
                    current = details["name"].as_str().unwrap().to_string();
                }
                if e.r#type == "ActivitySucceeded" {
                    *per_state.entry(current.clone()).or_insert(0) += 1;
                }
            }
            assert_eq!(
                per_state,
                std::collections::BTreeMap::from([("A".to_string(), 1), ("B".to_string(), 1)]),
                "{id}"
            );
        }
    });
    let _ = stop.send(());
    runtime.block_on(worker).unwrap();
    // The killed node comes back from its own data and agrees with the others.
    cluster.spawn(leader);
    cluster.wait_converged(Duration::from_secs(30));
}

/// A number beyond 64 bits comes out of a Pass state as written, not as a
/// double (`1.2345678901234568e+22`).
#[test]
fn run_local_keeps_numbers_as_written() {
    let dir = tempfile::TempDir::new().unwrap();
    let def = dir.path().join("pass.json");
    std::fs::write(
        &def,
        r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#,
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["-o", "json", "run-local", "--definition"])
        .arg(&def)
        .args([
            "--input",
            r#"{"a": 12345678901234567890123, "b": -0, "c": 1e-7}"#,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for exact in ["12345678901234567890123", "-0", "1e-7"] {
        assert!(text.contains(exact), "{exact} in {text}");
    }
    assert!(!text.contains("e+22"), "{text}");
}

/// API tokens from the command line, and the audit trail they leave.
#[path = "cli/stats.rs"]
mod stats;
#[path = "cli/tokens.rs"]
mod tokens;

/// Schedules from the command line.
#[path = "cli/schedules.rs"]
mod schedules;

#[path = "cli/triggers.rs"]
mod triggers;

#[path = "cli/connections.rs"]
mod connections;

#[path = "cli/tasks.rs"]
mod tasks;

#[path = "cli/run_local_http.rs"]
mod run_local_http;

#[path = "cli/subscriptions.rs"]
mod subscriptions;

/// A start made in a trace (`--traceparent`) hands its task out in it: the
/// shell worker's command reads it from TRACEPARENT (passed on unchanged by
/// a cluster that exports no spans itself).
fn a_started_trace_reaches_the_shell_worker(cluster: &Cluster) {
    cluster.wait_newest_version(Duration::from_secs(30));
    let caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let start = [
        "-o",
        "json",
        "--traceparent",
        caller,
        "execution",
        "start",
        "--state-machine",
        "echo",
        "--name",
        "traced-1",
        "--input",
        r#"{"trace": true}"#,
        "--wait",
    ];
    let out = cluster.cli(&start);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let info: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(info["output"]["traceparent"], caller, "{info}");
    let bad = cluster.cli(&["--traceparent", "00-nope", "execution", "list"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("traceparent"), "{}", stderr(&bad));
}
