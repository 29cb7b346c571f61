//! `raftflow workflow stats` against a cluster of real processes: the
//! window's totals and each state's visits as text and JSON, and an
//! unknown window refused.

use std::time::Duration;

use crate::common::{stderr, stdout, Cluster};

#[test]
fn statistics_from_the_command_line() {
    let cluster = Cluster::start();
    cluster.wait_newest_version(Duration::from_secs(30));
    let path = cluster.dir.path().join("pass.json");
    std::fs::write(
        &path,
        r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#,
    )
    .unwrap();
    let path = path.to_str().unwrap();
    let out = cluster.cli(&[
        "workflow",
        "create",
        "--name",
        "counted",
        "--definition",
        path,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for name in ["a", "b", "c"] {
        let start = [
            "execution",
            "start",
            "--state-machine",
            "counted",
            "--name",
            name,
        ];
        let out = cluster.cli(&start);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = cluster.cli(&["workflow", "stats", "counted", "--window", "hour"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("counted over the last hour") && text.contains("3 started, 3 succeeded"),
        "{text}"
    );
    assert!(text.contains("success 100.0%"), "{text}");
    let state_row = text.lines().find(|l| l.starts_with("P ")).unwrap_or("");
    let cells: Vec<&str> = state_row.split_whitespace().collect();
    assert_eq!(
        cells.get(..5),
        Some(&["P", "3", "0", "0", "0"][..]),
        "{text}"
    );
    let out = cluster.cli(&["-o", "json", "workflow", "stats", "counted"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["window"], "day");
    assert_eq!(json["summary"]["succeeded"], 3);
    assert_eq!(json["buckets"].as_array().unwrap().len(), 24);
    assert_eq!(json["states"][0]["name"], "P");
    assert_eq!(json["states"][0]["succeeded"], 3);
    let out = cluster.cli(&["workflow", "stats", "counterd"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("`counterd` does not exist"),
        "{}",
        stderr(&out)
    );
    let out = cluster.cli(&["workflow", "stats", "counted", "--window", "year"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("window `year`"), "{}", stderr(&out));
}
