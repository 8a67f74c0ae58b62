//! Transactions waiting to be proposed, bounded in bytes.

use std::{collections::VecDeque, sync::Mutex};

use bytes::Bytes;

struct Batch {
    bytes: Bytes,
    count: usize,
}

#[derive(Default)]
struct Inner {
    batches: VecDeque<Batch>,
    bytes: usize,
    count: usize,
}

/// A bounded FIFO of encoded transaction batches.
pub struct TransactionPool {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl TransactionPool {
    /// A pool holding at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes that can still be added.
    pub fn free_bytes(&self) -> usize {
        self.capacity.saturating_sub(self.lock().bytes)
    }

    /// Adds a batch of `count` transactions; false (nothing added) if it does not fit.
    pub fn try_push(&self, bytes: Bytes, count: usize) -> bool {
        let mut inner = self.lock();
        if inner.bytes + bytes.len() > self.capacity {
            return false;
        }
        inner.bytes += bytes.len();
        inner.count += count;
        inner.batches.push_back(Batch { bytes, count });
        true
    }

    /// Takes whole batches, oldest first, up to `max_bytes` in total.
    pub fn take(&self, max_bytes: usize) -> (Vec<Bytes>, usize) {
        let mut inner = self.lock();
        let mut out = Vec::new();
        let mut size = 0;
        let mut count = 0;
        while let Some(front) = inner.batches.front() {
            if size + front.bytes.len() > max_bytes {
                break;
            }
            let Some(b) = inner.batches.pop_front() else {
                break;
            };
            size += b.bytes.len();
            count += b.count;
            out.push(b.bytes);
        }
        inner.bytes -= size;
        inner.count -= count;
        (out, count)
    }

    /// Transactions waiting.
    pub fn len(&self) -> usize {
        self.lock().count
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_when_full_and_takes_within_the_cap() {
        let pool = TransactionPool::new(100);
        assert!(pool.try_push(Bytes::from(vec![0; 60]), 2));
        assert!(!pool.try_push(Bytes::from(vec![0; 60]), 2));
        assert!(pool.try_push(Bytes::from(vec![0; 40]), 1));
        assert_eq!(pool.len(), 3);
        let (batches, count) = pool.take(70);
        assert_eq!((batches.len(), count), (1, 2));
        assert_eq!(pool.free_bytes(), 60);
    }
}
