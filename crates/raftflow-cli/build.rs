//! Puts the git commit the binary was built from into `raftflow --version`.
//! A build outside a git checkout (or given RAFTFLOW_GIT_COMMIT) says so.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=RAFTFLOW_GIT_COMMIT");
    let commit = std::env::var("RAFTFLOW_GIT_COMMIT")
        .ok()
        .or_else(git_commit);
    println!(
        "cargo:rustc-env=RAFTFLOW_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    // Rerun when HEAD moves; only files that exist (a missing one would
    // rerun this script, and rebuild the CLI, on every build).
    for file in ["../../.git/HEAD", "../../.git/packed-refs"] {
        if Path::new(file).exists() {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    if let Ok(head) = std::fs::read_to_string("../../.git/HEAD") {
        if let Some(reference) = head.trim().strip_prefix("ref: ") {
            let file = format!("../../.git/{reference}");
            if Path::new(&file).exists() {
                println!("cargo:rerun-if-changed={file}");
            }
        }
    }
}

fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|c| !c.is_empty())
}
