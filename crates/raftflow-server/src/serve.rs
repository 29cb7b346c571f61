//! The node's two gRPC listeners: the Raft port (peers) and the API port
//! (clients, workers, peers' consoles), plaintext or TLS (tls/).

use raftflow_proto::v1::acl_service_server::AclServiceServer;
use raftflow_proto::v1::cluster_service_server::ClusterServiceServer;
use raftflow_proto::v1::connection_service_server::ConnectionServiceServer;
use raftflow_proto::v1::raft_service_server::RaftServiceServer;
use raftflow_proto::v1::schedule_service_server::ScheduleServiceServer;
use raftflow_proto::v1::subscription_service_server::SubscriptionServiceServer;
use raftflow_proto::v1::trigger_service_server::TriggerServiceServer;
use raftflow_proto::v1::worker_service_server::WorkerServiceServer;
use raftflow_proto::v1::workflow_service_server::WorkflowServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;

use crate::acl_service::AclServiceImpl;
use crate::cluster_service::ClusterServiceImpl;
use crate::network::MAX_MESSAGE_BYTES;
use crate::node::{wait_stop, NodeContext};
use crate::raft_service::RaftServiceImpl;
use crate::schedules::service::ScheduleServiceImpl;
use crate::tls::Security;
use crate::worker_service::WorkerServiceImpl;
use crate::workflow_service::WorkflowServiceImpl;

pub(crate) async fn raft(
    ctx: NodeContext,
    listener: TcpListener,
    stopped: watch::Receiver<bool>,
) -> Result<(), tonic::transport::Error> {
    let service = RaftServiceServer::new(
        RaftServiceImpl::new(
            ctx.id,
            ctx.raft.clone(),
            ctx.contact.clone(),
            stopped.clone(),
            ctx.reader.clone(),
        )
        .with_clock(
            (ctx.clock.clone(), ctx.peer_clocks.clone()),
            ctx.config.raft.max_clock_offset_ms,
        )
        .with_identity_check(ctx.security.is_tls()),
    )
    .max_decoding_message_size(MAX_MESSAGE_BYTES)
    .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let router = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .http2_max_pending_accept_reset_streams(Some(
            crate::limits::MAX_PENDING_ACCEPT_RESET_STREAMS,
        ))
        .add_service(service);
    match &ctx.security {
        Security::Insecure => {
            router
                .serve_with_incoming_shutdown(incoming(listener), wait_stop(stopped))
                .await
        }
        Security::Tls(tls) => {
            let tls = crate::tls::tls_incoming(listener, tls.clone(), crate::tls::Port::Raft);
            router
                .serve_with_incoming_shutdown(tls, wait_stop(stopped))
                .await
        }
    }
}

pub(crate) async fn api(
    ctx: NodeContext,
    listener: TcpListener,
    stopped: watch::Receiver<bool>,
) -> Result<(), tonic::transport::Error> {
    // A request longer than one payload at its limit plus the other fields
    // is refused from its length prefix, before it is read.
    let max_request = crate::limits::max_request_bytes(ctx.config.scheduler.max_payload_bytes);
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<ClusterServiceServer<ClusterServiceImpl>>()
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(raftflow_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the embedded descriptor set is valid");
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(raftflow_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .expect("the embedded descriptor set is valid");
    let security = ctx.security.clone();
    let router = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .http2_max_pending_accept_reset_streams(Some(
            crate::limits::MAX_PENDING_ACCEPT_RESET_STREAMS,
        ))
        .layer(crate::metrics::GrpcMetricsLayer(
            ctx.metrics.clone(),
            ctx.id,
            ctx.telemetry.clone(),
        ))
        .layer(crate::auth::AuthLayer(
            ctx.auth.clone(),
            ctx.id,
            ctx.raft.clone(),
        ))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(ClusterServiceServer::new(ClusterServiceImpl::new(
            ctx.clone(),
        )))
        .add_service(AclServiceServer::new(AclServiceImpl::new(ctx.clone())))
        .add_service(
            WorkflowServiceServer::new(WorkflowServiceImpl::new(ctx.clone()))
                .max_decoding_message_size(max_request)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            ScheduleServiceServer::new(ScheduleServiceImpl::new(ctx.clone()))
                .max_decoding_message_size(max_request)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(TriggerServiceServer::new(
            crate::triggers::service::TriggerServiceImpl::new(ctx.clone()),
        ))
        .add_service(ConnectionServiceServer::new(
            crate::connections::service::ConnectionServiceImpl::new(ctx.clone()),
        ))
        .add_service(SubscriptionServiceServer::new(
            crate::subscriptions::service::SubscriptionServiceImpl::new(ctx.clone()),
        ))
        .add_service(
            WorkerServiceServer::new(WorkerServiceImpl::new(ctx))
                .max_decoding_message_size(max_request)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        );
    match &security {
        Security::Insecure => {
            router
                .serve_with_incoming_shutdown(incoming(listener), wait_stop(stopped))
                .await
        }
        Security::Tls(tls) => {
            let tls = crate::tls::tls_incoming(listener, tls.clone(), crate::tls::Port::Api);
            router
                .serve_with_incoming_shutdown(tls, wait_stop(stopped))
                .await
        }
    }
}

/// Accepted connections with Nagle's algorithm off. `Server::tcp_nodelay`
/// only applies to listeners tonic binds itself; without this, replies
/// written in several pieces waited for the client's delayed ACK (~40 ms).
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|stream| {
        let stream = stream?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}
