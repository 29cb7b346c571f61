//! The API token every call carries (`authorization: Bearer <secret>`), and
//! the trace it runs in (`traceparent`, trace.rs).

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;

use crate::ClientError;

/// A connection to one node that sends the client's token with every call.
pub type Conn = InterceptedService<Channel, Bearer>;

/// Adds the token, when there is one, to each request's metadata, and the
/// trace: the running code's (`trace::in_trace`), else the client's own.
#[derive(Clone, Default)]
pub struct Bearer(
    Option<MetadataValue<Ascii>>,
    pub(crate) Option<MetadataValue<Ascii>>,
);

impl Bearer {
    pub fn new(secret: &str) -> Result<Self, ClientError> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(ClientError::Token("the token is empty".into()));
        }
        let value = format!("Bearer {secret}").parse().map_err(|_| {
            ClientError::Token("the token holds characters a header cannot carry".into())
        })?;
        Ok(Self(Some(value), None))
    }

    pub(crate) fn set_trace(&mut self, trace_parent: &str) -> Result<(), ClientError> {
        let value = trace_parent
            .parse()
            .map_err(|_| ClientError::Trace(format!("`{trace_parent}` cannot be a header")))?;
        self.1 = Some(value);
        Ok(())
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    pub fn wrap(&self, channel: Channel) -> Conn {
        InterceptedService::new(channel, self.clone())
    }
}

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        let running = crate::trace::current().and_then(|t| t.parse().ok());
        if let Some(trace) = running.or_else(|| self.1.clone()) {
            request.metadata_mut().insert("traceparent", trace);
        }
        Ok(request)
    }
}

/// Reads a token file: the secret on its first line.
pub fn read_token_file(path: &std::path::Path) -> Result<String, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ClientError::Token(format!(
            "cannot read the token file {}: {e}",
            path.display()
        ))
    })?;
    let secret = text.lines().next().unwrap_or("").trim();
    if secret.is_empty() {
        return Err(ClientError::Token(format!(
            "{} holds no token",
            path.display()
        )));
    }
    Ok(secret.to_string())
}
