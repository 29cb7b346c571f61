//! Subscriptions on the node: execution events pushed to URLs.
//!
//! ```text
//!  SubscriptionService ──door: check, seal the signing secret──▶ PutSubscription ──▶ log
//!  apply (every replica) ──▶ outbox ──▶ leader: deliver.rs ──POST, signed──▶ receiver
//!                                          └──▶ EventsDelivered (one per round) ──▶ log
//! ```
//! The signing secret is sealed as a connection's secret is, with the
//! cluster key of `[connections]`, under the name `subscription:<name>`, so
//! sealed bytes cannot be moved onto a connection or another subscription.

pub mod deliver;
pub mod deliver_metrics;
pub mod door;
pub mod post;
pub mod service;
pub mod sign;

use raftflow_store::connections::Kind;

/// What the signing secret is sealed as (see the module doc).
pub fn seal_as(name: &str) -> (String, Kind) {
    (format!("subscription:{name}"), Kind::Bearer)
}
