//! An HTTP/1.1 proxy on 127.0.0.1 that injects faults from a [`Schedule`] into the requests it
//! forwards to an emulated API (the fake Vultr, moto): throttling, 5xx before or after the
//! upstream acted, connection resets, delays, and answers lost after the upstream acted. Each
//! connection carries one request (`Connection: close` both ways), so a reset hits exactly one.

use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard,
    },
    thread::JoinHandle,
    time::Duration,
};

use super::faults::{Fault, Schedule};

/// An answer made by the proxy: `(status, content type, body)`.
pub(crate) type Answer = (u16, &'static str, String);

/// How an API says "slow down" and "server error", and what the proxy adds to an emulator
/// that lacks it (a region refusing every call, idempotent creates).
pub(crate) trait Dialect: Send + Sync + 'static {
    /// The answer to a throttled request.
    fn throttled(&self) -> Answer;
    /// The answer of a server error.
    fn server_error(&self, status: u16) -> Answer;
    /// The key faults are drawn and counted under. Default: `method_and_path`.
    fn key(&self, method_and_path: &str, _head: &[String], _body: &[u8]) -> String {
        method_and_path.to_string()
    }
    /// An answer given instead of forwarding, before any fault (e.g. a failing region).
    fn refuse(&self, _head: &[String], _body: &[u8]) -> Option<Answer> {
        None
    }
    /// What the API answers again to a repeated request, instead of forwarding it: the first
    /// answer's bytes, or an error answer. Default: nothing (forward).
    fn replay(&self, _body: &[u8]) -> Option<Result<Vec<u8>, Answer>> {
        None
    }
    /// Called with every request forwarded and the bytes of the upstream's answer.
    fn remember(&self, _body: &[u8], _answer: &[u8]) {}
}

/// Largest request or response head read.
const MAX_HEAD: usize = 64 * 1024;

/// Longest wait for a peer.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The running proxy.
pub(crate) struct FaultProxy {
    address: SocketAddr,
    schedule: Arc<Mutex<Schedule>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Forwards to `upstream`, injecting what `schedule` decides, the way `dialect` speaks.
    pub(crate) fn start(upstream: SocketAddr, schedule: Schedule, dialect: impl Dialect) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let address = listener.local_addr().expect("proxy address");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let schedule = Arc::new(Mutex::new(schedule));
        let stop = Arc::new(AtomicBool::new(false));
        let dialect = Arc::new(dialect);
        let thread = {
            let (schedule, stop) = (schedule.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            let (schedule, dialect) = (schedule.clone(), dialect.clone());
                            std::thread::spawn(move || {
                                let _ = serve(client, upstream, &schedule, dialect.as_ref());
                            });
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        Self {
            address,
            schedule,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, to put in front of the API's path.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The schedule, to read what was injected.
    pub(crate) fn schedule(&self) -> MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A request or response: its head (lines without the final blank line) and body.
struct Message {
    head: Vec<String>,
    body: Vec<u8>,
}

impl Message {
    /// The head with `Connection: close` instead of whatever it said, then the body.
    fn closing(&self) -> Vec<u8> {
        let mut out = String::new();
        for line in &self.head {
            if !line.to_ascii_lowercase().starts_with("connection:") {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        out.push_str("Connection: close\r\n\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }
}

/// Reads one message: the head, then `Content-Length` bytes, or (`to_eof`) everything until
/// the peer closes when there is no length.
fn read_message(stream: &mut TcpStream, to_eof: bool) -> std::io::Result<Message> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > MAX_HEAD {
            return Err(std::io::Error::other("head too long"));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::other("closed before the head ended"));
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head: Vec<String> = String::from_utf8_lossy(&buffer[..end])
        .split("\r\n")
        .map(str::to_string)
        .collect();
    let mut body = buffer[end + 4..].to_vec();
    let mut message = Message {
        head,
        body: Vec::new(),
    };
    match message
        .header("Content-Length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(length) => {
            while body.len() < length {
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    return Err(std::io::Error::other("closed before the body ended"));
                }
                body.extend_from_slice(&chunk[..n]);
            }
            body.truncate(length);
        }
        None if to_eof => {
            stream.read_to_end(&mut body)?;
        }
        None => {}
    }
    message.body = body;
    Ok(message)
}

/// Sends `request` upstream and reads the whole answer.
fn forward(upstream: SocketAddr, request: &Message) -> std::io::Result<Message> {
    let mut stream = TcpStream::connect_timeout(&upstream, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(&request.closing())?;
    read_message(&mut stream, true)
}

/// Closes `stream` with a TCP reset (SO_LINGER 0) instead of an orderly close.
fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the descriptor is open (owned by `stream`) and `linger` outlives the call.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

fn answer(stream: &mut TcpStream, (status, content_type, body): Answer) {
    let text = format!(
        "HTTP/1.1 {status} Injected\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
}

fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    schedule: &Mutex<Schedule>,
    dialect: &dyn Dialect,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    let request = read_message(&mut client, false)?;
    let mut words = request.head[0].split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let key = dialect.key(
        &format!("{method} {}", target.split('?').next().unwrap_or("")),
        &request.head,
        &request.body,
    );
    if let Some(refusal) = dialect.refuse(&request.head, &request.body) {
        answer(&mut client, refusal);
        return Ok(());
    }
    let fault = schedule
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .next(&key);
    // What the API answers: replayed, or forwarded and remembered.
    let upstream_answer = |request: &Message| -> std::io::Result<Result<Vec<u8>, Answer>> {
        if let Some(replayed) = dialect.replay(&request.body) {
            return Ok(replayed);
        }
        let bytes = forward(upstream, request)?.closing();
        dialect.remember(&request.body, &bytes);
        Ok(Ok(bytes))
    };
    match fault {
        Fault::Throttle => answer(&mut client, dialect.throttled()),
        Fault::ServerError(status) => answer(&mut client, dialect.server_error(status)),
        Fault::Reset => reset(client),
        Fault::ServerErrorAfter(status) => {
            let _ = upstream_answer(&request)?;
            answer(&mut client, dialect.server_error(status));
        }
        Fault::LostAnswer => {
            let _ = upstream_answer(&request)?;
            reset(client);
        }
        Fault::None | Fault::Delay(_) => {
            if let Fault::Delay(pause) = fault {
                std::thread::sleep(pause);
            }
            match upstream_answer(&request)? {
                Ok(bytes) => {
                    client.write_all(&bytes)?;
                    client.shutdown(Shutdown::Write)?;
                }
                Err(refusal) => answer(&mut client, refusal),
            }
        }
    }
    Ok(())
}
