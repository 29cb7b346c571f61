//! `spike-openraft010 compat`: encodes openraft 0.9.25's persisted types
//! with bincode 2 in raftflow's configuration (what raftflow's log, vote
//! and snapshot metadata hold today) and decodes the bytes as 0.10's, to
//! see which formats the port may keep and which it must migrate.

use std::collections::{BTreeMap, BTreeSet};

use openraft::alias::{EntryOf, LogIdOf, StoredMembershipOf, VoteOf};
use std::io::Cursor;

use openraft09 as o9;

use crate::TypeConfig as C10;

o9::declare_raft_types!(
    pub C9:
        D = u64,
        R = u64,
        Node = o9::BasicNode,
);

fn roundtrip<A: serde::Serialize, B: serde::de::DeserializeOwned + std::fmt::Debug>(what: &str, old: &A) -> Option<B> {
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(old, config).expect("0.9 encodes");
    match bincode::serde::decode_from_slice::<B, _>(&bytes, config) {
        Ok((new, read)) if read == bytes.len() => {
            println!("{what}: {} bytes read back as {new:?}", bytes.len());
            Some(new)
        }
        Ok((new, read)) => {
            println!("{what}: only {read} of {} bytes read ({new:?})", bytes.len());
            None
        }
        Err(e) => {
            println!("{what}: does not read back: {e}");
            None
        }
    }
}

pub fn run() {
    let log_id = o9::LogId::new(o9::CommittedLeaderId::new(7, 2), 42);
    let l: Option<LogIdOf<C10>> = roundtrip("LogId", &log_id);
    assert!(l.is_none_or(|l| l.index == 42 && l.leader_id.term == 7 && l.leader_id.node_id == 2));
    let vote = o9::Vote::new_committed(7, 2u64);
    let v: Option<VoteOf<C10>> = roundtrip("Vote (committed)", &vote);
    assert!(v.is_none_or(|v| v.committed && v.leader_id.term == 7));
    let nodes: BTreeMap<u64, o9::BasicNode> = (1..=3).map(|i| (i, o9::BasicNode::new(format!("n{i}")))).collect();
    let voters: BTreeSet<u64> = (1..=3).collect();
    let membership = o9::Membership::new(vec![voters], nodes);
    let stored = o9::StoredMembership::new(Some(log_id), membership.clone());
    let _: Option<StoredMembershipOf<C10>> = roundtrip("StoredMembership", &stored.clone());
    let normal: o9::Entry<C9> = o9::Entry { log_id, payload: o9::EntryPayload::Normal(5u64) };
    let _: Option<EntryOf<C10>> = roundtrip("Entry (normal)", &normal);
    let change: o9::Entry<C9> = o9::Entry { log_id, payload: o9::EntryPayload::Membership(membership) };
    let _: Option<EntryOf<C10>> = roundtrip("Entry (membership)", &change);
    let meta: o9::SnapshotMeta<u64, o9::BasicNode> = o9::SnapshotMeta {
        last_log_id: Some(log_id),
        last_membership: stored,
        snapshot_id: "1-42".into(),
    };
    let _: Option<openraft::alias::SnapshotMetaOf<C10>> = roundtrip("SnapshotMeta", &meta);
    let blank: o9::Entry<C9> = o9::Entry { log_id, payload: o9::EntryPayload::Blank };
    let _: Option<EntryOf<C10>> = roundtrip("Entry (blank)", &blank);
}
