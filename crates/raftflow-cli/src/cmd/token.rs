//! `raftflow acl bootstrap` and `raftflow token …`: API tokens.

use std::process::ExitCode;

use raftflow_client::proto::{Role, TokenInfo, TokenSecret};
use raftflow_client::Client;
use serde_json::json;

use crate::output::{table, Format};

#[derive(clap::Subcommand)]
pub enum AclCommand {
    /// Turn the ACL system on and print the first admin token. Works once
    /// per cluster (a cluster whose nodes name [auth] bootstrap_token_file
    /// bootstraps itself).
    Bootstrap,
    /// Write a new secret to FILE (mode 0600) for the nodes' [auth]
    /// bootstrap_token_file (RAFTFLOW_BOOTSTRAP_TOKEN_FILE): the cluster
    /// bootstraps itself with it on first start. Offline; refuses to
    /// replace a file that exists.
    NewBootstrapToken { file: std::path::PathBuf },
}

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown this once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// A pattern (`*` matches anything): state machines for operators,
        /// activities for workers. Repeat for more; none means all.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Seconds until it expires; never when absent.
        #[arg(long)]
        ttl_s: Option<u64>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token, by accessor or name: refused on every node once applied.
    Revoke {
        /// The token's accessor or name (not `token`: that is the global
        /// --token this command is sent with).
        #[arg(value_name = "ACCESSOR_OR_NAME")]
        which: String,
    },
    /// Give a token a new secret (printed); the old one stops working.
    Rotate {
        #[arg(value_name = "ACCESSOR_OR_NAME")]
        which: String,
    },
    /// Show the token this command sends.
    Whoami,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum RoleArg {
    Admin,
    Operator,
    Worker,
    Reader,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Operator => Role::Operator,
            RoleArg::Worker => Role::Worker,
            RoleArg::Reader => Role::Reader,
        }
    }
}

pub async fn run_acl(
    command: AclCommand,
    client: &Client,
    format: Format,
) -> anyhow::Result<ExitCode> {
    match command {
        AclCommand::Bootstrap => print_secret(&client.acl_bootstrap().await?, format),
        AclCommand::NewBootstrapToken { file } => return new_bootstrap_token(&file),
    }
    Ok(ExitCode::SUCCESS)
}

fn new_bootstrap_token(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    if file.exists() {
        return Ok(super::usage_error(format!(
            "{} exists: a bootstrap token is made once; remove the file first to make a new one",
            file.display()
        )));
    }
    let secret = raftflow_server::auth::secret::new_secret();
    raftflow_server::auth::secret::write_file(file, &secret)?;
    println!(
        "wrote a new admin token to {} (mode 0600): keep it secret",
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn run(
    command: TokenCommand,
    client: &Client,
    format: Format,
) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create {
            name,
            role,
            scopes,
            ttl_s,
        } => {
            let created = client
                .create_token(&name, role.into(), &scopes, ttl_s.unwrap_or(0))
                .await?;
            print_secret(&created, format);
        }
        TokenCommand::List => {
            let tokens = client.list_tokens().await?;
            match format {
                Format::Text => table(
                    &["ACCESSOR", "NAME", "ROLE", "SCOPES", "EXPIRES (ms)"],
                    &tokens.iter().map(row).collect::<Vec<_>>(),
                ),
                _ => tokens.iter().for_each(|t| println!("{}", info_json(t))),
            }
        }
        TokenCommand::Revoke { which } => {
            client.revoke_token(&which).await?;
            println!("revoked {which}");
        }
        TokenCommand::Rotate { which } => print_secret(&client.rotate_token(&which).await?, format),
        TokenCommand::Whoami => {
            let me = client.who_am_i().await?;
            match format {
                Format::Text => table(
                    &["ACCESSOR", "NAME", "ROLE", "SCOPES", "EXPIRES (ms)"],
                    &[row(&me)],
                ),
                _ => println!("{}", info_json(&me)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn role_name(role: i32) -> &'static str {
    match Role::try_from(role) {
        Ok(Role::Admin) => "admin",
        Ok(Role::Operator) => "operator",
        Ok(Role::Worker) => "worker",
        Ok(Role::Reader) => "reader",
        _ => "unknown",
    }
}

fn row(t: &TokenInfo) -> Vec<String> {
    vec![
        t.accessor.clone(),
        t.name.clone(),
        role_name(t.role).to_string(),
        if t.scopes.is_empty() {
            "*".into()
        } else {
            t.scopes.join(",")
        },
        if t.expires_at_ms == 0 {
            "never".into()
        } else {
            t.expires_at_ms.to_string()
        },
    ]
}

fn info_json(t: &TokenInfo) -> serde_json::Value {
    json!({
        "accessor": t.accessor, "name": t.name, "role": role_name(t.role), "scopes": t.scopes,
        "expires_at_ms": t.expires_at_ms, "created_ms": t.created_ms, "rotated_ms": t.rotated_ms,
    })
}

fn print_secret(secret: &TokenSecret, format: Format) {
    let info = secret.token.clone().unwrap_or_default();
    match format {
        Format::Text => {
            println!("accessor: {}", info.accessor);
            println!("name:     {}", info.name);
            println!("role:     {}", role_name(info.role));
            println!("secret:   {}", secret.secret);
            eprintln!("the secret is shown only now: keep it where only its user can read it");
        }
        _ => {
            let mut value = info_json(&info);
            value["secret"] = json!(secret.secret);
            println!("{value}");
        }
    }
}
