//! One chaos run: start the cluster, load it, inject the schedule, heal,
//! read everything back, check, and report.

use std::sync::Arc;
use std::time::Duration;

use raftflow_client::Client;
use tokio::sync::watch;

use crate::check::{self, Figures};
use crate::cluster::Cluster;
use crate::faults::{self, FaultKind};
use crate::history::Recorder;
use crate::report::report;
use crate::settle::{converge, fresh_work, read_back, wait_settled};
use crate::workload::{self, WorkerFaults, STATE_MACHINE};
use crate::{Options, Verdict};

fn kinds(scenario: &str) -> Result<Vec<FaultKind>, String> {
    match scenario {
        "all" => Ok(faults::ALL.to_vec()),
        "none" => Ok(Vec::new()),
        "smoke" => Ok(vec![
            FaultKind::KillLeader,
            FaultKind::PauseLeader,
            FaultKind::IsolateLeader,
            FaultKind::KillWorker,
        ]),
        list => list
            .split(',')
            .map(|name| {
                FaultKind::parse(name.trim()).ok_or_else(|| {
                    let known: Vec<_> = faults::ALL.iter().map(|k| k.name()).collect();
                    format!(
                        "unknown fault `{name}`; expected all, smoke, none or a list of {}",
                        known.join(", ")
                    )
                })
            })
            .collect(),
    }
}

/// The test node when the run needs one (`--defect`, clock faults), else
/// the `raftflow` binary. `all` without a test node skips the clock faults.
fn node_binary(opts: &Options, kinds: &mut Vec<FaultKind>) -> anyhow::Result<std::path::PathBuf> {
    let clock = kinds.iter().any(|k| k.needs_fault_node());
    if !opts.defect && !clock {
        return crate::find_binary(opts.bin.clone()).map_err(anyhow::Error::msg);
    }
    match crate::find_fault_binary(opts.bin.clone()) {
        Ok(bin) => Ok(bin),
        Err(e) if !opts.defect && opts.scenario == "all" => {
            println!("notice: skipping clock-step and skewed-restart ({e})");
            kinds.retain(|k| !k.needs_fault_node());
            crate::find_binary(opts.bin.clone()).map_err(anyhow::Error::msg)
        }
        Err(e) => Err(anyhow::anyhow!(
            "the clock faults and --defect need the test node: {e}"
        )),
    }
}

pub async fn run(opts: &Options) -> anyhow::Result<Verdict> {
    let mut kinds = kinds(&opts.scenario).map_err(anyhow::Error::msg)?;
    let bin = node_binary(opts, &mut kinds)?;
    let dir = opts.out.join(format!("seed-{}", opts.seed));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let run_id = format!("r{}", opts.seed);
    println!(
        "chaos: seed {} scenario {} for {} s; files in {}",
        opts.seed,
        opts.scenario,
        opts.duration_s,
        dir.display()
    );

    if opts.no_timeouts && kinds.contains(&FaultKind::KillWorker) {
        println!("notice: skipping kill-worker (with --no-timeouts an abandoned task waits its 300 s lease)");
        kinds.retain(|k| *k != FaultKind::KillWorker);
    }
    let collector = match opts.collector_port {
        Some(port) => Some(crate::traces::Spans::start(port).await?),
        None => None,
    };
    let mut cluster = Cluster::start(&bin, &dir, opts, collector.as_ref().map(|c| c.1))?;
    if !cluster.has_network_faults() && kinds.iter().any(|k| k.needs_network()) {
        println!("notice: skipping isolate-leader and isolate-follower (no network namespaces)");
        kinds.retain(|k| !k.needs_network());
    }
    let tls = Some(cluster.client_tls()?);
    let client = Arc::new(
        Client::with_tls(&cluster.endpoints, tls)?
            .with_token(&cluster.token()?)?
            .with_deadline(Duration::from_secs(10)),
    );
    if faults::find_leader(&client, Duration::from_secs(60))
        .await
        .is_none()
    {
        let exited = cluster.exited().join("; ");
        anyhow::bail!("the cluster elected no leader within 60 s {exited}");
    }
    client
        .create_state_machine(
            STATE_MACHINE,
            &workload::definition(opts.no_timeouts),
            "chaos workload",
        )
        .await?;
    crate::schedule::create(&client).await?;
    crate::trigger::create(&client, STATE_MACHINE).await?;
    let http_calls = crate::http::Calls::default();
    let event_posts = crate::http::Calls::default();
    let port = crate::http::serve(http_calls.clone(), event_posts.clone()).await?;
    crate::http::create(&client, &cluster.harness_ip(), port).await?;
    crate::events::create(&client, &cluster.harness_ip(), port).await?;

    let recorder = Recorder::create(&dir.join("history.jsonl"))?;
    let worker_faults = Arc::new(WorkerFaults::default());
    let (stop_workers, workers_stopped) = watch::channel(false);
    let mut pollers = tokio::task::JoinSet::new();
    for i in 0..opts.pollers {
        let (c, r, f, s) = (
            client.clone(),
            recorder.clone(),
            worker_faults.clone(),
            workers_stopped.clone(),
        );
        let seed = opts.seed;
        pollers.spawn(workload::poller(i, c, r, f, (seed, opts.poll_ids), s));
    }
    let (stop_load, load_stopped) = watch::channel(false);
    let http_load = tokio::spawn(crate::http::load(
        client.clone(),
        run_id.clone(),
        load_stopped.clone(),
    ));
    let load = tokio::spawn(workload::load(
        client.clone(),
        recorder.clone(),
        run_id.clone(),
        opts.rate_per_s,
        load_stopped,
    ));

    // Faults, seeded; a run with none just carries the load for the duration.
    let mut invalid = Vec::new();
    let duration_ms = opts.duration_s * 1000;
    if kinds.is_empty() {
        tokio::time::sleep(Duration::from_millis(duration_ms)).await;
    } else {
        for planned in faults::plan(opts.seed, &kinds, duration_ms) {
            tokio::time::sleep(Duration::from_millis(planned.gap_ms)).await;
            if !faults::inject(planned, &mut cluster, &client, &recorder, &worker_faults).await {
                invalid.push(format!(
                    "fault {} was not applied or not healed",
                    planned.kind.name()
                ));
            }
        }
    }
    let _ = stop_load.send(true);
    let offered = load.await.unwrap_or(0);
    let http_started = http_load.await.unwrap_or_default();
    let healed_ms = recorder.now_ms();

    // Grace: every acknowledged execution must end while workers still run.
    wait_settled(&client, &recorder, Duration::from_secs(90)).await;
    if client
        .probe(&format!("{run_id}-final"), b"final")
        .await
        .is_err()
    {
        invalid.push("the final write after healing failed".into());
    }
    let fresh = fresh_work(&client, &recorder, &run_id).await;
    let schedule = crate::schedule::check(&client).await;
    let trigger = crate::trigger::check(&client, STATE_MACHINE).await;
    let http = crate::http::check(&client, &http_started, &http_calls).await;
    let events = crate::events::check(&client, &http_started, &event_posts).await;
    let observed = read_back(&client).await;
    let _ = stop_workers.send(true);
    while pollers.join_next().await.is_some() {}
    let convergence = converge(&client, &recorder, Duration::from_secs(30)).await;
    let traces = match &collector {
        Some((spans, _)) => Some(spans.checked_within(Duration::from_secs(10)).await),
        None => None,
    };
    drop(cluster);

    let records = recorder.records();
    let mut figures = Figures {
        // The load's starts, and the fresh one after healing.
        offered: offered + 1,
        ..Figures::default()
    };
    let mut violations = check::check(&records, &observed, &run_id, &mut figures);
    violations.extend(fresh.err());
    for check in [schedule, trigger, http, events].into_iter().chain(traces) {
        match check {
            Ok(summary) => println!("{summary}"),
            Err(found) => violations.extend(found),
        }
    }
    violations.extend(convergence.err());
    let wanted = (opts.duration_s as usize * opts.rate_per_s as usize) / 2;
    if offered < wanted || figures.acknowledged * 2 < offered {
        invalid.push(format!("load too low: {} of {offered} starts acknowledged (floor: {wanted} offered, half acknowledged)", figures.acknowledged));
    }
    if !observed.listed {
        invalid.push("the executions could not be listed after healing".into());
    }
    if !observed.unread.is_empty() {
        invalid.push(format!(
            "{} execution histories could not be read after healing",
            observed.unread.len()
        ));
    }
    if kinds.contains(&FaultKind::KillWorker) && figures.abandoned == 0 {
        invalid.push("no worker abandoned a task".into());
    }
    let verdict = if !invalid.is_empty() {
        Verdict::Invalid(invalid)
    } else if !violations.is_empty() {
        Verdict::Failed(violations)
    } else {
        Verdict::Passed
    };
    report(opts, &dir, &records, &figures, &verdict, healed_ms)?;
    if matches!(verdict, Verdict::Passed) {
        let _ = std::fs::remove_dir_all(dir.join("data"));
    }
    Ok(verdict)
}
