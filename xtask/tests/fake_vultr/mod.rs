//! A fake of the Vultr v2 API on 127.0.0.1, in the test process, following the documented
//! behaviour: Bearer authentication (401 otherwise), 202 on create and 204 on actions,
//! cursor pagination (pages of at most `page_size` items, so listings span several pages),
//! instances locked for a while after their creation, then pending until polled a few times,
//! then active with `server_status: ok`, firewall port ranges listed back spaced, a rule cap,
//! and injectable error answers (429, 5xx, 5xx after acting). Every request is recorded; see
//! `state.rs` for the sources.
#![allow(dead_code)]

mod state;

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard,
    },
    thread::JoinHandle,
    time::Duration,
};

pub(crate) use state::State;
use xtask::settings::{LoadedSettings, SettingsFile};

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub method: String,
    /// Path without the `/v2` prefix.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: String,
    pub authorization: Option<String>,
}

impl Recorded {
    /// Whether this request changes something (creates, acts on or deletes).
    pub(crate) fn mutates(&self) -> bool {
        self.method != "GET"
    }
}

/// The running fake.
pub(crate) struct FakeVultr {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeVultr {
    /// Starts the fake, accepting `token` only.
    pub(crate) fn start(token: &str) -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind the fake Vultr API");
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let state = Arc::new(Mutex::new(State::new(token)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match server.recv_timeout(Duration::from_millis(50)) {
                        Ok(Some(request)) => serve(&state, request),
                        Ok(None) => {}
                        Err(_) => break,
                    }
                }
            })
        };
        Self {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// The address it listens on (for a proxy in front of it).
    pub(crate) fn address(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The base URL for `api_endpoint`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v2", self.port)
    }

    /// The fake's state, to seed or inspect.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every request received so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.state().log.clone()
    }

    /// Requests that changed something.
    pub(crate) fn mutations(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::mutates)
            .collect()
    }

    /// Requests of `method` on exactly `path`.
    pub(crate) fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// Forgets the recorded requests.
    pub(crate) fn clear_log(&self) {
        self.state().log.clear();
    }
}

impl Drop for FakeVultr {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(state: &Mutex<State>, mut request: tiny_http::Request) {
    let url = url::Url::parse(&format!("http://fake{}", request.url())).expect("request URL");
    let path = url
        .path()
        .strip_prefix("/v2")
        .unwrap_or(url.path())
        .to_string();
    let query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut body = String::new();
    let _ = request.as_reader().read_to_string(&mut body);
    let authorization = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string());
    let recorded = Recorded {
        method: request.method().as_str().to_string(),
        path,
        query,
        body,
        authorization,
    };
    let (status, answer, stall) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let (status, answer) = state.handle(recorded);
        (status, answer, state.stall.take())
    };
    // An answer held back (the request was applied): the client times out first.
    if let Some(pause) = stall {
        std::thread::sleep(pause);
    }
    let response = match answer {
        Some(json) => tiny_http::Response::from_string(json.to_string())
            .with_status_code(status)
            .with_header(
                tiny_http::Header::from_bytes("Content-Type", "application/json").expect("header"),
            )
            .boxed(),
        None => tiny_http::Response::empty(status).boxed(),
    };
    let _ = request.respond(response);
}

/// Files and settings of a Vultr testbed on the fake: a token file holding `token`, an SSH key
/// pair, `regions` and plan `specs`.
pub(crate) fn settings(
    dir: &Path,
    endpoint: &str,
    token: &str,
    testbed_id: &str,
    regions: &[&str],
    specs: &str,
) -> LoadedSettings {
    let token_file = dir.join("vultr-token");
    std::fs::write(&token_file, format!("{token}\n")).expect("token file");
    let key = dir.join("id_ed25519");
    if !key.exists() {
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "bench@test", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen");
        assert!(status.success(), "ssh-keygen failed");
    }
    settings_json(dir, endpoint, testbed_id, regions, specs, &token_file)
        .validate()
        .expect("valid settings")
}

/// `testbed deploy` options for tests: `instances` per region, no question, no set-up.
pub(crate) fn deploy_options(
    instances: usize,
    wait: xtask::commands::testbed::WaitOptions,
) -> xtask::commands::testbed::deploy::DeployOptions {
    xtask::commands::testbed::deploy::DeployOptions {
        instances,
        region: None,
        ttl_hours: None,
        yes: true,
        skip_setup: true,
        wait,
    }
}

/// The settings as a struct, for tests that break them.
pub(crate) fn settings_json(
    dir: &Path,
    endpoint: &str,
    testbed_id: &str,
    regions: &[&str],
    specs: &str,
    token_file: &Path,
) -> SettingsFile {
    let json = serde_json::json!({
        "testbed_id": testbed_id,
        "cloud_provider": "vultr",
        "token_file": token_file,
        "ssh_private_key_file": dir.join("id_ed25519"),
        "regions": regions,
        "specs": specs,
        "api_endpoint": endpoint,
    });
    SettingsFile::parse(&json.to_string(), Path::new("settings.json")).expect("settings parse")
}

/// How the fake Vultr (and Vultr) say "slow down" and "server error".
pub(crate) struct VultrDialect;

impl crate::common::fault_proxy::Dialect for VultrDialect {
    fn throttled(&self) -> (u16, &'static str, String) {
        (
            429,
            "application/json",
            r#"{"error":"rate limit exceeded","status":429}"#.into(),
        )
    }

    fn server_error(&self, status: u16) -> (u16, &'static str, String) {
        (
            status,
            "application/json",
            format!(r#"{{"error":"gateway error","status":{status}}}"#),
        )
    }
}
