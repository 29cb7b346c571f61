//! Requests the cluster makes to the outside (HTTP tasks and subscriptions
//! of the push issue build on these): the destination rules (policy.rs)
//! and the caller that applies them on every connection (caller.rs).

pub mod caller;
pub mod policy;
