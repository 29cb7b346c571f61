//! `raftflow demo`: the whole promise in one command.
//!
//! Starts the local three-node cluster (or uses one that answers), registers
//! the order workflow, runs flaky workers, submits orders, kills the leader
//! halfway, and checks that every order still ends correctly.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use raftflow_client::Client;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::demo_workers::{order_workers, Chaos, Ledger};

const ORDER_WORKFLOW: &str = include_str!("../../../../examples/order/order.asl.json");

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 200)]
    orders: usize,
    /// Seed for the orders and for the workers' failures.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// No injected failures and no leader kill.
    #[arg(long)]
    no_chaos: bool,
    /// Folder with node1.toml … node3.toml.
    #[arg(long, default_value = "cluster-config")]
    config_dir: PathBuf,
}

struct Nodes {
    children: BTreeMap<u64, tokio::process::Child>,
    configs: BTreeMap<u64, PathBuf>,
    insecure: bool,
}

pub async fn run(args: Args, conn: &super::conn::Conn) -> anyhow::Result<ExitCode> {
    let local = match super::local::load(&args.config_dir, conn) {
        Ok(local) => local,
        Err(e) => return Ok(super::usage_error(e)),
    };
    let endpoints: Vec<String> = if conn.endpoints.join(",") == crate::DEFAULT_ENDPOINTS {
        local.api_endpoints()
    } else {
        conn.endpoints.clone()
    };
    let client = Arc::new(local.conn.at(endpoints.clone()).client()?);
    let insecure = conn.insecure;
    let mut nodes = Nodes {
        children: BTreeMap::new(),
        configs: local.paths(),
        insecure,
    };
    let running = client
        .status_all(false)
        .await
        .iter()
        .any(|(_, s)| s.is_ok());
    if running {
        println!("using the running cluster at {}", endpoints.join(","));
    } else {
        println!(
            "starting the local three-node cluster from {}",
            args.config_dir.display()
        );
        for (id, path) in nodes.configs.clone() {
            nodes
                .children
                .insert(id, super::dev::spawn_node_quiet(&path, id, insecure)?);
        }
    }
    let leader = wait_leader(&client, Duration::from_secs(60))
        .await
        .context("no leader was elected within 60 s")?;
    println!("leader: node {leader}");
    let sm = client
        .create_state_machine("order-demo", ORDER_WORKFLOW, "the raftflow demo")
        .await?;
    println!("registered order-demo version {}", sm.version);

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let chaos = Arc::new(Chaos::new(args.seed, !args.no_chaos));
    let (stop_workers, workers_stopped) = tokio::sync::oneshot::channel::<()>();
    let workers = tokio::spawn(
        order_workers(client.clone(), chaos, ledger.clone()).run(async {
            workers_stopped.await.ok();
        }),
    );

    let run_id = format!("{}-{}", args.seed, raftflow_server::clock::now_ms());
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..args.orders {
        let card = if rng.gen_bool(0.05) { "declined" } else { "ok" };
        let fraud = if rng.gen_bool(0.1) {
            rng.gen_range(50..100)
        } else {
            rng.gen_range(0..50)
        };
        let items: Vec<&str> = if rng.gen_bool(0.02) {
            vec![]
        } else {
            vec!["book", "lamp"]
        };
        let input = json!({"orderId": format!("{run_id}-{i}"), "items": items, "card": card, "fraudScore": fraud});
        ids.push(
            client
                .start_execution(
                    "order-demo",
                    Some(&format!("order-{run_id}-{i}")),
                    &input.to_string(),
                )
                .await?
                .execution_id,
        );
    }
    println!("submitted {} orders", ids.len());

    let mut kill: Option<(u64, Duration)> = None;
    let mut finished: BTreeMap<String, String> = BTreeMap::new();
    let total = ids.len();
    let deadline = Instant::now() + Duration::from_secs(300 + total as u64);
    let ours: std::collections::BTreeSet<&String> = ids.iter().collect();
    while finished.len() < total && Instant::now() < deadline {
        for status in ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] {
            let mut token = String::new();
            loop {
                let Ok(page) = client
                    .list_executions("order-demo", status, 1000, &token)
                    .await
                else {
                    break;
                };
                for info in page.executions {
                    if ours.contains(&info.execution_id)
                        && !finished.contains_key(&info.execution_id)
                    {
                        finished.insert(
                            info.execution_id,
                            if info.status == "FAILED" {
                                info.error
                            } else {
                                info.status
                            },
                        );
                    }
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
        }
        progress(finished.len(), total);
        if kill.is_none()
            && !args.no_chaos
            && !nodes.children.is_empty()
            && finished.len() * 2 >= total
        {
            kill = Some(kill_leader(&client, &mut nodes).await?);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!();
    let elapsed = started.elapsed();
    let _ = stop_workers.send(());
    let _ = tokio::time::timeout(Duration::from_secs(15), workers).await;
    let nodes_answer = !client
        .status_all(false)
        .await
        .iter()
        .all(|(_, s)| s.is_err());
    let ok = {
        let ledger = ledger.lock().expect("ledger");
        summary(&finished, total, &ledger, kill, elapsed, nodes_answer)
    };
    for (_, child) in nodes.children.iter_mut() {
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn progress(done: usize, total: usize) {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        // Logs and pipes get a line per quarter, not a redrawn bar.
        static LAST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let quarter = done * 4 / total.max(1);
        if quarter > LAST.swap(quarter, std::sync::atomic::Ordering::Relaxed) {
            println!("{done}/{total} orders finished");
        }
        return;
    }
    let width = 40;
    let filled = done * width / total.max(1);
    print!(
        "\r[{}{}] {done}/{total} orders finished",
        "#".repeat(filled),
        ".".repeat(width - filled)
    );
    let _ = std::io::stdout().flush();
}

pub(crate) async fn wait_leader(client: &Client, timeout: Duration) -> Option<u64> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        for (_, s) in client.status_all(false).await {
            if let Ok(s) = s {
                if s.role == "leader" {
                    return Some(s.id);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// SIGKILLs the leader, measures how long until a write commits again, and
/// restarts the killed node from its own data.
async fn kill_leader(client: &Client, nodes: &mut Nodes) -> anyhow::Result<(u64, Duration)> {
    let leader = wait_leader(client, Duration::from_secs(30))
        .await
        .context("no leader to kill")?;
    let child = nodes
        .children
        .get_mut(&leader)
        .context("the leader is not one of our nodes")?;
    println!("\nkilling the leader, node {leader} (SIGKILL)");
    child.kill().await?;
    let killed_at = Instant::now();
    loop {
        if client.probe("demo-failover", b"x").await.is_ok() {
            break;
        }
    }
    let resumed = killed_at.elapsed();
    println!(
        "the cluster accepted writes again after {} ms; restarting node {leader}",
        resumed.as_millis()
    );
    let path = nodes.configs[&leader].clone();
    nodes.children.insert(
        leader,
        super::dev::spawn_node_quiet(&path, leader, nodes.insecure)?,
    );
    Ok((leader, resumed))
}

fn summary(
    finished: &BTreeMap<String, String>,
    total: usize,
    ledger: &Ledger,
    kill: Option<(u64, Duration)>,
    elapsed: Duration,
    nodes_answer: bool,
) -> bool {
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for s in finished.values() {
        *by_status.entry(s.as_str()).or_default() += 1;
    }
    println!("\n== summary ==");
    for (status, n) in &by_status {
        println!("  {status:<24} {n}");
    }
    println!(
        "  service calls: {} (injected failures {}, stalls {})",
        ledger.calls, ledger.injected_failures, ledger.injected_stalls
    );
    match kill {
        Some((node, resumed)) => println!(
            "  killed leader: node {node}; writes resumed after {} ms",
            resumed.as_millis()
        ),
        None => println!("  no leader was killed"),
    }
    println!(
        "  throughput: {:.1} orders/s over {:.1} s",
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    let doubly = ledger
        .captured
        .keys()
        .filter(|k| ledger.refunded.contains_key(*k))
        .count();
    let refund_without_auth = ledger
        .refunded
        .keys()
        .filter(|k| !ledger.authorized.contains_key(*k))
        .count();
    let captured_without_auth = ledger
        .captured
        .keys()
        .filter(|k| !ledger.authorized.contains_key(*k))
        .count();
    let checks = [
        (
            "every submitted order reached a final status",
            finished.len() == total,
        ),
        ("no order was both captured and refunded", doubly == 0),
        (
            "no refund without an authorization",
            refund_without_auth == 0,
        ),
        (
            "no capture without an authorization",
            captured_without_auth == 0,
        ),
        (
            "the cluster's nodes answer after the failover",
            nodes_answer,
        ),
    ];
    let mut ok = true;
    for (name, pass) in checks {
        println!("  [{}] {name}", if pass { "ok" } else { "FAILED" });
        ok &= pass;
    }
    ok
}
