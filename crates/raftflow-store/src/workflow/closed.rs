//! Ended attempts (apply version 4 on): which report ended each, so that the
//! door can answer a worker that repeats the very report whose reply it lost
//! ("already applied") and tell it apart from a late or a different report.

use super::records::*;
use super::Workflows;
use crate::error::StoreError;

/// The first apply version that keeps closed attempts.
pub const CLOSED_ATTEMPTS_FROM: u32 = 4;

impl Workflows {
    pub(super) fn keeps_closed_attempts(&self) -> bool {
        self.apply_version >= CLOSED_ATTEMPTS_FROM
    }

    /// Records that `token` ended, and by which report (`None`: not by one).
    pub(super) fn record_closed(
        &mut self,
        token: &str,
        report: Option<[u8; 32]>,
    ) -> Result<(), StoreError> {
        if !self.keeps_closed_attempts() {
            return Ok(());
        }
        self.put(closed_key(token), &ClosedAttempt { report })
    }
}
