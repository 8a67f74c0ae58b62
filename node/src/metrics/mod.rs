//! Prometheus metrics of one validator (own registry, so several can share a process).

mod process;
mod server;

pub use server::{bind, serve, HEADER_TIMEOUT, MAX_CONNECTIONS, MAX_HEADER_BYTES, RENDER_INTERVAL};

use anyhow::Result;
use prometheus::{
    Counter, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry,
};

/// Latency buckets (seconds): fine enough for p50/p90/p99 between 10 ms and 30 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.125, 0.15, 0.175, 0.2, 0.225,
    0.25, 0.275, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5,
    3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0,
];

/// Every metric the validator exports.
pub struct Metrics {
    /// The registry served on `/metrics`.
    pub registry: Registry,
    /// Transactions in committed sub-DAGs.
    pub committed_transactions: IntCounter,
    /// Bytes of committed transactions.
    pub committed_bytes: IntCounter,
    /// Submit-to-commit latency.
    pub transaction_latency: Histogram,
    /// Decided leader slots by decision.
    pub committed_leaders: IntCounterVec,
    /// Threshold-clock round.
    pub current_round: IntGauge,
    /// Round of the last committed leader.
    pub last_committed_round: IntGauge,
    /// Leaders committed since genesis (continues across restarts).
    pub commit_index: IntGauge,
    /// Own blocks proposed.
    pub blocks_proposed: IntCounter,
    /// Valid blocks received from peers.
    pub blocks_received: IntCounter,
    /// Blocks from peers that failed verification.
    pub invalid_blocks: IntCounter,
    /// Block references requested from peers.
    pub missing_block_requests: IntCounter,
    /// Proposals made after the leader timeout fired.
    pub leader_timeouts: IntCounter,
    /// Seconds since the validator started.
    pub benchmark_duration: Counter,
    /// Transactions accepted from the load generator.
    pub submitted_transactions: IntCounter,
    /// Transactions the load generator could not submit (backpressure).
    pub rejected_transactions: IntCounter,
    /// Transactions waiting to be proposed.
    pub pending_transactions: IntGauge,
    /// Bytes appended to the WAL.
    pub wal_bytes: IntCounter,
    /// Messages dropped because a peer's send queue was full.
    pub dropped_messages: IntCounter,
    /// Blocks waiting for missing ancestors.
    pub suspended_blocks: IntGauge,
    /// Blocks of an (author, round) that already had one: evidence of equivocation.
    pub equivocations: IntCounter,
    /// Valid blocks not kept, by reason (see [`DROP_REASONS`]).
    pub dropped_blocks: IntCounterVec,
    /// Time the core spends handing WAL records to the OS (write calls).
    pub wal_write_seconds: Histogram,
    /// Time the core spends waiting for WAL fsyncs (before broadcasting own blocks).
    pub wal_sync_seconds: Histogram,
    /// Connections closed before or during authentication, by reason.
    pub connections_refused: IntCounterVec,
    /// Authenticated peers' connections closed by this validator, by reason.
    pub peer_disconnects: IntCounterVec,
    /// Inbound connections in their handshake.
    pub unauthenticated_connections: IntGauge,
    /// Catch-up jobs dropped because the peer's catch-up queue was full.
    pub catch_up_dropped: IntCounter,
    /// Connections to the metrics port being served.
    pub metrics_connections: IntGauge,
    /// Connections to the metrics port closed by this validator, by reason.
    pub metrics_connections_closed: IntCounterVec,
    /// Times the registry was encoded for `/metrics`.
    pub metrics_renders: IntCounter,
    /// Connections refused, or accepts failed, because descriptors ran short.
    pub descriptor_shortages: IntCounter,
    /// Sync points installed (jumps after a long absence).
    pub state_syncs: IntCounter,
    /// Bytes of frames written to peers after their handshakes.
    pub sent_bytes: IntCounter,
    /// Messages a scheduled network fault held back or slowed.
    pub fault_held_messages: IntCounter,
    /// Time from a block's creation (its author's clock) to its arrival from its author,
    /// by author.
    pub block_delay: HistogramVec,
}

/// Buckets (seconds) of block delays: 5 ms steps to 200 ms, then coarser to 10 s.
pub const BLOCK_DELAY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.055, 0.06, 0.065, 0.07,
    0.075, 0.08, 0.085, 0.09, 0.095, 0.1, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.17, 0.18, 0.19,
    0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0,
];

/// Why a valid block was not kept: its author's share of the causal buffer is full (the
/// highest rounds go first), it is too many rounds ahead, its (author, round) already holds
/// enough equivocating blocks, or it references a pruned block this validator never held.
pub const DROP_REASONS: &[&str] = &[
    "buffer-full",
    "too-far-ahead",
    "equivocation",
    "stale-include",
];

/// Why a connection was closed before or during authentication (see `network::handshake`).
pub const REFUSAL_REASONS: &[&str] = &[
    "limit",
    "descriptors",
    "timeout",
    "closed",
    "malformed",
    "bad-signature",
    "cooling-down",
];

/// Why this validator closed a metrics connection: every slot taken or descriptors short
/// (at once), no complete request header in time (idle connections too), a header over
/// the size limit, a request that is not HTTP/1.
pub const METRICS_CLOSE_REASONS: &[&str] =
    &["limit", "descriptors", "timeout", "too-large", "malformed"];

/// Why this validator closed an authenticated peer's connection.
pub const DISCONNECT_REASONS: &[&str] = &["invalid-block", "malformed", "idle", "replaced"];

fn counter(registry: &Registry, name: &str, help: &str) -> Result<IntCounter> {
    let c = IntCounter::new(name, help)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

/// Buckets (seconds) for WAL write and fsync times: 10 us .. 5 s.
const IO_BUCKETS: &[f64] = &[
    0.00001, 0.00003, 0.0001, 0.0003, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0,
    2.0, 5.0,
];

fn io_histogram(registry: &Registry, name: &str, help: &str) -> Result<Histogram> {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(IO_BUCKETS.to_vec()))?;
    registry.register(Box::new(h.clone()))?;
    Ok(h)
}

fn reasons(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), &["reason"])?;
    registry.register(Box::new(c.clone()))?;
    for label in labels {
        c.with_label_values(&[label]);
    }
    Ok(c)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Result<IntGauge> {
    let g = IntGauge::new(name, help)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

impl Metrics {
    /// Creates and registers every metric, plus the process collector (CPU, memory).
    pub fn new() -> Result<Self> {
        let registry = Registry::new();
        registry.register(Box::new(process::ProcessMetrics::new()?))?;
        let transaction_latency = Histogram::with_opts(
            HistogramOpts::new(
                "node_transaction_latency_seconds",
                "Submit-to-commit latency of transactions",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(transaction_latency.clone()))?;
        let committed_leaders = IntCounterVec::new(
            Opts::new(
                "node_committed_leaders_total",
                "Decided leader slots by decision",
            ),
            &["decision"],
        )?;
        registry.register(Box::new(committed_leaders.clone()))?;
        for label in [
            "direct-commit",
            "indirect-commit",
            "direct-skip",
            "indirect-skip",
        ] {
            committed_leaders.with_label_values(&[label]);
        }
        let dropped_blocks = IntCounterVec::new(
            Opts::new(
                "node_dropped_blocks_total",
                "Valid blocks not kept, by reason",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(dropped_blocks.clone()))?;
        for reason in DROP_REASONS {
            dropped_blocks.with_label_values(&[reason]);
        }
        let benchmark_duration = Counter::new(
            "node_benchmark_duration_seconds",
            "Seconds since the validator started",
        )?;
        registry.register(Box::new(benchmark_duration.clone()))?;
        let block_delay = HistogramVec::new(
            HistogramOpts::new(
                "node_block_delay_seconds",
                "Time from a block's creation (its author's clock) to its arrival from its author",
            )
            .buckets(BLOCK_DELAY_BUCKETS.to_vec()),
            &["author"],
        )?;
        registry.register(Box::new(block_delay.clone()))?;
        let r = &registry;
        Ok(Self {
            committed_transactions: counter(
                r,
                "node_committed_transactions_total",
                "Transactions in committed sub-DAGs",
            )?,
            committed_bytes: counter(
                r,
                "node_committed_bytes_total",
                "Bytes of committed transactions",
            )?,
            transaction_latency,
            committed_leaders,
            current_round: gauge(r, "node_current_round", "Current round")?,
            last_committed_round: gauge(
                r,
                "node_last_committed_round",
                "Round of the last committed leader",
            )?,
            commit_index: gauge(
                r,
                "node_commit_index",
                "Leaders committed since genesis (restored from the WAL after a restart)",
            )?,
            blocks_proposed: counter(r, "node_blocks_proposed_total", "Own blocks proposed")?,
            blocks_received: counter(
                r,
                "node_blocks_received_total",
                "Valid blocks received from peers",
            )?,
            invalid_blocks: counter(
                r,
                "node_invalid_blocks_total",
                "Blocks from peers that failed verification",
            )?,
            missing_block_requests: counter(
                r,
                "node_missing_block_requests_total",
                "Block references requested from peers",
            )?,
            leader_timeouts: counter(
                r,
                "node_leader_timeouts_total",
                "Proposals made after the leader timeout",
            )?,
            benchmark_duration,
            submitted_transactions: counter(
                r,
                "node_submitted_transactions_total",
                "Transactions accepted from the load generator",
            )?,
            rejected_transactions: counter(
                r,
                "node_rejected_transactions_total",
                "Transactions not submitted because of backpressure",
            )?,
            pending_transactions: gauge(
                r,
                "node_pending_transactions",
                "Transactions waiting to be proposed",
            )?,
            wal_bytes: counter(r, "node_wal_bytes_total", "Bytes appended to the WAL")?,
            dropped_messages: counter(
                r,
                "node_dropped_messages_total",
                "Messages dropped because a peer's send queue was full",
            )?,
            suspended_blocks: gauge(
                r,
                "node_suspended_blocks",
                "Blocks waiting for missing ancestors",
            )?,
            equivocations: counter(
                r,
                "node_equivocations_total",
                "Blocks of an (author, round) that already had one",
            )?,
            dropped_blocks,
            wal_write_seconds: io_histogram(
                r,
                "node_wal_write_seconds",
                "Time spent handing WAL records to the OS",
            )?,
            wal_sync_seconds: io_histogram(
                r,
                "node_wal_sync_seconds",
                "Time spent waiting for WAL fsyncs",
            )?,
            connections_refused: reasons(
                r,
                "node_connections_refused_total",
                "Connections closed before or during peer authentication",
                REFUSAL_REASONS,
            )?,
            peer_disconnects: reasons(
                r,
                "node_peer_disconnects_total",
                "Authenticated peer connections closed by this validator",
                DISCONNECT_REASONS,
            )?,
            unauthenticated_connections: gauge(
                r,
                "node_unauthenticated_connections",
                "Inbound connections in their handshake",
            )?,
            catch_up_dropped: counter(
                r,
                "node_catch_up_dropped_total",
                "Catch-up jobs dropped because the peer's catch-up queue was full",
            )?,
            metrics_connections: gauge(
                r,
                "node_metrics_connections",
                "Connections to the metrics port being served",
            )?,
            metrics_connections_closed: reasons(
                r,
                "node_metrics_connections_closed_total",
                "Connections to the metrics port closed by this validator, by reason",
                METRICS_CLOSE_REASONS,
            )?,
            metrics_renders: counter(
                r,
                "node_metrics_renders_total",
                "Times the registry was encoded for /metrics",
            )?,
            descriptor_shortages: counter(
                r,
                "node_descriptor_shortages_total",
                "Connections refused, or accepts failed, because file descriptors ran short",
            )?,
            state_syncs: counter(
                r,
                "node_state_syncs_total",
                "Sync points installed: jumps to the committee's recent state after an absence \
                 longer than peers can serve block by block",
            )?,
            sent_bytes: counter(
                r,
                "node_sent_bytes_total",
                "Bytes of frames written to peers after their handshakes",
            )?,
            fault_held_messages: counter(
                r,
                "node_fault_held_messages_total",
                "Messages a scheduled network fault (partition, flapping link, slow validator) \
                 held back or slowed",
            )?,
            block_delay,
            registry,
        })
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        use prometheus::Encoder;
        let mut out = Vec::new();
        if let Err(e) = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!("cannot encode metrics: {e}");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}
