//! `raftflow execution` (alias `exec`): start, watch and inspect executions.

use std::process::ExitCode;

use raftflow_client::proto::{ExecutionInfo, HistoryEvent};
use raftflow_client::Client;
use serde_json::json;

use crate::output::{table, Format};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Start an execution; with --wait, follow it and exit non-zero unless it succeeds.
    Start {
        /// State machine name, or name:version.
        #[arg(long)]
        state_machine: String,
        /// Execution name (generated when absent). Starting the same name with the same input is idempotent.
        #[arg(long)]
        name: Option<String>,
        /// JSON text, or @FILE.
        #[arg(long, default_value = "{}")]
        input: String,
        #[arg(long)]
        wait: bool,
    },
    Describe {
        execution_id: String,
    },
    List {
        #[arg(long, default_value = "")]
        state_machine: String,
        /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED.
        #[arg(long, default_value = "")]
        status: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    History {
        execution_id: String,
        #[arg(long)]
        reverse: bool,
    },
    Stop {
        execution_id: String,
        #[arg(long, default_value = "States.Aborted")]
        error: String,
        #[arg(long, default_value = "")]
        cause: String,
    },
    /// Print events as they happen until the execution ends; exit non-zero unless it succeeded.
    Watch {
        execution_id: String,
    },
}

fn info_json(e: &ExecutionInfo) -> serde_json::Value {
    let parse =
        |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap_or(serde_json::Value::Null);
    json!({"execution_id": e.execution_id, "state_machine": e.state_machine, "version": e.version, "status": e.status,
        "input": parse(&e.input), "output": if e.output.is_empty() { serde_json::Value::Null } else { parse(&e.output) },
        "error": e.error, "cause": e.cause, "start_ms": e.start_ms, "stop_ms": e.stop_ms})
}

fn print_event(e: &HistoryEvent, format: Format) {
    match format {
        Format::Text => println!(
            "{:>4}  {}  {:<28} {}",
            e.id,
            raftflow_core::time::format_millis(e.timestamp_ms),
            e.r#type,
            e.details
        ),
        _ => println!(
            "{}",
            json!({"id": e.id, "previous_event_id": e.previous_event_id, "timestamp_ms": e.timestamp_ms, "type": e.r#type, "details": serde_json::from_str::<serde_json::Value>(&e.details).unwrap_or_default()})
        ),
    }
}

fn print_info(e: &ExecutionInfo, format: Format) {
    match format {
        Format::Text => {
            println!("execution: {}\nstatus:    {}", e.execution_id, e.status);
            if !e.output.is_empty() {
                println!("output:    {}", e.output);
            }
            if !e.error.is_empty() {
                println!("error:     {}\ncause:     {}", e.error, e.cause);
            }
        }
        _ => println!("{}", info_json(e)),
    }
}

fn status_code(e: &ExecutionInfo) -> ExitCode {
    if e.status == "SUCCEEDED" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

pub async fn run(command: Command, client: &Client, format: Format) -> anyhow::Result<ExitCode> {
    match command {
        Command::Start {
            state_machine,
            name,
            input,
            wait,
        } => {
            let input = super::run_local::read_json_arg(&input)?.to_string();
            let reply = client
                .start_execution(&state_machine, name.as_deref(), &input)
                .await?;
            if !wait {
                match format {
                    Format::Text => println!(
                        "{}{}",
                        reply.execution_id,
                        if reply.created {
                            ""
                        } else {
                            " (already started)"
                        }
                    ),
                    _ => println!(
                        "{}",
                        json!({"execution_id": reply.execution_id, "start_ms": reply.start_ms, "created": reply.created})
                    ),
                }
                return Ok(ExitCode::SUCCESS);
            }
            let info = client.wait_for_end(&reply.execution_id).await?;
            print_info(&info, format);
            Ok(status_code(&info))
        }
        Command::Describe { execution_id } => {
            print_info(&client.describe_execution(&execution_id).await?, format);
            Ok(ExitCode::SUCCESS)
        }
        Command::List {
            state_machine,
            status,
            limit,
        } => {
            let page = client
                .list_executions(&state_machine, &status, limit, "")
                .await?;
            match format {
                Format::Text => table(
                    &["EXECUTION", "STATUS", "STARTED", "DURATION MS"],
                    &page
                        .executions
                        .iter()
                        .map(|e| {
                            vec![
                                e.execution_id.clone(),
                                e.status.clone(),
                                raftflow_core::time::format_millis(e.start_ms),
                                if e.stop_ms > 0 {
                                    (e.stop_ms - e.start_ms).to_string()
                                } else {
                                    "-".into()
                                },
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &page.executions.iter().map(info_json).collect::<Vec<_>>()
                    )?
                ),
                Format::Jsonl => page
                    .executions
                    .iter()
                    .for_each(|e| println!("{}", info_json(e))),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::History {
            execution_id,
            reverse,
        } => {
            for e in client.history(&execution_id, reverse).await? {
                print_event(&e, format);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Stop {
            execution_id,
            error,
            cause,
        } => {
            client.stop_execution(&execution_id, &error, &cause).await?;
            println!("stopped {execution_id}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Watch { execution_id } => {
            let info = client
                .watch(&execution_id, |e| print_event(e, format))
                .await?;
            if format == Format::Text {
                println!("-- {} --", info.status);
            }
            Ok(status_code(&info))
        }
    }
}
