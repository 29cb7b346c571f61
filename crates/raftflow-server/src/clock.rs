//! The node's wall clock: the one place the server reads the time of day.
//!
//! Apply never reads a clock; the leader stamps the time on each command it
//! proposes (`now_ms`), and every replica applies that stamp. Measurements
//! (latencies, `applied_at_us`) read it too.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; 0 for a clock set before 1970.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Microseconds since the Unix epoch; 0 for a clock set before 1970.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
