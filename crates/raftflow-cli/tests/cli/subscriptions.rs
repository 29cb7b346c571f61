//! `raftflow subscription` against a cluster of real processes: create from
//! a secret file, a repeat recognised, a short secret refused naming it,
//! describe and list without the secret, pending and dead letters listed,
//! a redrive with nothing dead, delete.

use std::time::Duration;

use crate::common::{stderr, stdout, Cluster};

#[test]
fn subscriptions_from_the_command_line() {
    let cluster = Cluster::start();
    cluster.wait_newest_version(Duration::from_secs(30));
    let secret = cluster.dir.path().join("hook.secret");
    std::fs::write(&secret, "hook-secret-0123456789\n").unwrap();
    let short = cluster.dir.path().join("short.secret");
    std::fs::write(&short, "tiny\n").unwrap();
    let create = |name: &str, file: &std::path::Path| {
        cluster.cli(&[
            "subscription",
            "create",
            name,
            "--source",
            "orders",
            "--on",
            "started,failed",
            "--url",
            "http://127.0.0.1:9/hook",
            "--secret-file",
            file.to_str().unwrap(),
        ])
    };
    let out = create("crm", &secret);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("crm saved"), "{}", stdout(&out));
    let out = create("crm", &secret);
    assert!(
        stdout(&out).contains("unchanged (identical)"),
        "{}",
        stdout(&out)
    );
    let out = create("tiny", &short);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("signing secret has 4 bytes"),
        "{}",
        stderr(&out)
    );

    let out = cluster.cli(&["-o", "json", "subscription", "describe", "crm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let described: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(described["on"], serde_json::json!(["started", "failed"]));
    assert_eq!(described["max_attempts"], 20);
    assert_eq!(described["pending"], 0);
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !shown.contains("hook-secret"),
        "a secret shown back: {shown}"
    );
    let out = cluster.cli(&["subscription", "list"]);
    assert!(
        stdout(&out).contains("crm") && stdout(&out).contains("orders"),
        "{}",
        stdout(&out)
    );
    for list in ["pending", "dead-letters"] {
        let out = cluster.cli(&["subscription", list, "crm"]);
        assert!(out.status.success(), "{list}: {}", stderr(&out));
        assert!(stdout(&out).contains("SEQ"), "{}", stdout(&out));
    }
    let out = cluster.cli(&["subscription", "redrive", "crm"]);
    assert!(
        stdout(&out).contains("0 redriven"),
        "{} {}",
        stdout(&out),
        stderr(&out)
    );
    let out = cluster.cli(&["subscription", "delete", "crm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.cli(&["subscription", "describe", "crm"]);
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}
