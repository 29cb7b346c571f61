use std::collections::BTreeMap;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

const MEMBERS: &str = "1=raftflow-0.peers:7101/raftflow-0.peers:7201, 2=raftflow-1.peers:7101/raftflow-1.peers:7201,3=raftflow-2.peers:7101/raftflow-2.peers:7201";

#[test]
fn a_node_configured_by_variables_alone_binds_wide_and_advertises_its_name() {
    let env = env_of(&[
        ("HOSTNAME", "raftflow-1"),
        ("RAFTFLOW_ID_FROM_HOSTNAME", "true"),
        ("RAFTFLOW_INSECURE", "true"),
        ("RAFTFLOW_RAFT_ADDR", "0.0.0.0:7101"),
        ("RAFTFLOW_API_ADDR", "0.0.0.0:7201"),
        ("RAFTFLOW_ADVERTISE_RAFT_ADDR", "raftflow-1.peers:7101"),
        ("RAFTFLOW_ADVERTISE_API_ADDR", "raftflow-1.peers:7201"),
        ("RAFTFLOW_DATA_DIR", "/var/lib/raftflow"),
        ("RAFTFLOW_INITIAL_MEMBERS", MEMBERS),
        ("RAFTFLOW_MIN_FREE_MB", "512"),
    ]);
    let config = load(None, &env).unwrap();
    assert_eq!(config.id, 2);
    assert!(config.insecure);
    assert_eq!(config.raft_addr, "0.0.0.0:7101");
    assert_eq!(config.advertised_raft_addr(), "raftflow-1.peers:7101");
    assert_eq!(config.advertised_api_addr(), "raftflow-1.peers:7201");
    assert_eq!(
        config.data_dir,
        std::path::PathBuf::from("/var/lib/raftflow")
    );
    assert_eq!(config.initial_members.len(), 3);
    assert_eq!(config.initial_members[2].api_addr, "raftflow-2.peers:7201");
    assert_eq!(config.storage.min_free_mb, 512);
}

#[test]
fn variables_override_the_file_and_the_file_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("node.toml");
    std::fs::write(
        &file,
        "id = 1\ninsecure = true\nraft_addr = \"127.0.0.1:7101\"\napi_addr = \"127.0.0.1:7201\"\ndata_dir = \"data\"\n[scheduler]\ntask_lease_s = 9\n",
    )
    .unwrap();
    let config = load(
        Some(&file),
        &env_of(&[("RAFTFLOW_API_ADDR", "127.0.0.1:9999")]),
    )
    .unwrap();
    assert_eq!(config.api_addr, "127.0.0.1:9999");
    assert_eq!(config.scheduler.task_lease_s, 9);
    assert_eq!(
        config.data_dir,
        dir.path().join("data"),
        "the file's path is from its folder"
    );
    let config = load(Some(&file), &env_of(&[("RAFTFLOW_DATA_DIR", "/srv/rf")])).unwrap();
    assert_eq!(config.data_dir, std::path::PathBuf::from("/srv/rf"));
    assert!(
        !config.telemetry.enabled(),
        "off unless a collector is named"
    );
    let collector = [("RAFTFLOW_OTLP_ENDPOINT", "http://collector:4317")];
    let config = load(Some(&file), &env_of(&collector)).unwrap();
    assert_eq!(config.telemetry.otlp_endpoint, "http://collector:4317");
    let bad = load(
        Some(&file),
        &env_of(&[("RAFTFLOW_OTLP_ENDPOINT", "collector")]),
    );
    assert!(format!("{:?}", bad.unwrap_err()).contains("telemetry.otlp_endpoint"));
}

#[test]
fn bad_variables_are_named() {
    let base = [
        ("RAFTFLOW_INSECURE", "true"),
        ("RAFTFLOW_RAFT_ADDR", "0.0.0.0:7101"),
        ("RAFTFLOW_API_ADDR", "0.0.0.0:7201"),
        ("RAFTFLOW_DATA_DIR", "/d"),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut pairs = base.to_vec();
        pairs.push(extra);
        load(None, &env_of(&pairs)).unwrap_err().to_string()
    };
    let e = with(("RAFTFLOW_ID", "two"));
    assert!(
        e.contains("RAFTFLOW_ID") && e.contains("whole number"),
        "{e}"
    );
    let e = with(("RAFTFLOW_INITIAL_MEMBERS", "1=a:1"));
    assert!(e.contains("ID=RAFT_ADDR/API_ADDR"), "{e}");
    let mut pairs = base.to_vec();
    pairs.extend([("RAFTFLOW_ID_FROM_HOSTNAME", "true"), ("HOSTNAME", "web")]);
    let e = load(None, &env_of(&pairs)).unwrap_err().to_string();
    assert!(e.contains("does not end in -<ordinal>"), "{e}");
    let mut pairs = base.to_vec();
    pairs.extend([
        ("RAFTFLOW_ID", "1"),
        ("RAFTFLOW_ADVERTISE_RAFT_ADDR", "bad host:1"),
    ]);
    let e = load(None, &env_of(&pairs)).unwrap_err().to_string();
    assert!(e.contains("advertise_raft_addr"), "{e}");
    let e = load(None, &env_of(&base)).unwrap_err().to_string();
    assert!(e.contains("id"), "no id at all: {e}");
    assert!(names().contains(&"RAFTFLOW_INITIAL_MEMBERS"));
}
