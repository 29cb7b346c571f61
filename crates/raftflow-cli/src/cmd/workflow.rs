//! `raftflow workflow`: state machines.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use raftflow_client::Client;
use serde_json::json;

use crate::output::{table, Format};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Register a state machine (a new version if the name exists).
    Create(CreateArgs),
    /// Same as create: adds a version when the definition changed.
    Update(CreateArgs),
    /// Check a definition and list every problem with its location.
    Validate {
        #[arg(long)]
        definition: PathBuf,
    },
    /// Show a state machine's definition.
    Describe {
        name: String,
        /// A version number; the latest by default.
        #[arg(long, default_value_t = 0)]
        version: u32,
    },
    /// Executions of a state machine over the last hour, day or week:
    /// started, ended by status, success rate, duration percentiles.
    Stats {
        name: String,
        /// hour (minute buckets), day or week (hour buckets).
        #[arg(long, default_value = "day")]
        window: String,
        /// One version; every version added up by default.
        #[arg(long, default_value_t = 0)]
        version: u32,
    },
    /// List state machines.
    List,
    /// Delete a state machine; refused while executions run unless forced.
    Delete {
        name: String,
        #[arg(long)]
        force: bool,
    },
    /// Draw a definition as Graphviz DOT or Mermaid.
    Graph {
        /// A definition file; or use --name to fetch one from the cluster.
        #[arg(long)]
        definition: Option<PathBuf>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "dot", value_parser = ["dot", "mermaid"])]
        format: String,
    },
}

#[derive(clap::Args)]
pub struct CreateArgs {
    #[arg(long)]
    name: String,
    /// The ASL JSON file.
    #[arg(long)]
    definition: PathBuf,
    #[arg(long, default_value = "")]
    description: String,
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

pub async fn run(command: Command, client: &Client, format: Format) -> anyhow::Result<ExitCode> {
    match command {
        Command::Create(args) | Command::Update(args) => {
            let reply = client
                .create_state_machine(&args.name, &read(&args.definition)?, &args.description)
                .await?;
            match format {
                Format::Text => println!(
                    "{} version {}{}",
                    reply.name,
                    reply.version,
                    if reply.created { "" } else { " (unchanged)" }
                ),
                _ => println!(
                    "{}",
                    json!({"name": reply.name, "version": reply.version, "created": reply.created})
                ),
            }
        }
        Command::Validate { definition } => {
            let text = read(&definition)?;
            let reply = client
                .validate_definition(&text)
                .await
                .or_else(|_| local_validate(&text))?;
            match format {
                Format::Text if reply.valid => println!("{} is valid", definition.display()),
                Format::Text => reply
                    .diagnostics
                    .iter()
                    .for_each(|d| println!("{} [{}]: {}", d.location, d.code, d.message)),
                _ => println!(
                    "{}",
                    json!({"valid": reply.valid, "diagnostics": reply.diagnostics.iter().map(|d| json!({"location": d.location, "code": d.code, "message": d.message})).collect::<Vec<_>>()})
                ),
            }
            return Ok(if reply.valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Describe { name, version } => {
            let sm = client.describe_state_machine(&name, version).await?;
            match format {
                Format::Text => {
                    println!(
                        "name: {}\nversion: {} (latest {})\ndescription: {}",
                        sm.name, sm.version, sm.latest_version, sm.description
                    );
                    let pretty = serde_json::from_str::<serde_json::Value>(&sm.definition)
                        .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default());
                    println!("{}", pretty.unwrap_or(sm.definition));
                }
                _ => println!(
                    "{}",
                    json!({"name": sm.name, "version": sm.version, "latest_version": sm.latest_version, "description": sm.description, "definition": serde_json::from_str::<serde_json::Value>(&sm.definition).unwrap_or_default()})
                ),
            }
        }
        Command::Stats {
            name,
            window,
            version,
        } => {
            let reply = client.get_statistics(&name, &window, version).await?;
            super::workflow_stats::print(&reply, format);
        }
        Command::List => {
            let all = client.list_state_machines().await?;
            match format {
                Format::Text => table(&["NAME", "LATEST VERSION", "DESCRIPTION"], &all.iter().map(|s| vec![s.name.clone(), s.latest_version.to_string(), s.description.clone()]).collect::<Vec<_>>()),
                _ => all.iter().for_each(|s| println!("{}", json!({"name": s.name, "latest_version": s.latest_version, "description": s.description}))),
            }
        }
        Command::Delete { name, force } => {
            client.delete_state_machine(&name, force).await?;
            println!("deleted {name}");
        }
        Command::Graph {
            definition,
            name,
            format: graph_format,
        } => {
            let text = match (definition, name) {
                (Some(path), _) => read(&path)?,
                (None, Some(name)) => client.describe_state_machine(&name, 0).await?.definition,
                (None, None) => {
                    return Ok(super::usage_error("give --definition FILE or --name NAME"))
                }
            };
            let machine = match raftflow_core::bounds::parse_checked(&text) {
                Ok(m) => m,
                Err(d) => {
                    d.iter().for_each(|d| eprintln!("{d}"));
                    return Ok(ExitCode::from(2));
                }
            };
            let out = if graph_format == "mermaid" {
                raftflow_core::graph::to_mermaid(&machine)
            } else {
                raftflow_core::graph::to_dot(&machine)
            };
            print!("{out}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Validation needs no cluster: fall back to the engine in this binary.
fn local_validate(text: &str) -> anyhow::Result<raftflow_client::proto::ValidateReply> {
    let diagnostics = match raftflow_core::bounds::parse_checked(text) {
        Ok(_) => Vec::new(),
        Err(d) => d
            .into_iter()
            .map(|d| raftflow_client::proto::Diagnostic {
                location: d.location,
                code: d.code,
                message: d.message,
            })
            .collect(),
    };
    Ok(raftflow_client::proto::ValidateReply {
        valid: diagnostics.is_empty(),
        diagnostics,
    })
}
