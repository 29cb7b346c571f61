//! The node's wall clock: the one place the server reads the time of day.
//!
//! Apply never reads a clock; the leader stamps the time on each command it
//! proposes (`now_ms`), and every replica applies that stamp. Measurements
//! (latencies, `applied_at_us`) read it too.

use std::time::{SystemTime, UNIX_EPOCH};

/// The gRPC metadata key under which a node sends its clock (ms since the
/// Unix epoch) with every Raft RPC, so that the receiver can tell a peer
/// whose clock is wrong.
pub const CLOCK_HEADER: &str = "raftflow-clock-ms";

/// This node's wall clock: the system's, shifted by a test-only offset
/// (`fault_injection.clock_offset_ms`) that makes the node behave as one
/// whose clock is wrong. Every time stamp a node proposes comes from here.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: std::sync::atomic::AtomicI64,
}

impl Clock {
    pub fn with_offset(offset_ms: i64) -> Self {
        Self {
            offset_ms: offset_ms.into(),
        }
    }

    /// Steps this clock, as an NTP step or a misconfigured host would
    /// (clock-skew tests only).
    #[cfg(feature = "fault-injection")]
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms
            .store(offset_ms, std::sync::atomic::Ordering::Relaxed);
    }

    fn offset(&self) -> i64 {
        self.offset_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn now_ms(&self) -> u64 {
        now_ms().saturating_add_signed(self.offset())
    }

    pub fn now_us(&self) -> u64 {
        now_us().saturating_add_signed(self.offset().saturating_mul(1000))
    }

    /// How far `peer_ms`, a peer's clock as it sent it, is ahead of this
    /// clock now (negative: behind). One-way: a message's time in transit
    /// makes the peer look behind by that much.
    pub fn offset_of(&self, peer_ms: u64) -> i64 {
        let own = self.now_ms();
        if peer_ms >= own {
            i64::try_from(peer_ms - own).unwrap_or(i64::MAX)
        } else {
            i64::try_from(own - peer_ms).map_or(i64::MIN, |d| -d)
        }
    }
}

/// Attaches `clock`'s time to an outgoing request.
pub fn stamp<T>(request: &mut tonic::Request<T>, clock: &Clock) {
    let value = tonic::metadata::MetadataValue::from(clock.now_ms());
    request.metadata_mut().insert(CLOCK_HEADER, value);
}

/// Attaches `clock`'s time to an outgoing reply.
pub fn stamp_reply<T>(reply: &mut tonic::Response<T>, clock: &Clock) {
    let value = tonic::metadata::MetadataValue::from(clock.now_ms());
    reply.metadata_mut().insert(CLOCK_HEADER, value);
}

/// The responder's clock on a reply, if it sent one.
pub fn replied_at<T>(reply: &tonic::Response<T>) -> Option<u64> {
    read(reply.metadata())
}

/// The sender's clock on an incoming request, if it sent one.
pub fn sent_at<T>(request: &tonic::Request<T>) -> Option<u64> {
    read(request.metadata())
}

fn read(metadata: &tonic::metadata::MetadataMap) -> Option<u64> {
    metadata.get(CLOCK_HEADER)?.to_str().ok()?.parse().ok()
}

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
