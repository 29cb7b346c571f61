//! Configuration files: defaults, and errors that name the file and the field.

use std::io::Write;

use raftflow_server::{ConfigError, NodeConfig};

fn load(text: &str) -> Result<NodeConfig, ConfigError> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    NodeConfig::load(file.path())
}

const GOOD: &str = r#"
id = 1
raft_addr = "127.0.0.1:7101"
api_addr = "127.0.0.1:7201"
data_dir = "data/node1"
insecure = true
[[initial_members]]
id = 1
raft_addr = "127.0.0.1:7101"
api_addr = "127.0.0.1:7201"
"#;

#[test]
fn a_good_file_loads_with_defaults() {
    let config = load(GOOD).expect("loads");
    assert_eq!(config.id, 1);
    assert_eq!(config.raft.heartbeat_interval_ms, 150);
    assert!(
        config.data_dir.is_absolute(),
        "relative data_dir is resolved against the file's folder"
    );
}

#[test]
fn the_shipped_cluster_configs_load() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cluster-config");
    for i in 1..=3 {
        let config =
            NodeConfig::load(&root.join(format!("node{i}.toml"))).expect("shipped config loads");
        assert_eq!(config.id, i);
        assert_eq!(config.initial_members.len(), 3);
    }
}

#[test]
fn a_missing_field_is_named() {
    let err = load(&GOOD.replace("api_addr = \"127.0.0.1:7201\"\ndata_dir", "data_dir"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("api_addr"), "{err}");
}

#[test]
fn an_unknown_field_is_named() {
    let err = load(&format!("colour = \"blue\"\n{GOOD}"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn a_bad_address_is_named() {
    let err = load(&GOOD.replacen("127.0.0.1:7101", "localhost", 1))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("raft_addr") && err.contains("localhost"),
        "{err}"
    );
}

#[test]
fn bad_timing_is_named() {
    let err = load(&format!("{GOOD}\n[raft]\nelection_timeout_min_ms = 100\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("raft.election_timeout_min_ms"), "{err}");
}

#[test]
fn a_lease_that_outlasts_the_silence_timeout_or_fits_no_heartbeats_is_refused() {
    let err = load(&format!("{GOOD}\n[raft]\nleader_lease_ms = 150\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("raft.leader_lease_ms"), "{err}");
    let err = load(&format!("{GOOD}\n[raft]\nleader_lease_ms = 1500\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("must exceed leader_lease_ms"), "{err}");
}

#[test]
fn a_node_missing_from_its_own_membership_is_refused() {
    let err = load(&GOOD.replacen("id = 1\nraft", "id = 7\nraft", 1))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("initial_members") && err.contains('7'),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let err = NodeConfig::load(std::path::Path::new("/nonexistent/node.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/node.toml"), "{err}");
}

#[test]
fn the_largest_append_entries_fits_the_transport() {
    use raftflow_server::network::{append_bytes_bound, entry_bytes_bound, MAX_MESSAGE_BYTES};
    let config = load(GOOD).expect("loads");
    let payload = config.scheduler.max_payload_bytes;
    // The largest entry times the entries per AppendEntries, plus the rest.
    assert!(entry_bytes_bound(payload) >= raftflow_server::limits::max_request_bytes(payload));
    assert!(append_bytes_bound(payload) <= MAX_MESSAGE_BYTES);
    let too_big = format!("{GOOD}\n[scheduler]\nmax_payload_bytes = 4194304\n");
    let err = load(&too_big).unwrap_err().to_string();
    assert!(
        err.contains("scheduler.max_payload_bytes") && err.contains("transport limit"),
        "{err}"
    );
}

#[test]
fn a_node_without_tls_refuses_to_start_unless_it_says_insecure() {
    let err = load(&GOOD.replace("insecure = true\n", ""))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("field `tls`")
            && err.contains("insecure = true")
            && err.contains("raftflow cert"),
        "{err}"
    );
    let both = GOOD.to_string()
        + "[tls]\nca_file = \"ca.pem\"\ncert_file = \"n.pem\"\nkey_file = \"k.pem\"\n";
    let err = load(&both).unwrap_err().to_string();
    assert!(err.contains("`insecure`") && err.contains("[tls]"), "{err}");
}

#[test]
fn tls_paths_are_taken_from_the_config_files_folder() {
    let text = GOOD.replace("insecure = true\n", "")
        + "[tls]\nca_file = \"certs/ca.pem\"\ncert_file = \"/abs/n.pem\"\nkey_file = \"k.pem\"\n";
    let config = load(&text).expect("loads");
    let tls = config.tls.expect("tls");
    assert!(tls.ca_file.is_absolute() && tls.ca_file.ends_with("certs/ca.pem"));
    assert_eq!(tls.cert_file, std::path::PathBuf::from("/abs/n.pem"));
    assert!(tls.key_file.is_absolute());
}
