//! openraft's own storage test suite, run against the RocksDB stores.

use openraft::testing::log::{StoreBuilder, Suite};
use openraft::StorageError;
use raftflow_store::{LogStore, StateMachineStore, TypeConfig};
use tempfile::TempDir;

struct RocksBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for RocksBuilder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore, StateMachineStore), StorageError<TypeConfig>> {
        let dir = TempDir::new().expect("temp dir");
        let (log, sm) = raftflow_store::open(dir.path()).expect("open store");
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite() {
    if let Err(e) = Suite::test_all(RocksBuilder).await {
        panic!("the RocksDB stores fail openraft's storage suite: {e}");
    }
}

mod crash;
