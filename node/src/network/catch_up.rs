//! Serving catch-up (subscription replies, blocks pruned from memory) outside the core: one
//! task per peer reads what the core located in the WAL and feeds the peer's writer, which
//! sends it when it has no real-time message. Each peer gets at most [`CATCH_UP_JOBS`] jobs
//! waiting; further ones are dropped (the peer asks again), so a peer that asks for more than
//! it reads costs bounded memory and never fills its real-time queue.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Message, Outgoing};
use crate::{
    block::{Block, BlockPtr, BlockRef},
    committee::AuthorityIndex,
    wal::BlockLocation,
};

/// Catch-up jobs waiting per peer.
pub const CATCH_UP_JOBS: usize = 2;

/// Catch-up blocks waiting for a peer's writer.
pub const CATCH_UP_BLOCKS: usize = 16;

/// Blocks read from the WAL in one blocking call.
const READ_BATCH: usize = 16;

/// Where one block to send comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Held in memory.
    Stored(BlockPtr),
    /// In the WAL only.
    Logged(BlockRef, BlockLocation),
}

/// Blocks to send one peer, in order.
#[derive(Debug, Default)]
pub struct CatchUp(pub Vec<Source>);

/// Reads logged blocks, checking that the bytes are the block wanted (a segment may have
/// been deleted or replaced since it was located).
fn read_logged(batch: Vec<(BlockRef, BlockLocation)>) -> Vec<Option<BlockPtr>> {
    batch
        .into_iter()
        .map(|(r, location)| match location.read() {
            Ok(bytes) => match Block::parse(bytes) {
                Ok(b) if b.reference() == r => Some(Arc::new(b)),
                _ => None,
            },
            Err(e) => {
                tracing::debug!("cannot read {r:?} from the WAL: {e:#}");
                None
            }
        })
        .collect()
}

/// Serves `peer`'s catch-up jobs into `out` until either side closes.
pub async fn serve(
    peer: AuthorityIndex,
    mut jobs: mpsc::Receiver<CatchUp>,
    out: mpsc::Sender<Outgoing>,
) {
    while let Some(CatchUp(sources)) = jobs.recv().await {
        for chunk in sources.chunks(READ_BATCH) {
            let logged: Vec<_> = chunk
                .iter()
                .filter_map(|s| match s {
                    Source::Logged(r, l) => Some((*r, l.clone())),
                    Source::Stored(_) => None,
                })
                .collect();
            let mut read = if logged.is_empty() {
                Vec::new()
            } else {
                match tokio::task::spawn_blocking(move || read_logged(logged)).await {
                    Ok(blocks) => blocks,
                    Err(e) => {
                        tracing::warn!(peer, "catch-up read failed: {e}");
                        return;
                    }
                }
            }
            .into_iter();
            for source in chunk {
                let block = match source {
                    Source::Stored(b) => Some(b.clone()),
                    Source::Logged(..) => read.next().flatten(),
                };
                let Some(block) = block else { continue };
                let message = Message::Block(block.serialized().clone());
                if out.send(Outgoing::new(message)).await.is_err() {
                    return;
                }
            }
        }
    }
}
