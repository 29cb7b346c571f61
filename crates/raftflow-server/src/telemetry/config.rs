//! `[telemetry]`: where spans go. Off unless `otlp_endpoint` is set.

use std::path::PathBuf;

use serde::Deserialize;

/// The most spans a node holds waiting for the collector; past it new
/// spans are dropped (and counted by the SDK), never the node slowed.
pub const MAX_QUEUE_SPANS: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// An OpenTelemetry collector's OTLP/gRPC address, `http://host:4317`
    /// or `https://…`; empty: no spans are made.
    pub otlp_endpoint: String,
    /// CA certificate (PEM) for an `https` collector; the public web roots
    /// when absent.
    pub ca_file: Option<PathBuf>,
    /// `service.name` of every span.
    pub service_name: String,
    /// Percent of new traces (executions and calls without a caller's
    /// `traceparent`) recorded; a caller's sampled flag decides for its own.
    pub sample_percent: u32,
    /// How often a batch of spans is sent.
    pub export_interval_ms: u64,
    /// Spans held while the collector is slow or away.
    pub max_queue_spans: usize,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: String::new(),
            ca_file: None,
            service_name: "raftflow".into(),
            sample_percent: 100,
            export_interval_ms: 1_000,
            max_queue_spans: 8_192,
        }
    }
}

impl TelemetryConfig {
    pub fn enabled(&self) -> bool {
        !self.otlp_endpoint.is_empty()
    }

    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        const FIELD: &str = "telemetry.otlp_endpoint";
        if self.enabled() {
            let uri: http::Uri = self
                .otlp_endpoint
                .parse()
                .map_err(|e| (FIELD, format!("`{}` is not a URL: {e}", self.otlp_endpoint)))?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                return Err((
                    FIELD,
                    format!(
                        "`{}` must be http://host:port or https://host:port",
                        self.otlp_endpoint
                    ),
                ));
            }
        }
        if self.service_name.is_empty() || self.service_name.len() > 128 {
            return Err(("telemetry.service_name", "must be 1 to 128 bytes".into()));
        }
        if self.sample_percent > 100 {
            return Err(("telemetry.sample_percent", "must be 0 to 100".into()));
        }
        if !(10..=60_000).contains(&self.export_interval_ms) {
            return Err(("telemetry.export_interval_ms", "must be 10 to 60000".into()));
        }
        if !(1..=MAX_QUEUE_SPANS).contains(&self.max_queue_spans) {
            return Err((
                "telemetry.max_queue_spans",
                format!("must be 1 to {MAX_QUEUE_SPANS}"),
            ));
        }
        Ok(())
    }
}
