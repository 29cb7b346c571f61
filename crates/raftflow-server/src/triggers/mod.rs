//! Triggers on the node: the API (`TriggerService`). The starts themselves
//! happen in apply (raftflow_store's workflow/triggers.rs), on every
//! replica, in the entry that ends the watched execution: nothing runs here
//! on the leader.
//!
//! ```text
//!  TriggerService ──▶ PutTrigger / DeleteTrigger ──▶ log ──▶ index by source (every replica)
//!  apply ends A ──▶ triggers watching A's state machine ──▶ start B (same apply)
//! ```

pub mod door;
pub(crate) mod messages;
pub mod service;
