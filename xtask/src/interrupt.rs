//! Ctrl-C for long commands that install this handler: the first one asks the command to stop
//! at its next safe point and clean up (a benchmark stops every validator it started and still
//! writes what it measured; a deploy creates nothing more, and `testbed destroy` finds what it
//! created). Long operations poll [`requested`]; [`request`] does what Ctrl-C does (tests
//! interrupt commands with it, at a point they choose).

use std::sync::{
    atomic::{AtomicBool, Ordering},
    OnceLock,
};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Installs the handler (once per process).
pub fn install() {
    INSTALLED.get_or_init(|| ctrlc::set_handler(request).is_ok());
}

/// Asks the running command to stop, as Ctrl-C does.
pub fn request() {
    if REQUESTED.swap(true, Ordering::SeqCst) {
        eprintln!("\nstill cleaning up; please wait");
    } else {
        eprintln!("\ninterrupted: stopping what was started and keeping what is done");
    }
}

/// Forgets a request, so that a process running several commands (tests) can run the next.
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}

/// Whether the user asked to stop.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
