//! Where applies announce themselves: effects for the leader's driver, the
//! applied index, and a wake-up for each watched execution that changed.
//!
//! ```text
//!  apply batch ──publish(applied, effects, touched)──┬─▶ effects ─▶ leader's driver (one subscriber)
//!                                                     ├─▶ applied index (watch channel)
//!                                                     └─▶ watchers of each touched execution (Notify)
//! ```
//! A watch stream used to wake on every apply and re-read its execution: with
//! a few hundred executions in flight that was most of a follower's CPU. Now
//! only the watchers of the executions a batch touched wake.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch, Notify};

use crate::workflow::Effect;

/// One apply's effects, and when it happened on this node.
#[derive(Debug)]
pub struct AppliedEffects {
    /// µs since the Unix epoch, this node's clock.
    pub applied_at_us: u64,
    pub effects: Vec<Effect>,
}

/// When an apply happened on this node (a measurement, never an input of apply).
pub(crate) fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub struct Hub {
    pub(crate) effects: Mutex<Option<mpsc::UnboundedSender<AppliedEffects>>>,
    pub(crate) applied: watch::Sender<u64>,
    watchers: Mutex<HashMap<String, Vec<Arc<Notify>>>>,
    /// Commands refused because applying them panicked, since this start.
    apply_panics: std::sync::atomic::AtomicU64,
    /// The active apply version as applied here, readable without the
    /// machine's lock (which an apply holds for its whole batch).
    apply_version: std::sync::atomic::AtomicU32,
    /// The latest time stamped on a command applied here since this node
    /// started (0 before any): a new leader stamps nothing earlier.
    log_time_ms: std::sync::atomic::AtomicU64,
    /// The token table as applied here (acl/), swapped whole.
    acl: Mutex<crate::acl::SharedAcl>,
}

impl Hub {
    pub fn count_apply_panic(&self) {
        self.apply_panics
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn apply_panics(&self) -> u64 {
        self.apply_panics.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn set_apply_version(&self, version: u32) {
        self.apply_version
            .store(version, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn set_acl(&self, acl: &crate::acl::SharedAcl) {
        let mut current = self.acl.lock().expect("hub lock poisoned");
        if !Arc::ptr_eq(&current, acl) {
            *current = acl.clone();
        }
    }

    pub fn acl(&self) -> crate::acl::SharedAcl {
        self.acl.lock().expect("hub lock poisoned").clone()
    }

    pub(crate) fn observe_log_time(&self, stamp_ms: u64) {
        self.log_time_ms
            .fetch_max(stamp_ms, std::sync::atomic::Ordering::AcqRel);
    }

    pub fn log_time_ms(&self) -> u64 {
        self.log_time_ms.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn apply_version(&self) -> u32 {
        self.apply_version
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn new(applied: u64) -> Self {
        Self {
            effects: Mutex::new(None),
            applied: watch::channel(applied).0,
            watchers: Mutex::new(HashMap::new()),
            apply_panics: Default::default(),
            apply_version: Default::default(),
            log_time_ms: Default::default(),
            acl: Mutex::new(Default::default()),
        }
    }

    pub(crate) fn publish(&self, applied: u64, effects: AppliedEffects, touched: BTreeSet<String>) {
        if !effects.effects.is_empty() {
            let mut guard = self.effects.lock().expect("hub lock poisoned");
            if let Some(tx) = guard.as_ref() {
                if tx.send(effects).is_err() {
                    *guard = None;
                }
            }
        }
        if !touched.is_empty() {
            let watchers = self.watchers.lock().expect("hub lock poisoned");
            if !watchers.is_empty() {
                for id in &touched {
                    // notify_one keeps a permit when the watcher is busy
                    // reading, so a change during its read is not lost.
                    watchers
                        .get(id)
                        .into_iter()
                        .flatten()
                        .for_each(|n| n.notify_one());
                }
            }
        }
        self.applied.send_replace(applied);
    }

    /// After a snapshot replaced the tables: any execution may have changed.
    pub(crate) fn wake_all_watchers(&self) {
        let watchers = self.watchers.lock().expect("hub lock poisoned");
        watchers.values().flatten().for_each(|n| n.notify_one());
    }

    /// How many watch registrations are open.
    pub fn watchers(&self) -> usize {
        let watchers = self.watchers.lock().expect("hub lock poisoned");
        watchers.values().map(Vec::len).sum()
    }
}

/// One watch stream's registration; dropping it unregisters.
pub struct ExecutionWatch {
    hub: Arc<Hub>,
    execution_id: String,
    notify: Arc<Notify>,
}

impl ExecutionWatch {
    pub(crate) fn register(hub: Arc<Hub>, execution_id: &str) -> Self {
        let notify = Arc::new(Notify::new());
        hub.watchers
            .lock()
            .expect("hub lock poisoned")
            .entry(execution_id.to_string())
            .or_default()
            .push(notify.clone());
        Self {
            hub,
            execution_id: execution_id.to_string(),
            notify,
        }
    }

    /// Resolves once the execution changed since the last call returned.
    pub async fn changed(&self) {
        self.notify.notified().await;
    }
}

impl Drop for ExecutionWatch {
    fn drop(&mut self) {
        let mut watchers = self.hub.watchers.lock().expect("hub lock poisoned");
        if let Some(list) = watchers.get_mut(&self.execution_id) {
            list.retain(|n| !Arc::ptr_eq(n, &self.notify));
            if list.is_empty() {
                watchers.remove(&self.execution_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    use super::*;

    /// Whether the watcher has a wake-up waiting (polls once, never blocks).
    fn woken(watch: &ExecutionWatch) -> bool {
        let mut changed = std::pin::pin!(watch.changed());
        let mut cx = Context::from_waker(Waker::noop());
        matches!(changed.as_mut().poll(&mut cx), Poll::Ready(()))
    }

    fn no_effects() -> AppliedEffects {
        AppliedEffects {
            applied_at_us: 1,
            effects: Vec::new(),
        }
    }

    fn touched(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_the_watchers_of_a_touched_execution_wake() {
        let hub = Arc::new(Hub::new(0));
        let a = ExecutionWatch::register(hub.clone(), "sm:a");
        let b = ExecutionWatch::register(hub.clone(), "sm:b");
        hub.publish(1, no_effects(), touched(&["sm:b", "sm:c"]));
        assert!(!woken(&a), "an apply that did not touch a woke its watcher");
        assert!(woken(&b));
        assert!(!woken(&b), "one change, one wake-up");
        // A change while the watcher is busy (not waiting) is kept for it.
        hub.publish(2, no_effects(), touched(&["sm:a"]));
        assert!(woken(&a));
    }

    #[test]
    fn a_snapshot_wakes_every_watcher_and_dropping_unregisters() {
        let hub = Arc::new(Hub::new(0));
        let a = ExecutionWatch::register(hub.clone(), "sm:a");
        let a2 = ExecutionWatch::register(hub.clone(), "sm:a");
        let b = ExecutionWatch::register(hub.clone(), "sm:b");
        assert_eq!(hub.watchers(), 3);
        hub.wake_all_watchers();
        assert!(woken(&a) && woken(&a2) && woken(&b));
        drop(a);
        assert_eq!(hub.watchers(), 2);
        drop((a2, b));
        assert_eq!(hub.watchers(), 0);
        assert!(hub.watchers.lock().expect("lock").is_empty());
    }
}
