//! Test clusters for HTTP Tasks and connections: a shared connection key,
//! and a cluster whose HTTP Tasks may call this machine.

use std::time::Duration;

use crate::harness::TestCluster;

/// A cluster key for connections, shared by every node of a test cluster.
pub fn test_connections(
    dir: &std::path::Path,
) -> raftflow_server::connections::keys::ConnectionsConfig {
    let file = dir.join("connections.key");
    if !file.exists() {
        let key = raftflow_server::connections::keys::new_key_text();
        raftflow_server::auth::secret::write_file(&file, &key).expect("write the connection key");
    }
    raftflow_server::connections::keys::ConnectionsConfig {
        key_file: Some(file),
        previous_key_files: Vec::new(),
    }
}

impl TestCluster {
    /// Three voters whose HTTP Tasks may call this machine over plain http
    /// (a test's endpoint), at the newest apply version.
    pub async fn calling_loopback() -> Self {
        let cluster = Self::start(3, |c| {
            c.outbound = raftflow_server::outbound::policy::OutboundConfig {
                allow_cidrs: vec!["127.0.0.0/8".into()],
                allow_plain_http: true,
                ..Default::default()
            }
        })
        .await;
        let version = raftflow_store::version::APPLY_VERSION_MAX;
        cluster
            .wait_apply_version(version, Duration::from_secs(60))
            .await;
        cluster
    }
}
