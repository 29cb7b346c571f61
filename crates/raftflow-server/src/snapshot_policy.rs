//! When a node builds a snapshot.
//!
//! ```text
//!  every 200 ms: entries applied since the last snapshot ≥ snapshot_after_entries
//!            and log bytes appended since it ≥ ¼ of its size ──▶ raft.trigger().snapshot()
//! ```
//! openraft 0.9 can only count entries. A fixed count makes a large state
//! machine rewrite all of itself every few seconds under load (800 MB every
//! 20,000 entries at a million executions); weighing the log against the
//! snapshot keeps the rewriting proportional to the writing, as in an LSM
//! tree or Redis' AOF rewrite. (It did not change the 1M fill rate measured
//! on this machine: docs/benchmarks.md, Scale.)
//! Every node runs this for itself, leader or not.

use crate::raft_service::WatchReceiver as _;
use std::time::Duration;

use raftflow_store::StateReader;

use crate::raft_service::Raft;

const CHECK_EVERY: Duration = Duration::from_millis(200);
/// The log since the last snapshot must reach this share of its size.
const LOG_TO_SNAPSHOT_RATIO: u64 = 4;

pub async fn run(raft: Raft, reader: StateReader, min_entries: u64) {
    let mut ticker = tokio::time::interval(CHECK_EVERY);
    loop {
        ticker.tick().await;
        let (applied, snapshot, shut_down) = {
            let m = raft.metrics();
            let m = m.borrow_watched();
            (
                m.last_applied.map_or(0, |l| l.index),
                m.snapshot.map(|l| l.index),
                m.state == openraft::ServerState::Shutdown,
            )
        };
        if shut_down {
            return;
        }
        let since = snapshot.map_or(applied + 1, |s| applied.saturating_sub(s));
        let (snapshot_bytes, log_bytes) = reader.snapshot_weight();
        if worth_building(since, min_entries, snapshot_bytes, log_bytes)
            && raft.trigger().snapshot().await.is_err()
        {
            return;
        }
    }
}

fn worth_building(entries: u64, min_entries: u64, snapshot_bytes: u64, log_bytes: u64) -> bool {
    entries >= min_entries && log_bytes.saturating_mul(LOG_TO_SNAPSHOT_RATIO) >= snapshot_bytes
}

#[cfg(test)]
mod tests {
    use super::worth_building;

    #[test]
    fn a_snapshot_waits_for_enough_entries_and_enough_log() {
        // A small state: the entry count decides.
        assert!(!worth_building(19_999, 20_000, 1_000, 50_000));
        assert!(worth_building(20_000, 20_000, 1_000, 50_000));
        // A large state: 800 MB waits for 200 MB of log.
        assert!(!worth_building(60_000, 20_000, 800 << 20, 100 << 20));
        assert!(worth_building(60_000, 20_000, 800 << 20, 200 << 20));
        // No snapshot yet.
        assert!(worth_building(20_000, 20_000, 0, 0));
    }
}
