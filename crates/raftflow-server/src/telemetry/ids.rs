//! Span and trace ids derived from what the log holds, so that every node
//! names an execution's spans alike: a worker handed a task by one leader
//! is a child of the span another leader exports when the execution ends.

use raftflow_core::trace_parent::TraceParent;
use sha2::{Digest, Sha256};

fn derive<const N: usize>(what: &str, parts: &[&[u8]]) -> [u8; N] {
    let mut hash = Sha256::new();
    hash.update(b"raftflow ");
    hash.update(what.as_bytes());
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut id = [0u8; N];
    id.copy_from_slice(&digest[..N]);
    if id == [0; N] {
        id[N - 1] = 1; // all zeros is "no id" in W3C trace context
    }
    id
}

/// The trace of an execution started without a caller's trace.
pub fn execution_trace(execution_id: &str) -> [u8; 16] {
    derive("trace", &[execution_id.as_bytes()])
}

pub fn execution_span(execution_id: &str) -> [u8; 8] {
    derive("execution", &[execution_id.as_bytes()])
}

/// A state's visit: the history event that entered it.
pub fn state_span(execution_id: &str, entered_event: u64) -> [u8; 8] {
    derive(
        "state",
        &[execution_id.as_bytes(), &entered_event.to_be_bytes()],
    )
}

/// A task attempt's hand-out, by its token (without the epoch).
pub fn hand_out_span(token: &str) -> [u8; 8] {
    derive("hand-out", &[token.as_bytes()])
}

/// Where an execution's spans hang: under the caller's span when it was
/// started in a trace (`root` false), else a trace of its own, recorded
/// when `sampled`.
pub struct ExecutionTrace {
    /// The trace, with the execution span's parent as `parent_id`.
    pub trace: TraceParent,
    pub root: bool,
}

impl ExecutionTrace {
    pub fn of(
        execution_id: &str,
        stored: Option<TraceParent>,
        sampled: impl Fn(&[u8; 16]) -> bool,
    ) -> Self {
        match stored {
            Some(trace) => ExecutionTrace { trace, root: false },
            None => {
                let trace_id = execution_trace(execution_id);
                ExecutionTrace {
                    trace: TraceParent {
                        trace_id,
                        parent_id: execution_span(execution_id),
                        flags: u8::from(sampled(&trace_id)),
                    },
                    root: true,
                }
            }
        }
    }

    /// The trace with the execution span as the parent: what its states
    /// and hand-outs hang under.
    pub fn under_execution(&self, execution_id: &str) -> TraceParent {
        self.trace.child(execution_span(execution_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_apart() {
        assert_eq!(execution_span("orders:o1"), execution_span("orders:o1"));
        assert_ne!(execution_span("orders:o1"), execution_span("orders:o2"));
        assert_ne!(state_span("orders:o1", 2), state_span("orders:o1", 3));
        // Length-prefixed parts: ("a:b", 1) and ("a", …) cannot meet.
        assert_ne!(hand_out_span("a"), execution_span("a"));
    }

    #[test]
    fn an_untraced_execution_is_a_root_and_a_traced_one_a_child() {
        let own = ExecutionTrace::of("orders:o1", None, |_| true);
        assert!(own.root && own.trace.sampled());
        assert_eq!(own.trace.trace_id, execution_trace("orders:o1"));
        let caller =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let traced = ExecutionTrace::of("orders:o1", Some(caller), |_| false);
        assert!(!traced.root);
        assert_eq!(traced.trace, caller);
        let under = traced.under_execution("orders:o1");
        assert_eq!(under.trace_id, caller.trace_id);
        assert_eq!(under.parent_id, execution_span("orders:o1"));
    }
}
