//! `raftflow bench payload`: executions of a chain of Pass states carrying a
//! large input, against the running cluster (`raftflow dev`). Reports
//! executions/s, input MB/s, the elections the load caused (the rise of the
//! highest term any node reports) and the bytes each execution left on each
//! node's disk (the data directories' growth), the figures issue #21's
//! "large payloads" part asks to improve.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use raftflow_client::Client;
use serde_json::json;

use super::bench::percentile;

#[derive(clap::Args)]
pub struct Args {
    /// Bytes of the input's one string (Step Functions' limit is 256 KiB in all).
    #[arg(long, default_value_t = 200_000)]
    bytes: usize,
    /// Pass states in the chain.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=500))]
    states: u16,
    #[arg(long, default_value_t = 200)]
    executions: usize,
    /// Executions in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// What the string is made of: one repeated letter (compresses to
    /// nothing) or random letters and digits (about 6 bits a byte).
    #[arg(long, value_enum, default_value_t = Content::Repeat)]
    content: Content,
    /// The nodes' data directories, whose growth is the bytes on disk.
    #[arg(long, default_values = ["data/node1", "data/node2", "data/node3"])]
    data_dir: Vec<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Content {
    Repeat,
    Random,
}

fn payload(content: Content, bytes: usize) -> String {
    use rand::{distributions::Alphanumeric, Rng, SeedableRng};
    match content {
        Content::Repeat => "x".repeat(bytes),
        Content::Random => rand::rngs::StdRng::seed_from_u64(7)
            .sample_iter(&Alphanumeric)
            .take(bytes)
            .map(char::from)
            .collect(),
    }
}

/// Room left in the 256 KiB data limit for the JSON around the string.
const MAX_BYTES: usize = raftflow_core::execution::MAX_DATA_BYTES - 1024;

fn chain(states: u16) -> String {
    let body: Vec<String> = (1..=states)
        .map(|i| match i == states {
            true => format!(r#""P{i}": {{"Type": "Pass", "End": true}}"#),
            false => format!(r#""P{i}": {{"Type": "Pass", "Next": "P{}"}}"#, i + 1),
        })
        .collect();
    format!(r#"{{"StartAt": "P1", "States": {{{}}}}}"#, body.join(", "))
}

/// The highest term any node reports.
async fn highest_term(client: &Client) -> u64 {
    let statuses = client.status_all(false).await;
    statuses
        .into_iter()
        .filter_map(|(_, s)| s.ok())
        .map(|s| s.term)
        .max()
        .unwrap_or(0)
}

fn disk_bytes(dirs: &[PathBuf]) -> u64 {
    dirs.iter().map(|d| raftflow_store::dir_bytes(d)).sum()
}

pub async fn run(args: Args, client: &Arc<Client>) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (1..=MAX_BYTES).contains(&args.bytes),
        "--bytes must be 1..={MAX_BYTES}: a larger input fails with States.DataLimitExceeded"
    );
    anyhow::ensure!(
        args.executions > 0 && args.concurrency > 0,
        "--executions and --concurrency must be positive"
    );
    let name = format!("bench-payload-{}", args.states);
    client
        .create_state_machine(&name, &chain(args.states), "raftflow bench payload")
        .await?;
    let input = json!({"blob": payload(args.content, args.bytes)}).to_string();
    let (term_before, disk_before) = (highest_term(client).await, disk_bytes(&args.data_dir));
    let run = raftflow_server::clock::now_ms();
    let slots = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(args.executions);
    for i in 0..args.executions {
        let permit = slots.clone().acquire_owned().await?;
        let (client, name, input) = (client.clone(), name.clone(), input.clone());
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            let id = client
                .start_execution(&name, Some(&format!("p{run}-{i}")), &input)
                .await?
                .execution_id;
            let end = client.wait_for_end(&id).await?;
            drop(permit);
            anyhow::Ok((
                end.status == "SUCCEEDED",
                t.elapsed().as_secs_f64() * 1000.0,
            ))
        }));
    }
    let (mut latencies, mut failed) = (Vec::new(), 0usize);
    for h in handles {
        match h.await? {
            Ok((true, ms)) => latencies.push(ms),
            _ => failed += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let elections = highest_term(client).await.saturating_sub(term_before);
    let grown = disk_bytes(&args.data_dir).saturating_sub(disk_before);
    let nodes = args.data_dir.len().max(1) as f64;
    let per_execution_per_node = grown as f64 / nodes / args.executions as f64;
    let mb_per_s = (args.executions * args.bytes) as f64 / seconds / 1e6;
    let record = json!({"bench": "payload", "bytes": args.bytes, "states": args.states, "executions": args.executions,
        "concurrency": args.concurrency, "failed": failed, "seconds": seconds,
        "executions_per_s": args.executions as f64 / seconds, "input_mb_per_s": mb_per_s, "elections": elections,
        "disk_bytes_per_execution_per_node": per_execution_per_node.round(),
        "p50_ms": percentile(&latencies, 50.0), "p99_ms": percentile(&latencies, 99.0)});
    println!("executions/s  input MB/s  elections  disk MB per execution per node  p50 ms  p99 ms  failed");
    println!(
        "{:>12.1}  {mb_per_s:>10.2}  {elections:>9}  {:>30.2}  {:>6.0}  {:>6.0}  {failed}",
        args.executions as f64 / seconds,
        per_execution_per_node / 1e6,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0)
    );
    println!("{record}");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_is_a_valid_definition_of_that_many_pass_states() {
        for states in [1u16, 2, 20] {
            let text = chain(states);
            let def = raftflow_core::parse::parse_definition(&text)
                .unwrap_or_else(|e| panic!("chain({states}) is invalid: {e:?}"));
            assert_eq!(def.states.len(), usize::from(states), "{text}");
        }
    }
}
