//! Subscription calls: save, describe, list, delete, the events waiting or
//! dead, and redrive. The signing secret goes out in the save and never
//! comes back.

use raftflow_proto::v1::subscription_service_client::SubscriptionServiceClient;
use raftflow_proto::v1::*;

use crate::{Client, ClientError, Conn};

fn sc(channel: Conn) -> SubscriptionServiceClient<Conn> {
    SubscriptionServiceClient::new(channel)
}

impl Client {
    /// Creates (`create`) or updates a subscription. A create is retried
    /// after an unknown outcome: an identical repeat answers `created = false`.
    pub async fn save_subscription(
        &self,
        request: SaveSubscriptionRequest,
        create: bool,
    ) -> Result<SaveSubscriptionReply, ClientError> {
        self.on_leader(true, |ch| {
            let request = request.clone();
            async move {
                let mut client = sc(ch);
                let reply = if create {
                    client.create_subscription(request).await
                } else {
                    client.update_subscription(request).await
                };
                reply.map(|r| r.into_inner())
            }
        })
        .await
    }

    pub async fn describe_subscription(&self, name: &str) -> Result<SubscriptionInfo, ClientError> {
        self.on_leader(true, |ch| {
            let name = name.to_string();
            async move {
                sc(ch)
                    .describe_subscription(DescribeSubscriptionRequest {
                        name,
                        consistency: ReadConsistency::Linearizable as i32,
                    })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    /// One page of subscriptions by name, after `after`.
    pub async fn list_subscriptions(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<ListSubscriptionsReply, ClientError> {
        self.on_leader(true, |ch| {
            let after = after.to_string();
            async move {
                sc(ch)
                    .list_subscriptions(ListSubscriptionsRequest {
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

    /// Removes it with its pending events and dead letters.
    pub async fn delete_subscription(&self, name: &str) -> Result<(), ClientError> {
        self.on_leader(false, |ch| {
            let name = name.to_string();
            async move {
                sc(ch)
                    .delete_subscription(DeleteSubscriptionRequest { name })
                    .await
                    .map(|_| ())
            }
        })
        .await
    }

    /// One page of its pending events (or its dead letters), after `after`.
    pub async fn list_subscription_events(
        &self,
        name: &str,
        dead_letters: bool,
        after: u64,
        limit: u32,
    ) -> Result<ListSubscriptionEventsReply, ClientError> {
        self.on_leader(true, |ch| {
            let name = name.to_string();
            async move {
                sc(ch)
                    .list_subscription_events(ListSubscriptionEventsRequest {
                        name,
                        dead_letters,
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

    /// Puts dead letters (`seqs`; empty: all) back to be delivered again.
    /// Retried safely: a letter already moved is passed over.
    pub async fn redrive_dead_letters(
        &self,
        name: &str,
        seqs: Vec<u64>,
    ) -> Result<RedriveDeadLettersReply, ClientError> {
        self.on_leader(true, |ch| {
            let name = name.to_string();
            let seqs = seqs.clone();
            async move {
                sc(ch)
                    .redrive_dead_letters(RedriveDeadLettersRequest { name, seqs })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }
}
