//! Requests the cluster makes to the outside (HTTP tasks and subscriptions
//! of the push issue build on these): the destination rules (policy.rs)
//! the caller that applies them on every connection (caller.rs), and the
//! pool that bounds calls in all and per host (pool.rs).

pub mod caller;
pub mod policy;
pub mod pool;
