//! Wires one validator together: WAL, core, network, load generator, metrics.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64},
        Arc,
    },
    time::Duration,
};

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

use crate::{
    byzantine::{self, Behaviour},
    commit_log::CommitLog,
    committee::{AuthorityIndex, Committee},
    core::{self, Core, CoreConfig},
    loadgen::{self, LoadConfig},
    metrics::{self, Metrics},
    network::{self, Network},
    observer::{self, CommitRecord, CommitSummary},
    parameters::Parameters,
    pool::TransactionPool,
    wal::{Owner, Wal},
};

/// How to run one validator.
#[derive(Clone)]
pub struct ValidatorConfig {
    /// Index in the committee.
    pub authority: AuthorityIndex,
    /// The committee.
    pub committee: Arc<Committee>,
    /// Parameters.
    pub parameters: Parameters,
    /// Secret key (must match the committee's public key).
    pub key: SigningKey,
    /// WAL directory.
    pub storage: PathBuf,
    /// Load generator rate (tx/s, 0 = none).
    pub load: u64,
    /// Load generator transaction size.
    pub transaction_size: usize,
    /// Emulated one-way delay to each authority (None = no emulation).
    pub delays: Option<Vec<Duration>>,
    /// Serve `/metrics` on the committee's metrics address.
    pub serve_metrics: bool,
    /// Listen on every interface at the committee's ports instead of on the committee's
    /// addresses (on clouds the public address is not on the instance's interface).
    pub bind_all: bool,
    /// Keep every commit in memory (tests).
    pub record_commits: bool,
    /// The commit log file (see [`crate::commit_log`]); `None`: `commits.csv` in the storage
    /// directory.
    pub commit_log: Option<PathBuf>,
    /// Tests of the safety audit only: from this commit index on, commit sub-DAGs in reverse
    /// order (a fork of the committed sequence).
    pub plant_fork_at: Option<u64>,
    /// A Byzantine behaviour (benchmarks only: this validator attacks the others).
    pub byzantine: Option<Behaviour>,
}

/// A running validator.
pub struct Validator {
    core: JoinHandle<Result<()>>,
    /// Ends after the core, once it has handled every commit.
    observer: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
    metrics: Arc<Metrics>,
    commits: Option<CommitRecord>,
}

impl ValidatorConfig {
    /// Checks the index and that the key belongs to it.
    pub fn validate(&self) -> Result<()> {
        let Some(me) = self.committee.authority(self.authority) else {
            bail!(
                "authority index {} is out of range: the committee has {} members",
                self.authority,
                self.committee.size()
            );
        };
        if me.public_key != self.key.verifying_key() {
            bail!(
                "the private key does not match the committee's public key of authority {}",
                self.authority
            );
        }
        if let Some(d) = &self.delays {
            if d.len() != self.committee.size() {
                bail!("latency emulation needs one delay per authority");
            }
        }
        if self.parameters.leaders_per_round > self.committee.size() {
            bail!(
                "leaders_per_round ({}) is larger than the committee ({} validators)",
                self.parameters.leaders_per_round,
                self.committee.size()
            );
        }
        let encoded = crate::transactions::encoded_size(self.transaction_size);
        if self.load > 0 && encoded > self.parameters.max_block_bytes {
            bail!(
                "a {}-byte transaction does not fit in a block (max_block_bytes = {})",
                self.transaction_size,
                self.parameters.max_block_bytes
            );
        }
        self.parameters.validate()
    }

    /// Where to listen for a committee address: itself, or the same port on every interface
    /// with `bind_all`.
    pub fn listen_address(&self, address: SocketAddr) -> SocketAddr {
        if !self.bind_all {
            return address;
        }
        let any = match address.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        SocketAddr::new(any, address.port())
    }

    /// Where the commit log goes.
    pub fn commit_log_path(&self) -> PathBuf {
        self.commit_log
            .clone()
            .unwrap_or_else(|| self.storage.join("commits.csv"))
    }
}

impl Validator {
    /// Replays the WAL, binds the ports and starts every task.
    pub async fn start(config: ValidatorConfig) -> Result<Self> {
        config.validate()?;
        let me = config.authority;
        let committee = config.committee.clone();
        let params = config.parameters.clone();
        let metrics = Arc::new(Metrics::new()?);
        let pool = Arc::new(TransactionPool::new(params.max_pending_bytes));
        let peer_rounds: Arc<Vec<AtomicU64>> =
            Arc::new((0..committee.size()).map(|_| AtomicU64::new(0)).collect());
        let connected: Arc<Vec<AtomicBool>> = Arc::new(
            (0..committee.size())
                .map(|_| AtomicBool::new(false))
                .collect(),
        );

        let owner = Owner::new(&committee, me, &config.key.verifying_key());
        let (wal, records) = Wal::open(&config.storage, params.wal_segment_bytes, owner)
            .with_context(|| format!("cannot open the WAL in {}", config.storage.display()))?;
        let core = Core::new(
            CoreConfig {
                authority: me,
                committee: committee.clone(),
                parameters: params.clone(),
                key: config.key.clone(),
                pool: pool.clone(),
                metrics: metrics.clone(),
                peer_rounds: peer_rounds.clone(),
                connected: connected.clone(),
                plant_fork_at: config.plant_fork_at,
                byzantine: config.byzantine,
            },
            wal,
            records,
        )?;
        let commit_log = CommitLog::open(&config.commit_log_path())?;

        let mut tasks = Vec::new();
        let address = committee
            .authority(me)
            .context("authority out of range")?
            .address;
        let listener = network::bind(config.listen_address(address)).await?;
        if config.serve_metrics {
            let metrics_address = committee
                .authority(me)
                .context("authority out of range")?
                .metrics_address;
            let metrics_listener = metrics::bind(config.listen_address(metrics_address)).await?;
            tasks.push(tokio::spawn(metrics::serve(
                metrics_listener,
                metrics.clone(),
            )));
        }
        let identity = Arc::new(network::handshake::Identity {
            me,
            key: config.key.clone(),
            committee: committee.clone(),
        });
        let (core_tx, core_rx) = mpsc::channel(4096);
        tasks.push(tokio::spawn(network::listen(
            listener,
            identity.clone(),
            network::Limits::new(&params),
            core_tx,
            metrics.clone(),
        )));
        let mut queues = Vec::new();
        for (peer, authority) in committee.authorities() {
            if peer == me {
                queues.push(None);
                continue;
            }
            let (tx, rx) = mpsc::channel(params.peer_queue_capacity);
            let (jobs_tx, jobs_rx) = mpsc::channel(network::CATCH_UP_JOBS);
            let (catch_up_tx, catch_up_rx) = mpsc::channel(network::CATCH_UP_BLOCKS);
            queues.push(Some(network::PeerQueues {
                messages: tx,
                catch_up: jobs_tx,
            }));
            tasks.push(tokio::spawn(network::serve_catch_up(
                peer,
                jobs_rx,
                catch_up_tx,
            )));
            let delay = config
                .delays
                .as_ref()
                .and_then(|d| d.get(peer as usize).copied())
                .unwrap_or_default();
            tasks.push(tokio::spawn(network::run_peer(network::PeerLink {
                identity: identity.clone(),
                peer,
                address: authority.address,
                queue: rx,
                catch_up: catch_up_rx,
                delay,
                subscribe_from: peer_rounds.clone(),
                connected: connected.clone(),
                handshake_timeout: params.handshake_timeout(),
                keepalive_interval: params.keepalive_interval(),
                metrics: metrics.clone(),
            })));
        }
        let net = Network::new(queues, metrics.clone());
        if config.byzantine == Some(Behaviour::Spam) {
            tasks.push(tokio::spawn(byzantine::spam(
                me,
                committee.clone(),
                config.key.clone(),
                net.clone(),
                metrics.clone(),
            )));
        }
        if let Some(mode) = config.byzantine {
            tracing::warn!(
                authority = me,
                "Byzantine behaviour `{mode}`: this validator attacks the others"
            );
        }

        let commits = config
            .record_commits
            .then(|| CommitRecord::new(Default::default()));
        let (commit_tx, commit_rx) = mpsc::channel(1024);
        let observer = tokio::spawn(observer::run(
            commit_rx,
            metrics.clone(),
            commits.clone(),
            Some(commit_log),
        ));
        if config.load > 0 {
            tasks.push(tokio::spawn(loadgen::run(
                LoadConfig {
                    rate: config.load,
                    transaction_size: config.transaction_size,
                    interval: Duration::from_millis(params.load_interval_ms),
                    max_batch_bytes: (params.max_block_bytes / 4).max(1024),
                    authority: me,
                },
                pool,
                metrics.clone(),
            )));
        }
        let m = metrics.clone();
        tasks.push(tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut reported = 0.0;
            let mut ticker = tokio::time::interval(Duration::from_millis(500));
            loop {
                ticker.tick().await;
                let now = start.elapsed().as_secs_f64();
                m.benchmark_duration.inc_by(now - reported);
                reported = now;
            }
        }));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let core = tokio::spawn(core::run(core, core_rx, net, commit_tx, shutdown_rx));
        tracing::info!(authority = me, %address, "validator started");
        Ok(Self {
            core,
            observer,
            tasks,
            shutdown,
            metrics,
            commits,
        })
    }

    /// The validator's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Commits so far (empty unless `record_commits`).
    pub fn commits(&self) -> Vec<CommitSummary> {
        self.commits.as_ref().map_or_else(Vec::new, |c| {
            c.lock().unwrap_or_else(|p| p.into_inner()).clone()
        })
    }

    /// The shared commit record (`None` unless `record_commits`): it stays readable after
    /// the validator stops.
    pub fn commit_record(&self) -> Option<CommitRecord> {
        self.commits.clone()
    }

    /// Waits until the core stops on its own (an error, or its input closed).
    pub async fn wait(&mut self) -> Result<()> {
        (&mut self.core).await.context("core task failed")?
    }

    /// Clean stop: the core syncs its WAL, the observer handles the last commits and writes
    /// the last one to the commit log, then every task ends.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        let result = self.core.await;
        // The core dropped its commit sender: the observer drains the channel and ends.
        let _ = self.observer.await;
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        result.context("core task failed")?
    }

    /// Crash: every task is dropped at once, unflushed WAL data is lost.
    pub async fn kill(self) {
        self.core.abort();
        self.observer.abort();
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.core.await;
        let _ = self.observer.await;
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
