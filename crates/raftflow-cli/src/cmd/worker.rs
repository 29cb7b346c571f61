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
}

pub async fn run(command: Command, client: Client) -> anyhow::Result<ExitCode> {
    let Command::Run {
        activity,
        concurrency,
        identity,
        command,
    } = command;
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
                super::shell::run(&command, &task.input)
                    .await
                    .result
                    .map_err(|(e, c)| TaskError::new(e, c))
            }
        });
    worker.run(super::shutdown_signal()).await;
    eprintln!("worker stopped: every task in hand was finished and reported");
    Ok(ExitCode::SUCCESS)
}
