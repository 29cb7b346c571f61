//! `raftflow trigger …`: start an execution of one state machine when an
//! execution of another ends (docs/triggers.md).

use std::process::ExitCode;

use raftflow_client::proto::{ExecutionEnd, ScheduleOutcome, TriggerDefinition, TriggerInfo};
use raftflow_client::Client;
use serde_json::json;

use crate::output::{table, Format};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a trigger (an identical create again changes nothing).
    Create {
        name: String,
        #[command(flatten)]
        def: DefArgs,
    },
    /// Change a trigger: the options given replace those fields.
    Update {
        name: String,
        #[command(flatten)]
        def: DefArgs,
    },
    /// Its definition, counts and last 10 actions.
    Describe { name: String },
    List {
        #[arg(long, default_value = "")]
        after: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Remove the trigger; the executions it started are left alone.
    Delete { name: String },
}

#[derive(clap::Args, Default)]
pub struct DefArgs {
    /// The state machine whose executions' ends it watches.
    #[arg(long)]
    source: Option<String>,
    /// The ends it acts on, comma-separated (default succeeded).
    #[arg(long = "when", value_enum, value_delimiter = ',')]
    when: Vec<EndArg>,
    /// The state machine it starts: NAME (latest version) or NAME:VERSION.
    #[arg(long)]
    start: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Off (true) or on (false): ends pass unnoticed while off.
    #[arg(long)]
    disabled: Option<bool>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum EndArg {
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl DefArgs {
    fn apply_to(self, def: &mut TriggerDefinition) {
        if let Some(v) = self.source {
            def.source = v;
        }
        if !self.when.is_empty() {
            def.on = self.when.iter().map(|w| end(*w) as i32).collect();
        }
        if let Some(v) = self.start {
            def.start_state_machine = v;
        }
        if let Some(v) = self.description {
            def.description = v;
        }
        if let Some(v) = self.disabled {
            def.disabled = v;
        }
    }
}

fn end(arg: EndArg) -> ExecutionEnd {
    match arg {
        EndArg::Succeeded => ExecutionEnd::Succeeded,
        EndArg::Failed => ExecutionEnd::Failed,
        EndArg::TimedOut => ExecutionEnd::TimedOut,
        EndArg::Aborted => ExecutionEnd::Aborted,
    }
}

pub async fn run(command: Command, client: &Client, format: Format) -> anyhow::Result<ExitCode> {
    match command {
        Command::Create { name, def } => {
            let mut trigger = TriggerDefinition {
                name,
                ..Default::default()
            };
            def.apply_to(&mut trigger);
            let reply = client.create_trigger(trigger.clone()).await?;
            let verb = if reply.created {
                "saved"
            } else {
                "unchanged (identical)"
            };
            println!("{} {verb}", trigger.name);
        }
        Command::Update { name, def } => {
            let mut trigger = client
                .describe_trigger(&name)
                .await?
                .trigger
                .unwrap_or_default();
            def.apply_to(&mut trigger);
            client.update_trigger(trigger).await?;
            println!("{name} saved");
        }
        Command::Describe { name } => {
            let info = client.describe_trigger(&name).await?;
            match format {
                Format::Text => print_info(&info),
                _ => println!("{}", info_json(&info)),
            }
        }
        Command::List { after, limit } => {
            let page = client.list_triggers(&after, limit).await?;
            match format {
                Format::Text => {
                    let rows: Vec<Vec<String>> = page.triggers.iter().map(row).collect();
                    table(
                        &["NAME", "SOURCE", "WHEN", "START", "STATE", "STARTED"],
                        &rows,
                    );
                    if !page.next_after.is_empty() {
                        eprintln!("more: --after {}", page.next_after);
                    }
                }
                _ => page
                    .triggers
                    .iter()
                    .for_each(|t| println!("{}", info_json(t))),
            }
        }
        Command::Delete { name } => {
            client.delete_trigger(&name).await?;
            println!("deleted {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn ends(on: &[i32]) -> String {
    on.iter()
        .map(|v| {
            ExecutionEnd::try_from(*v)
                .map_or("?", |e| e.as_str_name())
                .trim_start_matches("EXECUTION_END_")
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn row(info: &TriggerInfo) -> Vec<String> {
    let def = info.trigger.clone().unwrap_or_default();
    let state = if def.disabled { "disabled" } else { "enabled" };
    vec![
        def.name,
        def.source,
        ends(&def.on),
        def.start_state_machine,
        state.into(),
        info.started.to_string(),
    ]
}

fn print_info(info: &TriggerInfo) {
    let def = info.trigger.clone().unwrap_or_default();
    println!("name:     {}", def.name);
    println!("when:     {} ends {}", def.source, ends(&def.on));
    println!("start:    {}", def.start_state_machine);
    let state = if def.disabled { "disabled" } else { "enabled" };
    println!(
        "state:    {state}  started {}  failed {}",
        info.started, info.failed
    );
    println!("recent:");
    for a in &info.recent {
        let outcome = ScheduleOutcome::try_from(a.outcome)
            .map_or("?", |o| o.as_str_name())
            .trim_start_matches("SCHEDULE_OUTCOME_");
        println!(
            "  {} {} → {outcome} {}{}",
            a.source_execution,
            ends(&[a.end]),
            a.execution_id,
            a.detail
        );
    }
}

fn info_json(info: &TriggerInfo) -> serde_json::Value {
    let def = info.trigger.clone().unwrap_or_default();
    json!({
        "name": def.name, "source": def.source, "when": ends(&def.on),
        "start": def.start_state_machine, "description": def.description, "disabled": def.disabled,
        "revision": info.revision, "started": info.started, "failed": info.failed,
        "recent": info.recent.iter().map(|a| json!({
            "at_ms": a.at_ms, "source_execution": a.source_execution, "when": ends(&[a.end]),
            "outcome": ScheduleOutcome::try_from(a.outcome).map_or("?", |o| o.as_str_name()),
            "execution_id": a.execution_id, "detail": a.detail,
        })).collect::<Vec<_>>(),
    })
}
