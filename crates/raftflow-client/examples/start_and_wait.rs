//! Registers a small workflow, starts an execution and waits for its result.
//!
//! Against the local cluster (`raftflow dev`), with `worker` running beside it:
//!     cargo run -p raftflow-client --example start_and_wait

use raftflow_client::Client;

const GREETING: &str = r#"{
  "StartAt": "Greet",
  "States": {
    "Greet": {"Type": "Task", "Resource": "activity:greet", "TimeoutSeconds": 30, "End": true}
  }
}"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoints = std::env::var("RAFTFLOW_ENDPOINTS")
        .unwrap_or_else(|_| "127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203".into());
    let endpoints: Vec<&str> = endpoints.split(',').collect();
    let client = Client::new(&endpoints)?;
    let created = client
        .create_state_machine("greeting", GREETING, "example")
        .await?;
    println!("state machine greeting, version {}", created.version);
    // No name given: the client generates one, so a retried start is the same start.
    let started = client
        .start_execution("greeting", None, r#"{"name": "Ada"}"#)
        .await?;
    println!("started {}", started.execution_id);
    let info = client
        .watch(&started.execution_id, |event| {
            println!("  {:>3} {}", event.id, event.r#type)
        })
        .await?;
    println!("{} {}", info.status, info.output);
    Ok(())
}
