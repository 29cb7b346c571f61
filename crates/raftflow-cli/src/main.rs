//! The `raftflow` command line: runs nodes and talks to a cluster.
//!
//! ```text
//!  raftflow server --config F   one node (raftflow-server)
//!  raftflow dev                 the three nodes of cluster-config/, as children
//!  raftflow cluster …           status and membership, through raftflow-client
//! ```
//! Results go to stdout, diagnostics to stderr. Exit codes: 0 success,
//! 1 the operation failed, 2 bad usage or configuration.

mod cmd;
mod output;

use clap::{Parser, Subcommand};

/// `raftflow --version`: the release and the commit it was built from
/// (`cluster status` shows the apply versions each node supports).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RAFTFLOW_GIT_COMMIT"),
    ")"
);

/// The endpoints of the local cluster described by `cluster-config/`.
pub const DEFAULT_ENDPOINTS: &str = "127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203";

#[derive(Parser)]
#[command(
    name = "raftflow",
    version = VERSION,
    about = "A highly available workflow scheduler on Raft"
)]
struct Cli {
    /// Client API endpoints of the cluster, comma-separated.
    #[arg(long, global = true, env = "RAFTFLOW_ENDPOINTS", default_value = DEFAULT_ENDPOINTS, value_delimiter = ',')]
    endpoints: Vec<String>,
    #[command(flatten)]
    tls: cmd::conn::TlsArgs,
    /// Output format.
    #[arg(short = 'o', long = "output", global = true, default_value = "text")]
    output: output::Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: a three-node cluster, flaky workers, orders, and a leader kill.
    Demo(cmd::demo::Args),
    /// Run one scheduler node.
    Server(cmd::server::Args),
    /// Ask this node's /healthz (or /readyz): a container's health check.
    Health(cmd::health::Args),
    /// Run the local three-node cluster of `cluster-config/` in the foreground.
    Dev(cmd::dev::Args),
    /// Run a definition in-process, in virtual time, with answered tasks.
    RunLocal(cmd::run_local::Args),
    /// Inspect and change the cluster.
    #[command(subcommand)]
    Cluster(cmd::cluster::Command),
    /// Create, inspect and draw state machines.
    #[command(subcommand)]
    Workflow(cmd::workflow::Command),
    /// Start, watch and inspect executions.
    #[command(subcommand, alias = "exec")]
    Execution(cmd::execution::Command),
    /// Run workers.
    #[command(subcommand)]
    Worker(cmd::worker::Command),
    /// Executions started on a timetable.
    #[command(subcommand)]
    Schedule(cmd::schedule::Command),
    /// Start an execution when an execution of another state machine ends.
    #[command(subcommand)]
    Trigger(cmd::trigger::Command),
    /// Report a callback task (.waitForTaskToken) by its token.
    #[command(subcommand)]
    Task(cmd::task::Command),
    /// Named credentials HTTP Tasks send (secrets sealed, never shown).
    #[command(subcommand)]
    Connection(cmd::connection::Command),
    /// Signed events POSTed to a URL when executions start or end.
    #[command(subcommand)]
    Subscription(cmd::subscription::Command),
    /// Make and inspect the cluster's TLS certificates.
    #[command(subcommand)]
    Cert(cmd::cert::Command),
    /// The ACL system: bootstrap it once per cluster.
    #[command(subcommand)]
    Acl(cmd::token::AclCommand),
    /// Create, list, revoke and rotate API tokens.
    #[command(subcommand)]
    Token(cmd::token::TokenCommand),
    /// Measure a running cluster.
    #[command(subcommand)]
    Bench(cmd::bench::Command),
    /// Operations: backups (save, inspect, restore) and Raft peers.
    #[command(subcommand)]
    Operator(cmd::operator::Command),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    raftflow_server::tls::install_provider();
    let result = runtime.block_on(async move {
        let conn = match cmd::conn::Conn::new(cli.endpoints, &cli.tls) {
            Ok(conn) => conn,
            Err(e) => return Ok(cmd::usage_error(format!("{e:#}"))),
        };
        match cli.command {
            Command::Server(args) => cmd::server::run(args, conn.insecure).await,
            Command::Health(args) => cmd::health::run(args, conn.insecure).await,
            Command::Demo(args) => cmd::demo::run(args, &conn).await,
            Command::Dev(args) => cmd::dev::run(args, &conn).await,
            Command::RunLocal(args) => cmd::run_local::run(args, cli.output),
            Command::Cert(command) => cmd::cert::run(command, cli.output),
            Command::Cluster(command) => cmd::cluster::run(command, &conn, cli.output).await,
            Command::Workflow(command) => match conn.client() {
                Ok(client) => cmd::workflow::run(command, &client, cli.output).await,
                Err(e) => Ok(cmd::usage_error(e)),
            },
            Command::Execution(command) => match conn.client() {
                Ok(client) => cmd::execution::run(command, &client, cli.output).await,
                Err(e) => Ok(cmd::usage_error(e)),
            },
            Command::Schedule(command) => match conn.client() {
                Ok(client) => cmd::schedule::run(command, &client, cli.output).await,
                Err(e) => Ok(cmd::usage_error(e)),
            },
            Command::Trigger(command) => match conn.client() {
                Ok(client) => cmd::trigger::run(command, &client, cli.output).await,
                Err(e) => Ok(cmd::usage_error(e)),
            },
            Command::Connection(command) => cmd::connection::run(command, &conn, cli.output).await,
            Command::Subscription(command) => match conn.client() {
                Ok(client) => cmd::subscription::run(command, &client, cli.output).await,
                Err(e) => Ok(cmd::usage_error(e)),
            },
            Command::Task(command) => match conn.client() {
                Ok(client) => cmd::task::run(command, &client).await,
                Err(e) => Ok(cmd::usage_error(e)),
            },
            Command::Acl(command) => match conn.client() {
                Ok(client) => cmd::token::run_acl(command, &client, cli.output).await,
                Err(e) => Ok(cmd::usage_error(e)),
            },
            Command::Token(command) => match conn.client() {
                Ok(client) => cmd::token::run(command, &client, cli.output).await,
                Err(e) => Ok(cmd::usage_error(e)),
            },
            Command::Worker(command) => match conn.client() {
                Ok(client) => cmd::worker::run(command, client).await,
                Err(e) => Ok(cmd::usage_error(e)),
            },
            Command::Bench(command) => match conn.client() {
                Ok(client) => cmd::bench::run(command, client, &conn).await,
                Err(e) => Ok(cmd::usage_error(e)),
            },
            Command::Operator(command) => cmd::operator::run(command, &conn, cli.output).await,
            Command::Completions { shell } => {
                clap_complete::generate(
                    shell,
                    &mut <Cli as clap::CommandFactory>::command(),
                    "raftflow",
                    &mut std::io::stdout(),
                );
                Ok(std::process::ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
