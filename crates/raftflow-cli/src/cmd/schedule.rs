//! `raftflow schedule …`: executions started on a timetable (docs/schedules.md).

use std::process::ExitCode;

use raftflow_client::proto::{
    OverlapPolicy, ScheduleAction, ScheduleDefinition, ScheduleInfo, ScheduleOutcome,
};
use raftflow_client::Client;
use raftflow_core::schedule_spec::{parse_instant, wall_clock};
use serde_json::json;

use crate::output::{table, Format};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a schedule (an identical create again changes nothing).
    Create {
        name: String,
        #[command(flatten)]
        def: DefArgs,
    },
    /// Change a schedule: the options given replace those fields; it takes
    /// effect from the next scheduled time.
    Update {
        name: String,
        #[command(flatten)]
        def: DefArgs,
    },
    /// Its definition, state, next 10 scheduled times (in its zone) and last 10 actions.
    Describe { name: String },
    List {
        /// Start after this name (paging).
        #[arg(long, default_value = "")]
        after: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Stop firing until unpaused; times passed meanwhile are not made up for.
    Pause {
        name: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    Unpause {
        name: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Start an execution now (paused or not), under the overlap policy.
    Trigger { name: String },
    /// Start the scheduled times of a past range that have not had their
    /// chance (missed, paused, before the schedule existed), each once;
    /// safe to repeat.
    Backfill {
        name: String,
        #[command(flatten)]
        range: super::schedule_backfill::RangeArgs,
    },
    /// Remove the schedule; its executions are left alone.
    Delete { name: String },
}

#[derive(clap::Args, Default)]
pub struct DefArgs {
    /// The target: NAME (its latest version at each fire) or NAME:VERSION.
    #[arg(long)]
    state_machine: Option<String>,
    /// `cron(0 12 * * ? *)`, `rate(5 minutes)`, `at(2026-12-24T18:00:00)`
    /// or a plain cron expression (`*/10 * * * * *`).
    #[arg(long)]
    spec: Option<String>,
    /// One more spec (repeat for more, up to 7); a time of any spec fires
    /// once. Given on update, replaces the list; `none` clears it.
    #[arg(long = "also-spec")]
    also_specs: Vec<String>,
    /// A date (yyyy-mm-dd, in the schedule's zone) on which nothing fires
    /// (repeat, or comma-separated). Given on update, replaces the list;
    /// `none` clears it.
    #[arg(long = "exclude-date", value_delimiter = ',')]
    exclude_dates: Vec<String>,
    /// Fire each time up to this long after it: `90s`, `5m`, `1h`, `500ms`.
    #[arg(long)]
    jitter: Option<String>,
    /// An IANA time zone (default UTC).
    #[arg(long)]
    zone: Option<String>,
    /// JSON text, or @FILE; `<aws.scheduler.scheduled-time>` in it becomes the scheduled time.
    #[arg(long)]
    input: Option<String>,
    #[arg(long, value_enum)]
    overlap: Option<OverlapArg>,
    /// Missed times older than this are skipped after an outage (default 3600).
    #[arg(long)]
    catchup_window_s: Option<u64>,
    /// Nothing fires before it: RFC 3339 (`2026-12-04T02:00:00Z`) or ms since the epoch.
    #[arg(long)]
    start: Option<String>,
    /// Nothing fires after it (RFC 3339 or ms).
    #[arg(long)]
    end: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Pause when one of its executions fails or times out (true/false).
    #[arg(long)]
    pause_on_failure: Option<bool>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OverlapArg {
    Skip,
    AllowAll,
    BufferOne,
    BufferAll,
    TerminateOther,
}

impl OverlapArg {
    pub(super) fn policy(self) -> OverlapPolicy {
        match self {
            OverlapArg::Skip => OverlapPolicy::Skip,
            OverlapArg::AllowAll => OverlapPolicy::AllowAll,
            OverlapArg::TerminateOther => OverlapPolicy::TerminateOther,
            OverlapArg::BufferOne => OverlapPolicy::BufferOne,
            OverlapArg::BufferAll => OverlapPolicy::BufferAll,
        }
    }
}

pub async fn run(command: Command, client: &Client, format: Format) -> anyhow::Result<ExitCode> {
    match command {
        Command::Create { name, def } => {
            let mut schedule = ScheduleDefinition {
                name,
                ..Default::default()
            };
            if let Err(e) = def.apply_to(&mut schedule) {
                return Ok(super::usage_error(e));
            }
            let reply = client.create_schedule(schedule.clone()).await?;
            print_saved(&schedule, reply.created, &reply.next_fire_ms, format);
        }
        Command::Update { name, def } => {
            let mut schedule = client
                .describe_schedule(&name)
                .await?
                .schedule
                .unwrap_or_default();
            if let Err(e) = def.apply_to(&mut schedule) {
                return Ok(super::usage_error(e));
            }
            let reply = client.update_schedule(schedule.clone()).await?;
            print_saved(&schedule, true, &reply.next_fire_ms, format);
        }
        Command::Describe { name } => {
            let info = client.describe_schedule(&name).await?;
            match format {
                Format::Text => print_info(&info),
                _ => println!("{}", info_json(&info)),
            }
        }
        Command::List { after, limit } => list(client, &after, limit, format).await?,
        Command::Pause { name, note } => {
            client.pause_schedule(&name, true, &note).await?;
            println!("paused {name}");
        }
        Command::Unpause { name, note } => {
            client.pause_schedule(&name, false, &note).await?;
            println!("unpaused {name}");
        }
        Command::Trigger { name } => {
            let action = client.trigger_schedule(&name).await?;
            match format {
                Format::Text => println!("{}", action_line(&action, "UTC")),
                _ => println!("{}", action_json(&action)),
            }
        }
        Command::Backfill { name, range } => {
            return super::schedule_backfill::run(client, &name, range, format).await
        }
        Command::Delete { name } => {
            client.delete_schedule(&name).await?;
            println!("deleted {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl DefArgs {
    /// Writes the options given over `def`.
    fn apply_to(self, def: &mut ScheduleDefinition) -> Result<(), String> {
        let instant = instant_ms;
        if let Some(v) = self.state_machine {
            def.state_machine = v;
        }
        if let Some(v) = self.spec {
            def.spec = v;
        }
        if !self.also_specs.is_empty() {
            def.more_specs = listed(self.also_specs);
        }
        if !self.exclude_dates.is_empty() {
            def.exclude_dates = listed(self.exclude_dates);
        }
        if let Some(v) = self.jitter {
            def.jitter_ms = duration_ms(&v).ok_or_else(|| {
                format!("--jitter `{v}` is not a duration such as 90s, 5m, 1h or 500ms")
            })?;
        }
        if let Some(v) = self.zone {
            def.time_zone = v;
        }
        if let Some(v) = self.input {
            let value =
                super::run_local::read_json_arg(&v).map_err(|e| format!("--input: {e:#}"))?;
            def.input = value.to_string();
        }
        if let Some(v) = self.overlap {
            def.overlap = v.policy() as i32;
        }
        if let Some(v) = self.catchup_window_s {
            def.catchup_window_s = v;
        }
        if let Some(v) = self.start {
            def.start_ms = instant("start", &v)?;
        }
        if let Some(v) = self.end {
            def.end_ms = instant("end", &v)?;
        }
        if let Some(v) = self.description {
            def.description = v;
        }
        if let Some(v) = self.pause_on_failure {
            def.pause_on_failure = v;
        }
        Ok(())
    }
}

/// An instant given as RFC 3339 or as ms since the epoch.
pub(super) fn instant_ms(field: &str, text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .or_else(|| parse_instant(text))
        .ok_or_else(|| format!("--{field} `{text}` is neither RFC 3339 nor ms since the epoch"))
}

/// A repeated option's values; `none` alone clears the list.
fn listed(values: Vec<String>) -> Vec<String> {
    if values.len() == 1 && values[0] == "none" {
        Vec::new()
    } else {
        values
    }
}

/// `500ms`, `90s`, `5m`, `1h` → ms.
pub(super) fn duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(unit_ms)
}

async fn list(client: &Client, after: &str, limit: u32, format: Format) -> anyhow::Result<()> {
    let page = client.list_schedules(after, limit).await?;
    match format {
        Format::Text => {
            let rows: Vec<Vec<String>> = page
                .schedules
                .iter()
                .map(|s| {
                    let def = s.schedule.clone().unwrap_or_default();
                    let next = s.next_fire_ms.first().map_or("-".into(), |at| {
                        wall_clock(*at, &def.time_zone).unwrap_or_else(|| at.to_string())
                    });
                    let state = if s.paused { "paused" } else { "active" };
                    vec![def.name, def.state_machine, def.spec, state.into(), next]
                })
                .collect();
            table(&["NAME", "STATE MACHINE", "SPEC", "STATE", "NEXT"], &rows);
            if !page.next_after.is_empty() {
                eprintln!("more: --after {}", page.next_after);
            }
        }
        _ => page
            .schedules
            .iter()
            .for_each(|s| println!("{}", info_json(s))),
    }
    Ok(())
}

fn print_saved(def: &ScheduleDefinition, changed: bool, next: &[u64], format: Format) {
    if format != Format::Text {
        println!(
            "{}",
            json!({"name": def.name, "changed": changed, "next_fire_ms": next})
        );
        return;
    }
    let verb = if changed {
        "saved"
    } else {
        "unchanged (identical)"
    };
    println!("{} {verb}", def.name);
    let zone = if def.time_zone.is_empty() {
        "UTC"
    } else {
        &def.time_zone
    };
    for at in next.iter().take(3) {
        println!(
            "  next: {}",
            wall_clock(*at, zone).unwrap_or_else(|| at.to_string())
        );
    }
}

fn print_info(info: &ScheduleInfo) {
    let def = info.schedule.clone().unwrap_or_default();
    let zone = def.time_zone.as_str();
    let state = if info.paused { "paused" } else { "active" };
    println!("name:          {}", def.name);
    println!("state machine: {}", def.state_machine);
    println!("spec:          {} ({zone})", def.spec);
    for also in &def.more_specs {
        println!("               {also}");
    }
    if !def.exclude_dates.is_empty() {
        println!("excluded:      {}", def.exclude_dates.join(", "));
    }
    if def.jitter_ms > 0 {
        println!("jitter:        up to {} ms", def.jitter_ms);
    }
    println!("overlap:       {}", overlap_name(def.overlap));
    println!("catch-up:      {} s", def.catchup_window_s);
    println!("state:         {state}{}", note(&info.note));
    println!(
        "revision:      {}  fired {}  skipped {}",
        info.revision, info.fired, info.skipped
    );
    if !info.problem.is_empty() {
        println!("problem:       {}", info.problem);
    }
    println!("next:");
    for at in &info.next_fire_ms {
        println!("  {}  ({at})", wall_clock(*at, zone).unwrap_or_default());
    }
    println!("recent:");
    for action in &info.recent {
        println!("  {}", action_line(action, zone));
    }
}

fn note(note: &str) -> String {
    if note.is_empty() {
        String::new()
    } else {
        format!(" — {note}")
    }
}

fn overlap_name(value: i32) -> &'static str {
    match OverlapPolicy::try_from(value) {
        Ok(OverlapPolicy::AllowAll) => "allow_all",
        Ok(OverlapPolicy::TerminateOther) => "terminate_other",
        Ok(OverlapPolicy::BufferOne) => "buffer_one",
        Ok(OverlapPolicy::BufferAll) => "buffer_all",
        _ => "skip",
    }
}

fn outcome_name(value: i32) -> &'static str {
    match ScheduleOutcome::try_from(value) {
        Ok(ScheduleOutcome::Started) => "started",
        Ok(ScheduleOutcome::AlreadyStarted) => "already started",
        Ok(ScheduleOutcome::SkippedOverlap) => "skipped (overlap)",
        Ok(ScheduleOutcome::SkippedMissed) => "skipped (missed)",
        Ok(ScheduleOutcome::StartFailed) => "start failed",
        Ok(ScheduleOutcome::Buffered) => "buffered",
        _ => "unknown",
    }
}

fn action_line(a: &ScheduleAction, zone: &str) -> String {
    let when = wall_clock(a.scheduled_ms, zone).unwrap_or_else(|| a.scheduled_ms.to_string());
    let trigger = if a.trigger { " (trigger)" } else { "" };
    let detail = [a.execution_id.as_str(), a.detail.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(": ");
    format!("{when}{trigger}  {}  {detail}", outcome_name(a.outcome))
}

fn action_json(a: &ScheduleAction) -> serde_json::Value {
    json!({
        "scheduled_ms": a.scheduled_ms, "at_ms": a.at_ms, "trigger": a.trigger,
        "outcome": outcome_name(a.outcome), "execution_id": a.execution_id, "detail": a.detail,
    })
}

fn info_json(info: &ScheduleInfo) -> serde_json::Value {
    let def = info.schedule.clone().unwrap_or_default();
    json!({
        "name": def.name, "state_machine": def.state_machine, "spec": def.spec,
        "more_specs": def.more_specs, "exclude_dates": def.exclude_dates, "jitter_ms": def.jitter_ms,
        "time_zone": def.time_zone, "input": def.input, "overlap": overlap_name(def.overlap),
        "catchup_window_s": def.catchup_window_s, "start_ms": def.start_ms, "end_ms": def.end_ms,
        "description": def.description, "pause_on_failure": def.pause_on_failure, "paused": info.paused,
        "buffered_ms": info.buffered_ms, "note": info.note,
        "revision": info.revision, "cursor_ms": info.cursor_ms, "next_fire_ms": info.next_fire_ms,
        "fired": info.fired, "skipped": info.skipped, "problem": info.problem,
        "recent": info.recent.iter().map(action_json).collect::<Vec<_>>(),
    })
}
