//! Certificates replaced without a restart: the files are read again every
//! `tls.reload_interval_ms` and on SIGHUP; when they changed and load, new
//! connections (accepted and dialled) use them at once.
//!
//! ```text
//!  files ──(interval, SIGHUP)──▶ Material::load ──ok──▶ swap ──▶ next handshake uses it
//!                                      └─ error: logged, the old certificates stay
//! ```
//! Connections already open keep the certificate they were made with until
//! they reconnect: TLS does not re-authenticate a live connection.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::sync::watch;

use super::{Material, TlsConfig, TlsError};

/// Which listener a server configuration is for.
#[derive(Debug, Clone, Copy)]
pub enum Port {
    Raft,
    Api,
    Http,
}

struct Current {
    material: Arc<Material>,
    raft: Arc<ServerConfig>,
    api: Arc<ServerConfig>,
    http: Arc<ServerConfig>,
    /// The files' bytes when they were read: a change is a difference.
    files: Vec<Vec<u8>>,
}

/// A node's TLS material, swapped as its files change.
pub struct Reloadable {
    config: TlsConfig,
    id: u64,
    current: RwLock<Arc<Current>>,
    /// The bytes of the last file set that did not load: it is said once,
    /// not at every interval until an operator fixes it.
    refused: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl Reloadable {
    pub fn load(config: &TlsConfig, id: u64) -> Result<Self, TlsError> {
        let current = Self::read(config, id)?;
        Ok(Self {
            config: config.clone(),
            id,
            current: RwLock::new(Arc::new(current)),
            refused: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn read(config: &TlsConfig, id: u64) -> Result<Current, TlsError> {
        let files = file_bytes(config);
        let material = Material::load(config, id)?;
        // Every configuration is built here, once per file set: a key that
        // does not match its certificate is an error now (at start, or at a
        // reload that keeps the old set), not at the first connection.
        material.peer_client(id)?;
        Ok(Current {
            raft: material.raft_server()?,
            api: material.api_server()?,
            http: material.http_server()?,
            material: Arc::new(material),
            files,
        })
    }

    fn current(&self) -> Arc<Current> {
        self.current.read().expect("tls lock").clone()
    }

    pub fn material(&self) -> Arc<Material> {
        self.current().material.clone()
    }

    pub fn server_config(&self, port: Port) -> Arc<ServerConfig> {
        let current = self.current();
        match port {
            Port::Raft => current.raft.clone(),
            Port::Api => current.api.clone(),
            Port::Http => current.http.clone(),
        }
    }

    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.config.handshake_timeout_ms.max(1))
    }

    /// Reads the files again; `Ok(true)` when they changed and now serve,
    /// `Ok(false)` when nothing changed (or they are the set refused last).
    pub fn reload(&self) -> Result<bool, TlsError> {
        let files = file_bytes(&self.config);
        if files == self.current().files || files == *self.refused.lock().expect("tls lock") {
            return Ok(false);
        }
        match Self::read(&self.config, self.id) {
            Ok(next) => {
                *self.current.write().expect("tls lock") = Arc::new(next);
                Ok(true)
            }
            Err(e) => {
                *self.refused.lock().expect("tls lock") = files;
                Err(e)
            }
        }
    }
}

/// The bytes of every file of `config`; a file that cannot be read gives
/// none (the load that follows names the problem).
fn file_bytes(config: &TlsConfig) -> Vec<Vec<u8>> {
    let mut paths = vec![&config.ca_file, &config.cert_file, &config.key_file];
    if let Some(http) = &config.http {
        paths.extend([&http.cert_file, &http.key_file]);
    }
    paths
        .into_iter()
        .map(|p| std::fs::read(p).unwrap_or_default())
        .collect()
}

/// Reloads every `interval` and on SIGHUP until the node stops.
pub async fn run(tls: Arc<Reloadable>, interval: Duration, mut stopping: watch::Receiver<bool>) {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let hup = async {
            match hangup.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = ticker.tick() => {}
            _ = hup => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        let tls = tls.clone();
        let outcome = tokio::task::spawn_blocking(move || (tls.reload(), tls.id)).await;
        match outcome {
            Ok((Ok(true), id)) => tracing::info!(
                node = id,
                "reloaded the TLS certificates: new connections use them"
            ),
            Ok((Ok(false), _)) => {}
            Ok((Err(e), id)) => tracing::error!(
                node = id,
                "the TLS files changed but do not load; the old certificates stay: {e}"
            ),
            Err(e) => tracing::error!("reloading the TLS certificates failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::certs;

    fn write_node(dir: &std::path::Path, ca: &certs::Issued, id: u64) {
        let node = certs::create_node(ca, id, &["127.0.0.1".into()], 30).unwrap();
        std::fs::write(dir.join("node.pem"), node.cert_pem).unwrap();
        std::fs::write(dir.join("node-key.pem"), node.key_pem).unwrap();
    }

    #[test]
    fn a_changed_set_swaps_and_a_bad_one_is_refused_once_and_kept_out() {
        crate::tls::install_provider();
        let dir = tempfile::TempDir::new().unwrap();
        let ca = certs::create_ca("reload test", 30).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &ca.cert_pem).unwrap();
        write_node(dir.path(), &ca, 1);
        let config = TlsConfig {
            ca_file: dir.path().join("ca.pem"),
            cert_file: dir.path().join("node.pem"),
            key_file: dir.path().join("node-key.pem"),
            http: None,
            handshake_timeout_ms: 1_000,
            reload_interval_ms: 100,
            require_client_cert: false,
        };
        let tls = Reloadable::load(&config, 1).unwrap();
        let first = tls.material();
        assert!(!tls.reload().unwrap(), "nothing changed");

        // Node 2's certificate in node 1's files: refused, said once.
        write_node(dir.path(), &ca, 2);
        let err = tls.reload().unwrap_err().to_string();
        assert!(err.contains("node 2's certificate"), "{err}");
        assert!(!tls.reload().unwrap(), "the refused set is not tried again");
        assert!(
            Arc::ptr_eq(&first, &tls.material()),
            "the old certificates stay"
        );

        write_node(dir.path(), &ca, 1);
        assert!(tls.reload().unwrap(), "a good set swaps in");
        assert!(!Arc::ptr_eq(&first, &tls.material()));
    }
}
