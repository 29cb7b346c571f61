//! Deliberate defects, for tests only: the chaos checker's self-test, the
//! failover window and mixed-version clusters.
//!
//! Two locks keep them out of production:
//! - **the `fault-injection` cargo feature**: without it every switch below
//!   reads as off whatever the config says (the branches fold away) and a
//!   config that sets one is refused. The builds users run — the quick
//!   start's `cargo build -p raftflow-cli`, `cargo build --workspace`, the
//!   image — do not turn it on;
//! - **a process-wide permit**: `cargo test --workspace` does turn the feature
//!   on for the whole build (dev-dependencies unify features), which puts the
//!   code in that build's `raftflow` binary too. That binary never calls
//!   [`permit`], so it still refuses `[fault_injection]`. Only the test node
//!   (`raftflow-cli`'s `raftflow-fault-node` example, which the chaos harness
//!   starts for `--defect`) and the in-process tests call it.

use serde::Deserialize;

/// Whether this build carries the fault-injection code at all.
pub const COMPILED: bool = cfg!(feature = "fault-injection");

#[cfg(feature = "fault-injection")]
static PERMITTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets this process start nodes whose config switches a defect on. Exists
/// only in builds with the `fault-injection` feature.
#[cfg(feature = "fault-injection")]
pub fn permit() {
    PERMITTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether a node of this process may switch a defect on.
pub fn permitted() -> bool {
    #[cfg(feature = "fault-injection")]
    {
        PERMITTED.load(std::sync::atomic::Ordering::SeqCst)
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        false
    }
}

/// The `[fault_injection]` section of a node config. All off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultInjection {
    /// Route a completion whose attempt is closed to whatever attempt of the
    /// same execution is open, instead of refusing it: a repeated report is
    /// then applied twice (it breaks promise 4 of docs/guarantees.md).
    pub accept_any_attempt: bool,
    /// Hold a newly elected leader this long before it takes over (barrier,
    /// epoch, queues), so that a test can send work into the window in which
    /// a node leads but does not drive yet.
    pub takeover_delay_ms: u64,
    /// Follow apply versions up to this one only, as an older release
    /// would (mixed-version tests). 0: the binary's whole range.
    pub max_apply_version: u32,
    /// Drop the reply of this many poll hand-outs after their commit: the
    /// worker sees UNAVAILABLE, as when a connection breaks or a leader dies
    /// before it answers (the lost hand-out of docs/guarantees.md).
    pub drop_hand_out_replies: u32,
    /// The same for this many `CompleteTask` replies (a report whose reply
    /// was lost after its commit).
    pub drop_report_replies: u32,
    /// Hold this many starts that hand their first task to a parked poll
    /// until that poll's client has left (at most 10 s), as when a client
    /// gives up between the reservation and the commit.
    pub hold_start_hand_outs: u32,
    /// Shift this node's clock by this many milliseconds (negative: behind),
    /// as a host with a wrong clock would (clock-skew tests).
    pub clock_offset_ms: i64,
}

impl FaultInjection {
    /// Whether any switch is on in the config (whatever the build).
    pub fn any(&self) -> bool {
        *self != Self::default()
    }

    /// Refuses a config that switches a defect on in a process that may not.
    pub fn check(&self) -> Result<(), String> {
        if !self.any() || (COMPILED && permitted()) {
            return Ok(());
        }
        let why = if COMPILED {
            "only the test node binary (raftflow-fault-node) may switch them on"
        } else {
            "this binary was built without the `fault-injection` cargo feature"
        };
        Err(format!(
            "deliberate defects are for tests only and {why}; remove the [fault_injection] section"
        ))
    }

    pub fn accept_any_attempt(&self) -> bool {
        COMPILED && self.accept_any_attempt
    }

    pub fn takeover_delay_ms(&self) -> u64 {
        if COMPILED {
            self.takeover_delay_ms
        } else {
            0
        }
    }

    /// The highest apply version to follow, when capped.
    pub fn max_apply_version(&self) -> Option<u32> {
        (COMPILED && self.max_apply_version > 0).then_some(self.max_apply_version)
    }

    /// The test-only shift of this node's clock.
    pub fn clock_offset_ms(&self) -> i64 {
        if COMPILED {
            self.clock_offset_ms
        } else {
            0
        }
    }

    /// The countdowns of this config's switches, for one node's run.
    pub fn countdowns(&self) -> Countdowns {
        Countdowns {
            hand_out_replies: std::sync::atomic::AtomicU32::new(if COMPILED {
                self.drop_hand_out_replies
            } else {
                0
            }),
            report_replies: std::sync::atomic::AtomicU32::new(if COMPILED {
                self.drop_report_replies
            } else {
                0
            }),
            start_hand_outs: std::sync::atomic::AtomicU32::new(if COMPILED {
                self.hold_start_hand_outs
            } else {
                0
            }),
        }
    }

    /// One loud line per switch that is on, at node start.
    pub fn warn(&self, node: u64) {
        if self.accept_any_attempt() {
            tracing::warn!(
                node,
                "fault_injection.accept_any_attempt is ON: this node applies stale task reports (chaos checker self-test only)"
            );
        }
        if let Some(max) = self.max_apply_version() {
            tracing::warn!(
                node,
                max,
                "fault_injection.max_apply_version is set: this node follows older apply versions only (tests only)"
            );
        }
        if COMPILED && self.drop_hand_out_replies > 0 {
            tracing::warn!(
                node,
                count = self.drop_hand_out_replies,
                "fault_injection.drop_hand_out_replies is set: this node drops hand-out replies (tests only)"
            );
        }
        if COMPILED && self.hold_start_hand_outs > 0 {
            tracing::warn!(
                node,
                count = self.hold_start_hand_outs,
                "fault_injection.hold_start_hand_outs is set: this node holds starts' hand-outs until their poll leaves (tests only)"
            );
        }
        if self.clock_offset_ms() != 0 {
            tracing::warn!(
                node,
                offset_ms = self.clock_offset_ms,
                "fault_injection.clock_offset_ms is set: this node's clock is shifted (tests only)"
            );
        }
        if self.takeover_delay_ms() > 0 {
            tracing::warn!(
                node,
                delay_ms = self.takeover_delay_ms,
                "fault_injection.takeover_delay_ms is set: this node takes over late after an election (tests only)"
            );
        }
    }
}

/// Switches that act a number of times, then stop.
#[derive(Debug, Default)]
pub struct Countdowns {
    hand_out_replies: std::sync::atomic::AtomicU32,
    report_replies: std::sync::atomic::AtomicU32,
    start_hand_outs: std::sync::atomic::AtomicU32,
}

impl Countdowns {
    /// Whether to drop the reply of the hand-out just committed.
    pub fn drop_hand_out_reply(&self) -> bool {
        COMPILED && take_one(&self.hand_out_replies)
    }

    /// Whether to hold this start's hand-out until its poll's client left.
    pub fn hold_start_hand_out(&self) -> bool {
        COMPILED && take_one(&self.start_hand_outs)
    }

    /// Whether to drop the reply of the report just committed.
    pub fn drop_report_reply(&self) -> bool {
        COMPILED && take_one(&self.report_replies)
    }
}

fn take_one(count: &std::sync::atomic::AtomicU32) -> bool {
    use std::sync::atomic::Ordering;
    count
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_is_always_accepted() {
        assert!(FaultInjection::default().check().is_ok());
    }

    #[test]
    fn a_switch_is_refused_without_the_permit() {
        // Unit tests never call `permit`, so this holds in every build.
        let config = FaultInjection {
            accept_any_attempt: true,
            ..Default::default()
        };
        let err = config.check().unwrap_err();
        assert!(err.contains("[fault_injection]"), "{err}");
    }
}
