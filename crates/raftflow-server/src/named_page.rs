//! Reads of named records (schedules, triggers) shared by their services:
//! the consistency a read asks for, and one page by name off the applied
//! tables.

use raftflow_proto::v1::ReadConsistency;
use raftflow_store::{Db, StoreError};

use crate::cluster_service::linearizable_barrier;
use crate::error::ApiError;
use crate::node::NodeContext;

/// Waits for what the read asks: nothing for `Local`, else a linearizable barrier.
pub async fn barrier(ctx: &NodeContext, consistency: i32) -> Result<(), ApiError> {
    if consistency == ReadConsistency::Local as i32 {
        return Ok(());
    }
    linearizable_barrier(ctx).await
}

/// Up to `limit` records after `after` (0: 100; at most 1,000), and the
/// name to pass as `after` for the next page (empty on the last).
pub async fn read<T: Send + 'static>(
    ctx: &NodeContext,
    after: &str,
    limit: u32,
    list: fn(&Db, &str, usize) -> Result<Vec<T>, StoreError>,
    name: fn(&T) -> &str,
) -> Result<(Vec<T>, String), ApiError> {
    let limit = match limit {
        0 => 100,
        n => n.min(1000),
    } as usize;
    let reader = ctx.reader.clone();
    let from = after.to_string();
    let page = tokio::task::spawn_blocking(move || list(reader.db(), &from, limit))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::from)?;
    let next_after = match page.last() {
        Some(last) if page.len() == limit => name(last).to_string(),
        _ => String::new(),
    };
    Ok((page, next_after))
}
