//! The replicated view of tasks waiting for a worker: every replica keeps it
//! from the applied commands, so `DispatchNext` picks the same task on all of
//! them. (The leader's long-poll queues, `scheduler.rs`, are its own copy.)

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::records::TaskEntry;

#[derive(Default)]
pub(crate) struct ReadyTasks {
    /// Per activity, oldest first: (scheduled_ms, token).
    by_activity: BTreeMap<String, BTreeSet<(u64, String)>>,
    where_is: HashMap<String, (String, u64)>,
}

impl ReadyTasks {
    /// Adds an open attempt that no worker holds yet.
    pub fn insert(&mut self, task: &TaskEntry) {
        if task.dispatched.is_some() {
            return;
        }
        self.remove(&task.token);
        let key = (task.scheduled_ms, task.token.clone());
        self.by_activity
            .entry(task.activity.clone())
            .or_default()
            .insert(key);
        self.where_is.insert(
            task.token.clone(),
            (task.activity.clone(), task.scheduled_ms),
        );
    }

    /// The attempt was handed out or ended.
    pub fn remove(&mut self, token: &str) {
        let Some((activity, at)) = self.where_is.remove(token) else {
            return;
        };
        let queue = self
            .by_activity
            .get_mut(&activity)
            .expect("an indexed task has a queue");
        let removed = queue.remove(&(at, token.to_string()));
        assert!(removed, "ready index out of step for {token}");
        if queue.is_empty() {
            self.by_activity.remove(&activity);
        }
    }

    /// Whether `token` is ready and of one of `activities`.
    pub fn holds(&self, token: &str, activities: &[String]) -> bool {
        self.where_is
            .get(token)
            .is_some_and(|(activity, _)| activities.contains(activity))
    }

    /// The token of the oldest ready task among `activities`.
    pub fn oldest(&self, activities: &[String]) -> Option<&str> {
        activities
            .iter()
            .filter_map(|a| self.by_activity.get(a).and_then(|q| q.first()))
            .min()
            .map(|(_, token)| token.as_str())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.where_is.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(token: &str, activity: &str, at: u64) -> TaskEntry {
        TaskEntry {
            token: token.into(),
            execution_id: "sm:e".into(),
            activity: activity.into(),
            input: "{}".into(),
            attempt: 1,
            heartbeat_ms: None,
            wait_for_token: false,
            scheduled_ms: at,
            dispatched: None,
        }
    }

    #[test]
    fn the_oldest_task_of_the_named_activities_comes_first() {
        let mut ready = ReadyTasks::default();
        ready.insert(&task("a#1", "pay", 20));
        ready.insert(&task("b#1", "ship", 10));
        ready.insert(&task("c#1", "pay", 5));
        let both = ["pay".to_string(), "ship".to_string()];
        assert_eq!(ready.oldest(&both), Some("c#1"));
        assert_eq!(ready.oldest(&["ship".to_string()]), Some("b#1"));
        assert_eq!(ready.oldest(&["mail".to_string()]), None);
        ready.remove("c#1");
        assert_eq!(ready.oldest(&both), Some("b#1"));
        ready.remove("b#1");
        ready.remove("b#1"); // an attempt that ended twice changes nothing
        assert_eq!(ready.oldest(&both), Some("a#1"));
        assert_eq!(ready.len(), 1);
    }
}
