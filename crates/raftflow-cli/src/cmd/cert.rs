//! `raftflow cert`: the cluster's certificates.
//!
//! ```text
//!  raftflow cert create-ca                          certs/ca.pem, certs/ca-key.pem
//!  raftflow cert create-node --id 1 --hosts a,10.0.0.1   certs/node-1.pem, certs/node-1-key.pem
//!  raftflow cert create-client --name ci            certs/client-ci.pem, certs/client-ci-key.pem
//!  raftflow cert list                               subject, names, expiry of every certificate
//! ```
//! Keep ca-key.pem off the nodes: it signs new node certificates.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use raftflow_server::tls::{certs, files, inspect};

use crate::output::{table, Format};

#[derive(clap::Subcommand)]
pub enum Command {
    /// A new cluster CA (ca.pem, ca-key.pem).
    CreateCa {
        #[command(flatten)]
        out: Out,
        /// Days the CA is valid.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// A node's certificate: it names the node (raftflow://node/<id>) and the
    /// hosts it is dialled by.
    CreateNode {
        #[command(flatten)]
        out: Out,
        #[arg(long)]
        id: u64,
        /// DNS names and IP addresses peers and clients dial the node by,
        /// comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        hosts: Vec<String>,
        /// Days the certificate is valid: short lives stand in for revocation
        /// (docs/security.md); a node reloads renewed files by itself.
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// A client certificate (CLI, workers): the API port only.
    CreateClient {
        #[command(flatten)]
        out: Out,
        #[arg(long)]
        name: String,
        /// Days the certificate is valid: short lives stand in for revocation
        /// (docs/security.md); a node reloads renewed files by itself.
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Every certificate in a folder: subject, names and expiry.
    List {
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
    },
}

#[derive(clap::Args)]
pub struct Out {
    /// Folder the files are written to (and the CA is read from).
    #[arg(long, default_value = "certs")]
    dir: PathBuf,
    /// Replace files that exist.
    #[arg(long)]
    force: bool,
}

pub fn run(command: Command, format: Format) -> anyhow::Result<ExitCode> {
    let made = match command {
        Command::CreateCa { out, days } => certs::create_ca("raftflow cluster CA", days)
            .and_then(|ca| certs::write(&out.dir, "ca", &ca, out.force)),
        Command::CreateNode {
            out,
            id,
            hosts,
            days,
        } => read_ca(&out.dir)
            .and_then(|ca| certs::create_node(&ca, id, &hosts, days))
            .and_then(|cert| certs::write(&out.dir, &format!("node-{id}"), &cert, out.force)),
        Command::CreateClient { out, name, days } => read_ca(&out.dir)
            .and_then(|ca| certs::create_client(&ca, &name, days))
            .and_then(|cert| certs::write(&out.dir, &format!("client-{name}"), &cert, out.force)),
        Command::List { dir } => return list(&dir, format),
    };
    match made {
        Ok((cert, key)) => {
            println!("wrote {}", cert.display());
            println!("wrote {} (mode 0600: keep it secret)", key.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(super::usage_error(e)),
    }
}

fn read_ca(dir: &Path) -> Result<certs::Issued, certs::CertError> {
    let (cert, key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    if !cert.exists() {
        return Err(certs::CertError::Invalid(format!(
            "{} does not exist: make the CA first with `raftflow cert create-ca --dir {}`",
            cert.display(),
            dir.display()
        )));
    }
    certs::read_ca(&cert, &key)
}

fn list(dir: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return Ok(super::usage_error(format!("{}: {e}", dir.display()))),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".pem") && !name.ends_with("-key.pem")
        })
        .collect();
    paths.sort();
    let now_s = raftflow_server::clock::now_ms() as i64 / 1000;
    let mut rows = Vec::new();
    let mut docs = Vec::new();
    for path in paths {
        let Ok(chain) = files::read_chain("file", &path) else {
            continue;
        };
        let Some(s) = inspect::summarize(&chain[0]) else {
            continue;
        };
        let days_left = (s.not_after_s - now_s).div_euclid(86_400);
        let file = path
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into());
        docs.push(
            serde_json::json!({"file": file, "subject": s.subject, "issuer": s.issuer,
            "names": s.alt_names, "ca": s.is_ca, "not_before_s": s.not_before_s,
            "not_after_s": s.not_after_s, "days_left": days_left}),
        );
        rows.push(vec![
            file,
            s.subject,
            if s.is_ca {
                "CA".into()
            } else {
                s.alt_names.join(",")
            },
            if days_left < 0 {
                "EXPIRED".into()
            } else {
                format!("{days_left} days")
            },
        ]);
    }
    match format {
        Format::Text => table(&["FILE", "SUBJECT", "NAMES", "EXPIRES IN"], &rows),
        Format::Json => println!("{}", serde_json::Value::Array(docs)),
        Format::Jsonl => docs.iter().for_each(|d| println!("{d}")),
    }
    Ok(ExitCode::SUCCESS)
}
