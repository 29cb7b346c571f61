//! Replication over gRPC: one request at a time (openraft's default
//! `stream_append`, as 0.9 replicates), or one bidirectional stream per
//! follower that keeps up to 64 requests in flight (`--network stream`).

use std::future::Future;

use futures::{Stream, StreamExt};
use openraft::alias::{SnapshotOf, VoteOf};
use openraft::base::{BoxFuture, BoxStream};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{stream_append_sequential, RPCOption};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult, VoteRequest,
    VoteResponse,
};
use openraft::{AnyError, BasicNode, OptionalSend, RaftNetworkFactory, RaftNetworkV2};
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use crate::pb::raft_client::RaftClient;
use crate::pb::raft_server::Raft as RaftRpc;
use crate::pb::Blob;
use crate::{Raft, TypeConfig as C};

pub fn encode<T: serde::Serialize>(value: &T) -> Blob {
    Blob { data: bincode::serde::encode_to_vec(value, bincode::config::standard()).expect("encodes") }
}

pub fn decode<T: serde::de::DeserializeOwned>(blob: &Blob) -> Result<T, String> {
    bincode::serde::decode_from_slice(&blob.data, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| e.to_string())
}

fn net_err(e: impl std::fmt::Display) -> RPCError<C> {
    RPCError::Network(NetworkError::new(&AnyError::error(e.to_string())))
}

pub struct Factory {
    pub stream: bool,
}

impl RaftNetworkFactory<C> for Factory {
    type Network = Connection;

    async fn new_client(&mut self, _target: u64, node: &BasicNode) -> Connection {
        let channel = Channel::from_shared(format!("http://{}", node.addr))
            .expect("an address")
            .connect_lazy();
        Connection { client: RaftClient::new(channel), stream: self.stream }
    }
}

pub struct Connection {
    client: RaftClient<Channel>,
    stream: bool,
}

impl Connection {
    fn streamed<'s, S>(
        &'s mut self,
        input: S,
    ) -> BoxFuture<'s, Result<BoxStream<'s, Result<StreamAppendResult<C>, RPCError<C>>>, RPCError<C>>>
    where
        S: Stream<Item = AppendEntriesRequest<C>> + OptionalSend + Unpin + 'static,
    {
        Box::pin(async move {
            let requests = input.map(|r| encode(&r));
            let replies = self.client.stream_append(requests).await.map_err(net_err)?.into_inner();
            let out = replies.map(|reply| {
                let blob = reply.map_err(net_err)?;
                decode::<StreamAppendResult<C>>(&blob).map_err(net_err)
            });
            Ok(Box::pin(out) as BoxStream<'s, _>)
        })
    }
}

impl RaftNetworkV2<C> for Connection {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<C>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<C>, RPCError<C>> {
        let reply = self.client.append(encode(&rpc)).await.map_err(net_err)?;
        decode(&reply.into_inner()).map_err(net_err)
    }

    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<'s, Result<BoxStream<'s, Result<StreamAppendResult<C>, RPCError<C>>>, RPCError<C>>>
    where
        S: Stream<Item = AppendEntriesRequest<C>> + OptionalSend + Unpin + 'static,
    {
        if self.stream {
            self.streamed(input)
        } else {
            stream_append_sequential(self, input, option)
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<C>, _option: RPCOption) -> Result<VoteResponse<C>, RPCError<C>> {
        let reply = self.client.vote(encode(&rpc)).await.map_err(net_err)?;
        decode(&reply.into_inner()).map_err(net_err)
    }

    async fn full_snapshot(
        &mut self,
        _vote: VoteOf<C>,
        _snapshot: SnapshotOf<C, Vec<u8>>,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        Err(StreamingError::Unreachable(Unreachable::new(&AnyError::error("no snapshots in the spike"))))
    }
}

pub struct Service {
    pub raft: Raft,
}

type Replies = std::pin::Pin<Box<dyn Stream<Item = Result<Blob, Status>> + Send>>;

#[tonic::async_trait]
impl RaftRpc for Service {
    async fn vote(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        let rpc = decode(request.get_ref()).map_err(Status::invalid_argument)?;
        let reply = self.raft.vote(rpc).await.map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(encode(&reply)))
    }

    async fn append(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        let rpc = decode(request.get_ref()).map_err(Status::invalid_argument)?;
        let reply = self.raft.append_entries(rpc).await.map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(encode(&reply)))
    }

    type StreamAppendStream = Replies;

    async fn stream_append(
        &self,
        request: Request<Streaming<Blob>>,
    ) -> Result<Response<Replies>, Status> {
        let input = request
            .into_inner()
            .take_while(|r| futures::future::ready(r.is_ok()))
            .filter_map(|r| futures::future::ready(r.ok().and_then(|b| decode(&b).ok())));
        let output = self.raft.stream_append(Box::pin(input)).map(|result| match result {
            Ok(r) => Ok(encode(&r)),
            Err(fatal) => Err(Status::internal(fatal.to_string())),
        });
        Ok(Response::new(Box::pin(output)))
    }

    async fn write(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        let value: u64 = decode(request.get_ref()).map_err(Status::invalid_argument)?;
        let written = self.raft.client_write(value).await.map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(encode(&written.data)))
    }
}
