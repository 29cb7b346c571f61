//! The web console: its pages and JSON API on a follower, the stop button's
//! endpoint, and the page itself rendered by headless Chromium.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::harness::{http, TestCluster};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

const DEFINITION: &str = r#"{"StartAt": "Prepare", "States": {
  "Prepare": {"Type": "Pass", "Next": "Work"},
  "Work": {"Type": "Task", "Resource": "activity:console-work", "TimeoutSeconds": 30,
    "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 0, "MaxAttempts": 2}], "Next": "Both"},
  "Both": {"Type": "Parallel", "Next": "Done", "Branches": [
    {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": true}}},
    {"StartAt": "Right", "States": {"Right": {"Type": "Pass", "End": true}}}]},
  "Done": {"Type": "Succeed"}}}"#;

async fn json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http(addr, "GET", path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path} is not JSON ({e}): {body}"))
}

/// Runs one execution whose task fails once (retried) and then succeeds.
async fn run_one(cluster: &TestCluster) -> String {
    let client = cluster.client();
    client
        .create_state_machine("console", DEFINITION, "console test")
        .await
        .unwrap();
    let id = client
        .start_execution("console", Some("shown"), r#"{"order": 7}"#)
        .await
        .unwrap()
        .execution_id;
    let activities = vec!["console-work".to_string()];
    let mut attempt = 0;
    while attempt < 2 {
        let Some(task) = client
            .poll_task(&activities, "console-test", 5_000)
            .await
            .unwrap()
        else {
            continue;
        };
        attempt += 1;
        if attempt == 1 {
            client
                .fail_task(&task.token, "Flaky", "first attempt fails")
                .await
                .unwrap();
        } else {
            client
                .complete_task(&task.token, r#"{"paid": true}"#)
                .await
                .unwrap();
        }
    }
    assert_eq!(client.wait_for_end(&id).await.unwrap().status, "SUCCEEDED");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_serves_pages_and_api_from_a_follower() {
    let cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.wait_leader(WAIT).await;
    let id = run_one(&cluster).await;
    let follower = cluster
        .running()
        .find(|n| n.context.id != leader)
        .expect("a follower");
    let addr = follower.http_addr.expect("HTTP is served");

    let (status, page) = http(addr, "GET", "/").await;
    assert!(
        status == 200 && page.contains("raftflow console"),
        "{status} {page}"
    );
    for asset in [
        "/console/app.js",
        "/console/graph.js",
        "/console/history.js",
        "/console/stats.js",
        "/console/execution.js",
        "/console/app.css",
    ] {
        assert_eq!(http(addr, "GET", asset).await.0, 200, "{asset}");
    }
    let c = json(addr, "/api/cluster").await;
    assert_eq!(c["role"], "follower");
    assert_eq!(c["leader_id"], leader);
    assert_eq!(c["nodes"].as_array().unwrap().len(), 3, "{c}");
    // What the banner and the free-space column read (disk_guard.rs).
    assert_eq!(c["alarms"], serde_json::json!([]), "{c}");
    for n in c["nodes"].as_array().unwrap() {
        assert!(n["disk_free_mb"].as_u64().is_some(), "{n}");
        assert_eq!(n["short_of_space"], "", "{n}");
    }

    // The follower applies a moment after the leader.
    let path = format!("/api/executions/{id}");
    let deadline = Instant::now() + WAIT;
    let detail = loop {
        let (status, body) = http(addr, "GET", &path).await;
        if status == 200 && body.contains("\"SUCCEEDED\"") {
            break serde_json::from_str::<Value>(&body).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the follower never showed {id} finished: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let events = detail["events"].as_array().unwrap();
    let named = |kind: &str| {
        events
            .iter()
            .filter(|e| e["type"] == kind && e["details"]["name"] == "Work")
            .count()
    };
    assert_eq!(
        named("ActivityScheduled"),
        2,
        "task events name their state: {events:?}"
    );
    assert_eq!(named("ActivityFailed"), 1);
    let nodes = detail["state_machine"]["layout"]["nodes"]
        .as_array()
        .unwrap();
    for state in ["Prepare", "Work", "Both", "Left", "Right", "Done"] {
        assert!(
            nodes.iter().any(|n| n["name"] == state),
            "{state} is laid out"
        );
    }

    let machines = json(addr, "/api/state-machines").await;
    assert_eq!(machines[0]["name"], "console");
    let sm = json(addr, "/api/state-machines/console?version=1").await;
    assert_eq!(sm["version"], 1);
    let list = json(
        addr,
        "/api/executions?state_machine=console&status=SUCCEEDED&name=sho",
    )
    .await;
    assert_eq!(list["executions"][0]["id"], id.as_str());
    let none = json(addr, "/api/executions?state_machine=console&name=absent").await;
    assert_eq!(none["executions"].as_array().unwrap().len(), 0);
    let started = list["executions"][0]["start_ms"].as_u64().unwrap();
    let within = format!(
        "/api/executions?state_machine=console&from_ms={started}&to_ms={}",
        started + 1
    );
    assert_eq!(
        json(addr, &within).await["executions"][0]["id"],
        id.as_str()
    );
    let later = format!(
        "/api/executions?state_machine=console&from_ms={}",
        started + 1
    );
    let earlier = format!("/api/executions?state_machine=console&to_ms={started}");
    for outside in [later, earlier] {
        let page = json(addr, &outside).await;
        assert_eq!(page["executions"].as_array().unwrap().len(), 0, "{outside}");
    }
    let (status, body) = http(addr, "GET", "/api/executions/console:nope").await;
    assert!(
        status == 404 && body.contains("does not exist"),
        "{status} {body}"
    );
    let (status, body) = http(addr, "GET", "/api/state-machines/nope").await;
    assert!(status == 404 && body.contains("`nope`"), "{status} {body}");

    // Stop, asked of a follower, reaches the leader.
    let client = cluster.client();
    let waiting = client
        .start_execution("console", Some("to-stop"), "{}")
        .await
        .unwrap()
        .execution_id;
    let (status, body) = http(addr, "POST", &format!("/api/executions/{waiting}/stop")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        client.wait_for_end(&waiting).await.unwrap().status,
        "ABORTED"
    );
    let (status, body) = http(addr, "POST", &format!("/api/executions/{waiting}/stop")).await;
    assert!(
        status >= 400,
        "stopping a finished execution is refused: {status} {body}"
    );

    // Schedules: listed from the follower's applied state with their next
    // times; paused and unpaused through the leader.
    cluster
        .wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    let daily = raftflow_client::proto::ScheduleDefinition {
        name: "console-daily".into(),
        state_machine: "console".into(),
        spec: "cron(0 3 * * ? *)".into(),
        ..Default::default()
    };
    client.create_schedule(daily).await.unwrap();
    for (verb, paused) in [("pause", true), ("unpause", false)] {
        let (status, body) = http(
            addr,
            "POST",
            &format!("/api/schedules/console-daily/{verb}"),
        )
        .await;
        assert_eq!(status, 200, "{verb}: {body}");
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut applied = follower.context.reader.watch_applied();
        let shown = loop {
            applied.borrow_and_update();
            let list = json(addr, "/api/schedules").await;
            if let Some(s) = list
                .as_array()
                .unwrap()
                .first()
                .filter(|s| s["paused"] == paused)
            {
                break s.clone();
            }
            tokio::time::timeout_at(deadline, applied.changed())
                .await
                .unwrap_or_else(|_| panic!("not {verb}d on the follower: {list}"))
                .unwrap();
        };
        assert_eq!(shown["spec"], "cron(0 3 * * ? *)");
        assert_eq!(
            shown["next_ms"].as_array().unwrap().len(),
            if paused { 0 } else { 3 }
        );
    }
    // Triggers: listed from the follower's applied state.
    let audit = raftflow_client::proto::TriggerDefinition {
        name: "console-audit".into(),
        source: "console".into(),
        on: vec![raftflow_client::proto::ExecutionEnd::Failed as i32],
        start_state_machine: "console".into(),
        ..Default::default()
    };
    client.create_trigger(audit).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut applied = follower.context.reader.watch_applied();
    let shown = loop {
        applied.borrow_and_update();
        let list = json(addr, "/api/triggers").await;
        if let Some(t) = list.as_array().unwrap().first() {
            break t.clone();
        }
        tokio::time::timeout_at(deadline, applied.changed())
            .await
            .unwrap_or_else(|_| panic!("the trigger is not on the follower: {list}"))
            .unwrap();
    };
    assert_eq!(shown["when"], serde_json::json!(["FAILED"]));
    assert_eq!(
        (shown["start"].as_str(), shown["enabled"].as_bool()),
        (Some("console"), Some(true))
    );

    // The leader handed out both attempts and took both reports.
    let leader_http = cluster
        .running()
        .find(|n| n.context.id == leader)
        .unwrap()
        .http_addr
        .unwrap();
    let (_, metrics) = http(leader_http, "GET", "/metrics").await;
    for line in [
        "raftflow_task_dispatch_latency_seconds_count 2\n",
        "raftflow_task_duration_seconds_count 2\n",
        "raftflow_grpc_request_duration_seconds_count{method=\"WorkerService/FailTask\",code=\"OK\"} 1\n",
        "raftflow_grpc_request_duration_seconds_count{method=\"WorkflowService/StopExecution\",code=\"FailedPrecondition\"} 1\n",
        "# TYPE raftflow_storage_bytes gauge\n",
        "# TYPE raftflow_raft_committed_index gauge\n",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    // At least the election that made this leader (a split vote adds more).
    let changes: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("raftflow_leader_changes_total "))
        .and_then(|v| v.parse().ok())
        .expect("leader changes are exported");
    assert!(changes >= 1, "{metrics}");

    browser_renders_the_coloured_graph(addr, &id);
    browser_renders_the_schedules_page(addr);
    browser_renders_the_triggers_page(addr);
}

/// The triggers page, rendered: the row with what it watches and starts.
fn browser_renders_the_triggers_page(addr: SocketAddr) {
    let admin = crate::harness::admin_secret();
    let Some(dom) = browser_dom(addr, &format!("login={admin}&then=/triggers")) else {
        return;
    };
    let row = dom
        .split("<tr class=\"trigger\">")
        .nth(1)
        .unwrap_or_else(|| panic!("a trigger row; the page was:\n{dom}"));
    for shown in ["console-audit", "FAILED", "ENABLED", "0 / 0"] {
        assert!(row.contains(shown), "{shown} in the row:\n{row}");
    }
}

/// The schedules page, rendered: the row, its spec and zone, its three
/// next times and the button an admin may press.
fn browser_renders_the_schedules_page(addr: SocketAddr) {
    let admin = crate::harness::admin_secret();
    let Some(dom) = browser_dom(addr, &format!("login={admin}&then=/schedules")) else {
        return;
    };
    let row = dom
        .split("<tr class=\"schedule\">")
        .nth(1)
        .unwrap_or_else(|| panic!("a schedule row; the page was:\n{dom}"));
    for shown in [
        "console-daily",
        "cron(0 3 * * ? *)",
        "UTC",
        "ACTIVE",
        ">Pause</button>",
    ] {
        assert!(row.contains(shown), "{shown} in the row:\n{row}");
    }
}

/// Headless Chromium loads the execution page and runs its scripts; the DOM
/// it dumps must hold the graph with each state coloured.
fn browser_renders_the_coloured_graph(addr: SocketAddr, id: &str) {
    let admin = crate::harness::admin_secret();
    let Some(dom) = browser_dom(addr, &format!("login={admin}&then=/exec/{id}")) else {
        return;
    };
    for (state, status) in [
        ("Prepare", "succeeded"),
        ("Work", "retried"),
        ("Left", "succeeded"),
        ("Done", "succeeded"),
    ] {
        assert!(
            dom.contains(&format!("data-state=\"{state}\" data-status=\"{status}\"")),
            "{state} is drawn {status}; the page was:\n{dom}"
        );
    }
    assert!(dom.contains("ActivityFailed"), "the event table is shown");
    assert!(!dom.contains(admin), "the token is not left in the page");
}

/// The DOM headless Chromium makes of `https://addr/#<fragment>` after its
/// scripts ran; `None` when Chromium is missing (allowed only when
/// `RAFTFLOW_REQUIRE_BROWSER` is unset). Chromium comes from Debian's
/// package, which `scripts/test.sh` installs when it can.
pub fn browser_dom(addr: SocketAddr, fragment: &str) -> Option<String> {
    let profile = tempfile::TempDir::new().unwrap();
    chromium_dom(&format!("https://{addr}/#{fragment}"), profile.path())
}

/// Chromium's path; `None` (the `check` skipped, said on stdout) where it
/// is not installed, unless RAFTFLOW_REQUIRE_BROWSER says it must be.
pub fn chromium(check: &str) -> Option<&'static str> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    if found.is_none() {
        assert!(
            std::env::var("RAFTFLOW_REQUIRE_BROWSER").is_err(),
            "Chromium is required but not installed"
        );
        println!("notice: no Chromium; {check} is skipped");
    }
    found
}

/// The flags of every headless Chromium of the tests, with its profile
/// folder.
pub fn chromium_args(profile: &std::path::Path) -> Vec<String> {
    vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        format!("--user-data-dir={}", profile.display()),
        "--window-size=1400,1100".into(),
    ]
}

/// The DOM headless Chromium makes of `url` with the browser profile in
/// `profile` (its cookies last from one call to the next).
pub fn chromium_dom(url: &str, profile: &std::path::Path) -> Option<String> {
    let chromium = chromium("the browser check of the console")?;
    // The console is served over HTTPS: Chromium trusts the test CA through
    // the NSS database in its $HOME, as a user's browser would.
    let home = trust_test_ca();
    let mut args = chromium_args(profile);
    args.push("--virtual-time-budget=8000".into());
    if let Ok(path) = std::env::var("RAFTFLOW_SCREENSHOT") {
        let mut shot = args.clone();
        shot.extend([format!("--screenshot={path}"), url.to_string()]);
        let out = std::process::Command::new(chromium)
            .env("HOME", home.path())
            .args(&shot)
            .output()
            .expect("chromium runs");
        assert!(
            out.status.success(),
            "screenshot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    args.extend(["--dump-dom".to_string(), url.to_string()]);
    let out = std::process::Command::new(chromium)
        .env("HOME", home.path())
        .args(&args)
        .output()
        .expect("chromium runs");
    Some(String::from_utf8_lossy(&out.stdout).to_string())
}

/// A home folder whose NSS database (where Chromium on Linux looks for
/// trusted CAs) trusts the test CA, made with certutil.
pub fn trust_test_ca() -> tempfile::TempDir {
    let home = tempfile::TempDir::new().unwrap();
    let db = home.path().join(".pki/nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let db = format!("sql:{}", db.display());
    let certutil = |args: &[&str]| {
        let out = std::process::Command::new("certutil")
            .args(args)
            .output()
            .expect("certutil runs (Debian's libnss3-tools; scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "certutil {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    certutil(&["-N", "-d", &db, "--empty-password"]);
    let ca = crate::harness::certs().ca.display().to_string();
    certutil(&[
        "-A",
        "-d",
        &db,
        "-t",
        "C,,",
        "-n",
        "raftflow-test-ca",
        "-i",
        &ca,
    ]);
    home
}
