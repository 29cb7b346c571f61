//! `raftflow schedule backfill NAME --from T --to T`: the scheduled times
//! of a past range that have not had their chance start now, each once.

use std::process::ExitCode;

use raftflow_client::proto::BackfillScheduleRequest;
use raftflow_client::Client;
use serde_json::json;

use super::schedule::{instant_ms, OverlapArg};
use crate::output::Format;

#[derive(clap::Args)]
pub struct RangeArgs {
    /// The first time of the range, included: RFC 3339 or ms since the epoch.
    #[arg(long)]
    from: String,
    /// The last time, included (cut at the schedule's last fired time).
    #[arg(long)]
    to: String,
    /// The overlap policy for these times (default: the schedule's).
    #[arg(long, value_enum)]
    overlap: Option<OverlapArg>,
}

pub async fn run(
    client: &Client,
    name: &str,
    range: RangeArgs,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let (from_ms, to_ms) = match (instant_ms("from", &range.from), instant_ms("to", &range.to)) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(e), _) | (_, Err(e)) => return Ok(super::usage_error(e)),
    };
    let request = BackfillScheduleRequest {
        name: name.to_string(),
        from_ms,
        to_ms,
        overlap: range.overlap.map_or(0, |o| o.policy() as i32),
    };
    let reply = client.backfill_schedule(request).await?;
    if format == Format::Text {
        println!(
            "{name}: {} scheduled times through {}: {} started, {} already had their run, {} skipped, {} buffered, {} failed to start",
            reply.times,
            utc_time(reply.to_ms),
            reply.started,
            reply.already,
            reply.skipped,
            reply.buffered,
            reply.failed
        );
    } else {
        println!(
            "{}",
            json!({"name": name, "times": reply.times, "to_ms": reply.to_ms,
                "started": reply.started, "already": reply.already, "skipped": reply.skipped,
                "buffered": reply.buffered, "failed": reply.failed})
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The range's end as UTC wall-clock time.
fn utc_time(at_ms: u64) -> String {
    raftflow_core::schedule_spec::wall_clock(at_ms, "UTC").unwrap_or_else(|| at_ms.to_string())
}
