//! Trigger calls: create, update, describe, list, delete.

use raftflow_proto::v1::trigger_service_client::TriggerServiceClient;
use raftflow_proto::v1::*;

use crate::{Client, ClientError, Conn};

fn tc(channel: Conn) -> TriggerServiceClient<Conn> {
    TriggerServiceClient::new(channel)
}

impl Client {
    /// Creates a trigger; repeating an identical create is answered with
    /// `created = false`, so it is retried after an unknown outcome.
    pub async fn create_trigger(
        &self,
        trigger: TriggerDefinition,
    ) -> Result<SaveTriggerReply, ClientError> {
        self.on_leader(true, |ch| {
            let trigger = Some(trigger.clone());
            async move {
                tc(ch)
                    .create_trigger(CreateTriggerRequest { trigger })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    /// Replaces a trigger's definition (the same update twice leaves the same trigger).
    pub async fn update_trigger(
        &self,
        trigger: TriggerDefinition,
    ) -> Result<SaveTriggerReply, ClientError> {
        self.on_leader(true, |ch| {
            let trigger = Some(trigger.clone());
            async move {
                tc(ch)
                    .update_trigger(UpdateTriggerRequest { trigger })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    pub async fn describe_trigger(&self, name: &str) -> Result<TriggerInfo, ClientError> {
        self.on_leader(true, |ch| {
            let name = name.to_string();
            async move {
                tc(ch)
                    .describe_trigger(DescribeTriggerRequest {
                        name,
                        consistency: ReadConsistency::Linearizable as i32,
                    })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    /// One page of triggers by name, after `after`.
    pub async fn list_triggers(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<ListTriggersReply, ClientError> {
        self.on_leader(true, |ch| {
            let after = after.to_string();
            async move {
                tc(ch)
                    .list_triggers(ListTriggersRequest {
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

    pub async fn delete_trigger(&self, name: &str) -> Result<(), ClientError> {
        self.on_leader(false, |ch| {
            let name = name.to_string();
            async move {
                tc(ch)
                    .delete_trigger(DeleteTriggerRequest { name })
                    .await
                    .map(|_| ())
            }
        })
        .await
    }
}
