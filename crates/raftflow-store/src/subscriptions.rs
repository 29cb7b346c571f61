//! Subscriptions: when executions of a chosen state machine start or end,
//! POST an event to a URL — delivered at least once, in order per
//! execution, from a replicated outbox, so a leader change loses none.
//!
//! ```text
//!  apply that starts/ends X ──▶ outbox/<sub>/<seq> {X, change, at}      (every replica, same entry)
//!  leader: oldest pending per execution ──▶ POST (signed) ──▶ EventsDelivered{delivered, failed}
//!  apply: delivered → gone; failed → back-off, or dead letter after max_attempts / max_age
//! ```
//! The outbox is written by the apply that changes the execution, so an
//! event exists exactly when its change does; the event body is rendered by
//! the leader from the execution's record when it delivers (the outbox
//! holds only which change, so it stays small). Acknowledgements are
//! committed in batches: one `EventsDelivered` per delivery round. Bounded:
//! past `MAX_PENDING` pending events a new one goes straight to the dead
//! letters, and past `MAX_DEAD` dead letters a new one is counted as
//! discarded — never an apply failure. Applied from apply version 20
//! (`SUBSCRIPTIONS_FROM`); the apply is in workflow/subscriptions.rs.

use serde::{Deserialize, Serialize};

use crate::codec::decode;
use crate::connections::Sealed;
use crate::db::{Db, CF_SM};
use crate::error::StoreError;
use crate::triggers::When;

/// The apply version from which subscriptions are applied.
pub const SUBSCRIPTIONS_FROM: u32 = 20;
/// A subscription's name, at most.
pub const MAX_SUBSCRIPTION_NAME_CHARS: usize = 64;
/// Subscriptions in the cluster, at most.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// Events waiting for delivery per subscription, at most.
pub const MAX_PENDING: u64 = 10_000;
/// Dead letters kept per subscription, at most.
pub const MAX_DEAD: u64 = 10_000;
/// A URL, at most.
pub const MAX_URL_BYTES: usize = 2048;
/// Attempts per event, at most (EventBridge's retry limit).
pub const MAX_ATTEMPTS: u32 = 185;
/// How long an event may wait, at most (EventBridge's: 24 hours).
pub const MAX_AGE_S: u64 = 24 * 3600;
/// Events one `EventsDelivered` or `RedriveEvents` names, at most.
pub const MAX_EVENTS_PER_COMMAND: usize = 1024;
/// A failure's text kept with an event, at most.
pub const MAX_ERROR_BYTES: usize = 512;
/// The wait after the first failed attempt; it doubles after each.
pub const FIRST_BACKOFF_MS: u64 = 1_000;
/// The longest wait between two attempts.
pub const MAX_BACKOFF_MS: u64 = 300_000;

const SUBSCRIPTION_PREFIX: &[u8] = b"\0subscription/";
const OUTBOX_PREFIX: &[u8] = b"\0outbox/";
const DEAD_PREFIX: &[u8] = b"\0deadletter/";

/// A change of an execution's status a subscription can watch. Variants
/// are only appended: bincode stores their position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Change {
    Started,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl Change {
    pub fn ended(when: When) -> Self {
        match when {
            When::Succeeded => Change::Succeeded,
            When::Failed => Change::Failed,
            When::TimedOut => Change::TimedOut,
            When::Aborted => Change::Aborted,
        }
    }

    /// As Step Functions writes the status: `RUNNING`, `SUCCEEDED`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Started => "RUNNING",
            Change::Succeeded => "SUCCEEDED",
            Change::Failed => "FAILED",
            Change::TimedOut => "TIMED_OUT",
            Change::Aborted => "ABORTED",
        }
    }

    /// The word the CLI and the API take: `started`, `timed-out`, …
    pub fn word(self) -> &'static str {
        match self {
            Change::Started => "started",
            Change::Succeeded => "succeeded",
            Change::Failed => "failed",
            Change::TimedOut => "timed-out",
            Change::Aborted => "aborted",
        }
    }

    pub fn from_word(word: &str) -> Option<Self> {
        [
            Change::Started,
            Change::Succeeded,
            Change::Failed,
            Change::TimedOut,
            Change::Aborted,
        ]
        .into_iter()
        .find(|c| c.word() == word)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionDef {
    pub name: String,
    pub description: String,
    /// The state machine whose executions it watches.
    pub source: String,
    /// The changes it sends: one to five, ascending, each once.
    pub on: Vec<Change>,
    /// Where events are POSTed (http or https; the leader's `[outbound]`
    /// rules decide whether it may call it).
    pub url: String,
    /// A connection whose credentials each POST carries ("" for none).
    pub connection: String,
    /// The signing secret, sealed at the door as a connection's is.
    pub secret: Sealed,
    pub enabled: bool,
    /// Attempts per event before it becomes a dead letter (1 to 185).
    pub max_attempts: u32,
    /// An event older than this after a failed attempt becomes a dead letter.
    pub max_age_s: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub def: SubscriptionDef,
    pub revision: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The sequence number the next event gets (from 1).
    pub next_seq: u64,
    pub pending: u64,
    pub delivered: u64,
    pub dead: u64,
    /// Events neither kept pending nor as dead letters (both lists full).
    pub discarded: u64,
}

/// One event in the outbox or the dead letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub seq: u64,
    pub execution_id: String,
    pub change: Change,
    /// When the change was applied (the command's time).
    pub at_ms: u64,
    /// Delivery attempts made.
    pub attempts: u32,
    /// Not tried again before this time (0: at once).
    pub next_at_ms: u64,
    /// Why the last attempt failed ("" before any).
    pub last_error: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Stored {
    V1(Subscription),
}

pub(crate) fn key(name: &str) -> Vec<u8> {
    let mut key = SUBSCRIPTION_PREFIX.to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

fn event_prefix(list: &[u8], name: &str) -> Vec<u8> {
    let mut key = list.to_vec();
    key.extend_from_slice(name.as_bytes());
    key.push(0);
    key
}

/// Where a subscription's pending events are (`seq` big-endian: in order).
pub(crate) fn outbox_prefix(name: &str) -> Vec<u8> {
    event_prefix(OUTBOX_PREFIX, name)
}

pub(crate) fn dead_prefix(name: &str) -> Vec<u8> {
    event_prefix(DEAD_PREFIX, name)
}

pub(crate) fn outbox_key(name: &str, seq: u64) -> Vec<u8> {
    let mut key = outbox_prefix(name);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

pub(crate) fn dead_key(name: &str, seq: u64) -> Vec<u8> {
    let mut key = dead_prefix(name);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

pub(crate) fn decode_stored(bytes: &[u8]) -> Result<Subscription, StoreError> {
    match decode::<Stored>(bytes)? {
        Stored::V1(subscription) => Ok(subscription),
    }
}

/// One subscription as applied here.
pub fn read(db: &Db, name: &str) -> Result<Option<Subscription>, StoreError> {
    db.get(CF_SM, &key(name))?
        .map(|b| decode_stored(&b))
        .transpose()
}

/// Up to `limit` subscriptions by name, from after `after` (paging).
pub fn list(db: &Db, after: &str, limit: usize) -> Result<Vec<Subscription>, StoreError> {
    crate::db::page_by_prefix(db, SUBSCRIPTION_PREFIX, after, limit, decode_stored)
}

/// Up to `limit` pending events of `name` after sequence number `after`, oldest first.
pub fn pending(
    db: &Db,
    name: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<OutboxEvent>, StoreError> {
    events(db, &outbox_prefix(name), after, limit)
}

/// Up to `limit` dead letters of `name` after sequence number `after`, oldest first.
pub fn dead_letters(
    db: &Db,
    name: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<OutboxEvent>, StoreError> {
    events(db, &dead_prefix(name), after, limit)
}

fn events(
    db: &Db,
    prefix: &[u8],
    after: u64,
    limit: usize,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let mut start = prefix.to_vec();
    start.extend_from_slice(&after.saturating_add(1).to_be_bytes());
    let mode = rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward);
    let mut out = Vec::new();
    for item in db.raw().iterator_cf(db.cf(CF_SM), mode) {
        let (key, value) = item?;
        if !key.starts_with(prefix) || out.len() >= limit {
            break;
        }
        out.push(decode(&value)?);
    }
    Ok(out)
}

/// The event as it is POSTed: CloudEvents 1.0 in structured mode, its
/// `data` the Step Functions status-change detail. `record` is the
/// execution's record when delivered (None once purged: `data` then holds
/// only what the event itself knows). Its `id` is the same on every
/// delivery of the event, so a receiver can drop a repeat.
pub fn cloud_event(
    source: &str,
    event: &OutboxEvent,
    record: Option<&crate::workflow::records::ExecutionRecord>,
) -> String {
    let status = event.change.as_str();
    let detail = match record {
        Some(record) => {
            let mut detail = crate::triggers::detail(record, status);
            if event.change == Change::Started {
                // As it was when it started, whatever it is now.
                for field in ["stopDate", "error", "cause", "output"] {
                    detail[field] = serde_json::Value::Null;
                }
            }
            detail
        }
        None => serde_json::json!({
            "executionArn": event.execution_id,
            "stateMachineArn": source,
            "status": status,
            "inputDetails": {"included": false},
            "outputDetails": {"included": false},
        }),
    };
    let wrap = |data: &serde_json::Value| {
        serde_json::json!({
            "specversion": "1.0",
            "id": format!("{}/{}", event.execution_id, status),
            "source": format!("raftflow/state-machines/{source}"),
            "type": format!("raftflow.execution.{}", event.change.word()),
            "subject": event.execution_id,
            "time": crate::schedules::rfc3339_time(event.at_ms),
            "datacontenttype": "application/json",
            "raftflowseq": event.seq,
            "data": data,
        })
        .to_string()
    };
    crate::triggers::fit(detail, wrap)
}

/// The wait before attempt `attempts + 1`, after `attempts` failed ones.
pub fn backoff_ms(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(20);
    FIRST_BACKOFF_MS
        .saturating_mul(1u64 << doublings)
        .min(MAX_BACKOFF_MS)
}

/// What is wrong with a definition's shape, if anything: apply refuses it
/// (the API checks the same before proposing, with its own words).
pub fn def_problem(def: &SubscriptionDef) -> Option<String> {
    let ok_name = !def.name.is_empty()
        && def.name.len() <= MAX_SUBSCRIPTION_NAME_CHARS
        && def
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok_name {
        return Some(format!(
            "a subscription name has 1 to {MAX_SUBSCRIPTION_NAME_CHARS} letters, digits, `-`, `_` or `.`"
        ));
    }
    if def.source.is_empty() || def.source.len() > 80 || def.connection.len() > 64 {
        return Some(
            "a state machine name has 1 to 80 characters, a connection's at most 64".into(),
        );
    }
    if def.on.is_empty() || !def.on.windows(2).all(|w| w[0] < w[1]) {
        return Some("a subscription sends one to five changes, ascending, each once".into());
    }
    let scheme_ok = def.url.starts_with("https://") || def.url.starts_with("http://");
    if !scheme_ok || def.url.len() > MAX_URL_BYTES {
        return Some(format!(
            "the URL is http:// or https:// and at most {MAX_URL_BYTES} bytes"
        ));
    }
    if def.max_attempts == 0 || def.max_attempts > MAX_ATTEMPTS {
        return Some(format!("max attempts are 1 to {MAX_ATTEMPTS}"));
    }
    if def.max_age_s == 0 || def.max_age_s > MAX_AGE_S {
        return Some(format!("the maximum event age is 1 to {MAX_AGE_S} seconds"));
    }
    if def.description.len() > crate::schedules::MAX_TEXT_BYTES {
        return Some("the description is too long".into());
    }
    let s = &def.secret;
    let hex = s.key_id.len() == crate::connections::KEY_ID_CHARS
        && s.key_id.chars().all(|c| c.is_ascii_hexdigit());
    let sized = s.bytes.len() > crate::connections::TAG_BYTES && s.bytes.len() <= 4096;
    (!hex || !sized).then(|| "the sealed signing secret is malformed".into())
}

#[cfg(test)]
#[path = "subscriptions_tests.rs"]
mod tests;
