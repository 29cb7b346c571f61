//! Statistics as callers see them: a window (last hour, day or week) of a
//! state machine's replicated buckets (raftflow_store::stats), every bucket
//! present (zeros where nothing happened), with success rate and duration
//! percentiles, and each state's visits (raftflow_store::stats_states).
//! Shared by the console's JSON, the gRPC API and metrics.

use raftflow_store::db::Db;
use raftflow_store::error::StoreError;
use raftflow_store::stats::{self, Counts, Grain};
use raftflow_store::stats_states::{self, StateCounts, StateTable};
use serde::Serialize;

/// The windows offered, and the bucket size each is drawn with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Hour,
    Day,
    Week,
}

impl Window {
    pub fn parse(text: &str) -> Result<Window, String> {
        match text {
            "" | "day" => Ok(Window::Day),
            "hour" => Ok(Window::Hour),
            "week" => Ok(Window::Week),
            other => Err(format!("window `{other}` is not one of hour, day, week")),
        }
    }

    fn grain(self) -> Grain {
        match self {
            Window::Hour => Grain::Minute,
            Window::Day | Window::Week => Grain::Hour,
        }
    }

    fn buckets(self) -> u64 {
        match self {
            Window::Hour => 60,
            Window::Day => 24,
            Window::Week => 24 * 7,
        }
    }
}

/// What a window or a bucket counted, as shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub aborted: u64,
    /// Succeeded of ended, in percent; `None` when none ended.
    pub success_rate: Option<f64>,
    /// Read off the duration buckets; `None` without ended executions or
    /// past the last bound (an hour).
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
}

impl Summary {
    pub fn of(c: &Counts) -> Summary {
        let ended = c.ended();
        Summary {
            started: c.started,
            succeeded: c.succeeded,
            failed: c.failed,
            timed_out: c.timed_out,
            aborted: c.aborted,
            success_rate: (ended > 0).then(|| 100.0 * c.succeeded as f64 / ended as f64),
            p50_ms: c.duration_percentile_ms(500),
            p95_ms: c.duration_percentile_ms(950),
            p99_ms: c.duration_percentile_ms(990),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub start_ms: u64,
    #[serde(flatten)]
    pub summary: Summary,
}

/// One state's visits over a window, as shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateRow {
    pub name: String,
    pub succeeded: u64,
    pub caught: u64,
    pub failed: u64,
    pub retries: u64,
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    /// Time spent in the state over the window.
    pub total_ms: u64,
}

impl StateRow {
    fn of(name: String, c: &StateCounts) -> StateRow {
        StateRow {
            name,
            succeeded: c.succeeded,
            caught: c.caught,
            failed: c.failed,
            retries: c.retries,
            p50_ms: c.duration_percentile_ms(500),
            p95_ms: c.duration_percentile_ms(950),
            p99_ms: c.duration_percentile_ms(990),
            total_ms: c.duration_ms_sum,
        }
    }
}

/// The states of `table`, the one where the most time went first.
fn state_rows(table: StateTable) -> Vec<StateRow> {
    let mut rows: Vec<StateRow> = table
        .into_iter()
        .map(|(name, c)| StateRow::of(name, &c))
        .collect();
    rows.sort_by(|a, b| b.total_ms.cmp(&a.total_ms).then(a.name.cmp(&b.name)));
    rows
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct View {
    pub state_machine: String,
    pub window: Window,
    pub grain_ms: u64,
    pub from_ms: u64,
    pub to_ms: u64,
    pub summary: Summary,
    pub buckets: Vec<Point>,
    /// Each state's visits over the window (only where asked for: see
    /// `view_of_existing`).
    pub states: Vec<StateRow>,
}

/// `state_machine`'s last `window` up to `now_ms` (all versions unless
/// `version` names one).
pub fn view(
    db: &Db,
    state_machine: &str,
    version: Option<u32>,
    window: Window,
    now_ms: u64,
) -> Result<View, StoreError> {
    let grain = window.grain();
    let to_ms = (now_ms - now_ms % grain.ms()).saturating_add(grain.ms());
    let from_ms = to_ms.saturating_sub(window.buckets() * grain.ms());
    let found = stats::series(db, state_machine, version, grain, from_ms, to_ms)?;
    let mut total = Counts::default();
    let mut buckets = Vec::with_capacity(window.buckets() as usize);
    let mut found = found.into_iter().peekable();
    let mut at = from_ms;
    while at < to_ms {
        let counts = match found.peek() {
            Some(b) if b.start_ms == at => found.next().expect("peeked").counts,
            _ => Counts::default(),
        };
        total.add(&counts);
        buckets.push(Point {
            start_ms: at,
            summary: Summary::of(&counts),
        });
        at += grain.ms();
    }
    Ok(View {
        state_machine: state_machine.to_string(),
        window,
        grain_ms: grain.ms(),
        from_ms,
        to_ms,
        summary: Summary::of(&total),
        buckets,
        states: Vec::new(),
    })
}

/// `view` of a state machine that exists; `None` for a name that is none
/// (a typo must not read as a quiet window).
pub fn view_of_existing(
    db: &Db,
    state_machine: &str,
    version: Option<u32>,
    window: Window,
    now_ms: u64,
) -> Result<Option<View>, StoreError> {
    let exists = raftflow_store::workflow::reads::state_machine(db, state_machine, 0)?.is_some();
    if !exists {
        return Ok(None);
    }
    let mut view = view(db, state_machine, version, window, now_ms)?;
    let span_ms = (view.from_ms, view.to_ms);
    let table = stats_states::window(db, state_machine, version, window.grain(), span_ms)?;
    view.states = state_rows(table);
    Ok(Some(view))
}

/// The `n` state machines (of `names`) that started the most executions in
/// the last day, busiest first, with their day's view.
pub fn busiest(db: &Db, names: &[String], n: usize, now_ms: u64) -> Result<Vec<View>, StoreError> {
    let mut views = Vec::with_capacity(names.len());
    for name in names {
        let v = view(db, name, None, Window::Day, now_ms)?;
        if v.summary.started > 0 || v.summary.succeeded + v.summary.failed > 0 {
            views.push(v);
        }
    }
    views.sort_by(|a, b| {
        b.summary
            .started
            .cmp(&a.summary.started)
            .then(a.state_machine.cmp(&b.state_machine))
    });
    views.truncate(n);
    Ok(views)
}

/// The gRPC form of a view.
pub fn reply(view: View) -> raftflow_proto::v1::StatisticsReply {
    use raftflow_proto::v1::{
        StateStatistics, StatisticsBucket, StatisticsReply, StatisticsSummary,
    };
    let summary = |s: &Summary| StatisticsSummary {
        started: s.started,
        succeeded: s.succeeded,
        failed: s.failed,
        timed_out: s.timed_out,
        aborted: s.aborted,
        success_rate: s.success_rate,
        p50_ms: s.p50_ms,
        p95_ms: s.p95_ms,
        p99_ms: s.p99_ms,
    };
    StatisticsReply {
        state_machine: view.state_machine,
        window: format!("{:?}", view.window).to_lowercase(),
        grain_ms: view.grain_ms,
        from_ms: view.from_ms,
        to_ms: view.to_ms,
        summary: Some(summary(&view.summary)),
        buckets: view
            .buckets
            .iter()
            .map(|b| StatisticsBucket {
                start_ms: b.start_ms,
                summary: Some(summary(&b.summary)),
            })
            .collect(),
        states: view
            .states
            .into_iter()
            .map(|r| StateStatistics {
                name: r.name,
                succeeded: r.succeeded,
                caught: r.caught,
                failed: r.failed,
                retries: r.retries,
                p50_ms: r.p50_ms,
                p95_ms: r.p95_ms,
                p99_ms: r.p99_ms,
                total_ms: r.total_ms,
            })
            .collect(),
    }
}
