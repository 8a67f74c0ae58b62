//! What the validator reads from outside its own state: wall-clock time (block timestamps,
//! transaction submit times, commit latency) and randomness (request retries). The real
//! clock and the OS's generator, or, on a thread that runs the simulator (`crate::sim`), a
//! virtual clock that follows tokio's paused clock and a seeded generator: that thread's
//! validators then depend on nothing but the seed.

use std::{
    cell::{Cell, RefCell},
    time::{SystemTime, UNIX_EPOCH},
};

use rand::{rngs::StdRng, Rng, SeedableRng};
use tokio::time::Instant;

thread_local! {
    /// (tokio instant, Unix microseconds) of the virtual clock's origin on this thread.
    static VIRTUAL_CLOCK: Cell<Option<(Instant, u64)>> = const { Cell::new(None) };
    /// The seeded generator of this thread, if any.
    static SEEDED: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// Microseconds since the Unix epoch: real, or virtual on a simulator thread.
pub fn unix_micros() -> u64 {
    match VIRTUAL_CLOCK.with(Cell::get) {
        Some((origin, epoch)) => {
            epoch + Instant::now().saturating_duration_since(origin).as_micros() as u64
        }
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64),
    }
}

/// A random number: the OS-seeded generator, or this thread's seeded one.
pub fn random_u64() -> u64 {
    SEEDED.with(|s| match s.borrow_mut().as_mut() {
        Some(rng) => rng.gen(),
        None => rand::random(),
    })
}

/// Makes this thread virtual: its Unix clock reads `epoch_micros` at tokio's `origin` and
/// follows tokio's (paused) clock from there; its randomness comes from `seed`. Undone when
/// the returned guard drops.
pub fn enter_virtual(origin: Instant, epoch_micros: u64, seed: u64) -> VirtualGuard {
    VIRTUAL_CLOCK.with(|c| c.set(Some((origin, epoch_micros))));
    SEEDED.with(|s| *s.borrow_mut() = Some(StdRng::seed_from_u64(seed)));
    VirtualGuard(())
}

/// Restores the real clock and generator of the thread when dropped.
pub struct VirtualGuard(());

impl Drop for VirtualGuard {
    fn drop(&mut self) {
        VIRTUAL_CLOCK.with(|c| c.set(None));
        SEEDED.with(|s| *s.borrow_mut() = None);
    }
}
