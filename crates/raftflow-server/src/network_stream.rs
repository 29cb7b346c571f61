//! Streamed replication, client side: one gRPC stream per replication
//! session carries AppendEntries requests without waiting for each reply
//! (openraft 0.10's `stream_append`); the follower answers each in order.
//!
//! ```text
//!  openraft requests ──encode, note sent time──▶ StreamAppend ──▶ follower
//!  openraft results ◀──decode, peer clock──── replies (in order) ◀──┘
//!       a reply owed for longer than the timeout ⇒ Timeout (stream broken)
//! ```
//! A paused or cut-off follower sends no reset, so an owed reply has a
//! deadline; while nothing is owed the stream may stay quiet for ever.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use openraft::base::BoxStream;
use openraft::raft::{AppendEntriesRequest, StreamAppendResult};
use openraft::OptionalSend;
use raftflow_proto::v1::{RaftReply, RaftRequest};
use raftflow_store::{codec, TypeConfig};
use tokio::sync::Notify;
use tonic::Streaming;

use crate::network::{network_error, status_error, unreachable, PeerClient, Rpc};

type Results<'s> = BoxStream<'s, Rpc<StreamAppendResult<TypeConfig>>>;

/// The send times (this node's clock) of the requests still owed a reply,
/// oldest first, and a bell rung for each new one.
#[derive(Default)]
struct Owed {
    sent_ms: Mutex<VecDeque<u64>>,
    bell: Notify,
}

impl Owed {
    fn push(&self, ms: u64) {
        self.sent_ms.lock().expect("owed lock").push_back(ms);
        self.bell.notify_one();
    }

    fn pop(&self) -> Option<u64> {
        self.sent_ms.lock().expect("owed lock").pop_front()
    }

    fn is_empty(&self) -> bool {
        self.sent_ms.lock().expect("owed lock").is_empty()
    }
}

struct Reader {
    replies: Streaming<RaftReply>,
    owed: Arc<Owed>,
    timeout: Duration,
    peer: PeerClock,
}

/// What a reply needs to record the follower's clock.
struct PeerClock {
    target: raftflow_store::NodeId,
    clock: Arc<crate::clock::Clock>,
    peer_clocks: Arc<crate::peer_clocks::PeerClocks>,
}

impl Reader {
    /// The next reply; a deadline applies only while one is owed.
    async fn next(&mut self) -> Option<Rpc<RaftReply>> {
        loop {
            let message = if self.owed.is_empty() {
                tokio::select! {
                    message = self.replies.message() => message,
                    () = self.owed.bell.notified() => continue,
                }
            } else {
                match tokio::time::timeout(self.timeout, self.replies.message()).await {
                    Ok(message) => message,
                    Err(_) => {
                        let e = std::io::Error::other(format!(
                            "node {} owes a streamed append reply for {} ms",
                            self.peer.target,
                            self.timeout.as_millis()
                        ));
                        return Some(Err(unreachable(&e)));
                    }
                }
            };
            return match message {
                Ok(Some(reply)) => Some(Ok(reply)),
                Ok(None) => None,
                Err(status) => Some(Err(status_error(&status))),
            };
        }
    }

    fn open(&self, reply: RaftReply) -> Rpc<StreamAppendResult<TypeConfig>> {
        let sent_ms = self.owed.pop().unwrap_or_else(|| self.peer.clock.now_ms());
        if reply.replied_ms > 0 {
            let now = self.peer.clock.now_ms();
            let offset = crate::peer_clocks::round_trip_offset(reply.replied_ms, sent_ms, now);
            self.peer.peer_clocks.record(self.peer.target, offset);
        }
        codec::decode(&reply.payload).map_err(|e| network_error(&e))
    }
}

impl PeerClient {
    pub(crate) async fn streamed<'s, S>(&'s mut self, input: S) -> Rpc<Results<'s>>
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + OptionalSend + Unpin + 'static,
    {
        let mut client = self.client()?;
        // Take the first request before connecting: openraft sleeps out its
        // backoff inside the request stream, so a peer that refuses
        // connections would otherwise be retried in a tight loop (measured:
        // ~10,000 log lines a second on the leader while a follower was down).
        let mut input = input;
        let Some(first) = input.next().await else {
            return Ok(Box::pin(futures::stream::empty()));
        };
        let input = futures::stream::iter(Some(first)).chain(input);
        let owed = Arc::new(Owed::default());
        let (target, clock, sending) = (self.target, self.clock.clone(), owed.clone());
        let requests = input.filter_map(move |rpc| {
            let encoded = codec::encode(&rpc);
            if let Err(e) = &encoded {
                tracing::error!(target, "an AppendEntries that does not encode: {e}");
            }
            let request = encoded.ok().map(|payload| {
                let sent_ms = clock.now_ms();
                sending.push(sent_ms);
                RaftRequest {
                    target,
                    payload,
                    sent_ms,
                }
            });
            futures::future::ready(request)
        });
        let replies = match client.stream_append(requests).await {
            Ok(replies) => replies.into_inner(),
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                // An older release: one request at a time for a while.
                tracing::info!(
                    target,
                    "node {target} has no streamed appends (an older release); sending one at a time for 30 s"
                );
                self.streams_refused_at = Some(std::time::Instant::now());
                return Err(unreachable(&status));
            }
            Err(status) => return Err(status_error(&status)),
        };
        let peer = PeerClock {
            target,
            clock: self.clock.clone(),
            peer_clocks: self.peer_clocks.clone(),
        };
        let reader = Reader {
            replies,
            owed,
            timeout: self.stream_reply_timeout,
            peer,
        };
        let results = futures::stream::unfold(reader, |mut reader| async move {
            let reply = reader.next().await?;
            let result = reply.and_then(|reply| reader.open(reply));
            Some((result, reader))
        });
        Ok(Box::pin(results))
    }
}
