//! What a log entry carries: a versioned envelope around a batch of commands.
//!
//! bincode encodes an enum variant by its position, so variants are only ever
//! appended, never reordered or removed: entries written today must decode
//! after the command set grows. `Envelope::V1` is the format version.

use serde::{Deserialize, Serialize};

/// One log entry's application payload: commands gathered by the leader's
/// proposer into a single entry, so that one fsync commits many of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Envelope {
    V1(Vec<Command>),
}

impl Envelope {
    pub fn commands(&self) -> &[Command] {
        match self {
            Envelope::V1(commands) => commands,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// A diagnostic write: stores `value` under `key` in the probe table.
    Probe { key: String, value: Vec<u8> },
}

/// One result per command of the envelope, in the same order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeResult {
    pub results: Vec<CommandResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CommandResult {
    Probe { log_index: u64 },
}
