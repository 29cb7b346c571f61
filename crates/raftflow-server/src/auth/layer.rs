//! The tower layer in front of every gRPC service of the API port: one
//! place checks every call, by its method's path (methods.rs).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use super::{audit, methods, Gate};
use crate::error::{ApiError, WriteError, NOT_LEADER_KEY};
use crate::raft_service::Raft;

/// The gate, the node id the audit lines carry, and the node's Raft (who
/// leads, for a token this node does not know yet).
#[derive(Clone)]
pub struct AuthLayer(pub Arc<Gate>, pub u64, pub Raft);

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            gate: self.0.clone(),
            node: self.1,
            raft: self.2.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    gate: Arc<Gate>,
    node: u64,
    raft: Raft,
}

/// "Not the leader, ask node N at ADDR" unless this node leads: the client
/// follows it as it follows any redirect (or, with no leader known yet,
/// retries until one is). Only the leader's refusal is final.
fn to_the_leader(raft: &Raft, me: u64) -> Option<tonic::Status> {
    let leader = crate::node::leader_of(raft);
    if leader.as_ref().is_some_and(|(id, _)| *id == me) {
        return None;
    }
    let (leader_id, leader_api_addr) = leader.map_or((None, None), |(id, addr)| (Some(id), addr));
    Some(
        ApiError::Write(WriteError::NotLeader {
            leader_id,
            leader_api_addr,
        })
        .into(),
    )
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_string();
        let rule = methods::rule(&path);
        let tls = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .cloned();
        let peer_node = tls
            .as_ref()
            .and_then(|info| info.peer_certs())
            .and_then(|certs| certs.first().and_then(crate::tls::identity::node_id_of));
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        let session = request
            .headers()
            .get(super::session::METADATA)
            .and_then(|v| v.to_str().ok());
        let method = short_method(&path);
        let (raft, node) = (&self.raft, self.node);
        let redirect = || to_the_leader(raft, node);
        match self
            .gate
            .check_or_redirect(authorization, session, peer_node, rule, redirect)
        {
            Ok(caller) => {
                let target = audit::Target::default();
                request.extensions_mut().insert(caller.clone());
                request.extensions_mut().insert(target.clone());
                let call = self.inner.call(request);
                if !audit::audited(&path) {
                    return Box::pin(call);
                }
                let node = self.node;
                Box::pin(async move {
                    let result = call.await;
                    let outcome = crate::metrics::grpc_outcome(&result);
                    audit::line(node, &caller, &method, &target, &outcome);
                    result
                })
            }
            Err(status) if status.metadata().get(NOT_LEADER_KEY).is_some() => {
                Box::pin(async move { Ok(status.into_http()) })
            }
            Err(status) => {
                let who = tls
                    .as_ref()
                    .and_then(|info| info.get_ref().remote_addr())
                    .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string());
                audit::refused(
                    self.node,
                    self.gate.limiter(),
                    &who,
                    &method,
                    status.message(),
                );
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

/// `/raftflow.v1.WorkflowService/StartExecution` → `WorkflowService/StartExecution`.
fn short_method(path: &str) -> String {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or("");
    let method = parts.next().unwrap_or("");
    let service = service.rsplit('.').next().unwrap_or(service);
    format!("{service}/{method}")
}
