//! Applying the subscription commands, and writing the outbox in the apply
//! that starts or ends a watched execution (crate::subscriptions says what
//! they mean).
//!
//! Every replica keeps the same index of subscriptions by the state machine
//! they watch (`Workflows::subscriptions_by_source`, derived from the
//! replicated records, rebuilt on load), so every replica writes the same
//! events at the same entry.

use super::apply::reject;
use super::Workflows;
use crate::command::{Command, CommandResult, Reject};
use crate::db::Db;
use crate::error::StoreError;
use crate::subscriptions::*;

impl Workflows {
    pub(super) fn apply_subscription(
        &mut self,
        db: &Db,
        command: &Command,
    ) -> Result<CommandResult, StoreError> {
        if self.apply_version < SUBSCRIPTIONS_FROM {
            return Ok(reject(
                Reject::FailedPrecondition,
                format!(
                    "subscriptions need apply version {SUBSCRIPTIONS_FROM} (the cluster is at {})",
                    self.apply_version
                ),
            ));
        }
        match command {
            Command::PutSubscription {
                def,
                create,
                expect_revision,
                now_ms,
            } => self.put_subscription(db, def, (*create, *expect_revision), *now_ms),
            Command::DeleteSubscription { name, .. } => {
                let Some(sub) = self.subscription(db, name)? else {
                    return Ok(not_found(name));
                };
                self.unindex_subscription(&sub.def);
                self.delete(key(name));
                self.delete_prefix(outbox_prefix(name));
                self.delete_prefix(dead_prefix(name));
                Ok(CommandResult::Deleted)
            }
            Command::EventsDelivered {
                subscription,
                delivered,
                failed,
                now_ms,
            } => self.events_delivered(db, subscription, delivered, failed, *now_ms),
            Command::RedriveEvents {
                subscription, seqs, ..
            } => self.redrive(db, subscription, seqs),
            _ => unreachable!("only subscription commands come here"),
        }
    }

    pub(super) fn subscription(
        &self,
        db: &Db,
        name: &str,
    ) -> Result<Option<Subscription>, StoreError> {
        self.get(db, &key(name))?
            .map(|b| decode_stored(&b))
            .transpose()
    }

    pub(super) fn save_subscription(&mut self, sub: Subscription) -> Result<(), StoreError> {
        self.put(key(&sub.def.name), &Stored::V1(sub))
    }

    /// Creates (`create`) or replaces a subscription; an update with
    /// `expect_revision` other than 0 applies only at that revision.
    fn put_subscription(
        &mut self,
        db: &Db,
        def: &SubscriptionDef,
        (create, expect_revision): (bool, u64),
        now_ms: u64,
    ) -> Result<CommandResult, StoreError> {
        if let Some(problem) = def_problem(def) {
            return Ok(reject(Reject::InvalidArgument, problem));
        }
        let sub = match (self.subscription(db, &def.name)?, create) {
            (Some(s), true) if s.def == *def => {
                return Ok(CommandResult::SubscriptionSaved {
                    revision: s.revision,
                    created: false,
                })
            }
            (Some(_), true) => {
                return Ok(reject(
                    Reject::AlreadyExists,
                    format!(
                    "subscription `{}` already exists with another definition; update it instead",
                    def.name
                ),
                ))
            }
            (None, false) => return Ok(not_found(&def.name)),
            (Some(s), false) if expect_revision != 0 && s.revision != expect_revision => {
                return Ok(reject(
                    Reject::FailedPrecondition,
                    format!(
                        "subscription `{}` is at revision {}, not {expect_revision}",
                        def.name, s.revision
                    ),
                ))
            }
            (None, true) if self.subscription_count() >= MAX_SUBSCRIPTIONS => {
                return Ok(reject(
                    Reject::FailedPrecondition,
                    format!(
                        "the cluster holds {MAX_SUBSCRIPTIONS} subscriptions, the most it keeps"
                    ),
                ))
            }
            (None, true) => Subscription {
                def: def.clone(),
                revision: 1,
                created_ms: now_ms,
                updated_ms: now_ms,
                next_seq: 1,
                pending: 0,
                delivered: 0,
                dead: 0,
                discarded: 0,
            },
            (Some(mut s), false) => {
                self.unindex_subscription(&s.def);
                s.def = def.clone();
                s.revision = s.revision.saturating_add(1);
                s.updated_ms = now_ms;
                s
            }
        };
        let revision = sub.revision;
        self.index_subscription(&sub.def);
        // Enabled again, or sent elsewhere: what waits is delivered now.
        self.effects.push(super::Effect::EventQueued {
            subscription: def.name.clone(),
        });
        self.save_subscription(sub)?;
        Ok(CommandResult::SubscriptionSaved {
            revision,
            created: create,
        })
    }

    pub(super) fn index_subscription(&mut self, def: &SubscriptionDef) {
        self.subscriptions_by_source
            .entry(def.source.clone())
            .or_default()
            .insert(def.name.clone());
    }

    fn unindex_subscription(&mut self, def: &SubscriptionDef) {
        if let Some(names) = self.subscriptions_by_source.get_mut(&def.source) {
            names.remove(&def.name);
            if names.is_empty() {
                self.subscriptions_by_source.remove(&def.source);
            }
        }
    }

    fn subscription_count(&self) -> usize {
        self.subscriptions_by_source.values().map(|n| n.len()).sum()
    }

    /// Notes a change of an execution of `state_machine` when a
    /// subscription watches it (written out after the command: `queue_events`).
    pub(super) fn note_change(&mut self, state_machine: &str, id: &str, change: Change) {
        if self.apply_version >= SUBSCRIPTIONS_FROM
            && self.subscriptions_by_source.contains_key(state_machine)
        {
            let changed = (state_machine.to_string(), id.to_string(), change);
            self.changes_watched.push(changed);
        }
    }

    /// Writes an event for each change the command made that an enabled
    /// subscription sends, in the order the changes happened.
    pub(super) fn queue_events(&mut self, db: &Db, now_ms: u64) -> Result<(), StoreError> {
        for (state_machine, id, change) in std::mem::take(&mut self.changes_watched) {
            let names: Vec<String> = self
                .subscriptions_by_source
                .get(&state_machine)
                .map(|n| n.iter().cloned().collect())
                .unwrap_or_default();
            for name in names {
                let Some(mut sub) = self.subscription(db, &name)? else {
                    continue;
                };
                if sub.def.enabled && sub.def.on.contains(&change) {
                    self.enqueue(&mut sub, &id, change, now_ms)?;
                    self.save_subscription(sub)?;
                    self.effects
                        .push(super::Effect::EventQueued { subscription: name });
                }
            }
        }
        Ok(())
    }

    /// One event into the outbox, or to the dead letters when the outbox is
    /// full, or counted as discarded when both are.
    fn enqueue(
        &mut self,
        sub: &mut Subscription,
        id: &str,
        change: Change,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let seq = sub.next_seq;
        sub.next_seq = seq.saturating_add(1);
        let mut event = OutboxEvent {
            seq,
            execution_id: id.to_string(),
            change,
            at_ms: now_ms,
            attempts: 0,
            next_at_ms: 0,
            last_error: String::new(),
        };
        let name = sub.def.name.clone();
        if sub.pending < MAX_PENDING {
            sub.pending += 1;
            return self.put(outbox_key(&name, seq), &event);
        }
        event.last_error = format!("the outbox held {MAX_PENDING} undelivered events");
        self.bury(sub, event)
    }

    /// Keeps `event` as a dead letter, or counts it discarded when full.
    pub(super) fn bury(
        &mut self,
        sub: &mut Subscription,
        event: OutboxEvent,
    ) -> Result<(), StoreError> {
        if sub.dead >= MAX_DEAD {
            sub.discarded = sub.discarded.saturating_add(1);
            return Ok(());
        }
        sub.dead += 1;
        self.put(dead_key(&sub.def.name, event.seq), &event)
    }
}

fn not_found(name: &str) -> CommandResult {
    reject(
        Reject::NotFound,
        format!("subscription `{name}` does not exist"),
    )
}
