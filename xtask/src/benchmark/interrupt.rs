//! Ctrl-C: the first one asks the benchmark to stop measuring, clean up and write what it has.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    OnceLock,
};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Installs the handler (once per process).
pub fn install() {
    INSTALLED.get_or_init(|| {
        ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                eprintln!("\nstill stopping the validators; please wait");
            } else {
                eprintln!("\ninterrupted: stopping every process and writing what was measured");
            }
        })
        .is_ok()
    });
}

/// Whether the user asked to stop.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
