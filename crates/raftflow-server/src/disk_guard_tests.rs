use super::*;

fn config(min_free_mb: u64, quota_mb: u64) -> StorageConfig {
    StorageConfig {
        min_free_mb,
        quota_mb,
        check_interval_ms: 100,
    }
}

fn reading(free_mib: u64, data_mib: u64) -> Reading {
    Reading {
        free_bytes: free_mib * MIB,
        data_bytes: data_mib * MIB,
    }
}

#[test]
fn the_floor_raises_and_clears_with_a_margin() {
    let c = config(64, 0);
    assert_eq!(assess(&c, reading(64, 10), false), None);
    let why = assess(&c, reading(63, 10), false).expect("below the floor");
    assert!(
        why.contains("63 MiB free") && why.contains("storage.min_free_mb = 64"),
        "{why}"
    );
    // Back just above the floor is not enough once raised: 64 + 8 MiB is.
    assert!(assess(&c, reading(70, 10), true).is_some());
    assert_eq!(assess(&c, reading(72, 10), true), None);
}

#[test]
fn the_quota_raises_and_zero_turns_either_off() {
    let c = config(0, 80);
    assert_eq!(assess(&c, reading(0, 80), false), None, "no floor");
    let why = assess(&c, reading(1_000, 81), false).expect("above the quota");
    assert!(
        why.contains("81 MiB") && why.contains("storage.quota_mb = 80"),
        "{why}"
    );
    assert!(assess(&c, reading(1_000, 71), true).is_some());
    assert_eq!(assess(&c, reading(1_000, 70), true), None);
    assert_eq!(
        assess(&config(0, 0), reading(0, u64::MAX / MIB), false),
        None
    );
}

#[test]
fn the_door_names_the_node_short_of_space() {
    let guard = DiskGuard::new(config(1, 0), std::env::temp_dir());
    assert!(guard.admit_growth(1).is_ok());
    guard.record_member(3, Some("2 MiB free".into()));
    guard.record_member(2, None);
    let Err(ApiError::ResourceExhausted(message)) = guard.admit_growth(1) else {
        panic!("a member short of space must refuse growth");
    };
    assert!(
        message.contains("node 3") && message.contains("2 MiB free"),
        "{message}"
    );
    // A member's report about itself never overrides this node's own view.
    guard.record_member(1, Some("stale".into()));
    assert_eq!(
        guard.short_nodes(1).keys().copied().collect::<Vec<_>>(),
        vec![3]
    );
    guard.record_member(3, None);
    assert!(guard.admit_growth(1).is_ok());
}

#[test]
fn measuring_a_directory_sees_its_files_and_free_space() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), vec![0u8; 10_000]).unwrap();
    let reading = measure(dir.path()).unwrap();
    assert_eq!(reading.data_bytes, 10_000);
    assert!(reading.free_bytes > 0);
    let config = StorageConfig::default();
    assert!(config.validate().is_ok());
    let bad = StorageConfig {
        check_interval_ms: 0,
        ..config
    };
    assert_eq!(bad.validate().unwrap_err().0, "storage.check_interval_ms");
    let small = StorageConfig {
        min_free_mb: 64,
        ..StorageConfig::default()
    };
    assert_eq!(small.validate().unwrap_err().0, "storage.min_free_mb");
}
