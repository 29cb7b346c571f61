//! Snapshots as files: written by streaming cf `sm` from a RocksDB snapshot,
//! read back pair by pair, so no node ever holds a whole snapshot in memory.
//!
//! ```text
//!  file = MAGIC
//!         { key_len:u32be value_len:u32be key value }*   every pair of cf "sm", in key order
//!         END:u32be(u32::MAX) pairs:u64be sha256(all bytes before the hash)
//! ```
//! The trailer lets a receiver refuse a truncated or damaged file before it
//! deletes a single key of its own state.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

use crate::error::StoreError;

/// The file format and its version: a new format is written only once the
/// apply version that introduces it is active (version.rs).
const MAGIC: &[u8] = b"raftflow-snapshot-v1\n";
const END: u32 = u32::MAX;
/// Buffer size for streaming a snapshot file in or out.
const IO_BUFFER_BYTES: usize = 1 << 20;

fn io_err(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::SnapshotFile {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn corrupt(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::SnapshotFile {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Writes a snapshot file pair by pair; `finish` makes it durable.
pub struct SnapshotWriter {
    path: PathBuf,
    out: BufWriter<File>,
    hasher: Sha256,
    pairs: u64,
}

impl SnapshotWriter {
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        let file = File::create(path).map_err(|e| io_err(path, e))?;
        let mut writer = Self {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(IO_BUFFER_BYTES, file),
            hasher: Sha256::new(),
            pairs: 0,
        };
        writer.write(MAGIC)?;
        Ok(writer)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.hasher.update(bytes);
        self.out.write_all(bytes).map_err(|e| io_err(&self.path, e))
    }

    pub fn push(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let key_len = u32::try_from(key.len())
            .ok()
            .filter(|&n| n != END)
            .ok_or_else(|| corrupt(&self.path, format!("key of {} bytes", key.len())))?;
        let value_len = u32::try_from(value.len())
            .map_err(|_| corrupt(&self.path, format!("value of {} bytes", value.len())))?;
        self.write(&key_len.to_be_bytes())?;
        self.write(&value_len.to_be_bytes())?;
        self.write(key)?;
        self.write(value)?;
        self.pairs += 1;
        Ok(())
    }

    /// Writes the trailer and fsyncs the file; returns the number of pairs.
    pub fn finish(self) -> Result<u64, StoreError> {
        Ok(self.finish_hashed()?.0)
    }

    /// `finish`, also returning the trailer's SHA-256 (of every byte before it).
    pub fn finish_hashed(mut self) -> Result<(u64, [u8; 32]), StoreError> {
        self.write(&END.to_be_bytes())?;
        let pairs = self.pairs;
        self.write(&pairs.to_be_bytes())?;
        let hash: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        self.out
            .write_all(&hash)
            .map_err(|e| io_err(&self.path, e))?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| io_err(&self.path, e.into_error()))?;
        file.sync_all().map_err(|e| io_err(&self.path, e))?;
        Ok((pairs, hash))
    }
}

/// Calls `f` for every pair of the file at `path`, in order, then checks the
/// trailer. An error from the trailer arrives after `f` saw every pair: call
/// `verify` first when a half-applied file would do harm.
pub fn for_each_pair(
    path: &Path,
    f: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let file = File::open(path).map_err(|e| io_err(path, e))?;
    let input = BufReader::with_capacity(IO_BUFFER_BYTES, file);
    Ok(read_pairs(input, path, f)?.0)
}

/// `for_each_pair` over a reader positioned at a snapshot's first byte
/// (`path` names it in errors); returns the pairs and the trailer's hash.
pub fn read_pairs(
    mut input: impl Read,
    path: &Path,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<(u64, [u8; 32]), StoreError> {
    let mut hasher = Sha256::new();
    let mut read = |buf: &mut [u8], hasher: &mut Sha256| -> Result<(), StoreError> {
        input
            .read_exact(buf)
            .map_err(|e| corrupt(path, format!("truncated: {e}")))?;
        hasher.update(&*buf);
        Ok(())
    };
    let mut magic = vec![0u8; MAGIC.len()];
    read(&mut magic, &mut hasher)?;
    if magic != MAGIC {
        // The magic carries the file format's version (version.rs).
        return Err(corrupt(
            path,
            if magic.starts_with(b"raftflow-snapshot-v") {
                "written in a newer snapshot format than this binary reads (raftflow-snapshot-v1): run a newer raftflow"
            } else {
                "not a raftflow snapshot (bad magic)"
            },
        ));
    }
    let (mut key, mut value, mut pairs) = (Vec::new(), Vec::new(), 0u64);
    loop {
        let mut len = [0u8; 4];
        read(&mut len, &mut hasher)?;
        let key_len = u32::from_be_bytes(len);
        if key_len == END {
            break;
        }
        read(&mut len, &mut hasher)?;
        key.resize(key_len as usize, 0);
        value.resize(u32::from_be_bytes(len) as usize, 0);
        read(&mut key, &mut hasher)?;
        read(&mut value, &mut hasher)?;
        f(&key, &value)?;
        pairs += 1;
    }
    let mut count = [0u8; 8];
    read(&mut count, &mut hasher)?;
    let mut hash = [0u8; 32];
    input
        .read_exact(&mut hash)
        .map_err(|e| corrupt(path, format!("truncated trailer: {e}")))?;
    if u64::from_be_bytes(count) != pairs {
        return Err(corrupt(
            path,
            format!(
                "trailer counts {} pairs, file has {pairs}",
                u64::from_be_bytes(count)
            ),
        ));
    }
    if hasher.finalize().as_slice() != hash {
        return Err(corrupt(path, "checksum mismatch"));
    }
    Ok((pairs, hash))
}

/// Reads the whole file and checks its trailer; returns the number of pairs.
pub fn verify(path: &Path) -> Result<u64, StoreError> {
    for_each_pair(path, |_, _| Ok(()))
}

/// Makes a rename or a removal in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

/// openraft's snapshot data: an open file and where it lives. openraft reads
/// it in chunks to send it and writes received chunks into it.
pub struct SnapshotFile {
    pub(crate) file: tokio::fs::File,
    pub(crate) path: PathBuf,
}

impl SnapshotFile {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let file = File::open(path).map_err(|e| io_err(path, e))?;
        Ok(Self {
            file: tokio::fs::File::from_std(file),
            path: path.to_path_buf(),
        })
    }

    pub fn create(path: &Path) -> Result<Self, StoreError> {
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        Ok(Self {
            file: tokio::fs::File::from_std(file),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AsyncRead for SnapshotFile {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.file).poll_read(cx, buf)
    }
}

impl AsyncWrite for SnapshotFile {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.file).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.file).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.file).poll_shutdown(cx)
    }
}

impl AsyncSeek for SnapshotFile {
    fn start_seek(mut self: Pin<&mut Self>, position: std::io::SeekFrom) -> std::io::Result<()> {
        Pin::new(&mut self.file).start_seek(position)
    }

    fn poll_complete(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        Pin::new(&mut self.file).poll_complete(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pairs(path: &Path, pairs: &[(&[u8], &[u8])]) {
        let mut w = SnapshotWriter::create(path).unwrap();
        for (k, v) in pairs {
            w.push(k, v).unwrap();
        }
        assert_eq!(w.finish().unwrap(), pairs.len() as u64);
    }

    #[test]
    fn pairs_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.snap");
        write_pairs(&path, &[(b"a", b"1"), (b"b", b""), (b"c", &[7u8; 5000])]);
        let mut seen = Vec::new();
        let n = for_each_pair(&path, |k, v| {
            seen.push((k.to_vec(), v.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            seen,
            vec![
                (b"a".to_vec(), 1),
                (b"b".to_vec(), 0),
                (b"c".to_vec(), 5000)
            ]
        );
    }

    #[test]
    fn a_truncated_or_damaged_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.snap");
        write_pairs(&path, &[(b"key", b"value"), (b"other", b"thing")]);
        let bytes = std::fs::read(&path).unwrap();

        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let err = verify(&path).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");

        let mut flipped = bytes.clone();
        flipped[MAGIC.len() + 9] ^= 1; // a byte of the first key
        std::fs::write(&path, &flipped).unwrap();
        let err = verify(&path).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");

        std::fs::write(&path, b"hello").unwrap();
        assert!(verify(&path).is_err());
    }
}
