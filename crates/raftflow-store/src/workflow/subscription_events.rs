//! Applying what the leader's delivery did with a subscription's events
//! (`EventsDelivered`), and putting dead letters back (`RedriveEvents`).
//!
//! Both name events by sequence number and are idempotent: an event
//! already gone (delivered by an older leader, deleted with its
//! subscription) is passed over, so a report repeated after a leader
//! change, or one racing a delete, changes nothing twice.

use super::apply::reject;
use super::Workflows;
use crate::command::{CommandResult, Reject};
use crate::db::Db;
use crate::error::StoreError;
use crate::subscriptions::*;

impl Workflows {
    pub(super) fn events_delivered(
        &mut self,
        db: &Db,
        name: &str,
        delivered: &[u64],
        failed: &[(u64, String)],
        now_ms: u64,
    ) -> Result<CommandResult, StoreError> {
        if delivered.len() + failed.len() > MAX_EVENTS_PER_COMMAND {
            return Ok(too_many());
        }
        let Some(mut sub) = self.subscription(db, name)? else {
            return Ok(CommandResult::Accepted); // deleted meanwhile: nothing to note
        };
        for seq in delivered {
            let key = outbox_key(name, *seq);
            if self.contains(db, &key)? {
                self.delete(key);
                sub.pending = sub.pending.saturating_sub(1);
                sub.delivered = sub.delivered.saturating_add(1);
            }
        }
        for (seq, error) in failed {
            let key = outbox_key(name, *seq);
            let Some(mut event) = self.get_decoded::<OutboxEvent>(db, &key)? else {
                continue;
            };
            event.attempts = event.attempts.saturating_add(1);
            event.last_error = cut(error);
            let age_ms = now_ms.saturating_sub(event.at_ms);
            let spent = event.attempts >= sub.def.max_attempts
                || age_ms >= sub.def.max_age_s.saturating_mul(1000);
            if spent {
                self.delete(key);
                sub.pending = sub.pending.saturating_sub(1);
                self.bury(&mut sub, event)?;
            } else {
                event.next_at_ms = now_ms.saturating_add(backoff_ms(event.attempts));
                self.put(key, &event)?;
            }
        }
        self.save_subscription(sub)?;
        Ok(CommandResult::Accepted)
    }

    /// Moves the named dead letters back into the outbox, fresh (no
    /// attempts), as far as the outbox has room; says how many moved.
    pub(super) fn redrive(
        &mut self,
        db: &Db,
        name: &str,
        seqs: &[u64],
    ) -> Result<CommandResult, StoreError> {
        if seqs.len() > MAX_EVENTS_PER_COMMAND {
            return Ok(too_many());
        }
        let Some(mut sub) = self.subscription(db, name)? else {
            return Ok(reject(
                Reject::NotFound,
                format!("subscription `{name}` does not exist"),
            ));
        };
        let mut moved = 0u32;
        for seq in seqs {
            if sub.pending >= MAX_PENDING {
                break;
            }
            let key = dead_key(name, *seq);
            let Some(mut event) = self.get_decoded::<OutboxEvent>(db, &key)? else {
                continue;
            };
            self.delete(key);
            sub.dead = sub.dead.saturating_sub(1);
            event.attempts = 0;
            event.next_at_ms = 0;
            self.put(outbox_key(name, *seq), &event)?;
            sub.pending += 1;
            moved += 1;
        }
        if moved > 0 {
            self.effects.push(super::Effect::EventQueued {
                subscription: name.to_string(),
            });
        }
        self.save_subscription(sub)?;
        Ok(CommandResult::Redriven { count: moved })
    }
}

fn too_many() -> CommandResult {
    reject(
        Reject::InvalidArgument,
        format!("one command names at most {MAX_EVENTS_PER_COMMAND} events"),
    )
}

/// A failure's text within `MAX_ERROR_BYTES`, cut on a character boundary.
fn cut(error: &str) -> String {
    let mut end = error.len().min(MAX_ERROR_BYTES);
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    error[..end].to_string()
}
