//! `raftflow trigger` against a cluster of real processes: create, the
//! triggered execution, describe, update (disable), list, delete.

use std::time::Duration;

use crate::common::{stderr, stdout, Cluster};

fn create_machine(cluster: &Cluster, name: &str, definition: &str) {
    let path = cluster.dir.path().join(format!("{name}.json"));
    std::fs::write(&path, definition).unwrap();
    let args = ["workflow", "create", "--name", name, "--definition"];
    let out = cluster.cli(
        &args
            .iter()
            .copied()
            .chain([path.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn triggers_from_the_command_line() {
    let cluster = Cluster::start();
    cluster.wait_leader(Duration::from_secs(30));
    let pass = r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#;
    create_machine(&cluster, "orders", pass);
    create_machine(&cluster, "audit", pass);
    let out = cluster.cli(&[
        "trigger",
        "create",
        "audit-all",
        "--source",
        "orders",
        "--when",
        "succeeded,failed",
        "--start",
        "audit",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("audit-all saved"), "{}", stdout(&out));
    let out = cluster.cli(&[
        "execution",
        "start",
        "--state-machine",
        "orders",
        "--name",
        "o-1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.cli(&["execution", "watch", "audit:audit-all-o-1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.cli(&["-o", "json", "trigger", "describe", "audit-all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let described: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(described["when"], "SUCCEEDED,FAILED");
    assert_eq!(described["started"], 1);
    assert_eq!(described["recent"][0]["source_execution"], "orders:o-1");

    let out = cluster.cli(&["trigger", "update", "audit-all", "--disabled", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = stdout(&cluster.cli(&["trigger", "list"]));
    assert!(
        listed.contains("audit-all") && listed.contains("disabled"),
        "{listed}"
    );
    let out = cluster.cli(&[
        "trigger", "create", "bad", "--source", "orders", "--start", "x:y",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`y`"), "{}", stderr(&out));
    let out = cluster.cli(&["trigger", "delete", "audit-all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.cli(&["trigger", "describe", "audit-all"]);
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}
