//! What to answer a task report that apply refused as stale: its attempt is
//! not open. Decided at the door, after apply, from the replicated record
//! of how the attempt ended (apply version 4 on), so apply itself stays as
//! it was:
//!
//! | the attempt                                  | answer                                   |
//! |----------------------------------------------|------------------------------------------|
//! | ended by this very report (reply was lost)    | success, `already_applied = true`        |
//! | ended otherwise (timeout, other report, stop) | `FAILED_PRECONDITION` TaskTimedOut       |
//! | never existed: its execution does not either  | `NOT_FOUND` TaskDoesNotExist             |

use raftflow_store::records::{report_digest, ClosedAttempt, Report};
use raftflow_store::workflow::reads;

use crate::error::ApiError;
use crate::node::NodeContext;

/// A stale report that turned out to be a repeat of the one that ended the
/// attempt.
pub struct AlreadyApplied;

/// Classifies a refused report on `token` (the attempt, no epoch).
pub async fn classify(
    ctx: &NodeContext,
    token: &str,
    report: Option<Report<'_>>,
    message: String,
) -> Result<AlreadyApplied, ApiError> {
    let digest = report.as_ref().map(report_digest);
    let execution = token.rsplit_once('#').map_or(token, |(e, _)| e).to_string();
    let (reader, key) = (ctx.reader.clone(), token.to_string());
    let (closed, exists) = tokio::task::spawn_blocking(move || {
        let closed = reads::closed_attempt(reader.db(), &key)?;
        let exists = reads::execution(reader.db(), &execution)?.is_some();
        Ok::<_, raftflow_store::StoreError>((closed, exists))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    match closed {
        Some(ClosedAttempt { report: Some(ended_by) }) if Some(ended_by) == digest => {
            Ok(AlreadyApplied)
        }
        Some(ClosedAttempt { report: Some(_) }) => Err(ApiError::TaskTimedOut(format!(
            "the attempt already ended with another report ({message})"
        ))),
        Some(ClosedAttempt { report: None }) => Err(ApiError::TaskTimedOut(format!(
            "the attempt already ended: it timed out, or its execution moved on or stopped ({message})"
        ))),
        None if !exists => Err(ApiError::TaskDoesNotExist(format!(
            "task token `{}` names no execution (never started, or removed after its retention)",
            token.escape_debug()
        ))),
        None => Err(ApiError::TaskTimedOut(message)),
    }
}
