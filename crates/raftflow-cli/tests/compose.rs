//! The image and the Compose file, run for real (docs/operations.md,
//! "Deploy"): the image is built `FROM scratch` from this test build's
//! binary, `deploy/compose.yaml` starts three nodes and a worker, an
//! execution succeeds, the leader's container is killed and the cluster
//! carries on, and a rolling restart of the three containers loses nothing.
//!
//! Needs Docker Engine and docker-compose (CI has both); it fails without
//! them unless RAFTFLOW_SKIP_DOCKER=1 says to skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_raftflow");
const IMAGE: &str = "raftflow:test";
const HEALTHY_WITHIN: Duration = Duration::from_secs(120);
const ECHO: &str = r#"{"StartAt": "Echo", "States": {"Echo": {"Type": "Task", "Resource": "activity:deploy.echo", "End": true}}}"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(command: &mut Command) -> Output {
    let shown = format!("{command:?}");
    let out = command.output().unwrap_or_else(|e| panic!("{shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A Compose project, taken down with its volumes on drop.
struct Project {
    name: String,
    dir: tempfile::TempDir,
}

impl Project {
    fn compose(&self) -> Command {
        let mut c = Command::new("docker-compose");
        c.args(["-p", &self.name, "-f"])
            .arg(repo().join("deploy/compose.yaml"))
            .env("RAFTFLOW_IMAGE", IMAGE)
            .env("RAFTFLOW_CERTS", self.certs())
            .env("RAFTFLOW_API_PORT_1", "")
            .env("RAFTFLOW_API_PORT_2", "")
            .env("RAFTFLOW_API_PORT_3", "");
        c
    }

    fn certs(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    fn container(&self, service: &str) -> String {
        text(&run(self.compose().args(["ps", "-q", service])))
    }

    /// Waits until the node's health check (`raftflow health --ready`)
    /// passes, on Docker's event for it: every `health_status` event since
    /// `since` (Unix seconds, taken before the container was started) is
    /// replayed, so one that came first is not missed.
    fn wait_healthy(&self, service: &str, since: u64) {
        let id = self.container(service);
        let mut events = Command::new("docker")
            .args(["events", "--since", &since.to_string(), "--filter"])
            .arg(format!("container={id}"))
            .args(["--filter", "event=health_status", "--format", "{{.Status}}"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("docker events");
        let stdout = events.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("healthy") && !line.contains("unhealthy") {
                    let _ = tx.send(());
                    return;
                }
            }
        });
        let healthy = rx.recv_timeout(HEALTHY_WITHIN);
        let _ = events.kill();
        let _ = events.wait();
        assert!(
            healthy.is_ok(),
            "{service} did not become healthy within {HEALTHY_WITHIN:?}"
        );
    }

    /// The CLI inside a running node's container, on the Compose network:
    /// the nodes advertise their service names, which only resolve there
    /// (a client follows a follower's redirect to the leader's name).
    fn cli(&self) -> Command {
        let running = ["node1", "node2", "node3"]
            .into_iter()
            .find(|s| {
                let id = self.container(s);
                let out = Command::new("docker")
                    .args(["inspect", "-f", "{{.State.Running}}", &id])
                    .output();
                out.is_ok_and(|o| text(&o) == "true")
            })
            .expect("a node container runs");
        let mut c = self.compose();
        c.args(["exec", "-T", running, "raftflow"])
            .args(["--endpoints", "node1:7201,node2:7201,node3:7201"])
            .args([
                "--ca",
                "/certs/ca.pem",
                "--token-file",
                "/certs/admin.token",
            ]);
        c
    }

    fn start_and_wait(&self, name: &str) {
        // --wait exits non-zero unless the execution succeeds.
        run(self.cli().args([
            "execution",
            "start",
            "--state-machine",
            "deploy",
            "--name",
            name,
            "--input",
            r#"{"order": 7}"#,
            "--wait",
        ]));
    }

    fn leader(&self) -> String {
        let out = run(self.cli().args(["-o", "json", "cluster", "status"]));
        let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let leader = nodes
            .as_array()
            .unwrap()
            .iter()
            .find_map(|n| n["leader_id"].as_u64().filter(|l| *l > 0))
            .expect("a node knows the leader");
        format!("node{leader}")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self
            .compose()
            .args(["down", "-v", "--remove-orphans", "-t", "2"])
            .output();
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn docker_ready() -> bool {
    let docker = Command::new("docker").arg("info").output();
    let compose = Command::new("docker-compose").arg("version").output();
    let ok = |o: std::io::Result<Output>| o.is_ok_and(|o| o.status.success());
    if ok(docker) && ok(compose) {
        return true;
    }
    assert!(
        std::env::var("RAFTFLOW_SKIP_DOCKER").as_deref() == Ok("1"),
        "this test needs Docker Engine and docker-compose; set RAFTFLOW_SKIP_DOCKER=1 to skip it"
    );
    eprintln!("skipped: RAFTFLOW_SKIP_DOCKER=1 and no Docker");
    false
}

/// The image from this build's binary, and the certificates and token.
fn prepare(dir: &Path) {
    let rootfs = dir.join("rootfs");
    run(Command::new(repo().join("deploy/rootfs.sh"))
        .arg(BIN)
        .arg(&rootfs));
    run(Command::new("docker")
        .args(["build", "-q", "-t", IMAGE, "-f"])
        .arg(repo().join("deploy/Dockerfile"))
        .arg(&rootfs));
    let certs = dir.join("certs");
    let cert = |args: &[&str]| {
        run(Command::new(BIN)
            .args(["cert"])
            .args(args)
            .arg("--dir")
            .arg(&certs));
    };
    cert(&["create-ca"]);
    for i in 1..=3 {
        cert(&[
            "create-node",
            "--id",
            &i.to_string(),
            "--hosts",
            &format!("node{i},localhost,127.0.0.1"),
        ]);
    }
    run(Command::new(BIN)
        .args(["acl", "new-bootstrap-token"])
        .arg(certs.join("admin.token")));
    run(Command::new(BIN)
        .args(["connection", "keygen", "--out"])
        .arg(certs.join("connections.key")));
    // The nodes run as user 10001 and read their keys.
    for entry in std::fs::read_dir(&certs).unwrap().flatten() {
        let _ = std::os::unix::fs::chown(entry.path(), Some(10001), Some(10001));
    }
}

#[test]
fn the_compose_cluster_survives_a_killed_leader_and_a_rolling_restart() {
    if !docker_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path());
    let project = Project {
        name: format!("rftest{}", std::process::id()),
        dir,
    };
    let since = now_s();
    run(project
        .compose()
        .args(["up", "-d", "node1", "node2", "node3"]));
    for service in ["node1", "node2", "node3"] {
        project.wait_healthy(service, since);
    }
    // The certificates' folder is mounted in every container at /certs.
    std::fs::write(project.certs().join("echo.asl.json"), ECHO).unwrap();
    run(project.cli().args([
        "workflow",
        "create",
        "--name",
        "deploy",
        "--definition",
        "/certs/echo.asl.json",
    ]));
    run(project.compose().args(["up", "-d", "worker"]));
    project.start_and_wait("first");

    // The leader's container is killed: the other two elect and go on.
    let leader = project.leader();
    run(project.compose().args(["kill", &leader]));
    project.start_and_wait("after-kill");
    let since = now_s();
    run(project.compose().args(["start", &leader]));
    project.wait_healthy(&leader, since);

    // A rolling restart, one container at a time, each back before the next.
    for service in ["node1", "node2", "node3"] {
        let since = now_s();
        run(project.compose().args(["restart", "-t", "10", service]));
        project.wait_healthy(service, since);
    }
    project.start_and_wait("after-restart");
    for name in ["first", "after-kill", "after-restart"] {
        let out = run(project
            .cli()
            .args(["execution", "describe", &format!("deploy:{name}")]));
        assert!(text(&out).contains("SUCCEEDED"), "{name}: {}", text(&out));
    }
}
