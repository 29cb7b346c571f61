//! Workflow calls: state machines and executions.

use std::time::Duration;

use crate::Conn;
use futures::StreamExt;
use raftflow_proto::v1::workflow_service_client::WorkflowServiceClient;
use raftflow_proto::v1::*;
use tonic::Status;

use crate::{Client, ClientError};

fn wf(channel: Conn) -> WorkflowServiceClient<Conn> {
    WorkflowServiceClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

/// A random execution name, chosen by the client so that a retried start
/// is recognised as the same start.
pub fn new_execution_name() -> String {
    raftflow_core::eval::Random::new(rand::random()).uuid()
}

impl Client {
    pub async fn create_state_machine(
        &self,
        name: &str,
        definition: &str,
        description: &str,
    ) -> Result<CreateStateMachineReply, ClientError> {
        let req = CreateStateMachineRequest {
            name: name.into(),
            definition: definition.into(),
            description: description.into(),
        };
        // Idempotent: the same definition again adds no version.
        self.on_leader(true, |ch| {
            let req = req.clone();
            async move {
                wf(ch)
                    .create_state_machine(req)
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    pub async fn validate_definition(
        &self,
        definition: &str,
    ) -> Result<ValidateReply, ClientError> {
        let req = ValidateRequest {
            definition: definition.into(),
        };
        self.on_any(|ch| {
            let req = req.clone();
            async move {
                wf(ch)
                    .validate_state_machine_definition(req)
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    pub async fn describe_state_machine(
        &self,
        name: &str,
        version: u32,
    ) -> Result<StateMachineInfo, ClientError> {
        let req = DescribeStateMachineRequest {
            name: name.into(),
            version,
            consistency: 0,
        };
        self.on_leader(true, |ch| {
            let req = req.clone();
            async move {
                wf(ch)
                    .describe_state_machine(req)
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    /// A state machine's executions over the last `window` ("hour", "day"
    /// or "week"); `version` 0 adds every version up.
    pub async fn get_statistics(
        &self,
        state_machine: &str,
        window: &str,
        version: u32,
    ) -> Result<StatisticsReply, ClientError> {
        let req = GetStatisticsRequest {
            state_machine: state_machine.into(),
            window: window.into(),
            version,
        };
        self.on_leader(true, |ch| {
            let req = req.clone();
            async move { wf(ch).get_statistics(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    pub async fn list_state_machines(&self) -> Result<Vec<StateMachineInfo>, ClientError> {
        self.on_leader(true, |ch| async move {
            wf(ch)
                .list_state_machines(ListStateMachinesRequest::default())
                .await
                .map(|r| r.into_inner().state_machines)
        })
        .await
    }

    pub async fn delete_state_machine(&self, name: &str, force: bool) -> Result<(), ClientError> {
        let req = DeleteStateMachineRequest {
            name: name.into(),
            force,
        };
        self.on_leader(false, |ch| {
            let req = req.clone();
            async move { wf(ch).delete_state_machine(req).await.map(|_| ()) }
        })
        .await
    }

    /// Starts an execution. With no name, one is generated here, so that a
    /// start retried across a failover is recognised and never runs twice.
    pub async fn start_execution(
        &self,
        state_machine: &str,
        name: Option<&str>,
        input: &str,
    ) -> Result<StartExecutionReply, ClientError> {
        let name = name.map(String::from).unwrap_or_else(new_execution_name);
        let req = StartExecutionRequest {
            state_machine: state_machine.into(),
            name,
            input: input.into(),
        };
        self.on_leader(true, |ch| {
            let req = req.clone();
            async move { wf(ch).start_execution(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    pub async fn describe_execution(
        &self,
        execution_id: &str,
    ) -> Result<ExecutionInfo, ClientError> {
        let req = DescribeExecutionRequest {
            execution_id: execution_id.into(),
            consistency: 0,
        };
        self.on_leader(true, |ch| {
            let req = req.clone();
            async move { wf(ch).describe_execution(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    pub async fn list_executions(
        &self,
        state_machine: &str,
        status: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<ListExecutionsReply, ClientError> {
        let req = ListExecutionsRequest {
            state_machine: state_machine.into(),
            status: status.into(),
            page_size,
            page_token: page_token.into(),
            consistency: 0,
        };
        self.on_leader(true, |ch| {
            let req = req.clone();
            async move { wf(ch).list_executions(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// The whole history, oldest first (or newest first with `reverse`).
    pub async fn history(
        &self,
        execution_id: &str,
        reverse: bool,
    ) -> Result<Vec<HistoryEvent>, ClientError> {
        let mut events = Vec::new();
        let mut token = String::new();
        loop {
            let req = GetExecutionHistoryRequest {
                execution_id: execution_id.into(),
                page_size: 1000,
                page_token: token.clone(),
                reverse_order: reverse,
                consistency: 0,
            };
            let page = self
                .on_leader(true, |ch| {
                    let req = req.clone();
                    async move {
                        wf(ch)
                            .get_execution_history(req)
                            .await
                            .map(|r| r.into_inner())
                    }
                })
                .await?;
            events.extend(page.events);
            if page.next_page_token.is_empty() {
                return Ok(events);
            }
            token = page.next_page_token;
        }
    }

    pub async fn stop_execution(
        &self,
        execution_id: &str,
        error: &str,
        cause: &str,
    ) -> Result<StopExecutionReply, ClientError> {
        let req = StopExecutionRequest {
            execution_id: execution_id.into(),
            error: error.into(),
            cause: cause.into(),
        };
        self.on_leader(false, |ch| {
            let req = req.clone();
            async move { wf(ch).stop_execution(req).await.map(|r| r.into_inner()) }
        })
        .await
    }

    /// Follows an execution's history to its end, calling `on_event` once per
    /// event in order. A broken stream resumes on another node from the last
    /// event seen, so a failover neither repeats nor loses events.
    pub async fn watch(
        &self,
        execution_id: &str,
        mut on_event: impl FnMut(&HistoryEvent),
    ) -> Result<ExecutionInfo, ClientError> {
        let mut last = 0u64;
        let mut node = 0usize;
        let mut failures = 0u32;
        loop {
            let (_, channel) = self.channel_at(node);
            let req = WatchExecutionRequest {
                execution_id: execution_id.into(),
                after_event_id: last,
            };
            match wf(channel.clone()).watch_execution(req).await {
                Ok(stream) => {
                    let mut stream = stream.into_inner();
                    let mut broken = false;
                    while let Some(item) = stream.next().await {
                        match item {
                            Ok(event) => {
                                if event.id > last {
                                    last = event.id;
                                    on_event(&event);
                                }
                            }
                            Err(_) => {
                                broken = true;
                                break;
                            }
                        }
                    }
                    if !broken {
                        // The stream ended at a terminal status, which this
                        // node applied from a committed entry: it is final.
                        // Read it where we are (the leader is the busy one).
                        let local = DescribeExecutionRequest {
                            execution_id: execution_id.into(),
                            consistency: ReadConsistency::Local as i32,
                        };
                        if let Ok(info) = wf(channel).describe_execution(local).await {
                            let info = info.into_inner();
                            if info.status != "RUNNING" {
                                return Ok(info);
                            }
                        }
                        let info = self.describe_execution(execution_id).await?;
                        if info.status != "RUNNING" {
                            return Ok(info);
                        }
                    }
                }
                Err(status) if status.code() == tonic::Code::NotFound && failures > 20 => {
                    return Err(status.into())
                }
                // Retrying cannot mend a missing token or permission.
                Err(status)
                    if matches!(
                        status.code(),
                        tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
                    ) =>
                {
                    return Err(status.into())
                }
                Err(_) => {}
            }
            failures += 1;
            if failures > 200 {
                return Err(ClientError::NoLeader(
                    Duration::from_secs(60),
                    format!("could not follow {execution_id}"),
                ));
            }
            node += 1;
            tokio::time::sleep(Duration::from_millis(50.min(10 * failures as u64))).await;
        }
    }

    /// Waits until the execution finishes and returns its final description.
    pub async fn wait_for_end(&self, execution_id: &str) -> Result<ExecutionInfo, ClientError> {
        self.watch(execution_id, |_| {}).await
    }

    /// Runs `call` on whichever node answers (for calls any node can serve).
    pub async fn on_any<T, F, Fut>(&self, call: F) -> Result<T, ClientError>
    where
        F: Fn(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, Status>>,
    {
        let count = self.endpoints().len();
        let mut last = None;
        for i in 0..count {
            let (_, channel) = self.channel_at(i);
            match call(channel).await {
                Ok(v) => return Ok(v),
                Err(s) if s.code() == tonic::Code::Unavailable => last = Some(s),
                Err(s) => return Err(s.into()),
            }
        }
        Err(last
            .map(ClientError::from)
            .unwrap_or(ClientError::NoEndpoints))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_names_are_distinct_uuids() {
        let (a, b) = (super::new_execution_name(), super::new_execution_name());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() || c == '-'), "{a}");
    }
}
