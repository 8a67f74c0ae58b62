//! In-process load generator: fixed-size, timestamped transactions at a fixed rate.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::BytesMut;
use tokio::time::{interval, Instant, MissedTickBehavior};

use crate::{metrics::Metrics, pool::TransactionPool, transactions};

/// Microseconds since the UNIX epoch.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Load generator settings.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Transactions per second.
    pub rate: u64,
    /// Bytes per transaction (>= 16).
    pub transaction_size: usize,
    /// Time between batches.
    pub interval: Duration,
    /// Largest batch in bytes (a block must be able to hold one).
    pub max_batch_bytes: usize,
    /// Distinguishes this generator's counters from other validators'.
    pub authority: u32,
}

/// Submits transactions forever at the configured rate; what does not fit in the pool is
/// counted as rejected, never created.
pub async fn run(config: LoadConfig, pool: Arc<TransactionPool>, metrics: Arc<Metrics>) {
    if config.rate == 0 {
        return;
    }
    let size = config
        .transaction_size
        .max(transactions::MIN_TRANSACTION_SIZE);
    let encoded = transactions::encoded_size(size);
    let per_batch = (config.max_batch_bytes / encoded).max(1);
    let mut ticker = interval(config.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut counter: u64 = (config.authority as u64) << 40;
    loop {
        ticker.tick().await;
        let due = (start.elapsed().as_secs_f64() * config.rate as f64) as u64;
        let mut wanted = due.saturating_sub(sent) as usize;
        sent = due;
        while wanted > 0 {
            let n = wanted.min(per_batch);
            wanted -= n;
            let fit = (pool.free_bytes() / encoded).min(n);
            if fit < n {
                metrics.rejected_transactions.inc_by((n - fit) as u64);
            }
            if fit == 0 {
                continue;
            }
            let mut batch = BytesMut::with_capacity(fit * encoded);
            let now = now_micros();
            for _ in 0..fit {
                transactions::put_transaction(&mut batch, size, now, counter);
                counter += 1;
            }
            if pool.try_push(batch.freeze(), fit) {
                metrics.submitted_transactions.inc_by(fit as u64);
            } else {
                metrics.rejected_transactions.inc_by(fit as u64);
            }
        }
        metrics.pending_transactions.set(pool.len() as i64);
    }
}
