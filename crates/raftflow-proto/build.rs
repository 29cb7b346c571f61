//! Compiles `proto/` with protox (pure Rust, no system `protoc`) and hands the
//! descriptor set to tonic. The descriptor set is also written to `OUT_DIR` so
//! the server can offer gRPC reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "raftflow/v1/raft.proto",
        "raftflow/v1/cluster.proto",
        "raftflow/v1/workflow.proto",
        "raftflow/v1/worker.proto",
        "raftflow/v1/acl.proto",
        "raftflow/v1/schedule.proto",
        "raftflow/v1/trigger.proto",
        "raftflow/v1/connection.proto",
        "raftflow/v1/subscription.proto",
    ];
    let paths: Vec<PathBuf> = files.iter().map(|f| root.join(f)).collect();
    let fds = protox::compile(&paths, [&root])?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("raftflow_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
