//! The one thread that applies committed entries, with the engine's stack.
//!
//! The workflow engine follows a chain of instant states (Pass, Choice, Map
//! iterations) by calling itself, so its stack grows with the events one
//! step writes: about 2 KB per event. A step is capped at
//! `raftflow_core::execution::MAX_STEP_EVENTS` events (the engine fails the
//! execution past it), and this thread's stack holds that many with room to
//! spare; tokio's blocking threads have 2 MiB, which 1,000 events overflow,
//! and a stack overflow aborts the process: nothing can catch it.
//! One thread also keeps applies in order without a lock convoy.

use std::sync::mpsc;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::error::StoreError;

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct ApplyThread {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl ApplyThread {
    pub fn spawn() -> Result<Self, StoreError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("raftflow-apply".into())
            .stack_size(raftflow_core::execution::ENGINE_STACK_BYTES)
            .spawn(move || {
                // Ends when the store (every sender) is dropped.
                for job in rx {
                    job();
                }
            })
            .map_err(|e| StoreError::Task(format!("cannot start the apply thread: {e}")))?;
        Ok(Self {
            jobs: Mutex::new(jobs),
        })
    }

    /// Runs `f` on the apply thread and returns its result.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce() -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            // A panic that escaped apply's own recovery must not end the
            // thread: the job fails, and the next one still runs.
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
                    Err(StoreError::Task(
                        "a job on the apply thread panicked".into(),
                    ))
                });
            let _ = tx.send(result);
        });
        self.jobs
            .lock()
            .expect("apply queue lock poisoned")
            .send(job)
            .map_err(|_| StoreError::Task("the apply thread has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Task("the apply thread dropped a job".into()))?
    }
}

/// Runs `f` on a short-lived thread with the engine's stack: work outside
/// the apply thread that reads or drops runtimes (opening the store,
/// installing a snapshot), whose data may nest as deep as the engine built.
pub(crate) fn on_engine_stack<T, F>(f: F) -> Result<T, StoreError>
where
    F: FnOnce() -> Result<T, StoreError> + Send,
    T: Send,
{
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("raftflow-load".into())
            .stack_size(raftflow_core::execution::ENGINE_STACK_BYTES)
            .spawn_scoped(scope, f)
            .map_err(|e| StoreError::Task(format!("cannot start a loader thread: {e}")))?
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
