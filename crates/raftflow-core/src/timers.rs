//! Task attempts and timers: scheduling an attempt with its deadlines,
//! what happens when a timer fires, and closing an attempt.

use serde_json::{json, Value};

use crate::bounds::deadline_ms;
use crate::dataflow::seconds;
use crate::definition::{StateKind, StateMachine, WaitFor};
use crate::eval::{render, Failure, Scope};
use crate::execution::*;

impl Execution {
    /// Arms the heartbeat deadline of an open attempt anew (on start and on
    /// every heartbeat), retiring the previous one.
    pub(crate) fn rearm_heartbeat(&mut self, ctx: &mut Ctx, token: &str) {
        let Some(record) = self.tasks.get(token) else {
            return;
        };
        let Some(hb) = record.heartbeat_ms else {
            return;
        };
        if let Some(old) = record.heartbeat_timer {
            self.timers.remove(&old);
        }
        let timer = self.arm(
            ctx,
            ctx.now_ms.saturating_add(hb),
            TimerPurpose::Heartbeat,
            Some(token.to_string()),
        );
        self.tasks
            .get_mut(token)
            .expect("checked above")
            .heartbeat_timer = Some(timer);
    }

    pub(crate) fn schedule_task(
        &mut self,
        def: &StateMachine,
        ctx: &mut Ctx,
        frame: u32,
        active: Active,
    ) {
        let state = self.state(def, frame, &active.name);
        let StateKind::Task {
            activity,
            handling,
            timeout,
            heartbeat,
        } = &state.kind
        else {
            unreachable!("only Task states schedule tasks")
        };
        self.next_attempt += 1;
        let attempt_name = format!("{}#{}", self.id, self.next_attempt);
        let token = match &self.rules.task_key {
            Some(key) => key.seal(&attempt_name),
            None => attempt_name,
        };
        let context = self.context_for(state, frame, ctx, Some(&token));
        let scope = Scope {
            data: &active.effective,
            context: &context,
            exact_numbers: self.rules.exact_numbers,
        };
        let input = match &handling.parameters {
            Some(p) => match render(p, &scope, &mut ctx.rng) {
                Ok(v) => v,
                Err(f) => return self.state_failed(def, ctx, frame, f),
            },
            None => active.effective.clone(),
        };
        let (timeout_s, heartbeat_s) = match (
            seconds(timeout.as_ref(), &active.effective),
            seconds(heartbeat.as_ref(), &active.effective),
        ) {
            (Ok(t), Ok(h)) => (t, h),
            (Err(f), _) | (_, Err(f)) => return self.state_failed(def, ctx, frame, f),
        };
        let input = if activity.name == crate::http_task::ACTIVITY {
            let entered = match self.rules.http_entry_time {
                true => Value::String(crate::time::format_millis(active.entered_ms)),
                false => context["State"]["EnteredTime"].clone(),
            };
            let mut input = crate::http_task::task_input(input, &active.name, &entered);
            if let (true, Some(s)) = (self.rules.http_timeout_in_input, timeout_s) {
                input["TimeoutSeconds"] = s.into();
            }
            input
        } else {
            input
        };
        let attempt = active.retries.iter().sum::<u32>() + 1;
        let timeout_s = match (timeout_s, heartbeat_s, activity.wait_for_token) {
            (None, None, false) => self.default_task_timeout_s,
            _ => timeout_s,
        };
        // Checked: a number too large for the clock fails the state.
        let timeout_at_ms = timeout_s.map(|s| deadline_ms(ctx.now_ms, s, "TimeoutSeconds"));
        let heartbeat_ms = heartbeat_s.map(|s| deadline_ms(0, s, "HeartbeatSeconds"));
        let (timeout_at_ms, heartbeat_ms) =
            match (timeout_at_ms.transpose(), heartbeat_ms.transpose()) {
                (Ok(t), Ok(h)) => (t, h),
                (Err(f), _) | (_, Err(f)) => return self.state_failed(def, ctx, frame, f),
            };
        self.event(ctx, "ActivityScheduled", json!({"name": active.name, "resource": activity.resource, "input": input, "timeoutInSeconds": timeout_s, "heartbeatInSeconds": heartbeat_s}));
        let timeout_timer = timeout_at_ms
            .map(|at| self.arm(ctx, at, TimerPurpose::TaskTimeout, Some(token.clone())));
        self.tasks.insert(
            token.clone(),
            TaskRecord {
                frame,
                attempt,
                started: false,
                heartbeat_ms,
                heartbeat_timer: None,
                timeout_timer,
            },
        );
        self.set_phase(
            frame,
            Phase::Task {
                token: token.clone(),
            },
        );
        ctx.actions.push(Action::ScheduleTask {
            token,
            activity: activity.name.clone(),
            input,
            attempt,
            timeout_at_ms,
            wait_for_token: activity.wait_for_token,
        });
    }

    pub(crate) fn timer_fired(
        &mut self,
        def: &StateMachine,
        ctx: &mut Ctx,
        purpose: TimerPurpose,
        token: Option<String>,
    ) {
        match purpose {
            TimerPurpose::Execution => {
                let failure = Failure::new(
                    "States.Timeout",
                    "The execution exceeded its TimeoutSeconds",
                );
                self.finish(ctx, Status::TimedOut, None, Some(failure));
            }
            TimerPurpose::TaskTimeout | TimerPurpose::Heartbeat => {
                let token = token.expect("task timers carry their token");
                let Some(record) = self.close_task(&token) else {
                    return;
                };
                ctx.actions.push(Action::CancelTask { token });
                let error = if purpose == TimerPurpose::Heartbeat {
                    "States.HeartbeatTimeout"
                } else {
                    "States.Timeout"
                };
                let name = self.active_name(record.frame);
                self.event(
                    ctx,
                    "ActivityTimedOut",
                    json!({"name": name, "error": error}),
                );
                self.state_failed(
                    def,
                    ctx,
                    record.frame,
                    Failure::new(error, "The task did not report in time"),
                );
            }
            TimerPurpose::Wait { frame } => {
                let Some(active) = self.frames.get(&frame).and_then(|f| f.active.clone()) else {
                    return;
                };
                self.leave(def, ctx, frame, active.effective);
            }
            TimerPurpose::Backoff { frame } => {
                let Some(active) = self.frames.get(&frame).and_then(|f| f.active.clone()) else {
                    return;
                };
                let state = self.state(def, frame, &active.name);
                if let StateKind::Task { .. } = state.kind {
                    self.schedule_task(def, ctx, frame, active);
                } else {
                    // A retried Parallel or Map runs all of its work again.
                    let context = self.context_for(state, frame, ctx, None);
                    crate::fanout::start(self, def, ctx, frame, state, active.effective, &context);
                }
            }
        }
    }

    /// An attempt handed to a poll that was withdrawn: no worker ran it, so
    /// it ends without a failure and the state schedules it again at once,
    /// under a new token and the same attempt number.
    pub(crate) fn task_returned(
        &mut self,
        def: &StateMachine,
        ctx: &mut Ctx,
        token: String,
    ) -> Result<(), Rejected> {
        let record = self
            .close_task(&token)
            .ok_or_else(|| Rejected::StaleToken(token.clone()))?;
        ctx.actions.push(Action::CancelTask { token });
        let name = self.active_name(record.frame);
        let cause = "the worker withdrew its poll before it received the task";
        self.event(
            ctx,
            "ActivityReturned",
            json!({"name": name, "cause": cause}),
        );
        let active = self
            .frames
            .get(&record.frame)
            .and_then(|f| f.active.clone())
            .expect("an open attempt's state is active");
        self.schedule_task(def, ctx, record.frame, active);
        Ok(())
    }

    pub(crate) fn close_task(&mut self, token: &str) -> Option<TaskRecord> {
        let record = self.tasks.remove(token)?;
        for timer in [record.heartbeat_timer, record.timeout_timer]
            .into_iter()
            .flatten()
        {
            self.timers.remove(&timer);
        }
        Some(record)
    }
}

pub(crate) fn wait_until(wait: &WaitFor, input: &Value, now_ms: u64) -> Result<u64, Failure> {
    let ts_ms = |s: &str| crate::time::parse_timestamp(s).map(|ns| (ns / 1_000_000).max(0) as u64);
    match wait {
        WaitFor::Seconds(s) => deadline_ms(now_ms, *s, "Wait Seconds"),
        WaitFor::SecondsPath(p) => match p.select(input).and_then(|v| v.as_u64()) {
            Some(s) => deadline_ms(now_ms, s, "Wait SecondsPath"),
            None => Err(Failure::new(
                "States.Runtime",
                format!("SecondsPath {} does not name a non-negative integer", p.raw),
            )),
        },
        WaitFor::Timestamp(t) => Ok(ts_ms(t).unwrap_or(now_ms).max(now_ms)),
        WaitFor::TimestampPath(p) => match p
            .select(input)
            .as_ref()
            .and_then(Value::as_str)
            .and_then(ts_ms)
        {
            Some(t) => Ok(t.max(now_ms)),
            None => Err(Failure::new(
                "States.Runtime",
                format!(
                    "TimestampPath {} does not name an RFC 3339 timestamp",
                    p.raw
                ),
            )),
        },
    }
}
