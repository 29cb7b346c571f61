//! Long polls waiting for a task. A `StartExecution` can serve the first of
//! them in its own log entry (`DispatchNext` right after the start), so the
//! first task of an execution reaches an idle worker without a commit of its
//! own — as later tasks do with their worker's report.
//!
//! ```text
//!  PollTask, queue empty ──park──▶ ParkedPollers ◀──reserve── StartExecution
//!        ▲                                           commit [Start, DispatchNext(poller)]
//!        └───────────── Dispatched (or nothing: look again) ◀──┘
//! ```

use std::collections::VecDeque;

use tokio::sync::oneshot;

use crate::scheduler::Dispatched;

/// A parked poll that a start took: the start's outcome goes to `tx`.
pub struct Reserved {
    pub activities: Vec<String>,
    pub worker: String,
    /// The poll's id, recorded with the hand-out (poll_id.rs).
    pub poll_id: Option<String>,
    /// `None`: the poll was withdrawn by its worker.
    tx: oneshot::Sender<Option<Dispatched>>,
}

impl Reserved {
    /// Hands the task over; false when the poll has gone (its client left).
    pub fn deliver(self, dispatched: Dispatched) -> bool {
        self.tx.send(Some(dispatched)).is_ok()
    }

    /// Resolves once the poll has gone (its client left).
    pub async fn left(&mut self) {
        self.tx.closed().await
    }
}

/// The leader's own HTTP Task caller's poll (http_tasks.rs).
fn is_own(poll: &Reserved) -> bool {
    matches!(poll.activities.as_slice(), [only] if only == raftflow_core::http_task::ACTIVITY)
}

#[derive(Default)]
pub struct ParkedPollers {
    next_id: u64,
    waiting: VecDeque<(u64, Reserved)>,
}

impl ParkedPollers {
    /// Parks a poll; it learns of a reservation's outcome through the
    /// receiver. `None` when `MAX_WAITING_POLLS` are parked already.
    pub fn park(
        &mut self,
        activities: &[String],
        worker: &str,
        poll_id: Option<&str>,
    ) -> Option<(u64, oneshot::Receiver<Option<Dispatched>>)> {
        // Polls whose clients left (the RPC was dropped) go now.
        self.waiting.retain(|(_, p)| !p.tx.is_closed());
        if self.waiting.len() >= crate::limits::MAX_WAITING_POLLS {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        self.next_id += 1;
        let parked = Reserved {
            activities: activities.to_vec(),
            worker: worker.to_string(),
            poll_id: poll_id.map(str::to_string),
            tx,
        };
        self.waiting.push_back((self.next_id, parked));
        Some((self.next_id, rx))
    }

    /// Takes the poll back; false when a start reserved it meanwhile.
    pub fn unpark(&mut self, id: u64) -> bool {
        let before = self.waiting.len();
        self.waiting.retain(|(i, _)| *i != id);
        self.waiting.len() < before
    }

    /// Ends the parked poll named `poll_id` (its worker withdrew it): it
    /// answers with no task rather than look again.
    pub fn withdraw(&mut self, poll_id: &str) -> bool {
        let (gone, kept): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(_, p)| p.poll_id.as_deref() == Some(poll_id));
        self.waiting = kept;
        let found = !gone.is_empty();
        for (_, parked) in gone {
            let _ = parked.tx.send(None);
        }
        found
    }

    /// The longest-waiting poll that is still there.
    pub fn reserve(&mut self) -> Option<Reserved> {
        self.waiting.retain(|(_, p)| !p.tx.is_closed());
        // The leader's own HTTP Task caller is left parked: a start hands
        // its first task to a worker's poll in its own entry.
        let at = self.waiting.iter().position(|(_, p)| !is_own(p))?;
        self.waiting.remove(at).map(|(_, parked)| parked)
    }

    /// Parked polls of workers: without the leader's own HTTP Task caller.
    pub fn workers(&self) -> usize {
        self.waiting
            .iter()
            .filter(|(_, p)| !p.tx.is_closed() && !is_own(p))
            .count()
    }

    /// This node stopped leading: every parked poll looks again (and is
    /// told where the leader is).
    pub fn clear(&mut self) {
        self.waiting.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_waiting_live_poll_is_reserved_first() {
        let mut parked = ParkedPollers::default();
        let (a, rx_a) = parked.park(&["x".into()], "w-a", None).unwrap();
        let (_, rx_b) = parked.park(&["y".into()], "w-b", None).unwrap();
        let (_, _rx_c) = parked.park(&["z".into()], "w-c", None).unwrap();
        drop(rx_a); // a's client left
        let _ = a;
        let first = parked.reserve().expect("b is waiting");
        assert_eq!(first.worker, "w-b");
        drop(first); // nothing was ready: b's receiver sees the sender gone
        assert!(rx_b.blocking_recv().is_err());
        assert_eq!(parked.reserve().map(|r| r.worker), Some("w-c".into()));
        assert!(parked.reserve().is_none());
        // A poll whose client left is dropped when the next one parks.
        let (_, rx_d) = parked.park(&["x".into()], "w-d", None).unwrap();
        drop(rx_d);
        let (_, _rx_e) = parked.park(&["x".into()], "w-e", None).unwrap();
        assert_eq!(parked.workers(), 1);
    }

    #[test]
    fn a_reserved_poll_cannot_be_unparked() {
        let mut parked = ParkedPollers::default();
        let (a, _rx_a) = parked.park(&["x".into()], "w-a", None).unwrap();
        let (b, _rx_b) = parked.park(&["x".into()], "w-b", None).unwrap();
        assert!(parked.unpark(b), "b was still parked");
        let reserved = parked.reserve().expect("a");
        assert!(!parked.unpark(a), "a start holds a");
        drop(reserved);
    }

    #[test]
    fn a_withdrawn_poll_answers_with_no_task() {
        let mut parked = ParkedPollers::default();
        let (_, rx_a) = parked.park(&["x".into()], "w-a", Some("p-1")).unwrap();
        let (_, _rx_b) = parked.park(&["x".into()], "w-b", Some("p-2")).unwrap();
        assert!(parked.withdraw("p-1"));
        assert!(!parked.withdraw("p-1"), "only once");
        assert!(
            matches!(rx_a.blocking_recv(), Ok(None)),
            "no task, and no second look"
        );
        assert_eq!(parked.workers(), 1);
        assert_eq!(parked.reserve().and_then(|r| r.poll_id), Some("p-2".into()));
    }

    #[test]
    fn no_more_than_the_limit_wait_at_once() {
        let mut parked = ParkedPollers::default();
        let receivers: Vec<_> = (0..crate::limits::MAX_WAITING_POLLS)
            .map(|_| parked.park(&["x".into()], "w", None).expect("room"))
            .collect();
        assert!(parked.park(&["x".into()], "w", None).is_none(), "full");
        drop(receivers); // their clients left: room again
        assert!(parked.park(&["x".into()], "w", None).is_some());
    }
}
