//! Connection calls: create, update, describe, list, delete, re-key. The
//! secret goes out in the save and never comes back.

use raftflow_proto::v1::connection_service_client::ConnectionServiceClient;
use raftflow_proto::v1::*;

use crate::{Client, ClientError, Conn};

fn cc(channel: Conn) -> ConnectionServiceClient<Conn> {
    ConnectionServiceClient::new(channel)
}

impl Client {
    /// Creates (`create`) or updates a connection. A create is retried
    /// after an unknown outcome: the same secret seals to the same bytes,
    /// so a repeat is answered with `created = false`.
    pub async fn save_connection(
        &self,
        request: SaveConnectionRequest,
        create: bool,
    ) -> Result<SaveConnectionReply, ClientError> {
        self.on_leader(true, |ch| {
            let request = request.clone();
            async move {
                let mut client = cc(ch);
                let reply = if create {
                    client.create_connection(request).await
                } else {
                    client.update_connection(request).await
                };
                reply.map(|r| r.into_inner())
            }
        })
        .await
    }

    pub async fn describe_connection(&self, name: &str) -> Result<ConnectionInfo, ClientError> {
        self.on_leader(true, |ch| {
            let name = name.to_string();
            async move {
                cc(ch)
                    .describe_connection(DescribeConnectionRequest {
                        name,
                        consistency: ReadConsistency::Linearizable as i32,
                    })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    /// One page of connections by name, after `after`.
    pub async fn list_connections(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<ListConnectionsReply, ClientError> {
        self.on_leader(true, |ch| {
            let after = after.to_string();
            async move {
                cc(ch)
                    .list_connections(ListConnectionsRequest {
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

    pub async fn delete_connection(&self, name: &str) -> Result<(), ClientError> {
        self.on_leader(false, |ch| {
            let name = name.to_string();
            async move {
                cc(ch)
                    .delete_connection(DeleteConnectionRequest { name })
                    .await
                    .map(|_| ())
            }
        })
        .await
    }

    /// Seals every secret again with the current key (the end of a rotation).
    pub async fn rekey_connections(&self) -> Result<RekeyConnectionsReply, ClientError> {
        self.on_leader(true, |ch| async move {
            cc(ch)
                .rekey_connections(RekeyConnectionsRequest {})
                .await
                .map(|r| r.into_inner())
        })
        .await
    }
}
