//! `GET /metrics` over HTTP/1 (hyper), at a bounded cost whoever connects: a cap on
//! connections and descriptors (see [`crate::accept`]), on the time to send a request
//! header and its size, on a connection's life, and on how often the registry is encoded.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::OwnedSemaphorePermit,
    task::JoinSet,
};

use super::Metrics;
use crate::accept::Gate;

/// Most metrics connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 32;

/// Time a connection has to send a whole request header, from when it connects or its
/// previous answer was sent (so an idle connection is closed after it too).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest request header (request line included); larger ones are answered 431.
pub const MAX_HEADER_BYTES: usize = 8 << 10;

/// Most header fields in a request.
const MAX_HEADERS: usize = 32;

/// Largest read or write buffer of a connection.
const MAX_BUFFER_BYTES: usize = 16 << 10;

/// After this a connection is closed once its current answer is sent...
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// ...or, if that answer is not read, after this much more.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Scrapes within this interval of an encoding of the registry get the same text.
pub const RENDER_INTERVAL: Duration = Duration::from_millis(100);

/// The `/metrics` text, encoded at most once per [`RENDER_INTERVAL`].
struct Page {
    metrics: Arc<Metrics>,
    cached: Mutex<Option<(Instant, Bytes)>>,
}

impl Page {
    fn text(&self) -> Bytes {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, text)) = cached.as_ref() {
            if at.elapsed() < RENDER_INTERVAL {
                return text.clone();
            }
        }
        self.metrics.metrics_renders.inc();
        let text = Bytes::from(self.metrics.render());
        *cached = Some((Instant::now(), text.clone()));
        text
    }
}

async fn handle(
    page: Arc<Page>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = if request.uri().path() == "/metrics" {
        Response::builder()
            .header("content-type", "text/plain; version=0.0.4")
            .body(Full::new(page.text()))
    } else {
        Response::builder()
            .status(404)
            .body(Full::new(Bytes::from_static(b"not found\n")))
    };
    Ok(response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

/// Binds the metrics address.
pub async fn bind(address: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot bind the metrics address {address}"))
}

/// Serves metrics on `listener` until the task is dropped (its connections with it),
/// leaving the top `reserve` descriptors of the open-files limit to the rest of the
/// validator.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, reserve: u64) {
    let gate = Gate::new("metrics", MAX_CONNECTIONS, reserve, metrics.clone());
    let page = Arc::new(Page {
        metrics: metrics.clone(),
        cached: Mutex::new(None),
    });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            (stream, _) = gate.accept(&listener) => match gate.admit(&stream) {
                Ok(permit) => {
                    connections.spawn(serve_connection(stream, page.clone(), permit));
                }
                Err(refusal) => closed(&metrics, refusal.reason()),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn closed(metrics: &Metrics, reason: &str) {
    metrics
        .metrics_connections_closed
        .with_label_values(&[reason])
        .inc();
}

/// Counts a connection in `node_metrics_connections` while it lives.
struct Open(Arc<Metrics>);

impl Open {
    fn new(metrics: Arc<Metrics>) -> Self {
        metrics.metrics_connections.inc();
        Self(metrics)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.metrics_connections.dec();
    }
}

async fn serve_connection(stream: TcpStream, page: Arc<Page>, _permit: OwnedSemaphorePermit) {
    let open = Open::new(page.metrics.clone());
    let service = service_fn(move |request| handle(page.clone(), request));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_header_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_BUFFER_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => Some(ended),
        _ = tokio::time::sleep(CONNECTION_LIFETIME) => {
            connection.as_mut().graceful_shutdown();
            tokio::time::timeout(SHUTDOWN_GRACE, connection).await.ok()
        }
    };
    let reason = match ended {
        None => Some("timeout"),
        Some(Ok(())) => None,
        Some(Err(e)) if e.is_timeout() => Some("timeout"),
        Some(Err(e)) if e.is_parse_too_large() => Some("too-large"),
        Some(Err(e)) if e.is_parse() => Some("malformed"),
        Some(Err(e)) => {
            tracing::debug!("metrics connection: {e}");
            None
        }
    };
    if let Some(reason) = reason {
        closed(&open.0, reason);
    }
}
