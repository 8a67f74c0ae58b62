//! A blocking client for the Vultr v2 REST API: Bearer authentication, JSON bodies, retries
//! with bounded exponential backoff on throttling and server errors, cursor pagination.

use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::settings::Secret;

/// The public API endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://api.vultr.com/v2";

/// Statuses worth retrying: throttling and transient server errors.
const RETRYABLE: [u16; 5] = [429, 500, 502, 503, 504];

/// Pages read at most by one listing (a guard against a server that never ends a listing).
const MAX_PAGES: usize = 1000;

/// How failed requests are retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts per request, the first included (at least 1).
    pub attempts: u32,
    /// Pause before the first retry; doubled at each further one.
    pub initial_backoff: Duration,
    /// Longest pause between two attempts (also caps the server's `Retry-After`).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (0 for the first retry).
    fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self.initial_backoff.saturating_mul(1 << retry.min(16));
        retry_after
            .unwrap_or(exponential)
            .min(self.max_backoff)
            .max(Duration::from_millis(1))
    }
}

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
    /// The API could not be reached.
    #[error("cannot reach the Vultr API at {endpoint} ({method} {path}): {message}")]
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
}

/// The Vultr API client. Its `Debug` output shows the endpoint, never the key.
#[derive(Clone, Debug)]
pub struct Client {
    endpoint: String,
    token: Secret,
    agent: ureq::Agent,
    retry: RetryPolicy,
    per_page: usize,
}

impl Client {
    /// A client for `endpoint` (e.g. [`DEFAULT_ENDPOINT`]) authenticating with `token`.
    pub fn new(endpoint: &str, token: Secret) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("consensus-bench-xtask/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token,
            agent,
            retry: RetryPolicy::default(),
            per_page: 100,
        }
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
        let value = self.request("GET", path, query, None)?;
        decode("GET", path, value)
    }

    /// `POST path` with a JSON body, the answer decoded.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ApiError> {
        let body = encode("POST", path, body)?;
        let value = self.request("POST", path, &[], Some(body))?;
        decode("POST", path, value)
    }

    /// `POST path` with a JSON body, the answer (usually `204 No Content`) ignored.
    pub fn post_no_content(&self, path: &str, body: &impl Serialize) -> Result<(), ApiError> {
        let body = encode("POST", path, body)?;
        self.request("POST", path, &[], Some(body)).map(drop)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<(), ApiError> {
        self.request("DELETE", path, &[], None).map(drop)
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
            let mut page = self.request("GET", path, &page_query, None)?;
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

    /// One request with retries; the decoded JSON answer (`Null` for an empty body).
    fn request(
        &self,
        method: &'static str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.endpoint);
        let attempts = self.retry.attempts.max(1);
        let idempotent = method != "POST";
        let mut retry = 0;
        loop {
            let mut request = self
                .agent
                .request(method, &url)
                .set("Authorization", &format!("Bearer {}", self.token.expose()))
                .set("Accept", "application/json");
            for (name, value) in query {
                request = request.query(name, value);
            }
            let result = match &body {
                Some(body) => request.send_json(body),
                None => request.call(),
            };
            let last = retry + 1 >= attempts;
            match result {
                Ok(response) => return read_body(method, path, response),
                Err(ureq::Error::Status(status, response)) => {
                    let retry_after = response
                        .header("Retry-After")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let message = error_message(response);
                    if RETRYABLE.contains(&status) && !last {
                        std::thread::sleep(self.retry.backoff(retry, retry_after));
                        retry += 1;
                        continue;
                    }
                    let path = path.to_string();
                    return Err(if status == 401 || status == 403 {
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
                    });
                }
                Err(ureq::Error::Transport(transport)) => {
                    // A POST may have been applied before the connection broke: not retried.
                    if idempotent && !last {
                        std::thread::sleep(self.retry.backoff(retry, None));
                        retry += 1;
                        continue;
                    }
                    return Err(ApiError::Transport {
                        endpoint: self.endpoint.clone(),
                        method,
                        path: path.to_string(),
                        message: transport.to_string(),
                    });
                }
            }
        }
    }
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

fn read_body(
    method: &'static str,
    path: &str,
    response: ureq::Response,
) -> Result<Value, ApiError> {
    let text = response.into_string().map_err(|e| ApiError::Transport {
        endpoint: String::new(),
        method,
        path: path.to_string(),
        message: format!("cannot read the answer: {e}"),
    })?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| ApiError::Decode {
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
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy {
            attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        assert_eq!(policy.backoff(0, None), Duration::from_millis(100));
        assert_eq!(policy.backoff(1, None), Duration::from_millis(200));
        assert_eq!(policy.backoff(3, None), Duration::from_millis(800));
        assert_eq!(policy.backoff(4, None), Duration::from_secs(1));
        assert_eq!(policy.backoff(60, None), Duration::from_secs(1));
        assert_eq!(
            policy.backoff(0, Some(Duration::from_secs(30))),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn debug_output_hides_the_key() {
        let client = Client::new("http://127.0.0.1:1/v2", Secret::new("KEY-abc123"));
        let debug = format!("{client:?}");
        assert!(!debug.contains("KEY-abc123"), "{debug}");
        assert!(debug.contains("127.0.0.1:1"), "{debug}");
    }
}
