//! Schedules on the node: the API (service.rs, with the door's checks in
//! door.rs), and the leader's runner that fires them on time (runner.rs,
//! from the timetable in plan.rs).
//!
//! ```text
//!  ScheduleService ──▶ PutSchedule / PauseSchedule / DeleteSchedule / FireSchedule (trigger) ──▶ log
//!  apply ──ScheduleChanged──▶ driver ──▶ Schedules::set ──▶ plan ──due──▶ runner ──▶ FireSchedule / SkipMissed
//! ```
//! The leader reads the specs; apply only compares the fire's scheduled
//! time with the schedule's cursor (raftflow_store::schedules).

pub mod backfill;
pub mod door;
pub(crate) mod messages;
pub mod plan;
pub mod runner;
pub mod service;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use raftflow_core::schedule_spec::SpecError;
use raftflow_core::schedule_timetable::Timetable;
use raftflow_store::schedules::{Schedule, ScheduleDef};
use raftflow_store::workflow::Effect;

/// A schedule's specs with their zone, bounds and excluded dates, as the
/// leader reads them.
pub fn timetable_of(def: &ScheduleDef) -> Result<Timetable, SpecError> {
    Timetable::parse(
        &def.specs,
        &def.zone,
        (def.start_ms, def.end_ms),
        &def.exclude_days,
    )
}

/// The leader's timetable, shared by the driver (which feeds it what apply
/// changed) and the runner (which fires from it).
#[derive(Default)]
pub struct Schedules {
    plan: Mutex<plan::Plan>,
    /// Wakes the runner when the plan changed.
    pub(crate) changed: tokio::sync::Notify,
}

impl Schedules {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, plan::Plan> {
        self.plan.lock().expect("schedule plan lock poisoned")
    }

    /// A new leader's timetable, from every schedule applied here.
    pub fn take_over(&self, schedules: &[Schedule]) {
        let mut plan = self.plan();
        plan.clear();
        for schedule in schedules {
            plan.set(&schedule.def.name, Some(schedule));
        }
        drop(plan);
        self.changed.notify_one();
    }

    /// What one apply did to `name` (None: deleted).
    pub fn set(&self, name: &str, schedule: Option<&Schedule>) {
        self.plan().set(name, schedule);
        self.changed.notify_one();
    }

    /// The schedules one apply changed.
    pub fn absorb(&self, effects: &[Effect]) {
        let mut changed = false;
        for effect in effects {
            if let Effect::ScheduleChanged { name, schedule } = effect {
                self.plan().set(name, schedule.as_deref());
                changed = true;
            }
        }
        if changed {
            self.changed.notify_one();
        }
    }

    /// No longer leading: nothing to fire.
    pub fn stop(&self) {
        self.plan().clear();
        self.changed.notify_one();
    }

    /// How many schedules the plan holds (0 off the leader).
    pub fn planned(&self) -> usize {
        self.plan().len()
    }
}

/// Schedule fires by outcome and their lag, as proposed by this node.
pub fn render_metrics(ctx: &crate::node::NodeContext, page: &mut crate::exposition::Page) {
    let m = &ctx.metrics.schedules;
    page.gauge(
        "raftflow_schedules_planned",
        "Schedules in this leader's timetable (0 on a follower).",
        ctx.schedules.planned() as i64,
    );
    let outcomes = [
        ("started", &m.started),
        ("skipped_overlap", &m.skipped_overlap),
        ("skipped_missed", &m.skipped_missed),
        ("start_failed", &m.start_failed),
        ("buffered", &m.buffered),
        ("backfilled", &m.backfilled),
    ];
    page.counters(
        "raftflow_schedule_actions_total",
        "Scheduled times this node fired or skipped as leader, by outcome.",
        outcomes.map(|(outcome, n)| {
            let labels = crate::exposition::labels(&[("outcome", outcome)]);
            (labels, n.load(Ordering::Relaxed))
        }),
    );
    page.histogram(
        "raftflow_schedule_fire_lag_seconds",
        "From a scheduled time to the start of its execution.",
        m.lag.values(),
    );
}
