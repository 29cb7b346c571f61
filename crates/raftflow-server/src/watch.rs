//! `WatchExecution`: a history stream served from this node's applied state.
//!
//! It wakes when an apply touched its execution (not on every apply: see
//! `raftflow_store::hub`), sends the events it has not sent, and ends once
//! the execution has finished and its last event went out. A client that
//! loses the stream (say, the node died) resumes elsewhere from its last id.

use futures::Stream;
use raftflow_proto::v1::HistoryEvent;
use raftflow_store::workflow::reads;
use raftflow_store::StateReader;
use tonic::Status;

use crate::messages::history_event;

pub fn stream(
    reader: StateReader,
    stopping: tokio::sync::watch::Receiver<bool>,
    execution_id: String,
    after: u64,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> impl Stream<Item = Result<HistoryEvent, Status>> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move {
        let _slot = slot; // given back when the stream ends, however it ends
        let changed = reader.watch_execution(&execution_id);
        let mut last = after;
        loop {
            let (r, id) = (reader.clone(), execution_id.clone());
            let page = tokio::task::spawn_blocking(move || {
                let record = reads::execution(r.db(), &id)?;
                let page = reads::history(r.db(), &id, Some(last), 1000, false)?;
                Ok::<_, raftflow_store::StoreError>((record, page))
            })
            .await;
            let (record, page) = match page {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                    return;
                }
            };
            let more = page.next.is_some();
            for event in page.items {
                last = event.id;
                if tx.send(Ok(history_event(event))).await.is_err() {
                    return; // the client went away
                }
            }
            let finished = record.is_some_and(|r| r.status != raftflow_core::Status::Running);
            if finished && !more {
                return;
            }
            if !more {
                tokio::select! {
                    () = changed.changed() => {}
                    () = tx.closed() => return, // the client went away
                    () = crate::node::wait_stop(stopping.clone()) => {
                        let gone = Status::unavailable(format!(
                            "the node is shutting down; watch again on another node after event {last}"
                        ));
                        let _ = tx.send(Err(gone)).await;
                        return;
                    }
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
