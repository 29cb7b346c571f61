//! `raftflow bench failover`: SIGKILL the leader again and again under load
//! and measure how long the cluster is without one (`--graceful`: SIGTERM,
//! a planned restart, in which the leader hands leadership over first).
//!
//! For each kill: time to a new leader (as the nodes report it), and time to
//! the first task handed to a worker after the kill. At the end, every
//! acknowledged execution must have succeeded.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raftflow_client::Worker;
use serde_json::json;

use super::bench::percentile;
use super::demo::wait_leader;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 20)]
    kills: usize,
    /// Stop the leader with SIGTERM, as a planned restart does (it hands
    /// leadership over before it stops), instead of SIGKILL.
    #[arg(long)]
    graceful: bool,
    /// Folder with node1.toml … node3.toml; the nodes must not be running.
    #[arg(long, default_value = "cluster-config")]
    config_dir: PathBuf,
}

const ONE_TASK: &str = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "activity:failover-bench",
  "TimeoutSeconds": 3, "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 10}], "End": true}}}"#;

pub async fn run(args: Args, conn: &super::conn::Conn) -> anyhow::Result<ExitCode> {
    let local = match super::local::load(&args.config_dir, conn) {
        Ok(local) => local,
        Err(e) => return Ok(super::usage_error(e)),
    };
    let configs = local.paths();
    let client = Arc::new(local.conn.at(local.api_endpoints()).client()?);
    let mut children = match super::dev::start_own_nodes(&client, &configs, conn.insecure).await? {
        Ok(children) => children,
        Err(code) => return Ok(code),
    };
    wait_leader(&client, Duration::from_secs(60))
        .await
        .ok_or_else(|| anyhow::anyhow!("no leader within 60 s"))?;
    client
        .create_state_machine("failover-bench", ONE_TASK, "raftflow bench failover")
        .await?;

    let handed_out: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = handed_out.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new(client.clone(), "failover-bench")
        .concurrency(16)
        .poll_timeout(Duration::from_secs(1))
        .handle("failover-bench", move |_| {
            seen.lock().expect("times").push(Instant::now());
            async { Ok("{}".to_string()) }
        });
    let worker = tokio::spawn(worker.run(async {
        stopped.await.ok();
    }));
    // Steady load: about 20 starts per second, recorded when acknowledged.
    let started: Arc<Mutex<Vec<String>>> = Arc::default();
    let (load_stop_tx, load_stop) = tokio::sync::watch::channel(false);
    let load = {
        let (client, started) = (client.clone(), started.clone());
        tokio::spawn(async move {
            let run = raftflow_server::clock::now_ms();
            let mut i = 0u64;
            while !*load_stop.borrow() {
                if let Ok(r) = client
                    .start_execution("failover-bench", Some(&format!("f{run}-{i}")), "{}")
                    .await
                {
                    started.lock().expect("started").push(r.execution_id);
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let (mut to_leader, mut to_task) = (Vec::new(), Vec::new());
    for k in 1..=args.kills {
        let leader = wait_leader(&client, Duration::from_secs(30))
            .await
            .ok_or_else(|| anyhow::anyhow!("no leader before kill {k}"))?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let child = children.get_mut(&leader).expect("we started every node");
        let killed = Instant::now();
        if args.graceful {
            terminate(child);
        } else {
            child.kill().await?;
        }
        let new_leader_at = loop {
            let statuses = client.status_all(false).await;
            if statuses
                .iter()
                .filter_map(|(_, s)| s.as_ref().ok())
                .any(|s| s.role == "leader" && s.id != leader)
            {
                break killed.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let first_task = loop {
            if let Some(t) = handed_out
                .lock()
                .expect("times")
                .iter()
                .find(|t| **t > killed)
            {
                break t.duration_since(killed);
            }
            if killed.elapsed() > Duration::from_secs(30) {
                anyhow::bail!("no task was handed out within 30 s of kill {k}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        println!(
            "kill {k:>2}: node {leader}; new leader after {:>5} ms, first task after {:>5} ms",
            new_leader_at.as_millis(),
            first_task.as_millis()
        );
        if args.graceful {
            // Its data directory is free once the process is gone.
            let child = children.get_mut(&leader).expect("we started every node");
            tokio::time::timeout(Duration::from_secs(30), child.wait()).await??;
        }
        to_leader.push(new_leader_at.as_secs_f64() * 1000.0);
        to_task.push(first_task.as_secs_f64() * 1000.0);
        children.insert(
            leader,
            super::dev::spawn_node_quiet(&configs[&leader], leader, conn.insecure)?,
        );
    }
    let _ = load_stop_tx.send(true);
    let _ = load.await;
    let ids = started.lock().expect("started").clone();
    let mut lost = 0;
    for id in &ids {
        match tokio::time::timeout(Duration::from_secs(60), client.wait_for_end(id)).await {
            Ok(Ok(info)) if info.status == "SUCCEEDED" => {}
            _ => lost += 1,
        }
    }
    let _ = stop.send(());
    let _ = worker.await;
    for child in children.values_mut() {
        let _ = child.kill().await;
    }
    to_leader.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    to_task.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let record = json!({"bench": "failover", "graceful": args.graceful, "kills": args.kills, "executions": ids.len(), "not_succeeded": lost,
        "new_leader_ms": {"p50": percentile(&to_leader, 50.0), "p99": percentile(&to_leader, 99.0), "max": to_leader.last()},
        "first_task_ms": {"p50": percentile(&to_task, 50.0), "p99": percentile(&to_task, 99.0), "max": to_task.last()}});
    println!("{record}");
    Ok(if lost == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// SIGTERM: the node stops as an operator's restart stops it.
fn terminate(child: &tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}
