//! The local three-node cluster of a config folder (`raftflow dev`, the
//! demo, the benchmarks that start their own nodes): its configs, and its
//! certificates, made on first start in the folder its `[tls]` files name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use raftflow_server::NodeConfig;

use super::conn::{Conn, INSECURE_MARKER};

pub struct LocalCluster {
    pub configs: BTreeMap<u64, (PathBuf, NodeConfig)>,
    /// How to reach it: the given settings, with the local certificates
    /// when no CA was given.
    pub conn: Conn,
}

impl LocalCluster {
    pub fn paths(&self) -> BTreeMap<u64, PathBuf> {
        self.configs
            .iter()
            .map(|(id, (path, _))| (*id, path.clone()))
            .collect()
    }

    pub fn api_endpoints(&self) -> Vec<String> {
        self.configs
            .values()
            .map(|(_, c)| c.api_addr.clone())
            .collect()
    }
}

/// Loads `node1.toml` … `node3.toml`; an error is a usage error.
pub fn load(config_dir: &Path, conn: &Conn) -> Result<LocalCluster, String> {
    let mut configs = BTreeMap::new();
    for id in 1..=3u64 {
        let path = config_dir.join(format!("node{id}.toml"));
        let config = NodeConfig::load(&path).map_err(|e| e.to_string())?;
        configs.insert(id, (path, config));
    }
    let mut cluster = LocalCluster {
        configs,
        conn: conn.clone(),
    };
    if !conn.insecure {
        ensure_token(&mut cluster)?;
    }
    ensure_connection_key(&cluster)?;
    let Some(dir) = certs_dir(&cluster) else {
        return Ok(cluster);
    };
    if conn.insecure {
        // Tells later CLI calls that the local cluster speaks plaintext.
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join(INSECURE_MARKER), "raftflow dev --insecure\n")
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        return Ok(cluster);
    }
    let ids: Vec<u64> = cluster.configs.keys().copied().collect();
    let local = raftflow_server::tls::local::ensure(&dir, &ids, &hosts(&cluster)).map_err(|e| {
        format!(
            "making the local cluster's certificates in {}: {e}",
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(dir.join(INSECURE_MARKER));
    // The nodes' own CA, whatever was found or given for other clusters.
    let tls = raftflow_client::ClientTls::from_files(
        &local.ca,
        Some(&local.client.0),
        Some(&local.client.1),
    )
    .map_err(|e| e.to_string())?;
    cluster.conn.tls = Some(tls);
    Ok(cluster)
}

/// Makes the bootstrap token every node's `[auth] bootstrap_token_file`
/// names, on first start, and uses it unless a token was given.
fn ensure_token(cluster: &mut LocalCluster) -> Result<(), String> {
    let mut files = cluster
        .configs
        .values()
        .filter_map(|(_, c)| c.auth.bootstrap_token_file.clone());
    let Some(file) = files.next() else {
        return Ok(());
    };
    if files.any(|f| f != file) {
        return Err("the local nodes name different [auth] bootstrap_token_file files".into());
    }
    let secret = match raftflow_server::auth::secret::read_file(&file) {
        Ok(secret) => secret,
        Err(_) if !file.exists() => {
            let secret = raftflow_server::auth::secret::new_secret();
            raftflow_server::auth::secret::write_file(&file, &secret)
                .map_err(|e| format!("writing the local admin token {}: {e}", file.display()))?;
            secret
        }
        Err(e) => return Err(e),
    };
    if cluster.conn.token.is_none() {
        cluster.conn.token = Some(secret);
    }
    Ok(())
}

/// Makes the connection key every node's `[connections] key_file` names,
/// on first start (one key for the whole cluster).
fn ensure_connection_key(cluster: &LocalCluster) -> Result<(), String> {
    let mut files = cluster
        .configs
        .values()
        .filter_map(|(_, c)| c.connections.key_file.clone());
    let Some(file) = files.next() else {
        return Ok(());
    };
    if files.any(|f| f != file) {
        return Err("the local nodes name different [connections] key_file files".into());
    }
    if file.exists() {
        return Ok(());
    }
    let key = raftflow_server::connections::keys::new_key_text();
    raftflow_server::auth::secret::write_file(&file, &key)
        .map_err(|e| format!("writing the local connection key {}: {e}", file.display()))
}

/// The one folder every node's `[tls]` files are in; `None` without TLS.
fn certs_dir(cluster: &LocalCluster) -> Option<PathBuf> {
    let mut dirs = cluster.configs.values().filter_map(|(_, c)| {
        let tls = c.tls.as_ref()?;
        Some(tls.ca_file.parent()?.to_path_buf())
    });
    let first = dirs.next()?;
    dirs.all(|d| d == first).then_some(first)
}

/// The hosts the nodes are dialled by, and the loopback names.
fn hosts(cluster: &LocalCluster) -> Vec<String> {
    let addrs = cluster
        .configs
        .values()
        .flat_map(|(_, c)| [c.raft_addr.as_str(), c.api_addr.as_str()]);
    raftflow_server::tls::local::hosts_of(&["localhost", "127.0.0.1"], addrs)
}

impl LocalCluster {
    /// The security lines of the config of an extra node `id` (a learner a
    /// benchmark adds): `insecure = true`, or a `[tls]` table with a node
    /// certificate made for it beside the others. Goes at the file's end.
    pub fn extra_node_security(&self, id: u64) -> Result<String, String> {
        let Some(dir) = certs_dir(self).filter(|_| !self.conn.insecure) else {
            return Ok("insecure = true\n".into());
        };
        let local = raftflow_server::tls::local::ensure(&dir, &[id], &hosts(self))
            .map_err(|e| e.to_string())?;
        let (cert, key) = local.node(id);
        // Absolute: the extra node's config is read relative to its own
        // folder, not to the directory this command runs in.
        let absolute = |p: &std::path::Path| {
            std::path::absolute(p)
                .map(|p| p.display().to_string())
                .map_err(|e| format!("{}: {e}", p.display()))
        };
        Ok(format!(
            "[tls]\nca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}\n",
            absolute(&local.ca)?,
            absolute(&cert)?,
            absolute(&key)?
        ))
    }
}
