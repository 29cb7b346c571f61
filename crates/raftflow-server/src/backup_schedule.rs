//! Scheduled backups (`[backup]`): the leader takes one every `interval_s`
//! and stores it off the node's own disk — a mounted folder, or a program
//! that receives the file on its standard input — since the disaster to
//! survive is losing every node's disk.
//!
//! ```text
//!  every second, the leader:  last = replicated record (or this node's own, before apply version 11)
//!    now ≥ last.taken + interval ──▶ barrier ──▶ save_content ──▶ dir/NAME.partial ─verify─▶ NAME, prune to `keep`
//!                                                              └─▶ command < file (RAFTFLOW_BACKUP_NAME=NAME)
//!                              ──▶ propose BackupRecorded (the age metric survives leader changes)
//! ```
//! A failed backup is logged, counted (`raftflow_backup_failures_total`)
//! and tried again after a minute (or the interval, if shorter).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::raft_service::WatchReceiver as _;
use raftflow_store::backup::{self, SavedContent};
use raftflow_store::backup_record::{BackupRecord, BACKUPS_FROM};
use raftflow_store::Command;
use serde::Deserialize;

use crate::node::NodeContext;

/// How often the leader looks whether a backup is due.
const TICK: Duration = Duration::from_secs(1);
/// The longest wait before a failed backup is tried again.
const RETRY_MAX_MS: u64 = 60_000;
const SUFFIX: &str = ".backup";

/// `[backup]` in the node's configuration; every node should carry the
/// same, since whichever leads takes the backups.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Seconds between backups; 0 (the default): no scheduled backups.
    pub interval_s: u64,
    /// Backups kept in `dir`; older ones are removed. (A command keeps its own.)
    pub keep: usize,
    /// A folder on another disk than `data_dir` (a mount): files are
    /// written there with mode 0600 — they hold secrets.
    pub dir: Option<PathBuf>,
    /// Or a program and its arguments: it gets each backup on its
    /// standard input and its name in RAFTFLOW_BACKUP_NAME; exit 0 means stored.
    pub command: Vec<String>,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            interval_s: 0,
            keep: 7,
            dir: None,
            command: Vec::new(),
        }
    }
}

impl BackupConfig {
    pub fn validate(&self, data_dir: &Path) -> Result<(), (&'static str, String)> {
        if self.interval_s == 0 {
            return Ok(());
        }
        if self.keep == 0 {
            return Err(("backup.keep", "must be at least 1".into()));
        }
        match (&self.dir, self.command.is_empty()) {
            (Some(_), false) | (None, true) => Err((
                "backup",
                "set exactly one destination: dir (a mounted folder) or command (a program that receives the file)".into(),
            )),
            (Some(dir), true) if dir.starts_with(data_dir) => Err((
                "backup.dir",
                format!("{} is inside data_dir: a backup there is lost with the disk it should survive", dir.display()),
            )),
            _ => Ok(()),
        }
    }

    /// Takes a relative `dir` from `base` (the config file's folder).
    pub fn resolve(&mut self, base: &Path) {
        if let Some(dir) = &mut self.dir {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
    }
}

pub async fn run(ctx: NodeContext) {
    let config = ctx.config.backup.clone();
    if config.interval_s == 0 {
        return;
    }
    let interval_ms = config.interval_s.saturating_mul(1000);
    let retry_ms = interval_ms.min(RETRY_MAX_MS);
    let (mut taken_here_ms, mut failed_at_ms) = (0u64, 0u64);
    let mut stopping = ctx.stopping.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        if ctx.raft.metrics().borrow_watched().current_leader != Some(ctx.id) {
            continue;
        }
        let recorded_ms = ctx
            .reader
            .last_backup()
            .ok()
            .flatten()
            .map_or(0, |r| r.taken_ms);
        let now_ms = ctx.clock.now_ms();
        let due_ms = recorded_ms.max(taken_here_ms).saturating_add(interval_ms);
        if now_ms < due_ms || now_ms < failed_at_ms.saturating_add(retry_ms) {
            continue;
        }
        match take(&ctx, &config).await {
            Ok(record) => {
                taken_here_ms = record.taken_ms;
                tracing::info!(index = record.index, bytes = record.bytes, to = %record.destination, "scheduled backup stored");
                record_it(&ctx, record).await;
            }
            Err(why) => {
                failed_at_ms = now_ms;
                ctx.metrics
                    .backup_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!("scheduled backup failed (tried again in {retry_ms} ms): {why}");
            }
        }
    }
}

async fn take(ctx: &NodeContext, config: &BackupConfig) -> Result<BackupRecord, String> {
    crate::cluster_service::linearizable_barrier(ctx)
        .await
        .map_err(|e| e.to_string())?;
    let db = ctx.reader.db().clone();
    let (node, taken_ms) = (ctx.id, ctx.clock.now_ms());
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let saved = backup::save_content(&db, node, taken_ms).map_err(|e| e.to_string())?;
        let h = &saved.header;
        let name = format!("raftflow-{:015}-{:012}{SUFFIX}", h.taken_ms, h.index);
        let bytes = match &config.dir {
            Some(dir) => to_dir(&saved, dir, &name, config.keep),
            None => to_command(&saved, &config.command, &name),
        }?;
        Ok(BackupRecord {
            node,
            index: h.index,
            term: h.term,
            taken_ms: h.taken_ms,
            bytes,
            content_sha256: h.content_sha256.clone(),
            destination: name,
        })
    })
    .await
    .map_err(|e| format!("backup task: {e}"))?
}

/// The whole file: the header, then the content.
fn write_file(saved: &SavedContent, out: &mut impl Write) -> std::io::Result<()> {
    backup::write_prefix(out, &saved.header)?;
    let mut content = std::fs::File::open(&saved.path)?;
    std::io::copy(&mut content, out)?;
    Ok(())
}

/// Writes `dir/name` whole and verified (a `.partial` until then), and
/// removes the oldest backups past `keep`.
fn to_dir(saved: &SavedContent, dir: &Path, name: &str, keep: usize) -> Result<u64, String> {
    let path = dir.join(name);
    let partial = dir.join(format!("{name}.partial"));
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what} {}: {e}", partial.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| fail("creating", &e))?;
    let mut out = std::io::BufWriter::new(&mut file);
    write_file(saved, &mut out).map_err(|e| fail("writing", &e))?;
    out.flush().map_err(|e| fail("writing", &e))?;
    drop(out);
    file.sync_all().map_err(|e| fail("syncing", &e))?;
    backup::inspect(&partial).map_err(|e| fail("verifying", &e))?;
    std::fs::rename(&partial, &path).map_err(|e| fail("renaming", &e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    prune(dir, keep);
    std::fs::metadata(&path)
        .map(|m| m.len())
        .map_err(|e| e.to_string())
}

/// Removes the oldest `raftflow-*.backup` files past the newest `keep`.
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("raftflow-") && n.ends_with(SUFFIX))
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(keep);
    for old in &names[..excess] {
        if let Err(e) = std::fs::remove_file(dir.join(old)) {
            tracing::warn!("cannot remove the old backup {old}: {e}");
        }
    }
}

/// Runs `command` with the file on its standard input.
fn to_command(saved: &SavedContent, command: &[String], name: &str) -> Result<u64, String> {
    let (program, args) = command.split_first().ok_or("no backup.command")?;
    let mut child = std::process::Command::new(program)
        .args(args)
        .env("RAFTFLOW_BACKUP_NAME", name)
        .env("RAFTFLOW_BACKUP_INDEX", saved.header.index.to_string())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {program}: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut counted = Counted {
        inner: &mut stdin,
        bytes: 0,
    };
    let written = write_file(saved, &mut counted);
    let bytes = counted.bytes;
    drop(stdin);
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {program}: {e}"))?;
    written.map_err(|e| format!("writing to {program}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "{program} ended with {status}: the backup is not stored"
        ));
    }
    Ok(bytes)
}

struct Counted<'a, W> {
    inner: &'a mut W,
    bytes: u64,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Proposes the record, once the cluster applies such records.
async fn record_it(ctx: &NodeContext, record: BackupRecord) {
    if ctx.reader.active_apply_version() < BACKUPS_FROM {
        return;
    }
    let command = Command::BackupRecorded {
        record,
        now_ms: ctx.stamp_ms(),
    };
    if let Err(e) = ctx.proposer.propose(command).await {
        tracing::warn!("the backup is stored but its record was not written: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_needs_one_destination_off_the_data_disk() {
        let data = Path::new("/var/lib/raftflow");
        let off = BackupConfig::default();
        assert!(off.validate(data).is_ok(), "no schedule, nothing to check");
        let on = |dir: Option<&str>, command: &[&str]| BackupConfig {
            interval_s: 3600,
            keep: 3,
            dir: dir.map(PathBuf::from),
            command: command.iter().map(|s| s.to_string()).collect(),
        };
        assert!(on(Some("/mnt/backups"), &[]).validate(data).is_ok());
        assert!(on(None, &["upload"]).validate(data).is_ok());
        assert_eq!(on(None, &[]).validate(data).unwrap_err().0, "backup");
        assert_eq!(
            on(Some("/mnt/b"), &["upload"])
                .validate(data)
                .unwrap_err()
                .0,
            "backup"
        );
        let inside = on(Some("/var/lib/raftflow/backups"), &[])
            .validate(data)
            .unwrap_err();
        assert_eq!(inside.0, "backup.dir");
        assert!(inside.1.contains("lost with the disk"), "{}", inside.1);
        let none_kept = BackupConfig {
            keep: 0,
            ..on(Some("/mnt/b"), &[])
        };
        assert_eq!(none_kept.validate(data).unwrap_err().0, "backup.keep");
    }

    #[test]
    fn pruning_keeps_the_newest_backups_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "raftflow-1.backup",
            "raftflow-3.backup",
            "raftflow-2.backup",
            "notes.txt",
            "raftflow-4.backup.partial",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        prune(dir.path(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "notes.txt",
                "raftflow-2.backup",
                "raftflow-3.backup",
                "raftflow-4.backup.partial"
            ]
        );
    }
}
