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
    descriptors,
    loadgen::{self, LoadConfig},
    metrics::{self, Metrics},
    network::{self, Network},
    observer::{self, CommitRecord, CommitSummary},
    parameters::Parameters,
    pool::TransactionPool,
    storage_lock::StorageLock,
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
    /// The emulated network: delays, jitter, loss, egress cap, scheduled faults (None: none).
    pub network: Option<network::EmulationConfig>,
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
        if let Some(emulation) = &self.network {
            if emulation.outbound.size() != self.committee.size() {
                bail!("the network emulation needs one link per validator");
            }
            if let Err(e) = emulation
                .outbound
                .faults()
                .check_committee(self.committee.size())
            {
                bail!("{e}");
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

/// State the core shares with the network, the load generator and the metrics.
struct Shared {
    metrics: Arc<Metrics>,
    pool: Arc<TransactionPool>,
    /// Highest round each peer has shown us (where its subscription resumes).
    peer_rounds: Arc<Vec<AtomicU64>>,
    /// Whether each peer is connected.
    connected: Arc<Vec<AtomicBool>>,
}

impl Shared {
    fn new(committee: &Committee, params: &Parameters) -> Result<Self> {
        Ok(Self {
            metrics: Arc::new(Metrics::new()?),
            pool: Arc::new(TransactionPool::new(params.max_pending_bytes)),
            peer_rounds: Arc::new((0..committee.size()).map(|_| AtomicU64::new(0)).collect()),
            connected: Arc::new(
                (0..committee.size())
                    .map(|_| AtomicBool::new(false))
                    .collect(),
            ),
        })
    }
}

impl Validator {
    /// Replays the WAL into the core, binds the ports and starts every task: the listener,
    /// `/metrics`, a link to each peer, the Byzantine spammer if asked, the commit observer,
    /// the load generator, the uptime counter and, last, the core.
    pub async fn start(config: ValidatorConfig) -> Result<Self> {
        config.validate()?;
        let me = config.authority;
        let shared = Shared::new(&config.committee, &config.parameters)?;
        // Held by the tasks that write the storage directory (the core and, to its last
        // commit, the observer): it is released when both have ended.
        let lock = Arc::new(StorageLock::acquire(&config.storage)?);
        let core = open_core(&config, &shared)?;
        check_open_files_limit(&config);
        let commit_log = CommitLog::open(&config.commit_log_path())?;

        let mut tasks = Vec::new();
        let address = config
            .committee
            .authority(me)
            .context("authority out of range")?
            .address;
        let listener = network::bind(config.listen_address(address)).await?;
        if config.serve_metrics {
            tasks.push(serve_metrics(&config, &shared.metrics).await?);
        }
        let identity = Arc::new(network::handshake::Identity {
            me,
            key: config.key.clone(),
            committee: config.committee.clone(),
        });
        let (core_tx, core_rx) = mpsc::channel(4096);
        tasks.push(tokio::spawn(network::listen(
            listener,
            identity.clone(),
            network::Limits::new(&config.parameters),
            core_tx,
            shared.metrics.clone(),
        )));
        let net = connect_peers(&config, &identity, &shared, &mut tasks);
        start_byzantine(&config, &net, &shared.metrics, &mut tasks);

        let commits = config
            .record_commits
            .then(|| CommitRecord::new(Default::default()));
        let (commit_tx, commit_rx) = mpsc::channel(1024);
        let observer = tokio::spawn(hold(
            lock.clone(),
            observer::run(
                commit_rx,
                shared.metrics.clone(),
                commits.clone(),
                Some(commit_log),
            ),
        ));
        if config.load > 0 {
            tasks.push(start_load(&config, &shared));
        }
        tasks.push(tokio::spawn(count_uptime(shared.metrics.clone())));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let core = tokio::spawn(hold(
            lock,
            core::run(core, core_rx, net, commit_tx, shutdown_rx),
        ));
        tracing::info!(authority = me, %address, "validator started");
        Ok(Self {
            core,
            observer,
            tasks,
            shutdown,
            metrics: shared.metrics,
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

/// Warns if the open-files limit cannot hold every descriptor this validator may need.
fn check_open_files_limit(config: &ValidatorConfig) {
    let n = config.committee.size();
    let mut needed = descriptors::reserve(n) + network::max_inbound(n) as u64;
    if config.serve_metrics {
        needed += metrics::MAX_CONNECTIONS as u64;
    }
    match descriptors::limit().map(|l| l.soft) {
        Ok(Some(soft)) if soft < needed => tracing::warn!(
            "the open-files limit ({soft}) is below the {needed} descriptors this validator \
             may need with {n} validators: connections will be refused early; raise it \
             (ulimit -n, LimitNOFILE=)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("{e:#}"),
    }
}

/// Runs `task` while holding `lock`.
async fn hold<T>(lock: Arc<StorageLock>, task: impl std::future::Future<Output = T>) -> T {
    let output = task.await;
    drop(lock);
    output
}

/// Replays the WAL into a new core.
fn open_core(config: &ValidatorConfig, shared: &Shared) -> Result<Core> {
    let owner = Owner::new(
        &config.committee,
        config.authority,
        &config.key.verifying_key(),
    );
    let (wal, records) = Wal::open(&config.storage, config.parameters.wal_segment_bytes, owner)
        .with_context(|| format!("cannot open the WAL in {}", config.storage.display()))?;
    Core::new(
        CoreConfig {
            authority: config.authority,
            committee: config.committee.clone(),
            parameters: config.parameters.clone(),
            key: config.key.clone(),
            pool: shared.pool.clone(),
            metrics: shared.metrics.clone(),
            peer_rounds: shared.peer_rounds.clone(),
            connected: shared.connected.clone(),
            plant_fork_at: config.plant_fork_at,
            byzantine: config.byzantine,
        },
        wal,
        records,
    )
}

/// Binds the metrics address and serves `/metrics` on it.
async fn serve_metrics(config: &ValidatorConfig, metrics: &Arc<Metrics>) -> Result<JoinHandle<()>> {
    let address = config
        .committee
        .authority(config.authority)
        .context("authority out of range")?
        .metrics_address;
    let listener = metrics::bind(config.listen_address(address)).await?;
    // Metrics connections leave room for the peer port's too.
    let n = config.committee.size();
    let reserve = descriptors::reserve(n) + network::max_inbound(n) as u64;
    Ok(tokio::spawn(metrics::serve(
        listener,
        metrics.clone(),
        reserve,
    )))
}

/// Starts a link (and a catch-up server) to every peer; returns the network the core sends
/// through.
fn connect_peers(
    config: &ValidatorConfig,
    identity: &Arc<network::handshake::Identity>,
    shared: &Shared,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Network {
    let params = &config.parameters;
    let emulation = config.network.as_ref().map(|e| {
        Arc::new(network::Emulation::start(
            e.outbound.clone(),
            e.epoch_unix_ms,
            shared.metrics.clone(),
        ))
    });
    let mut queues = Vec::new();
    for (peer, authority) in config.committee.authorities() {
        if peer == config.authority {
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
        tasks.push(tokio::spawn(network::run_peer(network::PeerLink {
            identity: identity.clone(),
            peer,
            address: authority.address,
            queue: rx,
            catch_up: catch_up_rx,
            emulation: emulation.clone(),
            subscribe_from: shared.peer_rounds.clone(),
            connected: shared.connected.clone(),
            handshake_timeout: params.handshake_timeout(),
            keepalive_interval: params.keepalive_interval(),
            metrics: shared.metrics.clone(),
        })));
    }
    Network::new(queues, shared.metrics.clone())
}

/// Starts the spammer of `--byzantine spam` and warns of any Byzantine behaviour.
fn start_byzantine(
    config: &ValidatorConfig,
    net: &Network,
    metrics: &Arc<Metrics>,
    tasks: &mut Vec<JoinHandle<()>>,
) {
    let me = config.authority;
    if config.byzantine == Some(Behaviour::Spam) {
        tasks.push(tokio::spawn(byzantine::spam(
            me,
            config.committee.clone(),
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
}

/// Starts the load generator, which fills the pool at the configured rate.
fn start_load(config: &ValidatorConfig, shared: &Shared) -> JoinHandle<()> {
    let params = &config.parameters;
    tokio::spawn(loadgen::run(
        LoadConfig {
            rate: config.load,
            transaction_size: config.transaction_size,
            interval: Duration::from_millis(params.load_interval_ms),
            max_batch_bytes: (params.max_block_bytes / 4).max(1024),
            authority: config.authority,
        },
        shared.pool.clone(),
        shared.metrics.clone(),
    ))
}

/// Counts the seconds since the start in `node_benchmark_duration_seconds`, every 500 ms.
async fn count_uptime(metrics: Arc<Metrics>) {
    let start = tokio::time::Instant::now();
    let mut reported = 0.0;
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    loop {
        ticker.tick().await;
        let now = start.elapsed().as_secs_f64();
        metrics.benchmark_duration.inc_by(now - reported);
        reported = now;
    }
}
