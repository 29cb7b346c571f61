//! Counting executions into the replicated statistics (stats.rs) as the
//! apply starts and ends them, from apply version 21, and the visits of
//! their states (stats_states.rs) as they end, from version 23.

use super::Workflows;
use crate::db::{Db, CF_SM};
use crate::error::StoreError;
use crate::stats::{self, Counts, Grain};
use crate::stats_states::{self, StateCounts};
use raftflow_core::{Status, Visit, VisitOutcome};

impl Workflows {
    fn counts_stats(&self) -> bool {
        self.apply_version >= stats::STATS_FROM
    }

    /// An execution of `sm`:`version` started at `now_ms`.
    pub(super) fn count_start(
        &mut self,
        db: &Db,
        sm: &str,
        version: u32,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        if !self.counts_stats() {
            return Ok(());
        }
        self.bump(db, sm, version, now_ms, |c| {
            c.started = c.started.saturating_add(1)
        })
    }

    /// An execution of `sm`:`version` that started at `start_ms` ended
    /// with `status` at `stop_ms`.
    pub(super) fn count_end(
        &mut self,
        db: &Db,
        sm: &str,
        version: u32,
        status: Status,
        span_ms: (u64, u64),
    ) -> Result<(), StoreError> {
        if !self.counts_stats() {
            return Ok(());
        }
        let (start_ms, stop_ms) = span_ms;
        let took_ms = stop_ms.saturating_sub(start_ms);
        let bucket = stats::duration_bucket(took_ms);
        self.bump(db, sm, version, stop_ms, |c| {
            let field = match status {
                Status::Succeeded => &mut c.succeeded,
                Status::Failed => &mut c.failed,
                Status::TimedOut => &mut c.timed_out,
                Status::Aborted => &mut c.aborted,
                Status::Running => return,
            };
            *field = field.saturating_add(1);
            c.durations[bucket] = c.durations[bucket].saturating_add(1);
            c.duration_ms_sum = c.duration_ms_sum.saturating_add(took_ms);
        })
    }

    /// Applies `change` to the minute and hour buckets holding `at_ms` and
    /// to the totals.
    fn bump(
        &mut self,
        db: &Db,
        sm: &str,
        version: u32,
        at_ms: u64,
        change: impl Fn(&mut Counts),
    ) -> Result<(), StoreError> {
        for grain in [Grain::Minute, Grain::Hour] {
            let start = at_ms - at_ms % grain.ms();
            let key = stats::bucket_key(grain, sm, start, version);
            let from = |at: u64| stats::bucket_from(grain, sm, at);
            self.bump_bucket(db, (grain, start), key, &from, &change)?;
        }
        let key = stats::total_key(sm, version);
        let mut totals = self.get_decoded::<Counts>(db, &key)?.unwrap_or_default();
        change(&mut totals);
        self.put(key, &totals)
    }

    /// A state's visit of an execution of `sm`:`version` ended (from
    /// apply version 23): counted into its state's records of the minute
    /// and hour it ended in (stats_states.rs).
    pub(super) fn count_visit(
        &mut self,
        db: &Db,
        sm: &str,
        version: u32,
        visit: &Visit,
    ) -> Result<(), StoreError> {
        if self.apply_version < stats_states::STATE_STATS_FROM {
            return Ok(());
        }
        let took_ms = visit.exited_ms.saturating_sub(visit.entered_ms);
        let bucket = stats::duration_bucket(took_ms);
        let change = |c: &mut StateCounts| {
            let field = match visit.outcome {
                VisitOutcome::Succeeded => &mut c.succeeded,
                VisitOutcome::Caught => &mut c.caught,
                VisitOutcome::Failed => &mut c.failed,
            };
            *field = field.saturating_add(1);
            let retries = u64::from(visit.attempts.saturating_sub(1));
            c.retries = c.retries.saturating_add(retries);
            c.durations[bucket] = c.durations[bucket].saturating_add(1);
            c.duration_ms_sum = c.duration_ms_sum.saturating_add(took_ms);
        };
        let at_ms = visit.exited_ms;
        for grain in [Grain::Minute, Grain::Hour] {
            let start = at_ms - at_ms % grain.ms();
            let key = stats_states::bucket_key(grain, sm, (start, version), &visit.name);
            let from = |at: u64| stats_states::bucket_from(grain, sm, at);
            self.bump_bucket(db, (grain, start), key, &from, &change)?;
        }
        Ok(())
    }

    /// Applies `change` to the record at `key`, of the `grain` bucket that
    /// starts at `start`; a record that does not exist yet starts from the
    /// default, after pruning the expired buckets `from` keys.
    fn bump_bucket<T>(
        &mut self,
        db: &Db,
        (grain, start): (Grain, u64),
        key: Vec<u8>,
        from: &dyn Fn(u64) -> Vec<u8>,
        change: &impl Fn(&mut T),
    ) -> Result<(), StoreError>
    where
        T: Default + serde::Serialize + serde::de::DeserializeOwned,
    {
        let mut record = match self.get_decoded::<T>(db, &key)? {
            Some(record) => record,
            None => {
                self.prune(db, grain, from, start)?;
                T::default()
            }
        };
        change(&mut record);
        self.put(key, &record)
    }

    /// Deletes up to `PRUNE_PER_BUCKET` of the `grain` buckets that `from`
    /// keys (`from(start)`: one state machine's, of one series) and that
    /// expired by `now_start`. Reads RocksDB and passes over what this
    /// batch already deleted, so the same buckets go on every replica
    /// however its entries were batched.
    fn prune(
        &mut self,
        db: &Db,
        grain: Grain,
        from: &dyn Fn(u64) -> Vec<u8>,
        now_start: u64,
    ) -> Result<(), StoreError> {
        let keep_ms = grain.kept().saturating_mul(grain.ms());
        let Some(cutoff) = now_start.checked_sub(keep_ms) else {
            return Ok(());
        };
        let first = from(0);
        let end = from(cutoff);
        let iter = db.raw().iterator_cf(
            db.cf(CF_SM),
            rocksdb::IteratorMode::From(&first, rocksdb::Direction::Forward),
        );
        let mut victims = Vec::new();
        for item in iter {
            let (key, _) = item?;
            if *key >= *end || !key.starts_with(&first[..first.len() - 8]) {
                break;
            }
            if self.contains(db, &key)? {
                victims.push(key.to_vec());
                if victims.len() == stats::PRUNE_PER_BUCKET {
                    break;
                }
            }
        }
        for key in victims {
            self.delete(key);
        }
        Ok(())
    }
}
