//! `[auth]` in a node's config.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// A file holding the first admin token's secret (Consul's
    /// `initial_management`): the leader of a cluster that has none
    /// bootstraps the ACL system with it, and until then this node takes it
    /// as an admin token. Without it, run `raftflow acl bootstrap`.
    pub bootstrap_token_file: Option<PathBuf>,
    /// A file holding a secret that may read `/metrics` only, for a
    /// Prometheus that should hold no API token.
    pub scrape_token_file: Option<PathBuf>,
    /// Break glass: a file holding a secret this node takes as an admin
    /// token, for when every admin token is lost. Needs access to the
    /// node's files; use it to create a new admin token, then remove it
    /// and restart (docs/security.md).
    pub recovery_token_file: Option<PathBuf>,
    /// Requests per second per token on this node, by role.
    pub rate_limits: super::rate::RateLimits,
}

impl AuthConfig {
    /// Makes relative paths relative to the config file's folder.
    pub fn resolve(&mut self, base: &Path) {
        for path in [
            &mut self.bootstrap_token_file,
            &mut self.scrape_token_file,
            &mut self.recovery_token_file,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
}
