//! raftflow-core: the Amazon States Language, pure and deterministic.
//!
//! ```text
//!  ASL JSON ──parse──▶ StateMachine (validated; every problem reported at once)
//!                          │
//!  Command + now_ms + seed ┴──▶ execution::apply ──▶ new Execution state + Vec<Action>
//!                                                       (schedule task, arm timer, finish)
//! ```
//! No I/O, no clock, no randomness, no async: time and random values arrive
//! with each command, so every replica that applies the same commands reaches
//! the same state and emits the same actions.

pub mod bounds;
pub mod choice;
mod data_limit;
pub mod dataflow;
pub mod definition;
pub mod eval;
pub mod execution;
mod failure;
mod fanout;
pub mod graph;
pub mod http_task;
pub mod intrinsic;
pub mod layout;
pub mod local;
pub mod numbers;
pub mod parse;
pub mod path;
mod run;
pub mod schedule_spec;
pub mod schedule_timetable;
pub mod task_token;
pub mod time;
mod timers;
pub mod trace_parent;

pub use definition::StateMachine;
pub use eval::Failure;
pub use execution::{Action, Command, Event, Execution, Rejected, Status, Visit, VisitOutcome};
pub use parse::{parse_definition, Diagnostic};
