//! The `/metrics` page in the OpenMetrics text format, encoded by
//! prometheus-client: escaping, types and suffixes are the crate's, not
//! hand-written. The values are read at each scrape from where they live
//! (Raft's metrics, the applied state, this node's counters), so a page is
//! a fresh registry filled by the modules that own the numbers.
//!
//! A counter is named here with its `_total`, as docs/operations.md lists
//! it; the crate adds that suffix itself, so it is taken off to register.
//! Every family is on every node's page, with or without samples.

use std::fmt;
use std::sync::Mutex;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

/// A sample's labels: (name, value) pairs.
pub type Labels = Vec<(String, String)>;

/// `[("role", "leader")]` → owned labels.
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One histogram's state: per-bucket (not cumulative) counts with their
/// upper bounds, the last bound `f64::INFINITY`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HistogramValues {
    pub sum: f64,
    pub count: u64,
    pub buckets: Vec<(f64, u64)>,
}

/// A histogram whose values were taken elsewhere (our lock-free ones).
#[derive(Debug, Default)]
struct Snapshot(Mutex<HistogramValues>);

impl TypedMetric for Snapshot {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Snapshot {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let v = self.0.lock().expect("snapshot lock");
        encoder.encode_histogram::<NoLabelSet>(v.sum, v.count, &v.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// A labelled family that keeps its `# HELP`/`# TYPE` lines when it has no
/// sample (a follower's leader-only families).
#[derive(Debug)]
struct Rows<M>(Family<Labels, M>);

impl<M: EncodeMetric + TypedMetric> EncodeMetric for Rows<M> {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        M::TYPE
    }
}

#[derive(Default)]
pub struct Page {
    registry: Registry,
}

/// The crate ends every help text with a full stop of its own.
fn help(text: &str) -> &str {
    text.strip_suffix('.').unwrap_or(text)
}

fn counter_name(name: &str) -> &str {
    debug_assert!(
        name.ends_with("_total"),
        "counter {name} must end in _total"
    );
    name.strip_suffix("_total").unwrap_or(name)
}

impl Page {
    pub fn gauge(&mut self, name: &str, help_text: &str, value: i64) {
        let gauge = Gauge::<i64>::default();
        gauge.set(value);
        self.registry.register(name, help(help_text), gauge);
    }

    pub fn gauge_f64(&mut self, name: &str, help_text: &str, value: f64) {
        let gauge = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        gauge.set(value);
        self.registry.register(name, help(help_text), gauge);
    }

    pub fn gauges(
        &mut self,
        name: &str,
        help_text: &str,
        rows: impl IntoIterator<Item = (Labels, i64)>,
    ) {
        let family = Family::<Labels, Gauge<i64>>::default();
        for (labels, value) in rows {
            family.get_or_create(&labels).set(value);
        }
        self.registry.register(name, help(help_text), Rows(family));
    }

    pub fn gauges_f64(
        &mut self,
        name: &str,
        help_text: &str,
        rows: impl IntoIterator<Item = (Labels, f64)>,
    ) {
        let family = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        for (labels, value) in rows {
            family.get_or_create(&labels).set(value);
        }
        self.registry.register(name, help(help_text), Rows(family));
    }

    /// `name` ends in `_total`.
    pub fn counter(&mut self, name: &str, help_text: &str, value: u64) {
        let counter = Counter::<u64>::default();
        counter.inc_by(value);
        self.registry
            .register(counter_name(name), help(help_text), counter);
    }

    /// `name` ends in `_total`.
    pub fn counters(
        &mut self,
        name: &str,
        help_text: &str,
        rows: impl IntoIterator<Item = (Labels, u64)>,
    ) {
        let family = Family::<Labels, Counter<u64>>::default();
        for (labels, value) in rows {
            family.get_or_create(&labels).inc_by(value);
        }
        self.registry
            .register(counter_name(name), help(help_text), Rows(family));
    }

    pub fn histograms(
        &mut self,
        name: &str,
        help_text: &str,
        rows: impl IntoIterator<Item = (Labels, HistogramValues)>,
    ) {
        let family = Family::<Labels, Snapshot>::default();
        for (labels, values) in rows {
            *family
                .get_or_create(&labels)
                .0
                .lock()
                .expect("snapshot lock") = values;
        }
        self.registry.register(name, help(help_text), Rows(family));
    }

    /// One unlabelled histogram.
    pub fn histogram(&mut self, name: &str, help_text: &str, values: HistogramValues) {
        self.histograms(name, help_text, [(Labels::new(), values)]);
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// The page's content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_keep_their_names_and_escape_their_labels() {
        let mut page = Page::default();
        page.counter("x_calls_total", "Calls.", 3);
        page.counters("x_by_total", "By.", [(labels(&[("m", "a\"b\n")]), 2)]);
        page.gauges("x_empty", "Nothing yet.", []);
        page.gauge_f64("x_offset_seconds", "Offset.", -0.25);
        let values = HistogramValues {
            sum: 1.5,
            count: 3,
            buckets: vec![(0.5, 1), (1.0, 1), (f64::INFINITY, 1)],
        };
        page.histograms("x_seconds", "Took.", [(labels(&[("m", "a")]), values)]);
        let out = page.encode();
        assert!(out.contains("x_calls_total 3\n"), "{out}");
        assert!(out.contains("x_by_total{m=\"a\\\"b\\n\"} 2\n"), "{out}");
        assert!(
            out.contains("# TYPE x_empty gauge\n"),
            "an empty family stays: {out}"
        );
        assert!(out.contains("x_offset_seconds -0.25\n"), "{out}");
        assert!(
            out.contains("# HELP x_calls Calls.\n"),
            "one full stop: {out}"
        );
        assert!(
            out.contains("x_seconds_bucket{le=\"1.0\",m=\"a\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{le=\"+Inf\",m=\"a\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("x_seconds_count{m=\"a\"} 3\n"), "{out}");
        assert!(out.ends_with("# EOF\n"), "{out}");
    }
}
