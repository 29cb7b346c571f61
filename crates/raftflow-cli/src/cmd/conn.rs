//! How the CLI reaches a cluster: its endpoints, TLS and its API token.
//!
//! TLS settings come from `--ca/--cert/--key` (RAFTFLOW_CA, RAFTFLOW_CERT,
//! RAFTFLOW_KEY); without them, the local cluster's certificates that
//! `raftflow dev` and the demo make in `data/certs` are found by themselves.
//! The token comes from `--token` (RAFTFLOW_TOKEN) or `--token-file`
//! (RAFTFLOW_TOKEN_FILE); without them, the local cluster's admin token in
//! `data/admin.token`. `--insecure` speaks plaintext and sends no token (and
//! runs nodes without TLS or tokens).

use std::path::{Path, PathBuf};

use raftflow_client::{Client, ClientError, ClientTls};

/// Where `raftflow dev` and the demo keep the local cluster's certificates
/// (cluster-config's `[tls]` files), relative to the working directory.
pub const LOCAL_CERTS_DIR: &str = "data/certs";
/// A file in the local certificates' folder saying the local cluster runs
/// without TLS (`raftflow dev --insecure`).
pub const INSECURE_MARKER: &str = "INSECURE";
/// Where the local cluster keeps its first admin token (cluster-config's
/// `[auth] bootstrap_token_file`), relative to the working directory.
pub const LOCAL_TOKEN_FILE: &str = "data/admin.token";

#[derive(clap::Args, Clone, Debug)]
pub struct TlsArgs {
    /// The cluster's CA certificate (PEM); turns TLS on. Without it the
    /// local cluster's (data/certs) is used when present.
    #[arg(long, global = true, env = "RAFTFLOW_CA")]
    pub ca: Option<PathBuf>,
    /// A client certificate (PEM) to show the nodes, with --key.
    #[arg(long, global = true, env = "RAFTFLOW_CERT")]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, global = true, env = "RAFTFLOW_KEY")]
    pub key: Option<PathBuf>,
    /// Plaintext: no TLS to the cluster, and nodes started by this command
    /// (server, dev, demo) run without it. Anyone on the network can then
    /// read and change everything.
    #[arg(long, global = true, env = "RAFTFLOW_INSECURE")]
    pub insecure: bool,
    /// The API token to send (`authorization: Bearer …`). Prefer
    /// RAFTFLOW_TOKEN or --token-file: a command line is visible to others.
    #[arg(long, global = true, env = "RAFTFLOW_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the API token on its first line.
    #[arg(long, global = true, env = "RAFTFLOW_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// The W3C trace context to make the calls in (`00-<trace>-<span>-01`):
    /// an execution started with it is traced as the caller's child. A
    /// shell worker's command finds its task's in TRACEPARENT.
    #[arg(long, global = true, env = "TRACEPARENT")]
    pub traceparent: Option<String>,
}

/// The endpoints and TLS settings of one invocation.
#[derive(Clone, Debug)]
pub struct Conn {
    pub endpoints: Vec<String>,
    pub tls: Option<ClientTls>,
    pub insecure: bool,
    /// The API token's secret, sent with every call.
    pub token: Option<String>,
    /// The trace the calls are made in.
    pub trace_parent: Option<String>,
}

impl Conn {
    pub fn new(endpoints: Vec<String>, args: &TlsArgs) -> anyhow::Result<Self> {
        let tls = if args.insecure {
            None
        } else if let Some(ca) = &args.ca {
            Some(ClientTls::from_files(
                ca,
                args.cert.as_deref(),
                args.key.as_deref(),
            )?)
        } else {
            local_tls(Path::new(LOCAL_CERTS_DIR))?
        };
        let token = match (&args.token, &args.token_file) {
            _ if args.insecure => None,
            (Some(token), _) => Some(token.clone()),
            (None, Some(file)) => Some(raftflow_client::read_token_file(file)?),
            (None, None) => local_token(Path::new(LOCAL_TOKEN_FILE)),
        };
        Ok(Self {
            endpoints,
            tls,
            insecure: args.insecure,
            token,
            trace_parent: args.traceparent.clone().filter(|t| !t.trim().is_empty()),
        })
    }

    pub fn client(&self) -> Result<Client, ClientError> {
        let mut client = Client::with_tls(&self.endpoints, self.tls.clone())?;
        if let Some(trace) = &self.trace_parent {
            client = client.with_trace_parent(trace)?;
        }
        match &self.token {
            Some(token) => client.with_token(token),
            None => Ok(client),
        }
    }

    /// The same settings for other endpoints.
    pub fn at(&self, endpoints: Vec<String>) -> Self {
        Self {
            endpoints,
            ..self.clone()
        }
    }
}

/// The local cluster's admin token, when `path` holds one.
pub fn local_token(path: &Path) -> Option<String> {
    raftflow_client::read_token_file(path).ok()
}

/// The local cluster's client TLS, when `dir` holds its certificates and
/// the local cluster does not run insecure.
pub fn local_tls(dir: &Path) -> anyhow::Result<Option<ClientTls>> {
    let ca = dir.join("ca.pem");
    let (cert, key) = (
        dir.join("client-local.pem"),
        dir.join("client-local-key.pem"),
    );
    if !ca.exists() || dir.join(INSECURE_MARKER).exists() {
        return Ok(None);
    }
    let identity = cert.exists() && key.exists();
    Ok(Some(ClientTls::from_files(
        &ca,
        identity.then_some(cert.as_path()),
        identity.then_some(key.as_path()),
    )?))
}
