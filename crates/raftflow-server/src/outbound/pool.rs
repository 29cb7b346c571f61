//! How many calls the leader makes at once: in all, and to one host. A
//! call waits for its host's permit first and only then for one of the
//! pool's, so the calls queued behind a slow endpoint hold none of the
//! pool: other hosts' calls go on.
//!
//! ```text
//!  attempt ──▶ host queue (≤ per host) ──▶ pool (≤ in all) ──▶ call
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Hosts whose idle queues are forgotten past this many.
const MAX_IDLE_HOSTS: usize = 1024;

pub struct Pool {
    calls: Arc<Semaphore>,
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Held while one call runs.
pub struct Permits {
    _call: OwnedSemaphorePermit,
    _host: OwnedSemaphorePermit,
}

impl Pool {
    pub fn new(max_calls: usize, per_host: usize) -> Self {
        assert!(
            per_host >= 1 && per_host <= max_calls,
            "checked by the config"
        );
        Self {
            calls: Arc::new(Semaphore::new(max_calls)),
            per_host,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for `host`'s turn, then for the pool's.
    pub async fn acquire(&self, host: &str) -> Permits {
        let queue = self.queue(host);
        let host = queue.acquire_owned().await.expect("never closed");
        let call = self
            .calls
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        Permits {
            _call: call,
            _host: host,
        }
    }

    fn queue(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().expect("not poisoned");
        if hosts.len() >= MAX_IDLE_HOSTS && !hosts.contains_key(host) {
            let per_host = self.per_host;
            hosts.retain(|_, q| Arc::strong_count(q) > 1 || q.available_permits() < per_host);
        }
        hosts
            .entry(host.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone()
    }

    /// Calls running now, in all.
    #[cfg(test)]
    pub fn running(&self, max_calls: usize) -> usize {
        max_calls - self.calls.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slow_host_holds_only_its_share() {
        let pool = Arc::new(Pool::new(4, 2));
        let slow_a = pool.acquire("slow").await;
        let slow_b = pool.acquire("slow").await;
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.acquire("slow").await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "a third call to one host waits");
        let other_a = pool.acquire("fast").await;
        let other_b = pool.acquire("fast").await;
        assert_eq!(pool.running(4), 4);
        drop((other_a, other_b));
        assert!(!waiting.is_finished());
        drop(slow_a);
        let third = waiting.await.unwrap();
        drop((slow_b, third));
        assert_eq!(pool.running(4), 0);
    }
}
