//! HTTP Tasks under `run-local`: called for real when the destination is
//! allowed (`--allow-http`, `--allow-cidr`, `--allow-plain-http`: the
//! node's `[outbound]` rules, deny by default), otherwise answered from
//! `--task-results` under the state's name (or `:http`) like activities.
//!
//! A callback (`http:invoke.waitForTaskToken`) answered 2xx waits, as on a
//! cluster; nobody reports it here, so the run ends RUNNING.

use raftflow_core::local::{Answer, TaskCall};
use raftflow_server::http_tasks::{answer, request_for, Attempt};
use raftflow_server::outbound::caller::{CallError, Caller};
use raftflow_server::outbound::policy::{Destinations, OutboundConfig};
use serde_json::Value;

/// The `[outbound]` rules given on the command line.
#[derive(clap::Args, Default)]
pub struct HttpArgs {
    /// Hosts HTTP Tasks may call for real (exact or `*.example.com`);
    /// calls to other hosts are answered from --task-results.
    #[arg(long, value_delimiter = ',', value_name = "HOST")]
    allow_http: Vec<String>,
    /// Address ranges allowed although private or loopback (`127.0.0.1/32`).
    #[arg(long, value_delimiter = ',', value_name = "CIDR")]
    allow_cidr: Vec<String>,
    /// Plain http as well as https.
    #[arg(long)]
    allow_plain_http: bool,
}

pub struct HttpCalls {
    caller: Caller,
    runtime: tokio::runtime::Handle,
    any: bool,
}

impl HttpCalls {
    pub fn new(args: &HttpArgs, runtime: tokio::runtime::Handle) -> anyhow::Result<Self> {
        let config = OutboundConfig {
            allow_hosts: args.allow_http.clone(),
            allow_cidrs: args.allow_cidr.clone(),
            allow_plain_http: args.allow_plain_http,
            ..Default::default()
        };
        let destinations = Destinations::new(&config, Vec::new()).map_err(anyhow::Error::msg)?;
        let caller = Caller::new(destinations);
        Ok(Self {
            caller,
            runtime,
            any: !args.allow_http.is_empty(),
        })
    }

    /// The call's answer when its destination is allowed; `None` otherwise.
    pub fn call(&self, task: &TaskCall<'_>) -> Option<Answer> {
        if !self.any {
            return None;
        }
        let attempt = Attempt {
            execution_id: "local:run",
            number: task.attempt,
            callback_token: task.wait_for_token.then_some("local"),
            max_response_bytes: raftflow_core::execution::MAX_DATA_BYTES,
        };
        let (request, connection) = match request_for(task.input, &attempt) {
            Ok(made) => made,
            Err(f) => return Some(fail(f)),
        };
        self.caller.destinations().check_url(&request.url).ok()?;
        if let Some(name) = connection {
            eprintln!(
                "run-local: connection `{name}` is a cluster's; calling without its credentials"
            );
        }
        let response = self.runtime.block_on(self.caller.call(&request));
        let own_timeout = raftflow_core::http_task::cut_at_own_timeout(task.input);
        if own_timeout && matches!(response, Err(CallError::Timeout(_))) {
            // Past the state's TimeoutSeconds: its timer says States.Timeout.
            return Some(Answer::Silent);
        }
        Some(match answer(response) {
            Ok(_) if task.wait_for_token => Answer::Silent,
            Ok(result) => Answer::Succeed(result),
            Err(f) => fail(f),
        })
    }
}

fn fail(f: raftflow_core::eval::Failure) -> Answer {
    Answer::Fail {
        error: f.error,
        cause: f.cause,
    }
}

/// The names an HTTP Task's answer is looked up under in --task-results:
/// its state's name, then `:http`.
pub fn answer_keys(input: &Value) -> [String; 2] {
    let entry = input["Entry"].as_str().unwrap_or_default();
    let state = entry.rsplit_once('@').map_or(entry, |(state, _)| state);
    [
        state.to_string(),
        raftflow_core::http_task::ACTIVITY.to_string(),
    ]
}
