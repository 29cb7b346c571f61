//! The leader's timetable: each schedule's next scheduled time, computed
//! from its spec and its replicated cursor. Pure (no clock, no I/O): the
//! runner gives it the time and the records.
//!
//! A schedule is either waiting in `due` for its next time, or has a fire
//! in flight (taken, not yet applied or refused): at most one at a time, so
//! the times of one schedule are proposed in order. Every apply that
//! changes a schedule hands its record back (`set`), which puts it back in
//! `due` from its new cursor.

use std::collections::{BTreeSet, HashMap};

use raftflow_core::schedule_timetable::{jitter_ms, Timetable};
use raftflow_store::schedules::Schedule;

/// What the runner proposes for a schedule whose time has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    Fire {
        name: String,
        revision: u64,
        scheduled_ms: u64,
        /// How long after its time the fire was planned (the schedule's
        /// jitter): not counted as lag.
        jitter_ms: u64,
    },
    /// The time is older than the catch-up window: skip up to `through_ms`.
    Skip {
        name: String,
        revision: u64,
        through_ms: u64,
    },
}

impl Due {
    pub fn name(&self) -> &str {
        match self {
            Due::Fire { name, .. } | Due::Skip { name, .. } => name,
        }
    }
}

struct Planned {
    revision: u64,
    catchup_ms: u64,
    /// The next scheduled time and when to fire it (after the jitter);
    /// None: paused, ended, or its spec does not read on this binary.
    next: Option<Next>,
    in_flight: bool,
}

#[derive(Clone, Copy)]
struct Next {
    scheduled_ms: u64,
    fire_at_ms: u64,
}

/// Schedules by the time their next fire is due.
#[derive(Default)]
pub struct Plan {
    entries: HashMap<String, Planned>,
    due: BTreeSet<(u64, String)>,
}

impl Plan {
    /// Replaces what the plan knows of `name` (None: deleted); a fire in
    /// flight for it is over.
    pub fn set(&mut self, name: &str, schedule: Option<&Schedule>) {
        if let Some(old) = self.entries.remove(name) {
            if let Some(next) = old.next.filter(|_| !old.in_flight) {
                self.due.remove(&(next.fire_at_ms, name.to_string()));
            }
        }
        let Some(schedule) = schedule else { return };
        let next = if schedule.paused {
            None
        } else {
            super::timetable_of(&schedule.def)
                .ok()
                .and_then(|t: Timetable| t.next_after(schedule.cursor_ms))
                .map(|scheduled_ms| Next {
                    scheduled_ms,
                    fire_at_ms: scheduled_ms.saturating_add(jitter_ms(
                        name,
                        scheduled_ms,
                        schedule.def.jitter_ms,
                    )),
                })
        };
        if let Some(next) = next {
            self.due.insert((next.fire_at_ms, name.to_string()));
        }
        let planned = Planned {
            revision: schedule.revision,
            catchup_ms: schedule.def.catchup_window_s.saturating_mul(1000),
            next,
            in_flight: false,
        };
        self.entries.insert(name.to_string(), planned);
    }

    /// Takes up to `max` schedules whose time is at or before `now_ms`,
    /// earliest first, and marks them in flight.
    pub fn take_due(&mut self, now_ms: u64, max: usize) -> Vec<Due> {
        let mut out = Vec::new();
        while out.len() < max && self.due.first().is_some_and(|(at, _)| *at <= now_ms) {
            let (_, name) = self.due.pop_first().expect("checked");
            let Some(entry) = self.entries.get_mut(&name) else {
                continue;
            };
            let Some(next) = entry.next else { continue };
            entry.in_flight = true;
            let at = next.scheduled_ms;
            let oldest_ms = now_ms.saturating_sub(entry.catchup_ms);
            out.push(if at < oldest_ms {
                Due::Skip {
                    name,
                    revision: entry.revision,
                    through_ms: oldest_ms,
                }
            } else {
                Due::Fire {
                    name,
                    revision: entry.revision,
                    scheduled_ms: at,
                    jitter_ms: next.fire_at_ms - at,
                }
            });
        }
        out
    }

    /// The earliest time waiting, if any.
    pub fn next_due_ms(&self) -> Option<u64> {
        self.due.first().map(|(at, _)| *at)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.due.clear();
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
