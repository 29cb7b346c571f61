//! What travels on the Raft port where openraft 0.10 changed a message:
//! kept byte for byte as openraft 0.9.25 sent it, because a rolling upgrade
//! runs both releases in one cluster (bincode has no optional fields, and
//! `codec::decode` refuses trailing bytes).

use openraft::errors::RaftError;
use openraft::raft::VoteRequest;
use raftflow_store::types::{LogId, SnapshotMeta, StoredMembership, Vote};
use raftflow_store::{codec, StoreError, TypeConfig};
use serde::{Deserialize, Serialize};

/// 0.9's VoteRequest. 0.10 added `leadership_transfer`; a 0.9 node refuses
/// the longer form, so it is sent only when the flag is set.
#[derive(Serialize, Deserialize)]
struct VoteRequest09 {
    vote: Vote,
    last_log_id: Option<LogId>,
}

pub fn encode_vote(rpc: &VoteRequest<TypeConfig>) -> Result<Vec<u8>, StoreError> {
    if rpc.leadership_transfer {
        return codec::encode(rpc);
    }
    codec::encode(&VoteRequest09 {
        vote: rpc.vote,
        last_log_id: rpc.last_log_id,
    })
}

pub fn decode_vote(bytes: &[u8]) -> Result<VoteRequest<TypeConfig>, StoreError> {
    match codec::decode::<VoteRequest<TypeConfig>>(bytes) {
        Ok(rpc) => Ok(rpc),
        Err(_) => {
            let old: VoteRequest09 = codec::decode(bytes)?;
            Ok(VoteRequest::new(old.vote, old.last_log_id))
        }
    }
}

/// One chunk of a snapshot, laid out as 0.9's InstallSnapshotRequest: the
/// metadata (with the 0.9 snapshot id, which names the transfer), where the
/// chunk starts in the file, its bytes, and whether it is the last.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotChunk {
    pub vote: Vote,
    pub last_log_id: Option<LogId>,
    pub last_membership: StoredMembership,
    pub snapshot_id: String,
    pub offset: u64,
    pub data: Vec<u8>,
    pub done: bool,
}

impl SnapshotChunk {
    pub fn meta(&self) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: self.last_log_id,
            last_membership: self.last_membership.clone(),
        }
    }
}

/// 0.9's InstallSnapshotResponse: the receiver's vote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotAck {
    pub vote: Vote,
}

/// Every reply's payload: the response, or the receiver's Raft error.
pub type Reply<T> = Result<T, RaftError<TypeConfig>>;

#[cfg(test)]
mod tests {
    use super::*;
    use raftflow_store::types::log_id;

    #[test]
    fn a_vote_request_travels_in_the_0_9_layout_unless_it_transfers_leadership() {
        let mut rpc = VoteRequest::<TypeConfig>::new(Vote::new(7, 2), Some(log_id(6, 1, 40)));
        let bytes = encode_vote(&rpc).unwrap();
        let old: VoteRequest09 = codec::decode(&bytes).expect("a 0.9 node reads it");
        assert_eq!((old.vote, old.last_log_id), (rpc.vote, rpc.last_log_id));
        assert_eq!(decode_vote(&bytes).unwrap(), rpc);

        rpc.leadership_transfer = true;
        let bytes = encode_vote(&rpc).unwrap();
        assert!(codec::decode::<VoteRequest09>(&bytes).is_err());
        assert_eq!(decode_vote(&bytes).unwrap(), rpc);
    }
}
