//! The time a leader stamps on the commands it proposes ("log time"): its
//! clock, held to two rules so that a clock that steps while the node leads
//! cannot move timers far:
//!
//! ```text
//!  floor    the latest stamp applied here      log time never goes backwards
//!           (a leader whose clock is behind continues from the log)
//!  band     anchor stamp + monotonic time since the anchor ± max offset
//!           (a clock that steps while leading is held to the band: logged, counted)
//! ```
//! The monotonic clock does not count a host's suspend; a leader suspended
//! that long has lost its leadership anyway.
//! The anchor is taken at the first stamp after each takeover, when the
//! node's clock was judged by its voters (a vote is refused to a candidate
//! whose clock is more than `max_clock_offset_ms` away: raft_service.rs).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::clock::Clock;

pub struct LogClock {
    clock: Arc<Clock>,
    max_offset_ms: u64,
    /// (stamp, when) of the first stamp since the last takeover.
    anchor: Mutex<Option<(u64, Instant)>>,
    /// Stamps held to the band because the clock stepped out of it.
    pub clamped: AtomicU64,
    warned: AtomicBool,
}

impl LogClock {
    pub fn new(clock: Arc<Clock>, max_offset_ms: u64) -> Self {
        Self {
            clock,
            max_offset_ms,
            anchor: Mutex::new(None),
            clamped: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    /// Forgets the anchor: the next stamp starts a new one (a takeover).
    pub fn reanchor(&self) {
        *self.anchor.lock().expect("log clock lock") = None;
    }

    /// The time to stamp on a command now, given the latest stamp applied
    /// here (`log_ms`).
    pub fn stamp_ms(&self, log_ms: u64) -> u64 {
        let wall_ms = self.clock.now_ms();
        let mut anchor = self.anchor.lock().expect("log clock lock");
        let stamp = match self.band(&anchor) {
            None => wall_ms.max(log_ms),
            Some((low, high)) => {
                self.note_clamp(wall_ms, (low, high));
                wall_ms.clamp(low, high).max(log_ms)
            }
        };
        anchor.get_or_insert((stamp, Instant::now()));
        stamp
    }

    /// Log time now, as a stamp would read it, without taking an anchor or
    /// counting a clamp: what the leader's timers are due against (a timer
    /// armed by a stamp must wait on the same clock, or a stepped wall
    /// clock would spin or stall the timer loop).
    pub fn now_ms(&self, log_ms: u64) -> u64 {
        let wall_ms = self.clock.now_ms();
        let anchor = self.anchor.lock().expect("log clock lock");
        match self.band(&anchor) {
            None => wall_ms.max(log_ms),
            Some((low, high)) => wall_ms.clamp(low, high).max(log_ms),
        }
    }

    /// The band a stamp is held to: the anchor plus the monotonic time
    /// since, ± the allowed offset.
    fn band(&self, anchor: &Option<(u64, Instant)>) -> Option<(u64, u64)> {
        let (anchor_ms, at) = (*anchor)?;
        let elapsed_ms = u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
        let expected_ms = anchor_ms.saturating_add(elapsed_ms);
        Some((
            expected_ms.saturating_sub(self.max_offset_ms),
            expected_ms.saturating_add(self.max_offset_ms),
        ))
    }

    fn note_clamp(&self, wall_ms: u64, (low, high): (u64, u64)) {
        if (low..=high).contains(&wall_ms) {
            self.warned.store(false, Ordering::Relaxed);
            return;
        }
        self.clamped.fetch_add(1, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            let off_ms = if wall_ms > high {
                i64::try_from(wall_ms - high).unwrap_or(i64::MAX)
            } else {
                -i64::try_from(low - wall_ms).unwrap_or(i64::MAX)
            };
            tracing::warn!(
                off_ms,
                "this node's clock stepped while it leads: stamps are held to the time elapsed since it took over; fix its clock (NTP)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_time_never_goes_backwards_and_never_jumps_ahead() {
        let clock = Arc::new(Clock::with_offset(0));
        let log = LogClock::new(clock.clone(), 500);
        let now = crate::clock::now_ms();
        // A log ahead of this clock (an earlier leader's): continue from it.
        let first = log.stamp_ms(now + 10_000);
        assert!(first >= now + 10_000);
        assert!(
            log.stamp_ms(0) >= now,
            "the clock itself, within the ceiling"
        );

        // The clock jumps an hour ahead while leading: held to the ceiling.
        let jumped = Arc::new(Clock::with_offset(3_600_000));
        let log = LogClock::new(jumped.clone(), 500);
        log.anchor.lock().unwrap().replace((now, Instant::now()));
        let held = log.stamp_ms(0);
        assert!(held <= now + 60_000, "held back: {}", held - now);
        assert_eq!(log.clamped.load(Ordering::Relaxed), 1);
        // Timers wait on the same held time; looking counts no clamp.
        assert!(log.now_ms(0).abs_diff(held) < 60_000);
        assert_eq!(log.clamped.load(Ordering::Relaxed), 1);
        // A takeover takes a new anchor from the clock (the voters judged it).
        log.reanchor();
        assert!(log.stamp_ms(0) >= now + 3_600_000);

        // A clock that steps an hour back: time goes on from the anchor.
        let behind = LogClock::new(Arc::new(Clock::with_offset(-3_600_000)), 500);
        behind.anchor.lock().unwrap().replace((now, Instant::now()));
        let held = behind.stamp_ms(0);
        assert!(
            held + 1_000 >= now && held <= now + 60_000,
            "{}",
            held.abs_diff(now)
        );
        assert_eq!(behind.clamped.load(Ordering::Relaxed), 1);
    }
}
