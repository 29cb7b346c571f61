//! A call that waits too long on one node asks the other nodes who leads.
//!
//! ```text
//!  call ──▶ node A ……… no answer after 1 s ──▶ Status of the other nodes
//!                                               │ one of them leads now
//!                                               ▼
//!                         abandon the call (outcome unknown), follow the new leader
//! ```
//!
//! A paused or cut-off leader accepts connections and never answers, so
//! without this a call waits for its own deadline while the cluster already
//! runs under a new leader. The check runs at most once a second per client,
//! and only while some call is slow, so long polls cost little.

use std::future::Future;
use std::time::{Duration, Instant};

use raftflow_proto::v1::cluster_service_client::ClusterServiceClient;
use raftflow_proto::v1::StatusRequest;
use tonic::Status;

use crate::Client;

/// How long a call waits before the client looks for another leader.
const SUSPECT_AFTER: Duration = Duration::from_secs(1);
/// How long each node has to answer the leader check.
const CHECK_TIMEOUT: Duration = Duration::from_millis(500);

pub(crate) enum Attempt<T> {
    Done(Result<T, Status>),
    /// Another node leads now; the client follows it. The abandoned call's
    /// outcome is unknown.
    Moved,
}

impl Client {
    /// Runs `call` (sent to endpoint `index`) while watching for a leader
    /// elsewhere.
    pub(crate) async fn watched<T>(
        &self,
        index: usize,
        call: impl Future<Output = Result<T, Status>>,
    ) -> Attempt<T> {
        tokio::pin!(call);
        let mut next_check = tokio::time::Instant::now() + SUSPECT_AFTER;
        loop {
            tokio::select! {
                result = &mut call => return Attempt::Done(result),
                _ = tokio::time::sleep_until(next_check) => {
                    if let Some(addr) = self.leader_elsewhere(index).await {
                        if self.follow(&addr).is_ok() {
                            return Attempt::Moved;
                        }
                    }
                    next_check = tokio::time::Instant::now() + SUSPECT_AFTER;
                }
            }
        }
    }

    /// The API address of a node other than endpoint `index` that says it
    /// leads; `None` when none does, or when this client checked less than a
    /// second ago.
    async fn leader_elsewhere(&self, index: usize) -> Option<String> {
        {
            let mut last = self.last_leader_check.lock().expect("lock");
            if last.is_some_and(|t: Instant| t.elapsed() < SUSPECT_AFTER) {
                return None;
            }
            *last = Some(Instant::now());
        }
        let others: Vec<_> = {
            let list = self.endpoints.lock().expect("lock");
            let index = index % list.len();
            list.iter()
                .enumerate()
                .filter(|(i, _)| *i != index)
                .map(|(_, (_, channel))| self.bearer.wrap(channel.clone()))
                .collect()
        };
        let asks = others.into_iter().map(|channel| async move {
            let mut client = ClusterServiceClient::new(channel);
            let ask = client.status(StatusRequest { digest: false });
            match tokio::time::timeout(CHECK_TIMEOUT, ask).await {
                Ok(Ok(reply)) => Some(reply.into_inner()),
                _ => None,
            }
        });
        futures::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .find(|s| s.role == "leader")
            .map(|s| s.api_addr)
    }
}
