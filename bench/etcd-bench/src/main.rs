//! `etcd-bench --endpoints A,B,C --writers N --seconds S`: puts from N
//! concurrent writers, each to its own key with an 8-byte value, on one
//! channel to the leader, as `raftflow bench log` probes raftflow; prints the
//! same table and JSON record so the script can set them side by side.

use std::error::Error;
use std::time::{Duration, Instant};

use etcd_client::Client;

struct Args {
    endpoints: Vec<String>,
    writers: usize,
    seconds: u64,
}

fn args() -> Result<Args, String> {
    let mut parsed = Args {
        endpoints: Vec::new(),
        writers: 1,
        seconds: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--endpoints" => parsed.endpoints = value.split(',').map(str::to_string).collect(),
            "--writers" => parsed.writers = value.parse().map_err(|e| format!("--writers: {e}"))?,
            "--seconds" => parsed.seconds = value.parse().map_err(|e| format!("--seconds: {e}"))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if parsed.endpoints.is_empty() || parsed.writers == 0 {
        return Err("usage: etcd-bench --endpoints A,B,C [--writers N] [--seconds S]".into());
    }
    Ok(parsed)
}

/// The endpoint of the member that leads now.
async fn leader(endpoints: &[String]) -> Result<String, Box<dyn Error>> {
    for endpoint in endpoints {
        let mut client = Client::connect([endpoint.as_str()], None).await?;
        let status = client.status().await?;
        let me = status.header().map(|h| h.member_id());
        if me == Some(status.leader()) {
            return Ok(endpoint.clone());
        }
    }
    Err("no member says it leads".into())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = args()?;
    let leader = leader(&args.endpoints).await?;
    let client = Client::connect([leader.as_str()], None).await?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let tasks: Vec<_> = (0..args.writers)
        .map(|w| {
            let mut kv = client.kv_client();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let put = kv.put(format!("bench-{w}"), i.to_be_bytes().to_vec(), None);
                    if put.await.is_ok() {
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).expect("latencies are finite"));
    let (p50, p99) = (percentile(&all, 50.0), percentile(&all, 99.0));
    let per_s = all.len() as f64 / elapsed;
    println!("writers  commands/s  p50 ms  p99 ms");
    println!("{:>7}  {per_s:>10.0}  {p50:>6.2}  {p99:>6.2}", args.writers);
    let record = serde_json::json!({"bench": "etcd-log", "leader": leader, "writers": args.writers,
        "commands": all.len(), "seconds": elapsed, "commands_per_s": per_s, "p50_ms": p50, "p99_ms": p99});
    println!("{record}");
    Ok(())
}
