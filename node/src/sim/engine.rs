//! The event loop: validators' inputs, wake-ups, load, faults and snapshots, in virtual
//! time. It mirrors what a validator's tasks do (`core::run`, the peer links, the load
//! generator, the spammer) with the network replaced by [`Net`].

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use ed25519_dalek::SigningKey;
use rand::{rngs::StdRng, Rng, SeedableRng};
use tokio::time::Instant;

use super::{
    net::{Fate, Net},
    node::{SimNode, StartContext},
    queue::{EventQueue, Nanos},
    report::{self, Outcome, WindowMark},
    verified::Verified,
    Latency, SimConfig, VIRTUAL_EPOCH_MICROS,
};
use crate::{
    block::Block,
    byzantine::{self, Behaviour},
    committee::{AuthorityConfig, AuthorityIndex, Committee, CommitteeConfig},
    core::Effects,
    network::{CatchUp, Message, Source, COOL_DOWN},
    world,
};

/// Independent random streams derived from the seed.
const KEYS_STREAM: u64 = 0x6b65_7973;
const NET_STREAM: u64 = 0x6e65_7477;
const CORE_STREAM: u64 = 0x636f_7265;

/// Least virtual time between a core's wake-ups when it has nothing to do before its next
/// input (the real core would only wait for input then).
const MIN_IDLE_WAKE: Nanos = 1_000_000;

/// Inputs that arrive at a validator within this much virtual time are handled as they
/// come and followed by one tick (proposal, commit rule, requests), as the real core drains
/// every queued input before it ticks.
pub(super) const TICK_BATCH: Nanos = 1_000_000;

enum Event {
    Deliver {
        from: AuthorityIndex,
        to: AuthorityIndex,
        incarnation: u64,
        message: Message,
    },
    Wake {
        node: AuthorityIndex,
        incarnation: u64,
    },
    Tick {
        node: AuthorityIndex,
        incarnation: u64,
    },
    Load {
        node: AuthorityIndex,
        incarnation: u64,
    },
    Spam {
        node: AuthorityIndex,
        incarnation: u64,
        tick: u64,
    },
    Crash {
        node: AuthorityIndex,
        down: Option<Duration>,
    },
    Restart {
        node: AuthorityIndex,
    },
    Reconnect {
        from: AuthorityIndex,
        to: AuthorityIndex,
    },
    Snapshot,
    WindowStart,
    Heal,
}

/// Runs one simulation to its end.
pub fn run(config: SimConfig) -> Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .context("cannot start the simulator's runtime")?;
    runtime.block_on(async move {
        let origin = Instant::now();
        let _virtual =
            world::enter_virtual(origin, VIRTUAL_EPOCH_MICROS, config.seed ^ CORE_STREAM);
        let mut engine = Engine::new(config, origin)?;
        engine.run().await
    })
}

fn nanos(d: Duration) -> Nanos {
    d.as_nanos().min(u64::MAX as u128) as Nanos
}

struct Engine {
    config: SimConfig,
    committee: Arc<Committee>,
    nodes: Vec<SimNode>,
    net: Net,
    queue: EventQueue<Event>,
    rng: StdRng,
    origin: Instant,
    now: Nanos,
    stranger: SigningKey,
    /// Verdicts on the blocks delivered so far: each distinct block is verified once.
    verified: Verified,
    window: Vec<Option<WindowMark>>,
    heal_index: Option<Vec<u64>>,
    /// Holds the WAL directories; removed at the end.
    _wal_root: tempfile::TempDir,
}

/// The committee of a simulation: keys from the seed, placeholder addresses (no sockets
/// are opened), the validators' regions.
fn committee(config: &SimConfig) -> Result<(Arc<Committee>, Vec<SigningKey>)> {
    let mut rng = StdRng::seed_from_u64(config.seed ^ KEYS_STREAM);
    let keys: Vec<SigningKey> = (0..config.committee)
        .map(|_| SigningKey::from_bytes(&rng.gen::<[u8; 32]>()))
        .collect();
    let authorities = keys
        .iter()
        .enumerate()
        .map(|(i, k)| AuthorityConfig {
            public_key: hex::encode(k.verifying_key().as_bytes()),
            stake: 1,
            address: ([127, 0, 0, 1], 0).into(),
            metrics_address: ([127, 0, 0, 1], 0).into(),
            region: config.regions.as_ref().map(|r| r[i].clone()),
        })
        .collect();
    let committee =
        Committee::from_config(&CommitteeConfig { authorities }, "simulated committee")?;
    Ok((Arc::new(committee), keys))
}

/// One-way delays between every two validators.
fn delays(config: &SimConfig, committee: &Committee) -> Result<Vec<Vec<Duration>>> {
    let n = config.committee;
    match &config.latency {
        Latency::Uniform(d) => Ok((0..n)
            .map(|a| {
                (0..n)
                    .map(|b| if a == b { Duration::ZERO } else { *d })
                    .collect()
            })
            .collect()),
        Latency::Matrix(matrix) => {
            let region = |i: AuthorityIndex| {
                committee
                    .authority(i)
                    .and_then(|a| a.region.clone())
                    .with_context(|| format!("validator {i} has no region in the committee"))
            };
            let mut out = Vec::with_capacity(n);
            for a in 0..n as AuthorityIndex {
                let mut row = Vec::with_capacity(n);
                for b in 0..n as AuthorityIndex {
                    if a == b {
                        row.push(Duration::ZERO);
                        continue;
                    }
                    let (from, to) = (region(a)?, region(b)?);
                    let ms = matrix.delay_ms(&from, &to).with_context(|| {
                        format!(
                            "{}: no delay from region `{from}` to region `{to}`",
                            matrix.source()
                        )
                    })?;
                    row.push(Duration::from_secs_f64(ms / 1000.0));
                }
                out.push(row);
            }
            Ok(out)
        }
        Latency::Links(links) => Ok(links.clone()),
    }
}

impl Engine {
    fn new(config: SimConfig, origin: Instant) -> Result<Self> {
        let (committee, keys) = committee(&config)?;
        let wal_root = tempfile::Builder::new()
            .prefix("node-sim-")
            .tempdir()
            .context("cannot create a temporary directory for the simulated WALs")?;
        let honest = (0..config.committee as AuthorityIndex)
            .filter(|v| !config.is_byzantine(*v))
            .count()
            .max(1) as u64;
        let mut nodes = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            let index = i as AuthorityIndex;
            let storage = wal_root.path().join(format!("wal-{i}"));
            std::fs::create_dir_all(&storage)
                .with_context(|| format!("cannot create {}", storage.display()))?;
            let commit_log = match &config.out {
                Some(out) => Some(validator_dir(out, i)?.join("commits.csv")),
                None => None,
            };
            let byzantine = config.is_byzantine(index);
            nodes.push(SimNode {
                index,
                key,
                byzantine: if byzantine { config.behaviour } else { None },
                storage,
                commit_log,
                load: if byzantine { 0 } else { config.load / honest },
                incarnation: 0,
                running: None,
                commits: Vec::new(),
                wake: None,
                pending: None,
            });
        }
        let delays = delays(&config, &committee)?;
        let net = Net::new(
            &delays,
            config.bandwidth_bps,
            config.jitter_fraction,
            config.extra_jitter,
            config.partitions.clone(),
            config.losses.clone(),
            config.slow.clone(),
        );
        let mut stranger_rng = StdRng::seed_from_u64(config.seed ^ KEYS_STREAM ^ 1);
        Ok(Self {
            stranger: SigningKey::from_bytes(&stranger_rng.gen::<[u8; 32]>()),
            rng: StdRng::seed_from_u64(config.seed ^ NET_STREAM),
            verified: Verified::new(config.committee),
            window: vec![None; config.committee],
            heal_index: None,
            committee,
            nodes,
            net,
            queue: EventQueue::default(),
            origin,
            now: 0,
            config,
            _wal_root: wal_root,
        })
    }

    async fn run(&mut self) -> Result<Outcome> {
        let n = self.config.committee as AuthorityIndex;
        for v in 0..n {
            self.start_node(v)?;
        }
        for v in 0..n {
            self.connect(v);
        }
        for v in 0..n {
            self.schedule_tasks(v);
            self.step(v, Effects::default())?;
        }
        for c in self.config.crashes.clone() {
            self.queue.push(
                nanos(c.at),
                Event::Crash {
                    node: c.validator,
                    down: c.down,
                },
            );
        }
        if !self.config.snapshot_interval.is_zero() && self.config.out.is_some() {
            self.queue
                .push(nanos(self.config.snapshot_interval), Event::Snapshot);
        }
        self.queue
            .push(nanos(self.config.warmup), Event::WindowStart);
        let heal = self.faults_end();
        if let Some(heal) = heal {
            self.queue.push(nanos(heal), Event::Heal);
        }
        let end = nanos(self.config.total());
        while let Some((at, event)) = self.queue.pop() {
            if at > end {
                break;
            }
            self.advance(at).await;
            self.handle(event)?;
        }
        self.advance(end).await;
        if self.config.out.is_some() {
            self.snapshot()?;
        }
        let marks: Vec<Option<WindowMark>> = self
            .nodes
            .iter()
            .map(|n| {
                n.running
                    .as_ref()
                    .map(|r| WindowMark::of(n.incarnation, &r.metrics))
            })
            .collect();
        for node in &mut self.nodes {
            node.stop()?;
        }
        let outcome = report::outcome(
            &self.config,
            &self.nodes,
            &self.window,
            &marks,
            self.heal_index.clone(),
            heal,
        );
        if let Some(out) = &self.config.out {
            report::write(out, &self.config, &outcome)?;
        }
        Ok(outcome)
    }

    /// When the last fault ends (crashes restarted, partitions healed, losses over).
    fn faults_end(&self) -> Option<Duration> {
        let crashes = self
            .config
            .crashes
            .iter()
            .filter_map(|c| c.down.map(|d| c.at + d));
        let net = Some(self.net.faults_end()).filter(|d| !d.is_zero());
        crashes.chain(net).max()
    }

    /// Starts (or restarts) validator `v` from its WAL.
    fn start_node(&mut self, v: AuthorityIndex) -> Result<()> {
        let ctx = StartContext {
            committee: &self.committee,
            parameters: &self.config.parameters,
            transaction_size: self.config.transaction_size,
            unsafe_rule: self.config.unsafe_rule,
            now: Duration::from_nanos(self.now),
        };
        self.nodes[v as usize].start(&ctx)
    }

    async fn advance(&mut self, at: Nanos) {
        let target = self.origin + Duration::from_nanos(at);
        let now = Instant::now();
        if target > now {
            tokio::time::advance(target - now).await;
        }
        self.now = self.now.max(at);
    }

    /// Connects `v` with every running peer: both sides mark the link up and subscribe to
    /// the other's blocks above what they hold, as the peer links do when they connect.
    fn connect(&mut self, v: AuthorityIndex) {
        for p in 0..self.config.committee as AuthorityIndex {
            if p == v || !self.nodes[p as usize].is_up() {
                continue;
            }
            self.nodes[v as usize].set_connected(p, true);
            self.nodes[p as usize].set_connected(v, true);
            let after = self.nodes[v as usize].peer_round(p);
            self.send(v, p, Message::Subscribe(after));
            let after = self.nodes[p as usize].peer_round(v);
            self.send(p, v, Message::Subscribe(after));
        }
    }

    /// Schedules the load generator's and the spammer's first ticks.
    fn schedule_tasks(&mut self, v: AuthorityIndex) {
        let node = &self.nodes[v as usize];
        let incarnation = node.incarnation;
        if node.load > 0 {
            let interval = Duration::from_millis(self.config.parameters.load_interval_ms);
            self.queue.push(
                self.now + nanos(interval),
                Event::Load {
                    node: v,
                    incarnation,
                },
            );
        }
        if node.byzantine == Some(Behaviour::Spam) {
            self.queue.push(
                self.now + nanos(byzantine::SPAM_INTERVAL),
                Event::Spam {
                    node: v,
                    incarnation,
                    tick: 0,
                },
            );
        }
    }

    fn handle(&mut self, event: Event) -> Result<()> {
        match event {
            Event::Deliver {
                from,
                to,
                incarnation,
                message,
            } => self.deliver(from, to, incarnation, message),
            Event::Wake { node, incarnation } => {
                let n = &mut self.nodes[node as usize];
                if n.incarnation != incarnation || n.wake != Some(self.now) {
                    return Ok(());
                }
                n.wake = None;
                let fx = n.pending.take().unwrap_or_default();
                self.step(node, fx)
            }
            Event::Tick { node, incarnation } => {
                let n = &mut self.nodes[node as usize];
                if n.incarnation != incarnation {
                    return Ok(());
                }
                let Some(fx) = n.pending.take() else {
                    return Ok(());
                };
                self.step(node, fx)
            }
            Event::Load { node, incarnation } => {
                let n = &mut self.nodes[node as usize];
                if n.incarnation != incarnation {
                    return Ok(());
                }
                let now = Duration::from_nanos(self.now);
                if let Some(r) = &mut n.running {
                    if let Some(load) = &mut r.load {
                        load.submit_due(now - r.started, &r.pool, &r.metrics);
                    }
                }
                let interval = Duration::from_millis(self.config.parameters.load_interval_ms);
                self.queue.push(
                    self.now + nanos(interval),
                    Event::Load { node, incarnation },
                );
                Ok(())
            }
            Event::Spam {
                node,
                incarnation,
                tick,
            } => {
                let n = &self.nodes[node as usize];
                let Some(r) = n.running.as_ref().filter(|_| n.incarnation == incarnation) else {
                    return Ok(());
                };
                let round = r.metrics.current_round.get().max(1) as u64;
                let messages = byzantine::spam_messages(
                    node,
                    &self.committee,
                    &n.key,
                    &self.stranger,
                    round,
                    tick,
                );
                for (peer, message) in messages {
                    self.send(node, peer, message);
                }
                self.queue.push(
                    self.now + nanos(byzantine::SPAM_INTERVAL),
                    Event::Spam {
                        node,
                        incarnation,
                        tick: tick + 1,
                    },
                );
                Ok(())
            }
            Event::Crash { node, down } => {
                self.nodes[node as usize].crash();
                self.net.reset(node);
                for p in 0..self.config.committee as AuthorityIndex {
                    self.nodes[p as usize].set_connected(node, false);
                }
                if let Some(down) = down {
                    self.queue
                        .push(self.now + nanos(down), Event::Restart { node });
                }
                Ok(())
            }
            Event::Restart { node } => {
                self.start_node(node)?;
                self.connect(node);
                self.schedule_tasks(node);
                self.step(node, Effects::default())
            }
            Event::Reconnect { from, to } => {
                if self.nodes[from as usize].is_up() && self.nodes[to as usize].is_up() {
                    self.nodes[from as usize].set_connected(to, true);
                    let after = self.nodes[from as usize].peer_round(to);
                    self.send(from, to, Message::Subscribe(after));
                }
                Ok(())
            }
            Event::Snapshot => {
                self.snapshot()?;
                self.queue.push(
                    self.now + nanos(self.config.snapshot_interval),
                    Event::Snapshot,
                );
                Ok(())
            }
            Event::WindowStart => {
                for (i, node) in self.nodes.iter().enumerate() {
                    self.window[i] = node
                        .running
                        .as_ref()
                        .map(|r| WindowMark::of(node.incarnation, &r.metrics));
                }
                Ok(())
            }
            Event::Heal => {
                self.heal_index = Some(self.nodes.iter().map(|n| n.commit_index()).collect());
                Ok(())
            }
        }
    }

    /// A message arrives at `to`: handled as the connection reader and the core would.
    fn deliver(
        &mut self,
        from: AuthorityIndex,
        to: AuthorityIndex,
        incarnation: u64,
        message: Message,
    ) -> Result<()> {
        let node = &mut self.nodes[to as usize];
        if node.incarnation != incarnation {
            return Ok(());
        }
        let Some(r) = &mut node.running else {
            return Ok(());
        };
        let first = node.pending.is_none();
        let mut fx = node.pending.take().unwrap_or_default();
        match message {
            Message::Block(bytes) => match self.verified.check(bytes, &self.committee) {
                Ok(block) => r.core.add_peer_block(from, block, &mut fx)?,
                Err(_) => {
                    r.metrics.invalid_blocks.inc();
                    node.pending = Some(fx);
                    return self.cut_off(from, to, "invalid-block");
                }
            },
            Message::Subscribe(after) => r.core.subscribe(from, after, &mut fx),
            Message::Request(refs) => r.core.answer_request(from, &refs, &mut fx),
            Message::SyncRequest => r.core.answer_sync_request(from, &mut fx),
            Message::SyncPoints(points) => r.core.receive_sync_points(from, points, &mut fx)?,
            Message::Ping => return Ok(()),
            Message::Hello { .. }
            | Message::Challenge { .. }
            | Message::Auth(_)
            | Message::Garbage(_) => {
                node.pending = Some(fx);
                return self.cut_off(from, to, "malformed");
            }
        }
        node.pending = Some(fx);
        if first {
            self.queue.push(
                self.now + TICK_BATCH,
                Event::Tick {
                    node: to,
                    incarnation,
                },
            );
        }
        Ok(())
    }

    /// `to` closes `from`'s connection for invalid data and refuses it for the cool-down.
    fn cut_off(&mut self, from: AuthorityIndex, to: AuthorityIndex, reason: &str) -> Result<()> {
        if let Some(r) = &self.nodes[to as usize].running {
            r.metrics
                .peer_disconnects
                .with_label_values(&[reason])
                .inc();
        }
        let until = self.now + nanos(COOL_DOWN);
        self.net.refuse(from, to, until);
        self.nodes[from as usize].set_connected(to, false);
        self.queue.push(until, Event::Reconnect { from, to });
        Ok(())
    }

    /// The core's loop body after an input: tick, flush the WAL, hand out the effects,
    /// sleep until its next wake-up.
    fn step(&mut self, v: AuthorityIndex, mut fx: Effects) -> Result<()> {
        let origin = self.origin;
        let node = &mut self.nodes[v as usize];
        let Some(r) = &mut node.running else {
            return Ok(());
        };
        r.core
            .tick(&mut fx)
            .with_context(|| format!("validator {v} failed"))?;
        r.core.flush_wal()?;
        let wake = r.core.next_wakeup(Instant::now());
        let wake = nanos(wake.saturating_duration_since(origin)).max(self.now + MIN_IDLE_WAKE);
        let incarnation = node.incarnation;
        if node.wake.is_none_or(|w| wake < w || w < self.now) {
            node.wake = Some(wake);
            self.queue.push(
                wake,
                Event::Wake {
                    node: v,
                    incarnation,
                },
            );
        }
        self.dispatch(v, fx);
        Ok(())
    }

    /// Sends what the core asked for, in the order the real driver does.
    fn dispatch(&mut self, v: AuthorityIndex, mut fx: Effects) {
        let n = self.config.committee as AuthorityIndex;
        for block in fx.broadcast.drain(..) {
            for p in (0..n).filter(|p| *p != v) {
                self.send(v, p, Message::Block(block.serialized().clone()));
            }
        }
        for (peer, blocks) in fx.replies.drain(..) {
            for b in blocks {
                self.send(v, peer, Message::Block(b.serialized().clone()));
            }
        }
        for (peer, CatchUp(sources)) in fx.catch_up.drain(..) {
            for source in sources {
                let bytes = match source {
                    Source::Stored(b) => Some(b.serialized().clone()),
                    Source::Logged(r, location) => location.read().ok().filter(|bytes| {
                        Block::parse(bytes.clone()).is_ok_and(|b| b.reference() == r)
                    }),
                };
                if let Some(bytes) = bytes {
                    self.send(v, peer, Message::Block(bytes));
                }
            }
        }
        if std::mem::take(&mut fx.sync_request) {
            for p in (0..n).filter(|p| *p != v) {
                self.send(v, p, Message::SyncRequest);
            }
        }
        for (peer, points) in fx.sync_points.drain(..) {
            self.send(v, peer, Message::SyncPoints(points));
        }
        for (peer, refs) in fx.requests.drain(..) {
            self.send(v, peer, Message::Request(refs));
        }
        self.nodes[v as usize].observe(fx.commits.drain(..));
    }

    fn send(&mut self, from: AuthorityIndex, to: AuthorityIndex, message: Message) {
        if from == to {
            return;
        }
        let bytes = match &message {
            Message::Block(b) => b.len() + 1,
            other => other.clone().encode().len(),
        };
        if let Fate::Arrives(at) = self.net.send(from, to, bytes, self.now, &mut self.rng) {
            let incarnation = self.nodes[to as usize].incarnation;
            self.queue.push(
                at,
                Event::Deliver {
                    from,
                    to,
                    incarnation,
                    message,
                },
            );
        }
    }

    /// Writes every running validator's metrics as a `/metrics` scrape would return them
    /// (without the process collector's figures: they would be the simulator's).
    fn snapshot(&mut self) -> Result<()> {
        let Some(out) = self.config.out.clone() else {
            return Ok(());
        };
        let now = Duration::from_nanos(self.now);
        for (i, node) in self.nodes.iter_mut().enumerate() {
            let Some(r) = &mut node.running else { continue };
            let up = now - r.started;
            r.metrics
                .benchmark_duration
                .inc_by((up - r.counted).as_secs_f64());
            r.counted = up;
            let dir = validator_dir(&out, i)?.join("metrics");
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let path = dir.join(format!("{:08}.prom", now.as_millis()));
            std::fs::write(&path, report::without_process_metrics(&r.metrics.render()))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

/// `DIR/validator-I`, created.
fn validator_dir(out: &std::path::Path, i: usize) -> Result<PathBuf> {
    let dir = out.join(format!("validator-{i}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
