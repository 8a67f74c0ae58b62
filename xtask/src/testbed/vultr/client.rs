//! A blocking client for the Vultr v2 REST API: Bearer authentication, JSON bodies, retries
//! with bounded exponential backoff on throttling and server errors (each announced on the
//! progress line), cursor pagination.
//!
//! Requests that create something are never replayed after an answer that may hide a success
//! (a 5xx, a reset, a lost answer): Vultr creates have no idempotency key, so the caller looks
//! the object up before creating it again (see `create.rs`). Only a 429, which Vultr answers
//! before doing anything, is retried for them.

use std::{fmt, sync::Arc, time::Duration};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::{settings::Secret, testbed::RetryPolicy};

/// The public API endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://api.vultr.com/v2";

/// Statuses worth retrying: throttling and transient server errors.
const RETRYABLE: [u16; 5] = [429, 500, 502, 503, 504];

/// Longest wait for one answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The HTTP agent: 5 s to connect, `timeout` for the whole request.
fn agent(timeout: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("consensus-bench-xtask/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Attempts at most when the endpoint cannot be connected to at all (refused, no such host):
/// a wrong `api_endpoint` or a machine offline is said within seconds, not minutes.
const UNREACHABLE_ATTEMPTS: u32 = 3;

/// Whether a request may be sent again after an answer that does not tell whether it was
/// applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Replay {
    /// Reads, deletes and power actions: applying them twice changes nothing.
    Safe,
    /// Creates: sent again only after a 429 (refused before anything was done).
    Never,
}

/// Where the client and the provider say what they are waiting for or retrying (standard
/// error by default). Lines never contain the API key.
#[derive(Clone)]
pub struct Progress(Arc<dyn Fn(&str) + Send + Sync>);

impl Progress {
    /// Lines go to standard error.
    pub fn stderr() -> Self {
        Self(Arc::new(|line| eprintln!("{line}")))
    }

    /// Lines go to `sink`.
    pub fn to(sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self(Arc::new(sink))
    }

    /// Says one line.
    pub fn say(&self, line: &str) {
        (self.0)(line)
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress")
    }
}

/// Pages read at most by one listing (a guard against a server that never ends a listing).
const MAX_PAGES: usize = 1000;

/// How failed requests are retried unless told otherwise.
pub const DEFAULT_RETRY: RetryPolicy = RetryPolicy {
    attempts: 6,
    initial_backoff: Duration::from_millis(500),
    max_backoff: Duration::from_secs(8),
};

/// What can go wrong talking to the API. Never carries the API key.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The key was refused: wrong, expired, or used from an address not on its allow-list.
    #[error(
        "the Vultr API refused the API key from `token_file` ({method} {path}: HTTP {status}: \
         {message}). Vultr API keys only work from the IP addresses on their access-control \
         allow-list: add this machine's public IP address under Account > API > Access Control, \
         or check that the key in token_file is current"
    )]
    Unauthorized {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    /// Any other error status.
    #[error("Vultr API {method} {path}: HTTP {status}: {message}")]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    /// The API could not be reached, or the answer was lost on the way.
    #[error(
        "cannot reach the Vultr API at {endpoint} ({method} {path}): {message}. Check \
         `api_endpoint` in the settings (without it: {DEFAULT_ENDPOINT}) and this machine's \
         network connection, then run the command again"
    )]
    Transport {
        endpoint: String,
        method: &'static str,
        path: String,
        message: String,
    },
    /// The answer is not the JSON expected.
    #[error("unexpected answer from the Vultr API ({method} {path}): {message}")]
    Decode {
        method: &'static str,
        path: String,
        message: String,
    },
}

impl ApiError {
    /// The HTTP status, when the API answered one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { status, .. } | Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Vultr refused to act on an instance it is still installing ("Server is currently
    /// locked", answered as a 500 while `server_status` is `none` or `locked`).
    pub fn is_locked(&self) -> bool {
        matches!(self, Self::Status { status: 500, message, .. }
            if message.to_ascii_lowercase().contains("currently locked"))
    }

    /// The request may have been applied although no success came back: a 5xx, or a
    /// connection that broke after the request was sent.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status >= 500 && !self.is_locked(),
            Self::Transport { .. } => true,
            _ => false,
        }
    }
}

/// The Vultr API client. Its `Debug` output shows the endpoint, never the key.
#[derive(Clone, Debug)]
pub struct Client {
    endpoint: String,
    token: Secret,
    agent: ureq::Agent,
    retry: RetryPolicy,
    per_page: usize,
    progress: Progress,
}

impl Client {
    /// A client for `endpoint` (e.g. [`DEFAULT_ENDPOINT`]) authenticating with `token`.
    pub fn new(endpoint: &str, token: Secret) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token,
            agent: agent(REQUEST_TIMEOUT),
            retry: DEFAULT_RETRY,
            per_page: 100,
            progress: Progress::stderr(),
        }
    }

    /// Gives up on an answer after `timeout` (default [`REQUEST_TIMEOUT`]). A create whose
    /// answer does not come in time is looked up like any create with an unclear answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.agent = agent(timeout);
        self
    }

    /// Sends the retry lines (and the provider's waiting lines) to `progress`.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Where progress lines go.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The endpoint in use.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `GET path?query`, decoded.
    pub fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ApiError> {
        let value = self.request("GET", path, query, None, Replay::Safe)?;
        decode("GET", path, value)
    }

    /// `POST path` creating something, the answer decoded. Sent once (retried after a 429
    /// only): on an ambiguous error ([`ApiError::is_ambiguous`]) the caller looks before
    /// creating again.
    pub fn create<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ApiError> {
        let body = encode("POST", path, body)?;
        let value = self.request("POST", path, &[], Some(body), Replay::Never)?;
        decode("POST", path, value)
    }

    /// `POST path` creating something, the answer ignored; sent once like [`Self::create`].
    pub fn create_no_content(&self, path: &str, body: &impl Serialize) -> Result<(), ApiError> {
        let body = encode("POST", path, body)?;
        self.request("POST", path, &[], Some(body), Replay::Never)
            .map(drop)
    }

    /// `POST path` for an action that can be repeated (start, halt), the answer (`204`)
    /// ignored.
    pub fn action(&self, path: &str, body: &impl Serialize) -> Result<(), ApiError> {
        let body = encode("POST", path, body)?;
        self.request("POST", path, &[], Some(body), Replay::Safe)
            .map(drop)
    }

    /// `PATCH path` with a JSON body (an update that can be repeated), the answer ignored.
    pub fn update(&self, path: &str, body: &impl Serialize) -> Result<(), ApiError> {
        let body = encode("PATCH", path, body)?;
        self.request("PATCH", path, &[], Some(body), Replay::Safe)
            .map(drop)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<(), ApiError> {
        self.request("DELETE", path, &[], None, Replay::Safe)
            .map(drop)
    }

    /// Every item of a paginated listing: follows `meta.links.next` until it is empty. `key` is
    /// the array's name in the answer (`instances`, `ssh_keys`, ...).
    pub fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        key: &str,
    ) -> Result<Vec<T>, ApiError> {
        let per_page = self.per_page.to_string();
        let mut items = Vec::new();
        let mut cursor = String::new();
        for _ in 0..MAX_PAGES {
            let mut page_query: Vec<(&str, &str)> = query.to_vec();
            page_query.push(("per_page", &per_page));
            if !cursor.is_empty() {
                page_query.push(("cursor", &cursor));
            }
            let mut page = self.request("GET", path, &page_query, None, Replay::Safe)?;
            let array = page
                .get_mut(key)
                .map(Value::take)
                .ok_or_else(|| ApiError::Decode {
                    method: "GET",
                    path: path.to_string(),
                    message: format!("no `{key}` in the answer"),
                })?;
            items.extend(decode::<Vec<T>>("GET", path, array)?);
            let next = page
                .pointer("/meta/links/next")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if next.is_empty() {
                return Ok(items);
            }
            if next == cursor {
                return Err(ApiError::Decode {
                    method: "GET",
                    path: path.to_string(),
                    message: format!("the listing repeats the cursor {next:?}"),
                });
            }
            cursor = next;
        }
        Err(ApiError::Decode {
            method: "GET",
            path: path.to_string(),
            message: format!("the listing has more than {MAX_PAGES} pages"),
        })
    }

    /// One request with retries, each announced on the progress line; the decoded JSON
    /// answer (`Null` for an empty body).
    fn request(
        &self,
        method: &'static str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
        replay: Replay,
    ) -> Result<Value, ApiError> {
        let mut retry = 0;
        loop {
            let failure = match self.attempt(method, path, query, body.as_ref()) {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            let attempts = if failure.unreachable {
                self.retry.attempts.clamp(1, UNREACHABLE_ATTEMPTS)
            } else {
                self.retry.attempts.max(1)
            };
            let retryable = match (&failure.error, replay) {
                (error, _) if error.is_locked() => false,
                (ApiError::Status { status: 429, .. }, _) => true,
                (_, Replay::Never) => false,
                (ApiError::Status { status, .. }, Replay::Safe) => RETRYABLE.contains(status),
                (ApiError::Transport { .. }, Replay::Safe) => true,
                _ => false,
            };
            if !retryable || retry + 1 >= attempts {
                return Err(failure.error);
            }
            let pause = self.retry.backoff(retry, failure.retry_after);
            self.progress.say(&format!(
                "Vultr API {method} {path}: {}; retrying in {:.1} s (attempt {} of {attempts})",
                failure.reason,
                pause.as_secs_f64(),
                retry + 2
            ));
            std::thread::sleep(pause);
            retry += 1;
        }
    }

    /// One attempt of a request.
    fn attempt(
        &self,
        method: &'static str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, Box<Failure>> {
        let url = format!("{}{path}", self.endpoint);
        let mut request = self
            .agent
            .request(method, &url)
            .set("Authorization", &format!("Bearer {}", self.token.expose()))
            .set("Accept", "application/json");
        for (name, value) in query {
            request = request.query(name, value);
        }
        let result = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        let transport = |message: String, unreachable: bool| {
            Box::new(Failure {
                reason: message.clone(),
                error: ApiError::Transport {
                    endpoint: self.endpoint.clone(),
                    method,
                    path: path.to_string(),
                    message,
                },
                retry_after: None,
                unreachable,
            })
        };
        match result {
            Ok(response) => match response.into_string() {
                Ok(text) => parse_body(method, path, &text).map_err(|error| {
                    Box::new(Failure {
                        reason: error.to_string(),
                        error,
                        retry_after: None,
                        unreachable: false,
                    })
                }),
                Err(e) => Err(transport(format!("the answer was cut off ({e})"), false)),
            },
            Err(ureq::Error::Status(status, response)) => {
                let retry_after = response
                    .header("Retry-After")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let message = error_message(response);
                let path = path.to_string();
                let reason = format!("HTTP {status} ({message})");
                let error = if status == 401 || status == 403 {
                    ApiError::Unauthorized {
                        method,
                        path,
                        status,
                        message,
                    }
                } else {
                    ApiError::Status {
                        method,
                        path,
                        status,
                        message,
                    }
                };
                Err(Box::new(Failure {
                    error,
                    reason,
                    retry_after,
                    unreachable: false,
                }))
            }
            Err(ureq::Error::Transport(error)) => {
                let unreachable = matches!(
                    error.kind(),
                    ureq::ErrorKind::ConnectionFailed
                        | ureq::ErrorKind::Dns
                        | ureq::ErrorKind::InvalidUrl
                        | ureq::ErrorKind::UnknownScheme
                );
                Err(transport(transport_reason(&error), unreachable))
            }
        }
    }
}

/// A failed attempt: the error to return if it is the last, and what the retry line says.
struct Failure {
    error: ApiError,
    reason: String,
    retry_after: Option<Duration>,
    /// The endpoint could not be connected to at all.
    unreachable: bool,
}

/// What went wrong on the way, in words: the kind of failure and its cause, without the URL
/// (the error names the endpoint) and without Rust debug output.
fn transport_reason(error: &ureq::Transport) -> String {
    let mut reason = match error.kind() {
        ureq::ErrorKind::ConnectionFailed => "the connection failed".to_string(),
        ureq::ErrorKind::Dns => "the host name does not resolve".to_string(),
        ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme => {
            "the address is not an http(s) URL".to_string()
        }
        ureq::ErrorKind::Io => "the connection broke".to_string(),
        kind => kind.to_string().to_lowercase(),
    };
    if let Some(message) = error.message() {
        reason.push_str(&format!(": {message}"));
    }
    if let Some(source) = std::error::Error::source(error) {
        reason.push_str(&format!(": {source}"));
    }
    reason
}

fn encode(method: &'static str, path: &str, body: &impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(body).map_err(|e| ApiError::Decode {
        method,
        path: path.to_string(),
        message: format!("cannot encode the request: {e}"),
    })
}

fn decode<T: DeserializeOwned>(
    method: &'static str,
    path: &str,
    value: Value,
) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::Decode {
        method,
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// The JSON of a successful answer (`Null` when empty); `Err` when the answer is not JSON.
fn parse_body(method: &'static str, path: &str, text: &str) -> Result<Value, ApiError> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text).map_err(|e| ApiError::Decode {
        method,
        path: path.to_string(),
        message: format!("not JSON ({e})"),
    })
}

/// The `error` field of an error answer, else its text (shortened).
fn error_message(response: ureq::Response) -> String {
    let text = response.into_string().unwrap_or_default();
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or(text);
    let message = message.trim();
    match message.char_indices().nth(300) {
        Some((cut, _)) => format!("{}...", &message[..cut]),
        None if message.is_empty() => "(no message)".into(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_key() {
        let client = Client::new("http://127.0.0.1:1/v2", Secret::new("KEY-abc123"));
        let debug = format!("{client:?}");
        assert!(!debug.contains("KEY-abc123"), "{debug}");
        assert!(debug.contains("127.0.0.1:1"), "{debug}");
    }
}
