//! `raftflow token` and `raftflow acl` against a cluster of real processes.

use std::time::Duration;

use crate::common::{stderr, stdout, Cluster};

#[test]
fn tokens_from_the_command_line() {
    let cluster = Cluster::start();
    cluster.wait_leader(Duration::from_secs(30));
    let out = cluster.cli(&[
        "-o", "json", "token", "create", "--name", "ci", "--role", "operator", "--scope",
        "orders-*",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = made["secret"].as_str().unwrap().to_string();
    assert_eq!(made["role"], "operator");

    // The new token, by environment: it may read but not manage tokens.
    let as_ci = |args: &[&str]| {
        cluster
            .command()
            .env_remove("RAFTFLOW_TOKEN_FILE")
            .env("RAFTFLOW_TOKEN", &secret)
            .arg("--endpoints")
            .arg(cluster.endpoints.join(","))
            .args(args)
            .output()
            .unwrap()
    };
    let me = as_ci(&["token", "whoami"]);
    assert!(
        stdout(&me).contains("ci") && stdout(&me).contains("orders-*"),
        "{}",
        stdout(&me)
    );
    let denied = as_ci(&["token", "list"]);
    assert!(!denied.status.success());
    assert!(
        stderr(&denied).contains("tokens:manage"),
        "{}",
        stderr(&denied)
    );

    let listed = stdout(&cluster.cli(&["token", "list"]));
    assert!(
        listed.contains("bootstrap") && listed.contains("ci"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "a list never shows a secret");
    let out = cluster.cli(&["token", "revoke", "ci"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Every node refuses it once it applied the revocation.
    cluster.wait_converged(Duration::from_secs(30));
    let refused = as_ci(&["token", "whoami"]);
    assert!(
        stderr(&refused).contains("not known"),
        "{}",
        stderr(&refused)
    );

    let again = cluster.cli(&["acl", "bootstrap"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already bootstrapped"),
        "{}",
        stderr(&again)
    );
}
