//! The clock faults' watch: a node restarted with a clock an hour off must
//! not drive while it is off (docs/guarantees.md, promise 6). It may say it
//! leads for a moment: openraft 0.9 gives a restarted leader its
//! leadership back from its committed vote, without an election; the clock
//! guard then stamps nothing and steps it down (clock_guard.rs).

use std::sync::Arc;
use std::time::Duration;

use raftflow_client::Client;

use crate::history::{Record, Recorder};

/// How often the watch asks the nodes who leads.
const LOOK_EVERY_MS: u64 = 100;

/// Holds the `skewed-restart` fault for `hold`, asking every node whether
/// it drives meanwhile; records each time `node`, whose clock is `clock_ms`
/// off, says it drives an epoch.
pub async fn watch_skewed(
    client: &Arc<Client>,
    recorder: &Recorder,
    node: u64,
    clock_ms: i64,
    hold: Duration,
) {
    let deadline = tokio::time::Instant::now() + hold;
    while tokio::time::Instant::now() < deadline {
        let led = client
            .status_all(false)
            .await
            .into_iter()
            .filter_map(|(_, s)| s.ok())
            .any(|s| s.id == node && s.driving_epoch != 0);
        if led {
            recorder.record(Record::SkewedLeader {
                t_ms: recorder.now_ms(),
                node,
                clock_ms,
            });
        }
        tokio::time::sleep(Duration::from_millis(LOOK_EVERY_MS)).await;
    }
}
