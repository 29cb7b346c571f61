//! `raftflow subscription …`: POST signed events to a URL when executions
//! of a state machine start or end (docs/subscriptions.md). The signing
//! secret is read from a file (or stdin), never from an argument a shell
//! history keeps, and is never shown back.

use std::path::PathBuf;
use std::process::ExitCode;

use raftflow_client::proto::{
    ExecutionChange, SaveSubscriptionRequest, SubscriptionEvent, SubscriptionInfo,
};
use raftflow_client::Client;
use serde_json::json;

use crate::output::{table, Format};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a subscription (an identical create again changes nothing).
    Create {
        name: String,
        #[command(flatten)]
        def: DefArgs,
    },
    /// Replace a subscription's definition; its pending events stay.
    Update {
        name: String,
        #[command(flatten)]
        def: DefArgs,
    },
    /// Its definition and counts (never the secret).
    Describe { name: String },
    List {
        #[arg(long, default_value = "")]
        after: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Remove it with its pending events and dead letters.
    Delete { name: String },
    /// The events waiting for delivery, oldest first.
    Pending {
        name: String,
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// The events given up on, oldest first, each with its last error.
    DeadLetters {
        name: String,
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Deliver dead letters again (all, or those named by --seq).
    Redrive {
        name: String,
        #[arg(long = "seq", value_delimiter = ',')]
        seqs: Vec<u64>,
    },
}

#[derive(clap::Args)]
pub struct DefArgs {
    /// The state machine whose executions it watches.
    #[arg(long)]
    source: String,
    /// The changes it sends, comma-separated.
    #[arg(
        long = "on",
        value_enum,
        value_delimiter = ',',
        default_value = "succeeded,failed,timed-out,aborted"
    )]
    on: Vec<ChangeArg>,
    /// Where events are POSTed.
    #[arg(long)]
    url: String,
    /// The signing secret's file (its first line; `-`: stdin); 16 bytes or more.
    #[arg(long, value_name = "FILE")]
    secret_file: PathBuf,
    /// A connection whose credentials each POST carries.
    #[arg(long, default_value = "")]
    connection: String,
    /// Attempts per event before it becomes a dead letter (0: 20).
    #[arg(long, default_value_t = 0)]
    max_attempts: u32,
    /// Seconds an event may wait before it becomes a dead letter (0: 86400).
    #[arg(long, default_value_t = 0)]
    max_age_s: u64,
    #[arg(long, default_value = "")]
    description: String,
    /// Saved paused: nothing is queued or delivered until updated without it.
    #[arg(long)]
    disabled: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ChangeArg {
    Started,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

fn change(arg: ChangeArg) -> ExecutionChange {
    match arg {
        ChangeArg::Started => ExecutionChange::Started,
        ChangeArg::Succeeded => ExecutionChange::Succeeded,
        ChangeArg::Failed => ExecutionChange::Failed,
        ChangeArg::TimedOut => ExecutionChange::TimedOut,
        ChangeArg::Aborted => ExecutionChange::Aborted,
    }
}

fn word(value: i32) -> &'static str {
    match ExecutionChange::try_from(value) {
        Ok(ExecutionChange::Started) => "started",
        Ok(ExecutionChange::Succeeded) => "succeeded",
        Ok(ExecutionChange::Failed) => "failed",
        Ok(ExecutionChange::TimedOut) => "timed-out",
        Ok(ExecutionChange::Aborted) => "aborted",
        _ => "?",
    }
}

impl DefArgs {
    fn request(self, name: String) -> anyhow::Result<SaveSubscriptionRequest> {
        let secret = super::connection::first_line(&self.secret_file)?;
        Ok(SaveSubscriptionRequest {
            name,
            description: self.description,
            state_machine: self.source,
            on: self.on.into_iter().map(|c| change(c) as i32).collect(),
            url: self.url,
            connection: self.connection,
            signing_secret: secret,
            disabled: self.disabled,
            max_attempts: self.max_attempts,
            max_age_s: self.max_age_s,
        })
    }
}

pub async fn run(command: Command, client: &Client, format: Format) -> anyhow::Result<ExitCode> {
    match command {
        Command::Create { name, def } => {
            let reply = client
                .save_subscription(def.request(name.clone())?, true)
                .await?;
            let verb = if reply.created {
                "saved"
            } else {
                "unchanged (identical)"
            };
            println!("{name} {verb}");
        }
        Command::Update { name, def } => {
            let reply = client
                .save_subscription(def.request(name.clone())?, false)
                .await?;
            println!("{name} saved (revision {})", reply.revision);
        }
        Command::Describe { name } => {
            let info = client.describe_subscription(&name).await?;
            match format {
                Format::Text => print_info(&info),
                _ => println!("{}", info_json(&info)),
            }
        }
        Command::List { after, limit } => {
            let page = client.list_subscriptions(&after, limit).await?;
            match format {
                Format::Text => {
                    let rows: Vec<Vec<String>> = page.subscriptions.iter().map(row).collect();
                    let head = ["NAME", "SOURCE", "URL", "PENDING", "DELIVERED", "DEAD"];
                    table(&head, &rows);
                    if !page.next_after.is_empty() {
                        eprintln!("more: --after {}", page.next_after);
                    }
                }
                _ => page
                    .subscriptions
                    .iter()
                    .for_each(|s| println!("{}", info_json(s))),
            }
        }
        Command::Delete { name } => {
            client.delete_subscription(&name).await?;
            println!("deleted {name}");
        }
        Command::Pending { name, after, limit } => {
            events(client, &name, false, (after, limit), format).await?
        }
        Command::DeadLetters { name, after, limit } => {
            events(client, &name, true, (after, limit), format).await?
        }
        Command::Redrive { name, seqs } => {
            let reply = client.redrive_dead_letters(&name, seqs).await?;
            println!(
                "{} redriven, {} left as dead letters",
                reply.redriven, reply.left
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn events(
    client: &Client,
    name: &str,
    dead: bool,
    (after, limit): (u64, u32),
    format: Format,
) -> anyhow::Result<()> {
    let page = client
        .list_subscription_events(name, dead, after, limit)
        .await?;
    match format {
        Format::Text => {
            let rows: Vec<Vec<String>> = page.events.iter().map(event_row).collect();
            table(
                &["SEQ", "EXECUTION", "CHANGE", "ATTEMPTS", "LAST ERROR"],
                &rows,
            );
            if page.next_after != 0 {
                eprintln!("more: --after {}", page.next_after);
            }
        }
        _ => page
            .events
            .iter()
            .for_each(|e| println!("{}", event_json(e))),
    }
    Ok(())
}

fn row(info: &SubscriptionInfo) -> Vec<String> {
    vec![
        info.name.clone(),
        info.state_machine.clone(),
        info.url.clone(),
        info.pending.to_string(),
        info.delivered.to_string(),
        info.dead_letters.to_string(),
    ]
}

fn event_row(e: &SubscriptionEvent) -> Vec<String> {
    vec![
        e.seq.to_string(),
        e.execution_id.clone(),
        word(e.change).into(),
        e.attempts.to_string(),
        e.last_error.clone(),
    ]
}

fn print_info(info: &SubscriptionInfo) {
    let on: Vec<&str> = info.on.iter().map(|c| word(*c)).collect();
    println!("name:         {}", info.name);
    println!("source:       {}", info.state_machine);
    println!("on:           {}", on.join(","));
    println!("url:          {}", info.url);
    if !info.connection.is_empty() {
        println!("connection:   {}", info.connection);
    }
    println!("enabled:      {}", info.enabled);
    println!(
        "max attempts: {} (max age {} s)",
        info.max_attempts, info.max_age_s
    );
    println!("key id:       {}", info.key_id);
    println!(
        "events:       {} pending, {} delivered, {} dead letters, {} discarded",
        info.pending, info.delivered, info.dead_letters, info.discarded
    );
    println!("revision:     {}", info.revision);
    println!("description:  {}", info.description);
}

fn info_json(info: &SubscriptionInfo) -> serde_json::Value {
    let on: Vec<&str> = info.on.iter().map(|c| word(*c)).collect();
    json!({
        "name": info.name, "source": info.state_machine, "on": on, "url": info.url,
        "connection": info.connection, "enabled": info.enabled,
        "max_attempts": info.max_attempts, "max_age_s": info.max_age_s, "key_id": info.key_id,
        "revision": info.revision, "created_ms": info.created_ms, "updated_ms": info.updated_ms,
        "pending": info.pending, "delivered": info.delivered,
        "dead_letters": info.dead_letters, "discarded": info.discarded,
        "description": info.description,
    })
}

fn event_json(e: &SubscriptionEvent) -> serde_json::Value {
    json!({
        "seq": e.seq, "execution_id": e.execution_id, "change": word(e.change),
        "at_ms": e.at_ms, "attempts": e.attempts, "next_at_ms": e.next_at_ms,
        "last_error": e.last_error,
    })
}
