//! Owns the one way the tool works on many items at once: a function over them on a bounded
//! number of scoped threads, results in the input order (hosts over SSH, cloud API calls,
//! validator scrapes).

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Mutex,
};

/// Applies `f` to every item with at most `concurrency` calls in flight; results come back in
/// the order of `items`. A panicking call yields `on_panic()` for its item.
pub(crate) fn map<T, R, F, P>(items: &[T], concurrency: usize, f: F, on_panic: P) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
    P: Fn() -> R + Sync,
{
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let workers = concurrency.clamp(1, items.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(index) else {
                    break;
                };
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(item)))
                    .unwrap_or_else(|_| on_panic());
                if let Ok(mut slot) = slots[index].lock() {
                    *slot = Some(result);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| slot.into_inner().ok().flatten().unwrap_or_else(&on_panic))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn keeps_order_and_bounds_concurrency() {
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items: Vec<u64> = (0..20).collect();
        let out = map(
            &items,
            3,
            |&i| {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(5));
                in_flight.fetch_sub(1, Ordering::SeqCst);
                i * 2
            },
            || u64::MAX,
        );
        assert_eq!(out, (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(peak.load(Ordering::SeqCst) >= 2, "ran in parallel");
    }

    #[test]
    fn a_panicking_item_does_not_lose_the_others() {
        let out = map(
            &[1, 2, 3],
            2,
            |&i| {
                if i == 2 {
                    panic!("boom");
                }
                Ok::<i32, String>(i)
            },
            || Err("panicked".to_string()),
        );
        assert_eq!(out, vec![Ok(1), Err("panicked".into()), Ok(3)]);
    }
}
