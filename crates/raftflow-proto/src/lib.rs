//! Generated gRPC types for the `raftflow.v1` package.
//!
//! ```text
//!   proto/raftflow/v1/*.proto ──protox──▶ descriptor set ──tonic-prost-build──▶ this crate
//!                                             │
//!                                             └──▶ FILE_DESCRIPTOR_SET (gRPC reflection)
//! ```

#![allow(clippy::all)]

pub mod v1 {
    tonic::include_proto!("raftflow.v1");
}

/// Encoded `FileDescriptorSet` of every raftflow proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/raftflow_descriptor.bin"));
