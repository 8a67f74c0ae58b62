//! Shell commands that start, watch and stop validators on a host.
//!
//! A validator runs detached from the SSH session (`nohup setsid`, every descriptor
//! redirected) with its pid in `validator-<i>.pid` next to its log, in the point's directory.
//! A pid counts as a validator only while `/proc/<pid>/exe` is the run's content-addressed
//! binary, so a recycled pid is never signalled. As a last resort, processes are found by
//! their command line, which starts with that binary's absolute path.

use crate::ssh::shell::{join, quote};

/// The pid file of validator `i`.
pub fn pid_file(validator: usize) -> String {
    format!("validator-{validator}.pid")
}

/// Escapes `text` for an extended regular expression (pkill/pgrep patterns).
pub fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if r"\.[]()*+?{}|^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Shell function `live PID...`: prints those of the pids that are running `binary`.
fn live_function(binary: &str) -> String {
    format!(
        "live() {{ for p in \"$@\"; do \
           s=$(sed 's/.*) //' /proc/$p/stat 2>/dev/null | cut -c1); \
           [ -n \"$s\" ] && [ \"$s\" != Z ] && [ \"$s\" != X ] && \
           [ \"$(readlink /proc/$p/exe 2>/dev/null)\" = {binary} ] && printf '%s ' $p; \
         done; }}",
        binary = quote(binary)
    )
}

/// Starts validator `validator` detached in `dir`: `binary args...`, with `RUST_LOG` set to
/// `log_filter`, appending to `log`, in a shell that first sources `session` when it exists
/// (the testbed set-up's limits). Prints the pid once the pid file is written.
pub fn start(
    dir: &str,
    binary: &str,
    args: &[String],
    validator: usize,
    log: &str,
    log_filter: &str,
    session: &str,
) -> String {
    let pid = pid_file(validator);
    let mut command = vec![binary.to_string()];
    command.extend(args.iter().cloned());
    format!(
        "if [ -r {session} ]; then . {session} || exit 1; fi; \
         cd {dir} && rm -f {pid} && \
         (RUST_LOG={filter} nohup setsid sh -c 'echo $$ > {pid} && exec \"$0\" \"$@\"' {command} \
            >> {log} 2>&1 < /dev/null &) && \
         n=0; while [ ! -s {pid} ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n+1)); done; \
         cat {pid}",
        dir = quote(dir),
        pid = quote(&pid),
        filter = quote(log_filter),
        command = join(&command),
        log = quote(log),
        session = quote(session),
    )
}

/// Prints the pid files (`validator-<i>.pid`) in `dir` whose process still runs `binary`.
pub fn alive(dir: &str, binary: &str) -> String {
    format!(
        "{live}; cd {dir} 2>/dev/null || exit 0; \
         for f in validator-*.pid; do [ -s \"$f\" ] || continue; \
           [ -n \"$(live $(cat \"$f\"))\" ] && echo \"$f\"; done; exit 0",
        live = live_function(binary),
        dir = quote(dir),
    )
}

/// Kills validators `validators` in `dir` with SIGKILL, waits (at most 5 s) until they are
/// gone and removes their pid files.
pub fn kill(dir: &str, binary: &str, validators: &[usize]) -> String {
    let files: Vec<String> = validators.iter().map(|&v| pid_file(v)).collect();
    format!(
        "{live}; cd {dir} || exit 1; pids=''; \
         for f in {files}; do [ -s \"$f\" ] && pids=\"$pids $(cat \"$f\")\"; done; \
         left=$(live $pids); [ -n \"$left\" ] && kill -KILL $left 2>/dev/null; \
         n=0; while [ -n \"$(live $pids)\" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done; \
         rm -f {files}; left=$(live $pids); \
         if [ -n \"$left\" ]; then echo \"still running after SIGKILL: $left\" >&2; exit 5; fi",
        live = live_function(binary),
        dir = quote(dir),
        files = join(&files),
    )
}

/// Stops every validator of the point in `dir`: SIGTERM, up to 5 s to exit, SIGKILL for the
/// rest; then kills anything still running `binary` on the point's files (by command line)
/// and fails naming the pids if something survives.
pub fn stop(dir: &str, binary: &str) -> String {
    let pattern = format!(
        "^{} .*{}/",
        regex_escape(binary),
        regex_escape(dir.trim_end_matches('/'))
    );
    format!(
        "{live}; if cd {dir} 2>/dev/null; then pids=''; \
           for f in validator-*.pid; do [ -s \"$f\" ] && pids=\"$pids $(cat \"$f\")\"; done; \
           left=$(live $pids); [ -n \"$left\" ] && kill -TERM $left 2>/dev/null; \
           n=0; while [ -n \"$(live $pids)\" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done; \
           left=$(live $pids); [ -n \"$left\" ] && kill -KILL $left 2>/dev/null; \
           rm -f validator-*.pid; \
         fi; \
         {last_resort}",
        live = live_function(binary),
        dir = quote(dir),
        last_resort = kill_matching(&pattern),
    )
}

/// Kills (SIGKILL) every process whose command line matches the extended regex `pattern`,
/// waits up to 5 s for them to go, and fails naming the survivors. The pattern should be
/// anchored (`^/path/...`) so that it cannot match the shell running this command.
pub fn kill_matching(pattern: &str) -> String {
    let pattern = quote(pattern);
    format!(
        "pkill -KILL -f {pattern} 2>/dev/null; \
         n=0; while pgrep -f {pattern} >/dev/null 2>&1 && [ $n -lt 50 ]; do \
           sleep 0.1; n=$((n+1)); pkill -KILL -f {pattern} 2>/dev/null; done; \
         left=$(pgrep -f {pattern} | tr '\\n' ' '); \
         if [ -n \"$left\" ]; then echo \"still running: $left\" >&2; exit 5; fi"
    )
}

/// The pattern of every validator of any binary installed in working directory `root`.
pub fn any_validator_pattern(root: &str) -> String {
    format!(
        "^{}/bin/node-[0-9a-f]+ ",
        regex_escape(root.trim_end_matches('/'))
    )
}

/// Waits (at most `seconds`) until TCP `port` listens on the host. Exits 0 once it does, 3
/// when validator `validator`'s process in `dir` is gone first, 4 on timeout.
pub fn wait_listening(
    dir: &str,
    binary: &str,
    validator: usize,
    port: u16,
    seconds: u32,
) -> String {
    format!(
        "{live}; cd {dir} || exit 1; n=0; \
         while [ $n -lt {ticks} ]; do \
           grep -q ':{port:04X} 0*:0000 0A' /proc/net/tcp /proc/net/tcp6 2>/dev/null && exit 0; \
           [ -n \"$(live $(cat {pid} 2>/dev/null))\" ] || exit 3; \
           sleep 0.1; n=$((n+1)); done; exit 4",
        live = live_function(binary),
        dir = quote(dir),
        ticks = seconds * 10,
        pid = quote(&pid_file(validator)),
    )
}

/// Prints the kernel's TCP socket tables (`/proc/net/tcp` and `tcp6`).
pub const SOCKET_TABLES: &str = "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; exit 0";

/// The TCP ports in LISTEN state in the text of `/proc/net/tcp{,6}`.
pub fn listening_ports(tables: &str) -> Vec<u16> {
    let mut ports: Vec<u16> = tables
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, state) = (fields.get(1)?, fields.get(3)?);
            if *state != "0A" {
                return None;
            }
            u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{path::Path, process::Command};

    fn sh(script: &str) -> (i32, String, String) {
        let out = Command::new("sh")
            .args(["-c", script])
            .output()
            .expect("sh");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A copy of `sleep` under a directory with characters a regex would misread.
    fn fake_node(dir: &Path) -> String {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let path = bin.join("node-0123456789abcdef");
        std::fs::copy("/bin/sleep", &path).expect("copy sleep");
        path.display().to_string()
    }

    /// Under `root`: the fake node and a point's directory (as a path and as a string).
    fn point_dir(root: &Path) -> (String, std::path::PathBuf, String) {
        let binary = fake_node(root);
        let point = root.join("runs/r1/p1");
        std::fs::create_dir_all(&point).expect("point");
        let dir = point.display().to_string();
        (binary, point, dir)
    }

    /// Starts `binary` (a `sleep`) for 300 s as validator `validator` of the point `dir`,
    /// logging to `validator-N.log`; the shell's exit code, output and errors.
    fn start_sleeping(
        dir: &str,
        binary: &str,
        validator: usize,
        session: &str,
    ) -> (i32, String, String) {
        let log = format!("validator-{validator}.log");
        sh(&start(
            dir,
            binary,
            &["300".into()],
            validator,
            &log,
            "info",
            session,
        ))
    }

    #[test]
    fn listening_ports_come_from_the_socket_tables() {
        let tables = "  sl  local_address rem_address   st tx_queue rx_queue\n\
           0: 0100007F:6978 00000000:0000 0A 00000000:00000000 00:00000000 00000000\n\
           1: 0100007F:6979 0100007F:D431 01 00000000:00000000 00:00000000 00000000\n\
           0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0\n";
        assert_eq!(listening_ports(tables), vec![0x1F90, 0x6978]);
        assert_eq!(regex_escape("/a.b/[x]"), r"/a\.b/\[x\]");
    }

    #[test]
    fn a_started_process_is_detached_watched_and_stopped_with_its_pid_file() {
        let root = tempfile::Builder::new()
            .prefix("proc.test+")
            .tempdir()
            .expect("tmp");
        let (binary, point, dir) = point_dir(root.path());
        // The set-up's session file applies to the validator.
        let session = root.path().join("session.sh");
        std::fs::write(&session, "ulimit -n 777\n").expect("session");

        let (code, pid, err) = start_sleeping(&dir, &binary, 2, &session.display().to_string());
        assert_eq!(code, 0, "{err}");
        let pid: u32 = pid.trim().parse().expect("a pid is printed");
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("running");
        assert_eq!(exe.display().to_string(), binary);
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
        assert!(
            limits
                .lines()
                .any(|l| l.starts_with("Max open files") && l.contains(" 777 ")),
            "{limits}"
        );
        // Its own session: not in the group of the shell that started it.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let fields: Vec<&str> = stat
            .rsplit(") ")
            .next()
            .expect("fields")
            .split(' ')
            .collect();
        assert_eq!(fields[3], pid.to_string(), "session leader: {stat}");

        let (_, out, _) = sh(&alive(&dir, &binary));
        assert_eq!(out.trim(), "validator-2.pid");
        // A pid file pointing at another program does not count.
        std::fs::write(point.join("validator-5.pid"), "1\n").expect("write");
        let (_, out, _) = sh(&alive(&dir, &binary));
        assert_eq!(out.trim(), "validator-2.pid");

        let (code, _, err) = sh(&stop(&dir, &binary));
        assert_eq!(code, 0, "{err}");
        assert!(
            std::fs::read_link(format!("/proc/{pid}/exe")).is_err(),
            "still running after stop"
        );
        assert!(!point.join("validator-2.pid").exists());
        let (_, out, _) = sh(&alive(&dir, &binary));
        assert_eq!(out.trim(), "");
    }

    #[test]
    fn kill_and_the_last_resort_pattern_leave_nothing() {
        let root = tempfile::tempdir().expect("tmp");
        let (binary, point, dir) = point_dir(root.path());
        let (_, pid, _) = start_sleeping(&dir, &binary, 0, "/nonexistent/session.sh");
        let pid: u32 = pid.trim().parse().expect("pid");
        let (code, _, err) = sh(&kill(&dir, &binary, &[0]));
        assert_eq!(code, 0, "{err}");
        assert!(std::fs::read_link(format!("/proc/{pid}/exe")).is_err());

        // A process without a pid file is found by its command line.
        start_sleeping(&dir, &binary, 1, "/nonexistent/session.sh");
        std::fs::remove_file(point.join("validator-1.pid")).expect("lose the pid file");
        let pattern = any_validator_pattern(&root.path().display().to_string());
        let running = || {
            let (_, out, _) = sh(&format!("pgrep -f {}", quote(&pattern)));
            out.split_whitespace().count()
        };
        assert_eq!(running(), 1);
        let (code, _, err) = sh(&kill_matching(&pattern));
        assert_eq!(code, 0, "{err}");
        assert_eq!(running(), 0);
    }
}
