//! Schedule calls: create, update, describe, list, pause, trigger,
//! backfill, delete.

use raftflow_proto::v1::schedule_service_client::ScheduleServiceClient;
use raftflow_proto::v1::*;

use crate::{Client, ClientError, Conn};

fn sc(channel: Conn) -> ScheduleServiceClient<Conn> {
    ScheduleServiceClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

impl Client {
    /// Creates a schedule; repeating an identical create is answered with
    /// `created = false`, so it is retried after an unknown outcome.
    pub async fn create_schedule(
        &self,
        schedule: ScheduleDefinition,
    ) -> Result<SaveScheduleReply, ClientError> {
        self.on_leader(true, |ch| {
            let schedule = Some(schedule.clone());
            async move {
                sc(ch)
                    .create_schedule(CreateScheduleRequest { schedule })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    /// Replaces a schedule's definition (retried: the same update twice
    /// leaves the same schedule).
    pub async fn update_schedule(
        &self,
        schedule: ScheduleDefinition,
    ) -> Result<SaveScheduleReply, ClientError> {
        self.on_leader(true, |ch| {
            let schedule = Some(schedule.clone());
            async move {
                sc(ch)
                    .update_schedule(UpdateScheduleRequest { schedule })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    pub async fn describe_schedule(&self, name: &str) -> Result<ScheduleInfo, ClientError> {
        self.on_leader(true, |ch| {
            let name = name.to_string();
            async move {
                sc(ch)
                    .describe_schedule(DescribeScheduleRequest {
                        name,
                        consistency: ReadConsistency::Linearizable as i32,
                    })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    /// One page of schedules by name, after `after`.
    pub async fn list_schedules(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<ListSchedulesReply, ClientError> {
        self.on_leader(true, |ch| {
            let after = after.to_string();
            async move {
                sc(ch)
                    .list_schedules(ListSchedulesRequest {
                        after,
                        limit,
                        consistency: ReadConsistency::Linearizable as i32,
                    })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    /// Pauses (`paused`) or unpauses, with a note; retried (the same
    /// request twice leaves the same state).
    pub async fn pause_schedule(
        &self,
        name: &str,
        paused: bool,
        note: &str,
    ) -> Result<(), ClientError> {
        self.on_leader(true, |ch| {
            let request = PauseScheduleRequest {
                name: name.to_string(),
                paused,
                note: note.to_string(),
            };
            async move { sc(ch).pause_schedule(request).await.map(|_| ()) }
        })
        .await
    }

    /// Starts an execution now. Not retried after an unknown outcome: a
    /// second try would start a second execution.
    pub async fn trigger_schedule(&self, name: &str) -> Result<ScheduleAction, ClientError> {
        self.on_leader(false, |ch| {
            let name = name.to_string();
            async move {
                sc(ch)
                    .trigger_schedule(TriggerScheduleRequest { name })
                    .await
                    .map(|r| r.into_inner().action.unwrap_or_default())
            }
        })
        .await
    }

    /// Starts the scheduled times of `from_ms..=to_ms` that have not had
    /// their chance, each once. Retried after an unknown outcome: times
    /// already backfilled (or fired) start nothing the second time.
    pub async fn backfill_schedule(
        &self,
        request: BackfillScheduleRequest,
    ) -> Result<BackfillScheduleReply, ClientError> {
        self.on_leader(true, |ch| {
            let request = request.clone();
            async move {
                sc(ch)
                    .backfill_schedule(request)
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    pub async fn delete_schedule(&self, name: &str) -> Result<(), ClientError> {
        self.on_leader(false, |ch| {
            let name = name.to_string();
            async move {
                sc(ch)
                    .delete_schedule(DeleteScheduleRequest { name })
                    .await
                    .map(|_| ())
            }
        })
        .await
    }
}
