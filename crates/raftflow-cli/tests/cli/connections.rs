//! `raftflow connection` against a cluster of real processes: a key made
//! and never overwritten; create from a secret file, a repeat recognised,
//! describe and list without the secret, update, delete.

use std::time::Duration;

use crate::common::{stderr, stdout, Cluster};

#[test]
fn connections_from_the_command_line() {
    let cluster = Cluster::start();
    let key = cluster.dir.path().join("new.key");
    let key_arg = key.to_str().unwrap();
    let out = cluster.cli(&["connection", "keygen", "--out", key_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&key).unwrap();
    assert_eq!(text.trim().len(), 64, "{text}");
    let again = cluster.cli(&["connection", "keygen", "--out", key_arg]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("never overwritten"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text);

    cluster.wait_newest_version(Duration::from_secs(30));
    let secret = cluster.dir.path().join("token.txt");
    std::fs::write(&secret, "s3cret-token\n").unwrap();
    let file = secret.to_str().unwrap();
    let create = ["connection", "create", "pay", "--bearer-token-file", file];
    let out = cluster.cli(&create);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("pay saved"), "{}", stdout(&out));
    let out = cluster.cli(&create);
    assert!(
        stdout(&out).contains("unchanged (identical)"),
        "{}",
        stdout(&out)
    );
    let both = cluster.cli(&[
        "connection",
        "create",
        "x",
        "--bearer-token-file",
        file,
        "--api-key-header",
        "X-Key",
        "--api-key-file",
        file,
    ]);
    assert!(!both.status.success());
    assert!(
        stderr(&both).contains("give one kind of credential"),
        "{}",
        stderr(&both)
    );

    let out = cluster.cli(&["-o", "json", "connection", "describe", "pay"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let described: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(described["kind"], "bearer");
    assert_eq!(described["revision"], 1);
    let update = [
        "connection",
        "update",
        "pay",
        "--api-key-header",
        "X-Key",
        "--api-key-file",
        file,
    ];
    let out = cluster.cli(&update);
    assert!(
        stdout(&out).contains("revision 2"),
        "{} {}",
        stdout(&out),
        stderr(&out)
    );
    let out = cluster.cli(&["connection", "list"]);
    let listed = stdout(&out);
    assert!(
        listed.contains("pay") && listed.contains("api-key") && listed.contains("X-Key"),
        "{listed}"
    );
    assert!(!listed.contains("s3cret"), "a secret shown back: {listed}");
    let out = cluster.cli(&["connection", "delete", "pay"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.cli(&["connection", "describe", "pay"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}
