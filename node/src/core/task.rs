//! Drives the core from network input and timers.

use anyhow::Result;
use tokio::{
    sync::{mpsc, watch},
    time::{sleep_until, Instant},
};

use super::{CommittedSubDag, Core, Effects};
use crate::network::{CoreMessage, Message, Network};

/// Most messages handled before the core ticks again.
const MAX_BATCH: usize = 512;

fn handle(core: &mut Core, message: CoreMessage, fx: &mut Effects) -> Result<()> {
    match message {
        CoreMessage::Block { from, block } => core.add_peer_block(from, block, fx)?,
        CoreMessage::Subscribe { from, after } => core.subscribe(from, after, fx),
        CoreMessage::Request { from, refs } => core.answer_request(from, &refs, fx),
        CoreMessage::SyncRequest { from } => core.answer_sync_request(from, fx),
        CoreMessage::SyncPoints { from, points } => core.receive_sync_points(from, points, fx)?,
    }
    Ok(())
}

async fn dispatch(
    fx: &mut Effects,
    network: &Network,
    commits: &mpsc::Sender<CommittedSubDag>,
) -> Result<()> {
    for block in fx.broadcast.drain(..) {
        network.broadcast_block(&block);
    }
    for (peer, blocks) in fx.replies.drain(..) {
        for b in blocks {
            network.send(peer, Message::Block(b.serialized().clone()));
        }
    }
    for (peer, job) in fx.catch_up.drain(..) {
        network.catch_up(peer, job);
    }
    if std::mem::take(&mut fx.sync_request) {
        network.broadcast(&Message::SyncRequest);
    }
    for (peer, points) in fx.sync_points.drain(..) {
        network.send(peer, Message::SyncPoints(points));
    }
    for (peer, refs) in fx.requests.drain(..) {
        network.send(peer, Message::Request(refs));
    }
    for c in fx.commits.drain(..) {
        commits
            .send(c)
            .await
            .map_err(|_| anyhow::anyhow!("commit observer stopped"))?;
    }
    Ok(())
}

/// Runs the core until `shutdown` turns true or its input closes; then syncs the WAL.
pub async fn run(
    mut core: Core,
    mut input: mpsc::Receiver<CoreMessage>,
    network: Network,
    commits: mpsc::Sender<CommittedSubDag>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let mut fx = Effects::default();
    loop {
        core.tick(&mut fx)?;
        core.flush_wal()?;
        dispatch(&mut fx, &network, &commits).await?;
        let wake = core.next_wakeup(Instant::now());
        tokio::select! {
            message = input.recv() => {
                let Some(message) = message else { break };
                handle(&mut core, message, &mut fx)?;
                for _ in 0..MAX_BATCH {
                    match input.try_recv() {
                        Ok(m) => handle(&mut core, m, &mut fx)?,
                        Err(_) => break,
                    }
                }
            }
            _ = sleep_until(wake) => {}
            _ = shutdown.changed() => break,
        }
    }
    core.sync_wal()?;
    tracing::info!(
        last_own_round = core.last_own_round(),
        last_committed_round = core.last_committed_round(),
        "core stopped, WAL synced"
    );
    Ok(())
}
