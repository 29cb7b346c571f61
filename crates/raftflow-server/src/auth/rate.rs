//! Per-token rate limits: a token bucket per token on each node, sized by
//! its role (`[auth.rate_limits]`). Not replicated: each node limits what
//! it serves, so a token spread over three nodes may make up to three times
//! its rate in all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::Role;

/// Requests per second per token, on each node; 0 turns the limit off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    pub admin: u32,
    pub operator: u32,
    pub worker: u32,
    pub reader: u32,
}

impl Default for RateLimits {
    /// Off for admins. Readers and operators below what a small cluster
    /// serves (a 2-core one answers ~450 linearizable reads a second,
    /// `raftflow bench flood`), so that one runaway script cannot take it
    /// all; workers high, since a fleet may share one token.
    fn default() -> Self {
        Self {
            admin: 0,
            operator: 500,
            worker: 5_000,
            reader: 200,
        }
    }
}

impl RateLimits {
    pub fn of(&self, role: Role) -> u32 {
        match role {
            Role::Admin => self.admin,
            Role::Operator => self.operator,
            Role::Worker => self.worker,
            Role::Reader => self.reader,
        }
    }
}

struct Bucket {
    /// Calls it may still make now (up to one second's worth).
    available: f64,
    refilled: Instant,
}

/// Tokens remembered at most; past it the buckets start over (full).
const MAX_BUCKETS: usize = 20_000;

#[derive(Default)]
pub struct Buckets(Mutex<HashMap<String, Bucket>>);

impl Buckets {
    /// Takes one call from `accessor`'s bucket of `rps` at `now`; when it is
    /// empty, how long until it holds one again.
    pub fn take(&self, accessor: &str, rps: u32, now: Instant) -> Result<(), Duration> {
        let rate = f64::from(rps.max(1));
        let mut buckets = self.0.lock().expect("rate lock poisoned");
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(accessor) {
            buckets.clear();
        }
        let bucket = buckets.entry(accessor.to_string()).or_insert(Bucket {
            available: rate,
            refilled: now,
        });
        let elapsed_s = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.available = (bucket.available + elapsed_s * rate).min(rate);
        bucket.refilled = now;
        if bucket.available >= 1.0 {
            bucket.available -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - bucket.available) / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_one_seconds_worth_then_refills_at_its_rate() {
        let buckets = Buckets::default();
        let start = Instant::now();
        for _ in 0..10 {
            assert!(buckets.take("a", 10, start).is_ok());
        }
        let wait = buckets.take("a", 10, start).unwrap_err();
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(
            buckets.take("b", 10, start).is_ok(),
            "another token has its own"
        );
        let later = start + Duration::from_millis(100);
        assert!(buckets.take("a", 10, later).is_ok(), "refilled by one");
        assert!(buckets.take("a", 10, later).is_err());
        let much_later = start + Duration::from_secs(60);
        for _ in 0..10 {
            assert!(buckets.take("a", 10, much_later).is_ok());
        }
        assert!(
            buckets.take("a", 10, much_later).is_err(),
            "never more than a second's worth"
        );
    }
}
