//! `raftflow worker run`: turns any program into a worker.

use std::process::ExitCode;
use std::sync::Arc;

use raftflow_client::{Client, TaskError, Worker};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Run COMMAND once per task of ACTIVITY (see the README for the contract).
    Run {
        #[arg(long)]
        activity: String,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Worker name reported to the cluster.
        #[arg(long)]
        identity: Option<String>,
        /// The program and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Answer every task of ACTIVITY with its own input: a worker that
    /// needs no program, for checking a deployment end to end (the image
    /// has no shell).
    Echo {
        #[arg(long)]
        activity: String,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Worker name reported to the cluster.
        #[arg(long)]
        identity: Option<String>,
    },
}

pub async fn run(command: Command, client: Client) -> anyhow::Result<ExitCode> {
    let (activity, concurrency, identity, command) = match command {
        Command::Run {
            activity,
            concurrency,
            identity,
            command,
        } => (activity, concurrency, identity, command),
        Command::Echo {
            activity,
            concurrency,
            identity,
        } => return echo(client, activity, concurrency, identity).await,
    };
    if concurrency == 0 {
        return Ok(super::usage_error("--concurrency must be at least 1"));
    }
    let identity = identity.unwrap_or_else(|| format!("shell-{}-{}", activity, std::process::id()));
    let command = Arc::new(command);
    eprintln!(
        "worker {identity}: running `{}` for activity {activity}",
        command.join(" ")
    );
    let worker = Worker::new(Arc::new(client), identity)
        .concurrency(concurrency)
        .handle(activity, move |task| {
            let command = command.clone();
            async move {
                super::shell::run(&command, &task.input, &task.trace_parent)
                    .await
                    .result
                    .map_err(|(e, c)| TaskError::new(e, c))
            }
        });
    worker.run(super::shutdown_signal()).await;
    eprintln!("worker stopped: every task in hand was finished and reported");
    Ok(ExitCode::SUCCESS)
}

/// `raftflow worker echo`: every task's output is its input.
async fn echo(
    client: Client,
    activity: String,
    concurrency: usize,
    identity: Option<String>,
) -> anyhow::Result<ExitCode> {
    if concurrency == 0 {
        return Ok(super::usage_error("--concurrency must be at least 1"));
    }
    let identity = identity.unwrap_or_else(|| format!("echo-{}-{}", activity, std::process::id()));
    eprintln!("worker {identity}: answering every task of activity {activity} with its input");
    let worker = Worker::new(Arc::new(client), identity)
        .concurrency(concurrency)
        .handle(activity, |task| async move {
            Ok::<String, TaskError>(task.input)
        });
    worker.run(super::shutdown_signal()).await;
    eprintln!("worker stopped: every task in hand was finished and reported");
    Ok(ExitCode::SUCCESS)
}
