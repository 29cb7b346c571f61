//! Connections on the node: named credentials for HTTP Tasks.
//!
//! ```text
//!  ConnectionService ──door: check──▶ seal (cluster key) ──▶ PutConnection ──▶ log (sealed bytes)
//!  HTTP Task with Authentication.ConnectionArn ──▶ attach: read, open, set header / TLS identity
//! ```
//! The secret is in clear only in the request that saves it and in the
//! leader's memory for one call; it is never logged or shown back.

pub mod attach;
pub mod door;
pub mod keys;
pub mod seal;
pub mod service;
