//! Runs a local child process (ssh, scp) with a time limit, in its own process group so a
//! Ctrl-C at the terminal reaches only the orchestrator, which then cleans up in order.

use std::{
    os::unix::process::CommandExt,
    path::PathBuf,
    sync::{mpsc, Arc},
    time::Duration,
};

use anyhow::{anyhow, Context, Result};

/// What a finished child printed and how it exited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Output {
    /// Whether the process exited with 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The last non-empty line of standard error, for error messages.
    pub fn last_error_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
    }
}

/// Where a child's standard input and output go.
#[derive(Default)]
pub struct Io {
    /// Bytes written to standard input (`None`: /dev/null).
    pub stdin: Option<Vec<u8>>,
    /// Write standard output to this file instead of capturing it.
    pub stdout_file: Option<PathBuf>,
}

/// Runs `program args` and waits at most `timeout`; on timeout the child is killed and an
/// error returned. A non-zero exit is not an error here: see [`Output::code`].
pub fn run(program: &str, args: &[String], io: Io, timeout: Duration) -> Result<Output> {
    let mut expression = duct::cmd(program, args)
        .unchecked()
        .stderr_capture()
        .before_spawn(|command| {
            command.process_group(0);
            Ok(())
        });
    expression = match io.stdin {
        Some(bytes) => expression.stdin_bytes(bytes),
        None => expression.stdin_null(),
    };
    expression = match &io.stdout_file {
        Some(path) => expression.stdout_path(path),
        None => expression.stdout_capture(),
    };
    let handle = Arc::new(
        expression
            .start()
            .with_context(|| format!("cannot start `{program}`"))?,
    );
    let (sender, receiver) = mpsc::channel();
    let waiter = Arc::clone(&handle);
    std::thread::spawn(move || {
        let result = waiter.wait().map(|o| Output {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        });
        let _ = sender.send(result);
    });
    match receiver.recv_timeout(timeout) {
        Ok(result) => result.with_context(|| format!("cannot wait for `{program}`")),
        Err(_) => {
            let _ = handle.kill();
            Err(anyhow!(
                "`{program}` did not finish within {} s and was killed",
                timeout.as_secs()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_exit_code() {
        let out = run(
            "sh",
            &["-c".into(), "cat; echo oops >&2; exit 3".into()],
            Io {
                stdin: Some(b"hello".to_vec()),
                stdout_file: None,
            },
            Duration::from_secs(10),
        )
        .expect("runs");
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "hello");
        assert_eq!(out.last_error_line(), "oops");
        assert!(!out.success());
    }

    #[test]
    fn kills_a_child_that_overruns() {
        let err = run(
            "sleep",
            &["30".into()],
            Io::default(),
            Duration::from_millis(200),
        )
        .expect_err("times out");
        assert!(err.to_string().contains("did not finish"), "{err}");
    }
}
