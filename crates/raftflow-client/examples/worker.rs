//! A worker for the `greet` activity of the `start_and_wait` example.
//!
//!     cargo run -p raftflow-client --example worker
//!
//! Ctrl-C stops polling and finishes the tasks in hand.

use std::sync::Arc;

use raftflow_client::{Client, TaskError, Worker};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoints = std::env::var("RAFTFLOW_ENDPOINTS")
        .unwrap_or_else(|_| "127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203".into());
    let endpoints: Vec<&str> = endpoints.split(',').collect();
    let client = Arc::new(Client::new(&endpoints)?);
    Worker::new(client, "example-worker")
        .concurrency(4)
        .handle("greet", |task| async move {
            let input: serde_json::Value = serde_json::from_str(&task.input)
                .map_err(|e| TaskError::new("Greet.BadInput", e.to_string()))?;
            let name = input["name"]
                .as_str()
                .ok_or_else(|| TaskError::new("Greet.NoName", "the input has no name"))?;
            Ok(serde_json::json!({"greeting": format!("Hello, {name}!")}).to_string())
        })
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    Ok(())
}
