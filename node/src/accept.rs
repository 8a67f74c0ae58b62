//! Accepting connections anyone may open, on the peer and the metrics ports: at most so
//! many are served at once, none may take a descriptor from the reserve kept for peers and
//! the WAL, and failed accepts (descriptors ran out) are counted, logged at a bounded rate
//! and retried after a pause. What is refused is closed at once.

use std::{
    net::SocketAddr,
    os::fd::AsRawFd,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};

use crate::{descriptors, metrics::Metrics, ratelimit::RateLimit};

/// Pause after a failed accept: the connection waits in the backlog meanwhile.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Why a connection was closed as soon as it was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot of the port is taken.
    Limit,
    /// Its descriptor would have come out of the reserve.
    Descriptors,
}

impl Refusal {
    /// Its `reason` label in the refusal metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Limit => "limit",
            Self::Descriptors => "descriptors",
        }
    }

    /// What happened, for the log.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Limit => "every connection slot of the port is taken",
            Self::Descriptors => "file descriptors are running short",
        }
    }
}

/// The admission rules of one listening port.
pub struct Gate {
    /// Named in the log.
    port: &'static str,
    slots: Arc<Semaphore>,
    /// The soft open-files limit when the gate was made (`None`: unlimited or unknown).
    soft_limit: Option<u64>,
    /// Descriptors at the top of the limit this port's connections may not take.
    reserve: u64,
    metrics: Arc<Metrics>,
    log: Mutex<RateLimit>,
}

impl Gate {
    /// A gate of `slots` connections at once that leaves the top `reserve` descriptors
    /// of the open-files limit alone.
    pub fn new(port: &'static str, slots: usize, reserve: u64, metrics: Arc<Metrics>) -> Self {
        Self {
            port,
            slots: Arc::new(Semaphore::new(slots)),
            soft_limit: descriptors::limit().ok().and_then(|l| l.soft),
            reserve,
            metrics,
            log: Mutex::new(RateLimit::default()),
        }
    }

    /// The next connection on `listener`. A failed accept is retried after a pause; a lack
    /// of descriptors is counted in `node_descriptor_shortages_total` and logged (at most
    /// once a second).
    pub async fn accept(&self, listener: &TcpListener) -> (TcpStream, SocketAddr) {
        loop {
            match listener.accept().await {
                Ok(accepted) => return accepted,
                Err(e) if out_of_descriptors(&e) => self.short_of_descriptors(&e.to_string()),
                Err(e) => self.warn(|| format!("{} port: accept failed: {e}", self.port)),
            }
            tokio::time::sleep(ACCEPT_RETRY).await;
        }
    }

    /// A slot for `stream` (held while it is served), or why it must be closed at once.
    pub fn admit(&self, stream: &TcpStream) -> Result<OwnedSemaphorePermit, Refusal> {
        let descriptor = u64::try_from(stream.as_raw_fd()).unwrap_or(u64::MAX);
        if descriptors::in_reserve(descriptor, self.soft_limit, self.reserve) {
            self.short_of_descriptors("the connection would take a reserved descriptor");
            return Err(Refusal::Descriptors);
        }
        self.slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Limit)
    }

    fn short_of_descriptors(&self, detail: &str) {
        self.metrics.descriptor_shortages.inc();
        self.warn(|| {
            let open = descriptors::open_count().map_or("?".to_string(), |n| n.to_string());
            let limit = self
                .soft_limit
                .map_or("no limit".to_string(), |l| l.to_string());
            format!(
                "file descriptors are running short ({open} open, limit {limit}): {} port \
                 connection refused ({detail}), keeping {} for peers and the WAL; raise the \
                 open-files limit (ulimit -n, LimitNOFILE=)",
                self.port, self.reserve
            )
        });
    }

    /// Logs the message `text` makes (only then) unless the rate limit is reached.
    fn warn(&self, text: impl FnOnce() -> String) {
        let allowed = self.log.lock().unwrap_or_else(|p| p.into_inner()).check();
        if let Some(suppressed) = allowed {
            tracing::warn!(suppressed, "{}", text());
        }
    }
}

/// Whether `e` says this process or the system has no descriptor left.
fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}
