//! Queries on the applied workflow tables, for the API layer. They read
//! RocksDB directly and never block an apply.

use rocksdb::{Direction, IteratorMode};

use super::records::*;
use super::scan;
use crate::codec::decode;
use crate::db::{Db, CF_SM};
use crate::error::StoreError;

pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque: pass it back for the next page; `None` at the end.
    pub next: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        // `get`, not indexing: two bytes of a multi-byte character are no
        // char boundary, and a page token comes from the caller.
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

pub fn state_machine(
    db: &Db,
    name: &str,
    version: u32,
) -> Result<Option<(StateMachineMeta, StateMachineVersion)>, StoreError> {
    let Some(meta) = db
        .get(CF_SM, &meta_key(name))?
        .map(|b| decode::<StateMachineMeta>(&b))
        .transpose()?
    else {
        return Ok(None);
    };
    if meta.deleted {
        return Ok(None);
    }
    let version = if version == 0 { meta.latest } else { version };
    let record = db
        .get(CF_SM, &version_key(name, version))?
        .map(|b| decode(&b))
        .transpose()?;
    Ok(record.map(|r| (meta, r)))
}

pub fn state_machines(db: &Db) -> Result<Vec<(StateMachineMeta, StateMachineVersion)>, StoreError> {
    let mut out = Vec::new();
    for (_, value) in scan(db, b"m/")? {
        let meta: StateMachineMeta = decode(&value)?;
        if let Some(pair) = state_machine(db, &meta.name, 0)? {
            out.push(pair);
        }
    }
    Ok(out)
}

/// The names of the state machines that exist (not deleted), without
/// reading their definitions (for metrics and statistics listings).
pub fn state_machine_names(db: &Db) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for (_, value) in scan(db, b"m/")? {
        let meta: StateMachineMeta = decode(&value)?;
        if !meta.deleted {
            out.push(meta.name);
        }
    }
    Ok(out)
}

pub fn execution(db: &Db, id: &str) -> Result<Option<ExecutionRecord>, StoreError> {
    db.get(CF_SM, &execution_key(id))?
        .map(|b| decode(&b))
        .transpose()
}

/// Newest first, filtered by state machine and status (empty = any).
pub fn executions(
    db: &Db,
    state_machine: &str,
    status: Option<raftflow_core::Status>,
    page_size: usize,
    token: Option<&str>,
) -> Result<Page<ExecutionRecord>, StoreError> {
    let start = match token {
        Some(t) => unhex(t).ok_or_else(|| StoreError::Decode("bad page token".into()))?,
        None => b"l/".to_vec(),
    };
    let mut items = Vec::new();
    let mut next = None;
    let iter = db
        .raw()
        .iterator_cf(db.cf(CF_SM), IteratorMode::From(&start, Direction::Forward));
    for item in iter {
        let (key, value) = item?;
        if !key.starts_with(b"l/") {
            break;
        }
        if token.is_some() && *key == *start {
            continue;
        }
        let id: String = decode(&value)?;
        let Some(record) = execution(db, &id)? else {
            continue;
        };
        if (!state_machine.is_empty() && record.state_machine != state_machine)
            || status.is_some_and(|s| record.status != s)
        {
            continue;
        }
        items.push(record);
        if items.len() == page_size {
            next = Some(hex(&key));
            break;
        }
    }
    Ok(Page { items, next })
}

/// History events after `after` (exclusive), oldest first or newest first.
pub fn history(
    db: &Db,
    id: &str,
    after: Option<u64>,
    page_size: usize,
    reverse: bool,
) -> Result<Page<EventRecord>, StoreError> {
    let prefix = event_prefix(id);
    let (mode_key, direction) = match (reverse, after) {
        (false, Some(a)) => (event_key(id, a + 1), Direction::Forward),
        (false, None) => (prefix.clone(), Direction::Forward),
        (true, Some(a)) => (event_key(id, a.saturating_sub(1)), Direction::Reverse),
        (true, None) => (prefix_end(&prefix), Direction::Reverse),
    };
    if reverse && after == Some(0) {
        return Ok(Page {
            items: Vec::new(),
            next: None,
        });
    }
    let mut items = Vec::new();
    let mut next = None;
    // One snapshot for the events and their values: a purge between the
    // two reads cannot leave an event without its value.
    let snapshot = db.raw().snapshot();
    let cf = db.cf(CF_SM);
    for item in snapshot.iterator_cf(cf, IteratorMode::From(&mode_key, direction)) {
        let (key, value) = item?;
        if !key.starts_with(&prefix) {
            break;
        }
        let event = super::blobs::read_event(&value, |hash| {
            Ok(snapshot.get_cf(cf, super::blobs::blob_key(id, hash))?)
        })?;
        items.push(event);
        if items.len() == page_size {
            next = items.last().map(|e: &EventRecord| e.id.to_string());
            break;
        }
    }
    Ok(Page { items, next })
}

/// One open task attempt, by its attempt token.
pub fn task(db: &Db, token: &str) -> Result<Option<TaskEntry>, StoreError> {
    db.get(CF_SM, &task_key(token))?
        .map(|b| decode(&b))
        .transpose()
}

/// The open attempt that poll `poll_id` holds (apply version 5 on).
pub fn held_by_poll(db: &Db, poll_id: &str) -> Result<Option<TaskEntry>, StoreError> {
    let Some(token) = db.get(CF_SM, &poll_key(poll_id))? else {
        return Ok(None);
    };
    task(db, &decode::<String>(&token)?)
}

/// Whether the tables hold any state machine or execution (a cluster that
/// holds none has nothing an older binary would need to read back).
pub fn holds_workflows(db: &Db) -> Result<bool, StoreError> {
    for prefix in [&b"m/"[..], b"x/"] {
        let mut iter = db.raw().iterator_cf(
            db.cf(CF_SM),
            rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward),
        );
        if let Some(item) = iter.next() {
            if item?.0.starts_with(prefix) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// How an attempt ended, when it did under apply version 4 or later.
pub fn closed_attempt(db: &Db, token: &str) -> Result<Option<ClosedAttempt>, StoreError> {
    db.get(CF_SM, &closed_key(token))?
        .map(|b| decode(&b))
        .transpose()
}

pub fn open_tasks(db: &Db) -> Result<Vec<TaskEntry>, StoreError> {
    scan(db, b"t/")?
        .into_iter()
        .map(|(_, v)| decode(&v))
        .collect()
}

/// Every armed timer: (execution id, timer, fire at).
pub fn timers(db: &Db) -> Result<Vec<(String, u64, u64)>, StoreError> {
    let mut out = Vec::new();
    for (key, value) in scan(db, b"w/")? {
        let text = String::from_utf8_lossy(&key[2..]).to_string();
        let (id, timer) = text
            .rsplit_once('/')
            .ok_or_else(|| StoreError::Corrupt(format!("timer key {text}")))?;
        let timer: u64 = timer
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("timer key {text}")))?;
        out.push((id.to_string(), timer, decode(&value)?));
    }
    Ok(out)
}

pub fn epoch(db: &Db) -> Result<u64, StoreError> {
    Ok(db
        .get(CF_SM, KEY_EPOCH)?
        .map(|b| decode(&b))
        .transpose()?
        .unwrap_or(0))
}
