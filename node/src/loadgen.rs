//! In-process load generator: fixed-size, timestamped transactions at a fixed rate.

use std::{sync::Arc, time::Duration};

use bytes::BytesMut;
use tokio::time::{interval, Instant, MissedTickBehavior};

use crate::{metrics::Metrics, pool::TransactionPool, transactions};

/// Microseconds since the UNIX epoch.
pub fn now_micros() -> u64 {
    crate::world::unix_micros()
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
/// counted as rejected, never created. Each transaction carries the wall-clock time it was
/// due by the schedule, so a generator that runs late (a busy machine) does not hide the
/// delay from the latency measured at commit.
pub async fn run(config: LoadConfig, pool: Arc<TransactionPool>, metrics: Arc<Metrics>) {
    if config.rate == 0 {
        return;
    }
    let mut ticker = interval(config.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let start = Instant::now();
    let mut generator = Generator::new(&config);
    loop {
        ticker.tick().await;
        generator.submit_due(start.elapsed(), &pool, &metrics);
    }
}

/// The transactions of one generator: the schedule and what it submitted so far. The
/// simulator drives it directly, at the same interval.
pub struct Generator {
    rate: u64,
    size: usize,
    encoded: usize,
    per_batch: u64,
    start_micros: u64,
    sent: u64,
    counter: u64,
}

impl Generator {
    /// A generator whose schedule starts now.
    pub fn new(config: &LoadConfig) -> Self {
        let size = config
            .transaction_size
            .max(transactions::MIN_TRANSACTION_SIZE);
        let encoded = transactions::encoded_size(size);
        Self {
            rate: config.rate.max(1),
            size,
            encoded,
            per_batch: (config.max_batch_bytes / encoded).max(1) as u64,
            start_micros: now_micros(),
            sent: 0,
            counter: (config.authority as u64) << 40,
        }
    }

    /// Submits every transaction due `elapsed` after the start (each stamped with the time
    /// it was due), as far as the pool takes them; the rest are counted as rejected.
    pub fn submit_due(&mut self, elapsed: Duration, pool: &TransactionPool, metrics: &Metrics) {
        let due = (elapsed.as_secs_f64() * self.rate as f64) as u64;
        while self.sent < due {
            let n = (due - self.sent).min(self.per_batch);
            let fit = (pool.free_bytes() / self.encoded).min(n as usize) as u64;
            if fit < n {
                metrics.rejected_transactions.inc_by(n - fit);
            }
            if fit > 0 {
                let mut batch = BytesMut::with_capacity(fit as usize * self.encoded);
                for index in self.sent..self.sent + fit {
                    let due_micros =
                        self.start_micros + (index as u128 * 1_000_000 / self.rate as u128) as u64;
                    transactions::put_transaction(&mut batch, self.size, due_micros, self.counter);
                    self.counter += 1;
                }
                if pool.try_push(batch.freeze(), fit as usize) {
                    metrics.submitted_transactions.inc_by(fit);
                } else {
                    metrics.rejected_transactions.inc_by(fit);
                }
            }
            self.sent += n;
        }
        metrics.pending_transactions.set(pool.len() as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transactions::{submit_micros, Transactions};

    /// A generator held up for half a second (e.g. by a busy core) must stamp the
    /// transactions it then catches up with at the times they were due, not at the time it
    /// ran: otherwise the wait is missing from every latency it reports.
    #[tokio::test(start_paused = true)]
    async fn a_delayed_generator_stamps_transactions_when_they_were_due() {
        let pool = Arc::new(TransactionPool::new(10 * 1024 * 1024));
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        let config = LoadConfig {
            rate: 1000,
            transaction_size: 64,
            interval: Duration::from_millis(10),
            max_batch_bytes: 64 * 1024,
            authority: 0,
        };
        let generator = tokio::spawn(run(config, pool.clone(), metrics.clone()));
        tokio::task::yield_now().await;
        // The generator cannot run while the clock jumps 500 ms ahead.
        tokio::time::advance(Duration::from_millis(500)).await;
        tokio::task::yield_now().await;
        generator.abort();
        let (batches, count) = pool.take(usize::MAX);
        assert_eq!(count, 500, "every transaction due in 500 ms at 1000 tx/s");
        assert_eq!(metrics.rejected_transactions.get(), 0);
        let stamps: Vec<u64> = batches
            .iter()
            .flat_map(|b| {
                Transactions::new(b)
                    .filter_map(submit_micros)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(stamps.len(), 500);
        // One transaction per millisecond of the schedule, in order.
        for pair in stamps.windows(2) {
            assert_eq!(
                pair[1] - pair[0],
                1000,
                "stamps {pair:?} are not 1 ms apart"
            );
        }
    }
}
