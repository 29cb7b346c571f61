//! SIGKILL during appends, many times: no entry reported flushed is lost,
//! no vote reported saved goes back, and the log stays contiguous.
//!
//! A child process (this test binary, run as `crash::child`) appends entries
//! through openraft's storage API and prints each index once its `IOFlushed`
//! callback fired, and each term once `save_vote` returned. The parent kills
//! it after a seeded number of acknowledgements, reopens the store and
//! checks. SIGKILL leaves the page cache intact: this tests the order of
//! writes, fsyncs and callbacks, not power loss (that rests on the fsync
//! before each callback, wal_sync.rs).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use raftflow_store::types::{log_id, EntryPayload, Vote};
use raftflow_store::{Entry, Envelope, TypeConfig};

const DIR_ENV: &str = "RAFTFLOW_CRASH_DIR";
const ROUNDS: u64 = 12;
const SEED: u64 = 0x5eed_c4a5;

/// The entry at `index`: its payload names its index, so a misplaced or
/// torn entry cannot pass for another.
fn entry(index: u64) -> Entry {
    Entry {
        log_id: log_id(1, 1, index),
        payload: if index.is_multiple_of(5) {
            EntryPayload::Blank
        } else {
            EntryPayload::Normal(Envelope::V1(Vec::new()))
        },
    }
}

/// The index of the last entry in `log` (0: none).
async fn last_index(log: &mut raftflow_store::LogStore) -> u64 {
    let state = log.get_log_state().await.unwrap();
    state.last_log_id.map_or(0, |l| l.index)
}

/// Appends and votes until killed (run only by `a_killed_writer_loses_nothing_it_acknowledged`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the crash test's child process"]
async fn child() {
    let dir = std::env::var(DIR_ENV).expect("run by the crash test");
    let (mut log, _sm) = raftflow_store::open(std::path::Path::new(&dir)).expect("open");
    let last = last_index(&mut log).await;
    let mut term = log
        .read_vote()
        .await
        .unwrap()
        .map_or(0, |v| v.leader_id.term);
    let mut index = last;
    loop {
        // Batches of 1..=4 entries, several in flight before the first flush.
        let mut waiting = Vec::new();
        for n in 0..4 {
            let batch: Vec<Entry> = (1..=(n % 4 + 1)).map(|k| entry(index + k)).collect();
            index += batch.len() as u64;
            let (tx, rx) = TypeConfig::oneshot();
            log.append(batch, IOFlushed::signal(tx)).await.unwrap();
            waiting.push((index, rx));
        }
        for (acked, rx) in waiting {
            rx.await.unwrap().unwrap();
            println!("acked {acked}");
        }
        term += 1;
        log.save_vote(&Vote::new(term, 1)).await.unwrap();
        println!("voted {term}");
    }
}

/// A small seeded generator (SplitMix64): the kill points repeat run to run.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs the child until it acknowledged `acks` lines, then kills it; returns
/// the highest index and term it acknowledged.
fn run_and_kill(dir: &std::path::Path, acks: u64) -> (u64, u64) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash::child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (mut index, mut term, mut seen) = (0, 0, 0);
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            index = n.parse().unwrap();
            seen += 1;
        } else if let Some(t) = line.strip_prefix("voted ") {
            term = t.parse().unwrap();
        }
        if seen >= acks {
            break;
        }
    }
    child.kill().expect("SIGKILL the child");
    child.wait().unwrap();
    (index, term)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_writer_loses_nothing_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SEED;
    for round in 0..ROUNDS {
        let acks = 20 + next(&mut rng) % 400;
        let (acked, voted) = run_and_kill(dir.path(), acks);
        assert!(acked > 0, "round {round}: the child acknowledged nothing");
        let (mut log, _sm) = raftflow_store::open(dir.path()).expect("reopen after the kill");
        let last = last_index(&mut log).await;
        assert!(
            last >= acked,
            "round {round}: entry {acked} was acknowledged, the log ends at {last}"
        );
        let entries = log.try_get_log_entries(1..=last).await.unwrap();
        assert_eq!(
            entries.len() as u64,
            last,
            "round {round}: a hole in the log"
        );
        for (k, e) in (1..).zip(&entries) {
            assert_eq!(
                e,
                &entry(k),
                "round {round}: entry {k} is not what was appended"
            );
        }
        let term = log
            .read_vote()
            .await
            .unwrap()
            .map_or(0, |v| v.leader_id.term);
        assert!(
            term >= voted,
            "round {round}: vote {voted} was saved, {term} is left"
        );
    }
}
