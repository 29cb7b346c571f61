//! `raftflow connection …`: named credentials HTTP Tasks send
//! (docs/connections.md). Secrets are read from files (or stdin), never
//! from arguments a shell history keeps, and are never shown back.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use raftflow_client::proto::save_connection_request::Credentials;
use raftflow_client::proto::{
    ApiKeyAuth, BasicAuth, BearerAuth, ClientCertAuth, ConnectionInfo, ConnectionKind,
    SaveConnectionRequest,
};
use serde_json::json;

use super::conn::Conn;
use crate::output::{table, Format};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a connection (the same credentials again change nothing).
    Create {
        name: String,
        #[command(flatten)]
        credentials: CredentialArgs,
    },
    /// Replace a connection's credentials.
    Update {
        name: String,
        #[command(flatten)]
        credentials: CredentialArgs,
    },
    /// Its kind, key id and times (never the secret).
    Describe { name: String },
    List {
        #[arg(long, default_value = "")]
        after: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Remove it; HTTP Tasks naming it then fail with States.Runtime.
    Delete { name: String },
    /// Seal every secret again with the nodes' current key (after a rotation).
    Rekey,
    /// Make a new cluster key for `[connections] key_file` (mode 0600).
    Keygen {
        /// Where to write it; stdout when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// One kind of credential; secrets come from files (`-`: stdin).
#[derive(clap::Args)]
pub struct CredentialArgs {
    /// `Authorization: Bearer <the file's first line>`.
    #[arg(long, value_name = "FILE")]
    bearer_token_file: Option<PathBuf>,
    /// `Authorization: Basic`, with --basic-password-file.
    #[arg(long, value_name = "USER", requires = "basic_password_file")]
    basic_user: Option<String>,
    #[arg(long, value_name = "FILE", requires = "basic_user")]
    basic_password_file: Option<PathBuf>,
    /// `<HEADER>: <the file's first line>`, with --api-key-file.
    #[arg(long, value_name = "HEADER", requires = "api_key_file")]
    api_key_header: Option<String>,
    #[arg(long, value_name = "FILE", requires = "api_key_header")]
    api_key_file: Option<PathBuf>,
    /// A client certificate (PEM chain) presented over TLS, with --client-key.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    client_cert: Option<PathBuf>,
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    client_key: Option<PathBuf>,
    #[arg(long, default_value = "")]
    description: String,
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    }
    Ok(text)
}

/// A secret file's first line, trimmed.
pub fn first_line(path: &Path) -> anyhow::Result<String> {
    let text = read_text(path)?;
    Ok(text.lines().next().unwrap_or("").trim().to_string())
}

impl CredentialArgs {
    fn request(self, name: String) -> anyhow::Result<SaveConnectionRequest> {
        let mut given = Vec::new();
        if let Some(file) = &self.bearer_token_file {
            let token = first_line(file)?;
            given.push(Credentials::Bearer(BearerAuth { token }));
        }
        if let (Some(username), Some(file)) = (&self.basic_user, &self.basic_password_file) {
            let password = first_line(file)?;
            let username = username.clone();
            given.push(Credentials::Basic(BasicAuth { username, password }));
        }
        if let (Some(header), Some(file)) = (&self.api_key_header, &self.api_key_file) {
            let value = first_line(file)?;
            let header = header.clone();
            given.push(Credentials::ApiKey(ApiKeyAuth { header, value }));
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let (cert_pem, key_pem) = (read_text(cert)?, read_text(key)?);
            given.push(Credentials::ClientCert(ClientCertAuth {
                cert_pem,
                key_pem,
            }));
        }
        if given.len() != 1 {
            anyhow::bail!("give one kind of credential: --bearer-token-file, --basic-user with --basic-password-file, --api-key-header with --api-key-file, or --client-cert with --client-key");
        }
        Ok(SaveConnectionRequest {
            name,
            description: self.description,
            credentials: given.pop(),
        })
    }
}

pub async fn run(command: Command, conn: &Conn, format: Format) -> anyhow::Result<ExitCode> {
    if let Command::Keygen { out } = &command {
        return keygen(out.as_deref());
    }
    let client = match conn.client() {
        Ok(client) => client,
        Err(e) => return Ok(super::usage_error(e)),
    };
    match command {
        Command::Create { name, credentials } => {
            let reply = client
                .save_connection(credentials.request(name.clone())?, true)
                .await?;
            let verb = if reply.created {
                "saved"
            } else {
                "unchanged (identical)"
            };
            println!("{name} {verb}");
        }
        Command::Update { name, credentials } => {
            let reply = client
                .save_connection(credentials.request(name.clone())?, false)
                .await?;
            println!("{name} saved (revision {})", reply.revision);
        }
        Command::Describe { name } => {
            let info = client.describe_connection(&name).await?;
            match format {
                Format::Text => print_info(&info),
                _ => println!("{}", info_json(&info)),
            }
        }
        Command::List { after, limit } => {
            let page = client.list_connections(&after, limit).await?;
            match format {
                Format::Text => {
                    let rows: Vec<Vec<String>> = page.connections.iter().map(row).collect();
                    table(&["NAME", "KIND", "HEADER", "KEY", "REVISION"], &rows);
                    if !page.next_after.is_empty() {
                        eprintln!("more: --after {}", page.next_after);
                    }
                }
                _ => page
                    .connections
                    .iter()
                    .for_each(|c| println!("{}", info_json(c))),
            }
        }
        Command::Delete { name } => {
            client.delete_connection(&name).await?;
            println!("deleted {name}");
        }
        Command::Rekey => return rekey(&client).await,
        Command::Keygen { .. } => unreachable!("answered above"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn rekey(client: &raftflow_client::Client) -> anyhow::Result<ExitCode> {
    let reply = client.rekey_connections().await?;
    println!(
        "key {}: {} sealed again, {} already under it",
        reply.key_id, reply.rekeyed, reply.current
    );
    for failed in &reply.failed {
        eprintln!("not sealed again: {failed}");
    }
    Ok(if reply.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn keygen(out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let key = raftflow_server::connections::keys::new_key_text();
    match out {
        None => println!("{key}"),
        Some(path) => {
            if path.exists() {
                anyhow::bail!("{} exists: a key is never overwritten", path.display());
            }
            raftflow_server::auth::secret::write_file(path, &key)?;
            eprintln!(
                "wrote a new connection key to {} (mode 0600): give every node the same one",
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn kind(info: &ConnectionInfo) -> &'static str {
    match ConnectionKind::try_from(info.kind) {
        Ok(ConnectionKind::Bearer) => "bearer",
        Ok(ConnectionKind::Basic) => "basic",
        Ok(ConnectionKind::ApiKey) => "api-key",
        Ok(ConnectionKind::ClientCert) => "client-cert",
        _ => "?",
    }
}

fn row(info: &ConnectionInfo) -> Vec<String> {
    vec![
        info.name.clone(),
        kind(info).into(),
        info.header.clone(),
        info.key_id.clone(),
        info.revision.to_string(),
    ]
}

fn print_info(info: &ConnectionInfo) {
    println!("name:        {}", info.name);
    println!("kind:        {}", kind(info));
    if !info.header.is_empty() {
        println!("header:      {}", info.header);
    }
    println!("key id:      {}", info.key_id);
    println!("revision:    {}", info.revision);
    println!("description: {}", info.description);
}

fn info_json(info: &ConnectionInfo) -> serde_json::Value {
    json!({
        "name": info.name, "kind": kind(info), "header": info.header, "key_id": info.key_id,
        "revision": info.revision, "created_ms": info.created_ms, "updated_ms": info.updated_ms,
        "description": info.description,
    })
}
