//! The run's summary: printed, and written to `summary.json`.

use serde_json::json;

use crate::check::{self, Figures};
use crate::history::Record;
use crate::{Options, Verdict};

pub fn report(
    opts: &Options,
    dir: &std::path::Path,
    records: &[Record],
    figures: &Figures,
    verdict: &Verdict,
    healed_ms: u64,
) -> anyhow::Result<()> {
    let faults: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            Record::Fault {
                kind,
                node,
                phase,
                applied,
                t_ms,
                ..
            } if phase == "begin" => {
                Some(json!({"t_ms": t_ms, "kind": kind, "node": node, "applied": applied}))
            }
            _ => None,
        })
        .collect();
    let stats = |v: &[u64]| {
        check::summary(v).map(|(p50, p99, max)| json!({"p50": p50, "p99": p99, "max": max}))
    };
    let summary = json!({
        "seed": opts.seed, "scenario": opts.scenario, "duration_s": opts.duration_s, "rate_per_s": opts.rate_per_s,
        "verdict": match verdict { Verdict::Passed => "passed", Verdict::Invalid(_) => "invalid", Verdict::Failed(_) => "failed" },
        "problems": match verdict { Verdict::Passed => &[][..], Verdict::Invalid(w) | Verdict::Failed(w) => &w[..] },
        "faults": faults, "figures": figures, "healed_ms": healed_ms,
        "failover_write_ms": stats(&figures.failover_write_ms), "failover_task_ms": stats(&figures.failover_task_ms),
    });
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    println!("faults injected: {}", faults.len());
    for f in &faults {
        println!("  {f}");
    }
    println!(
        "executions: {} offered, {} acknowledged, {} unknown; {} tasks delivered ({} lost hand-outs recovered by a retry), {} abandoned; {} repeated reports refused",
        figures.offered, figures.acknowledged, figures.unknown, figures.deliveries, figures.lost_hand_outs_recovered, figures.abandoned, figures.duplicate_reports_refused
    );
    for r in records {
        if let Record::Failover {
            fault_t_ms,
            kind,
            write_ms,
        } = r
        {
            println!("  {kind} at {fault_t_ms} ms: first committed write after {write_ms} ms");
        }
    }
    println!(
        "leader epochs seen by workers: {} (faults that took the leader: {})",
        figures.max_epoch,
        records
            .iter()
            .filter(|r| matches!(r, Record::Failover { .. }))
            .count()
    );
    if let Some((p50, p99, max)) = check::summary(&figures.failover_write_ms) {
        println!(
            "failover, fault → first committed write: p50 {p50} ms, p99 {p99} ms, max {max} ms"
        );
    }
    if let Some((p50, p99, max)) = check::summary(&figures.failover_task_ms) {
        println!("failover, fault → first task of the new epoch: p50 {p50} ms, p99 {p99} ms, max {max} ms");
    }
    let mut lateness = figures.wait_lateness_ms.clone();
    lateness.sort_unstable();
    if let (Some(first), Some(last)) = (lateness.first(), lateness.last()) {
        let p50 = lateness[lateness.len() / 2];
        println!("timers, 1 s Wait → Approve handed out, ms after due: min {first}, p50 {p50}, max {last}");
    }
    match verdict {
        Verdict::Passed => println!("PASSED (seed {})", opts.seed),
        Verdict::Invalid(why) | Verdict::Failed(why) => {
            let label = if matches!(verdict, Verdict::Invalid(_)) {
                "INVALID RUN"
            } else {
                "FAILED"
            };
            println!("{label} (seed {}):", opts.seed);
            for w in why.iter().take(20) {
                println!("  - {w}");
            }
            if why.len() > 20 {
                println!("  … and {} more (summary.json)", why.len() - 20);
            }
            println!("replay: {}", opts.replay_command());
            println!("kept: {} (history.jsonl, node logs, data)", dir.display());
        }
    }
    Ok(())
}
