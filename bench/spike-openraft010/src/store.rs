//! A log kept in memory and appended to a file that is fsynced before an
//! append counts: inline (`sync`), or by one thread that syncs whatever was
//! written meanwhile and then reports each append flushed, in order
//! (`async`, the log-rocks pattern openraft 0.10 can overlap).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::File;
use std::io::{self, Write};
use std::ops::RangeBounds;
use std::sync::{mpsc, Arc, Mutex};

use futures::TryStreamExt;
use openraft::alias::{EntryOf, LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf, VoteOf};
use openraft::storage::{EntryResponder, IOFlushed, LogState, RaftLogStorage, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftLogReader, RaftSnapshotBuilder, SnapshotMeta};

use crate::TypeConfig as C;

#[derive(Default)]
struct Log {
    entries: BTreeMap<u64, EntryOf<C>>,
    vote: Option<VoteOf<C>>,
    committed: Option<LogIdOf<C>>,
}

/// Bytes written to the file ahead of the log, so that an fdatasync never
/// has to commit a new file size or block map (as RocksDB's preallocated WAL
/// avoids it): the log then overwrites them in place.
const PREALLOCATED_BYTES: usize = 64 << 20;

/// `SPIKE_NO_SYNC=1`: no fsync at all, to find the floor without the disk.
fn no_sync() -> bool {
    std::env::var("SPIKE_NO_SYNC").is_ok_and(|v| v == "1")
}

fn preallocated(path: &std::path::Path) -> io::Result<File> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..PREALLOCATED_BYTES / zeros.len() {
        file.write_all(&zeros)?;
    }
    file.sync_all()?;
    Ok(file)
}

#[derive(Clone)]
pub struct LogStore {
    log: Arc<Mutex<Log>>,
    file: Arc<Mutex<(File, u64)>>,
    flusher: Option<mpsc::Sender<IOFlushed<C>>>,
}

impl LogStore {
    pub fn open(path: &std::path::Path, asynchronous: bool) -> Self {
        let file = preallocated(path).expect("the log file");
        let flusher = asynchronous.then(|| {
            let syncer = file.try_clone().expect("a second handle");
            let (tx, rx) = mpsc::channel::<IOFlushed<C>>();
            std::thread::spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(rx.try_iter());
                    let synced = if no_sync() { Ok(()) } else { syncer.sync_data() };
                    for callback in waiting {
                        let result = synced.as_ref().map(|_| ()).map_err(|e| io::Error::other(e.to_string()));
                        callback.io_completed(result);
                    }
                }
            });
            tx
        });
        Self { log: Arc::default(), file: Arc::new(Mutex::new((file, 0))), flusher }
    }

    fn write(&self, bytes: &[u8], sync: bool) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut guard = self.file.lock().unwrap();
        let (file, position) = &mut *guard;
        // Wraps around: the spike's runs are seconds long, not a real log.
        if *position as usize + bytes.len() > PREALLOCATED_BYTES {
            *position = 0;
        }
        file.write_all_at(bytes, *position)?;
        *position += bytes.len() as u64;
        if sync && !no_sync() {
            file.sync_data()?;
        }
        Ok(())
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).expect("encodes")
}

impl RaftLogReader<C> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<C>>, io::Error> {
        let log = self.log.lock().unwrap();
        Ok(log.entries.range(range).map(|(_, e)| e.clone()).collect())
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        Ok(self.log.lock().unwrap().vote)
    }
}

impl RaftLogStorage<C> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        let log = self.log.lock().unwrap();
        let last = log.entries.values().next_back().map(|e| e.log_id);
        Ok(LogState { last_purged_log_id: None, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        self.write(&encode(vote), true)?;
        self.log.lock().unwrap().vote = Some(*vote);
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        self.log.lock().unwrap().committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        Ok(self.log.lock().unwrap().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<C>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<EntryOf<C>> = entries.into_iter().collect();
        let bytes: Vec<u8> = entries.iter().flat_map(encode).collect();
        self.write(&bytes, self.flusher.is_none())?;
        {
            let mut log = self.log.lock().unwrap();
            for entry in entries {
                log.entries.insert(entry.log_id.index, entry);
            }
        }
        match &self.flusher {
            Some(tx) => tx.send(callback).map_err(|_| io::Error::other("the flusher stopped"))?,
            None => callback.io_completed(Ok(())),
        }
        Ok(())
    }

    async fn truncate_after(&mut self, last: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        let from = last.map_or(0, |l| l.index + 1);
        self.log.lock().unwrap().entries.split_off(&from);
        Ok(())
    }

    async fn purge(&mut self, upto: LogIdOf<C>) -> Result<(), io::Error> {
        let mut log = self.log.lock().unwrap();
        log.entries = log.entries.split_off(&(upto.index + 1));
        Ok(())
    }
}

/// Counts what it applies; answers each write with its log index.
#[derive(Default, Clone)]
pub struct Machine {
    applied: Option<LogIdOf<C>>,
    membership: StoredMembershipOf<C>,
}

impl RaftSnapshotBuilder<C> for Machine {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<C, Vec<u8>>, io::Error> {
        let meta = SnapshotMeta {
            last_log_id: self.applied,
            last_membership: self.membership.clone(),
        };
        Ok(SnapshotOf::<C, Vec<u8>> { meta, snapshot: Vec::new() })
    }
}

impl RaftStateMachine<C> for Machine {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogIdOf<C>>, StoredMembershipOf<C>), io::Error> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> Result<(), io::Error>
    where
        S: futures::Stream<Item = Result<EntryResponder<C>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            self.applied = Some(entry.log_id);
            if let EntryPayload::Membership(m) = &entry.payload {
                self.membership = StoredMembershipOf::<C>::new(Some(entry.log_id), m.clone());
            }
            if let Some(responder) = responder {
                responder.send(entry.log_id.index);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMetaOf<C>, _data: Vec<u8>) -> Result<(), io::Error> {
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<SnapshotOf<C, Vec<u8>>>, io::Error> {
        Ok(None)
    }
}
