//! `raftflow task …`: report a callback task (`.waitForTaskToken`) by its
//! token from outside a worker — what `aws stepfunctions send-task-success`
//! does. Needs `callbacks:report` (or a worker's scope on the activity).

use std::process::ExitCode;

use raftflow_client::Client;

// The positional is `task_token`: `token` is the global API token's id.
#[derive(clap::Subcommand)]
pub enum Command {
    /// The task succeeded with RESULT (JSON): the state's output.
    Complete {
        #[arg(value_name = "TASK_TOKEN")]
        task_token: String,
        #[arg(long, default_value = "{}")]
        result: String,
    },
    /// The task failed with ERROR and CAUSE; the state's Retry and Catch decide.
    Fail {
        #[arg(value_name = "TASK_TOKEN")]
        task_token: String,
        #[arg(long)]
        error: String,
        #[arg(long, default_value = "")]
        cause: String,
    },
    /// The task is still being worked on (resets its HeartbeatSeconds).
    Heartbeat {
        #[arg(value_name = "TASK_TOKEN")]
        task_token: String,
    },
}

pub async fn run(command: Command, client: &Client) -> anyhow::Result<ExitCode> {
    match command {
        Command::Complete { task_token, result } => {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&result) {
                anyhow::bail!("--result is not JSON: {e}");
            }
            client.complete_task(&task_token, &result).await?;
            println!("completed");
        }
        Command::Fail {
            task_token,
            error,
            cause,
        } => {
            client.fail_task(&task_token, &error, &cause).await?;
            println!("failed with {error}");
        }
        Command::Heartbeat { task_token } => {
            client.heartbeat_task(&task_token).await?;
            println!("heartbeat recorded");
        }
    }
    Ok(ExitCode::SUCCESS)
}
