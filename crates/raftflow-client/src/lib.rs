//! Typed async client for a raftflow cluster.
//!
//! ```text
//!  Client ──(endpoint list)──▶ last known leader ──NotLeader + leader address──▶ retry there
//!                                   │ connection refused / no leader known
//!                                   └──▶ next endpoint, with back-off, until the deadline
//! ```
//! Only what is safe is retried: a request refused with "not the leader" had
//! no effect; a request that timed out may have, and is retried only when the
//! caller says the request is idempotent.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use raftflow_proto::v1::cluster_service_client::ClusterServiceClient;
use raftflow_proto::v1::{
    AddLearnerRequest, MembershipReply, NodeStatus, ProbeReply, ProbeRequest, ReadProbeReply,
    ReadProbeRequest, StatusRequest, TransferLeaderReply, TransferLeaderRequest,
    UpgradeApplyVersionReply, UpgradeApplyVersionRequest,
};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

pub use raftflow_proto::v1 as proto;

pub mod acl;
mod backup;
mod bearer;
pub mod connection;
mod hedge;
pub mod schedule;
pub mod subscription;
pub mod tls;
pub mod trace;
pub mod trigger;
pub mod worker;
pub mod workflow;

pub use bearer::{read_token_file, Bearer, Conn};
pub use tls::ClientTls;
pub use worker::{NextTask, Reported, Task, TaskError, Worker};

/// Metadata keys set by the server on a "not the leader" refusal.
pub const LEADER_ADDR_KEY: &str = "x-raftflow-leader";
pub const NOT_LEADER_KEY: &str = "x-raftflow-not-leader";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid endpoint `{0}`: expected host:port, http://host:port or https://host:port")]
    InvalidEndpoint(String),
    #[error("endpoint `{0}` is https:// but no CA was given: pass the cluster's CA with --ca (RAFTFLOW_CA)")]
    HttpsWithoutCa(String),
    #[error("endpoint `{0}` is plaintext http:// but TLS is configured (--ca): use https:// or host:port")]
    HttpWithCa(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("token: {0}")]
    Token(String),
    #[error("traceparent: {0}")]
    Trace(String),
    #[error("no endpoints given")]
    NoEndpoints,
    #[error("{0}")]
    Status(#[from] Status),
    #[error("no leader answered within {0:?}: {1}")]
    NoLeader(Duration, String),
    #[error("no raftflow node is listening at {0}: start the local cluster (`raftflow dev`), or point --endpoints (RAFTFLOW_ENDPOINTS) at a running one")]
    NothingListening(String),
}

impl ClientError {
    /// Whether the cluster refused the call's token or its permissions.
    pub fn is_auth_refusal(&self) -> bool {
        matches!(self, ClientError::Status(s) if matches!(s.code(), Code::Unauthenticated | Code::PermissionDenied))
    }
}

/// How long a call keeps looking for a leader before giving up.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(15);

pub struct Client {
    endpoints: Mutex<Vec<(String, Channel)>>,
    /// TLS settings; `None` speaks plaintext.
    tls: Option<ClientTls>,
    /// The API token sent with every call.
    bearer: Bearer,
    leader: AtomicUsize,
    deadline: Duration,
    /// When a slow call last asked the other nodes who leads (see hedge.rs).
    last_leader_check: Mutex<Option<Instant>>,
    /// Whether any node ever answered this client. Until one has, a round
    /// of refused connections means nothing runs there, and a call says so
    /// at once instead of waiting for a leader; after, refusals are a
    /// restart or a failover, and the call waits out its deadline.
    answered: AtomicBool,
}

/// The endpoint's URL: `host:port` takes the scheme TLS implies; an
/// explicit scheme must agree with it.
fn normalize(endpoint: &str, tls: bool) -> Result<String, ClientError> {
    let trimmed = endpoint.trim().trim_end_matches('/');
    match (
        trimmed.starts_with("https://"),
        trimmed.starts_with("http://"),
    ) {
        (true, _) if !tls => Err(ClientError::HttpsWithoutCa(trimmed.to_string())),
        (_, true) if tls => Err(ClientError::HttpWithCa(trimmed.to_string())),
        (true, _) | (_, true) => Ok(trimmed.to_string()),
        _ if tls => Ok(format!("https://{trimmed}")),
        _ => Ok(format!("http://{trimmed}")),
    }
}

fn channel(url: &str, tls: Option<&ClientTls>) -> Result<Channel, ClientError> {
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|_| ClientError::InvalidEndpoint(url.to_string()))?;
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls.config())
            .map_err(|e| ClientError::Tls(e.to_string()))?;
    }
    // HTTP/2 pings find a node that stopped answering (paused, or cut off by
    // the network); without them a call to it waits for its whole deadline.
    // Not quicker: a node building a large snapshot on a busy 2-core machine
    // answered a ping after more than a second (`raftflow bench scale`).
    Ok(endpoint
        .connect_timeout(Duration::from_millis(500))
        .http2_keep_alive_interval(Duration::from_secs(2))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true)
        .tcp_nodelay(true)
        .connect_lazy())
}

/// Whether the connection failed under the call (a node shutting down sends
/// GOAWAY, a dying one resets): the outcome is unknown, like a timeout.
fn is_transport_failure(status: &Status) -> bool {
    std::error::Error::source(status)
        .is_some_and(|s| s.downcast_ref::<tonic::transport::Error>().is_some())
}

/// Whether the call failed before it could have had any effect.
fn is_safe_to_retry(status: &Status) -> bool {
    status.metadata().get(NOT_LEADER_KEY).is_some() || is_connect_failure(status)
}

/// Whether no connection could be made (refused, unreachable).
fn is_connect_failure(status: &Status) -> bool {
    status.code() == Code::Unavailable
        && (status.message().contains("error trying to connect")
            || status.message().contains("tcp connect error"))
}

impl Client {
    /// A plaintext client (a cluster whose nodes say `insecure = true`).
    pub fn new<S: AsRef<str>>(endpoints: &[S]) -> Result<Self, ClientError> {
        Self::with_tls(endpoints, None)
    }

    /// A client speaking TLS when `tls` is given.
    pub fn with_tls<S: AsRef<str>>(
        endpoints: &[S],
        tls: Option<ClientTls>,
    ) -> Result<Self, ClientError> {
        if endpoints.is_empty() {
            return Err(ClientError::NoEndpoints);
        }
        let mut list = Vec::new();
        for e in endpoints {
            let url = normalize(e.as_ref(), tls.is_some())?;
            list.push((url.clone(), channel(&url, tls.as_ref())?));
        }
        Ok(Self {
            endpoints: Mutex::new(list),
            tls,
            bearer: Bearer::default(),
            leader: AtomicUsize::new(0),
            deadline: DEFAULT_DEADLINE,
            last_leader_check: Mutex::new(None),
            answered: AtomicBool::new(false),
        })
    }

    /// Sends `secret` as `authorization: Bearer <secret>` with every call.
    pub fn with_token(mut self, secret: &str) -> Result<Self, ClientError> {
        let trace = self.bearer.1.take();
        self.bearer = Bearer::new(secret)?;
        self.bearer.1 = trace;
        Ok(self)
    }

    /// Sends `trace_parent` (W3C) as `traceparent` with every call made
    /// outside `trace::in_trace`: the calls join the caller's trace.
    pub fn with_trace_parent(mut self, trace_parent: &str) -> Result<Self, ClientError> {
        self.bearer.set_trace(&trace::checked(trace_parent)?)?;
        Ok(self)
    }

    /// Whether this client sends a token.
    pub fn has_token(&self) -> bool {
        self.bearer.is_set()
    }

    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Why a call failed, in words: what is wrong with TLS and what to do,
    /// or the status with its causes.
    pub fn explain(&self, status: &Status) -> String {
        tls::tls_problem(status, self.tls.is_some()).unwrap_or_else(|| tls::full_text(status))
    }

    /// The TLS settings this client was made with.
    pub fn tls(&self) -> Option<&ClientTls> {
        self.tls.as_ref()
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.endpoints
            .lock()
            .expect("lock")
            .iter()
            .map(|(u, _)| u.clone())
            .collect()
    }

    pub(crate) fn channel_at(&self, index: usize) -> (usize, Conn) {
        let list = self.endpoints.lock().expect("lock");
        let index = index % list.len();
        (index, self.bearer.wrap(list[index].1.clone()))
    }

    /// Points the client at `addr`, adding it to the list if it is new.
    fn follow(&self, addr: &str) -> Result<(), ClientError> {
        let url = normalize(addr, self.tls.is_some())?;
        let mut list = self.endpoints.lock().expect("lock");
        let index = match list.iter().position(|(u, _)| *u == url) {
            Some(i) => i,
            None => {
                list.push((url.clone(), channel(&url, self.tls.as_ref())?));
                list.len() - 1
            }
        };
        self.leader.store(index, Ordering::Relaxed);
        Ok(())
    }

    /// Runs `call` against the leader, following redirects and skipping dead
    /// nodes until the deadline. `idempotent` allows retrying after an
    /// outcome-unknown failure too.
    pub async fn on_leader<T, F, Fut>(&self, idempotent: bool, call: F) -> Result<T, ClientError>
    where
        F: Fn(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, Status>>,
    {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(20);
        let mut refused_in_a_row = 0usize;
        loop {
            let (index, channel) = self.channel_at(self.leader.load(Ordering::Relaxed));
            let status = match self.watched(index, call(channel)).await {
                hedge::Attempt::Done(Ok(value)) => {
                    self.answered.store(true, Ordering::Relaxed);
                    return Ok(value);
                }
                hedge::Attempt::Done(Err(status)) => {
                    // Retrying cannot mend a certificate or a scheme.
                    if let Some(problem) = tls::tls_problem(&status, self.tls.is_some()) {
                        return Err(ClientError::Tls(problem));
                    }
                    status
                }
                // Already following the new leader: retry there if that is
                // safe, else report the unknown outcome.
                hedge::Attempt::Moved if idempotent && started.elapsed() < self.deadline => {
                    continue
                }
                hedge::Attempt::Moved => return Err(Status::unavailable(
                    "the node stopped answering and another node leads now; the outcome is unknown",
                )
                .into()),
            };
            // A dying node's connection ends with Cancelled or Unknown: the
            // outcome is unknown, like a timeout.
            let retryable = is_safe_to_retry(&status)
                || (idempotent && is_transport_failure(&status))
                || (idempotent
                    && matches!(
                        status.code(),
                        Code::Unavailable
                            | Code::DeadlineExceeded
                            | Code::Cancelled
                            | Code::Unknown
                    ));
            if !retryable {
                // This call's outcome is unknown and it must not be repeated,
                // but the next call should not go back to a node that stopped
                // answering: it may be paused or cut off while another leads.
                if is_transport_failure(&status)
                    || matches!(
                        status.code(),
                        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled
                    )
                {
                    self.leader.store(index + 1, Ordering::Relaxed);
                }
                return Err(status.into());
            }
            refused_in_a_row = self.count_refusal(&status, refused_in_a_row)?;
            if started.elapsed() >= self.deadline {
                return Err(ClientError::NoLeader(
                    self.deadline,
                    status.message().to_string(),
                ));
            }
            match status
                .metadata()
                .get(LEADER_ADDR_KEY)
                .and_then(|v| v.to_str().ok())
            {
                Some(addr) => self.follow(addr)?,
                None => {
                    self.leader.store(index + 1, Ordering::Relaxed);
                    tokio::time::sleep(backoff).await;
                    // Capped low: a failover takes about a second, and every poll
                    // after the new leader appears is wasted time.
                    backoff = (backoff * 2).min(Duration::from_millis(100));
                }
            }
        }
    }

    /// Counts connections refused in a row; two rounds of refusals from a
    /// list that never answered this client end the call at once.
    fn count_refusal(&self, status: &Status, in_a_row: usize) -> Result<usize, ClientError> {
        if !is_connect_failure(status) {
            self.answered.store(true, Ordering::Relaxed);
            return Ok(0);
        }
        let endpoints = self.endpoints();
        if !self.answered.load(Ordering::Relaxed) && in_a_row + 1 >= 2 * endpoints.len() {
            return Err(ClientError::NothingListening(endpoints.join(", ")));
        }
        Ok(in_a_row + 1)
    }

    /// Every endpoint's own status, in endpoint order; a node that does not
    /// answer is reported as an error, never skipped.
    pub async fn status_all(&self, digest: bool) -> Vec<(String, Result<NodeStatus, Status>)> {
        let list: Vec<(String, Channel)> = self.endpoints.lock().expect("lock").clone();
        let calls = list.into_iter().map(|(url, channel)| async move {
            let mut client = ClusterServiceClient::new(self.bearer.wrap(channel));
            let mut request = tonic::Request::new(StatusRequest { digest });
            request.set_timeout(Duration::from_secs(3));
            (url, client.status(request).await.map(|r| r.into_inner()))
        });
        futures::future::join_all(calls).await
    }

    /// Adds a node as a learner; it catches up from the log or a snapshot.
    /// Not retried after an unknown outcome (the membership may have changed).
    pub async fn add_learner(
        &self,
        id: u64,
        raft_addr: &str,
        api_addr: &str,
    ) -> Result<MembershipReply, ClientError> {
        let request = AddLearnerRequest {
            id,
            raft_addr: raft_addr.into(),
            api_addr: api_addr.into(),
        };
        self.on_leader(false, |channel| {
            let request = request.clone();
            async move {
                ClusterServiceClient::new(channel)
                    .add_learner(request)
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    pub async fn probe(&self, key: &str, value: &[u8]) -> Result<ProbeReply, ClientError> {
        self.on_leader(true, |channel| {
            let request = ProbeRequest {
                key: key.to_string(),
                value: value.to_vec(),
            };
            async move {
                ClusterServiceClient::new(channel)
                    .probe(request)
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    /// Raises the apply version to `version` (0: the highest every member
    /// supports). Safe to retry: raising to the active version changes nothing.
    /// Hands leadership to voter `to` (0: the one whose log is furthest
    /// ahead); returns once it leads.
    pub async fn transfer_leader(&self, to: u64) -> Result<TransferLeaderReply, ClientError> {
        self.on_leader(true, |channel| async move {
            ClusterServiceClient::new(channel)
                .transfer_leader(TransferLeaderRequest { to })
                .await
                .map(|r| r.into_inner())
        })
        .await
    }

    pub async fn upgrade_apply_version(
        &self,
        version: u32,
    ) -> Result<UpgradeApplyVersionReply, ClientError> {
        self.on_leader(true, |channel| async move {
            ClusterServiceClient::new(channel)
                .upgrade_apply_version(UpgradeApplyVersionRequest { version })
                .await
                .map(|r| r.into_inner())
        })
        .await
    }

    pub async fn read_probe(&self, key: &str) -> Result<ReadProbeReply, ClientError> {
        self.on_leader(true, |channel| {
            let request = ReadProbeRequest {
                key: key.to_string(),
                local: false,
            };
            async move {
                ClusterServiceClient::new(channel)
                    .read_probe(request)
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }
}
