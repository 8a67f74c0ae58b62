//! Transaction batches: one contiguous buffer of `u32` length-prefixed transactions.
//!
//! A load-generator transaction starts with its submit time (u64 microseconds since the
//! UNIX epoch, little endian) followed by a u64 counter.

use bytes::{BufMut, Bytes, BytesMut};

/// Smallest transaction the load generator can create (submit time + counter).
pub const MIN_TRANSACTION_SIZE: usize = 16;

/// Bytes a transaction of `size` takes in a batch.
pub fn encoded_size(size: usize) -> usize {
    4 + size
}

/// Appends one load-generator transaction of `size` bytes.
pub fn put_transaction(out: &mut BytesMut, size: usize, submit_micros: u64, counter: u64) {
    debug_assert!(size >= MIN_TRANSACTION_SIZE);
    out.put_u32_le(size as u32);
    out.put_u64_le(submit_micros);
    out.put_u64_le(counter);
    // Filler: cheap, deterministic, not all zeros.
    let filler = size - MIN_TRANSACTION_SIZE;
    let byte = (counter as u8) | 1;
    out.put_bytes(byte, filler);
}

/// Iterates the transactions of a batch; stops at the first malformed length.
pub struct Transactions<'a> {
    rest: &'a [u8],
}

impl<'a> Transactions<'a> {
    /// Iterates over `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        Self { rest: payload }
    }
}

impl<'a> Iterator for Transactions<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.len() < 4 {
            return None;
        }
        let len =
            u32::from_le_bytes([self.rest[0], self.rest[1], self.rest[2], self.rest[3]]) as usize;
        if self.rest.len() < 4 + len {
            self.rest = &[];
            return None;
        }
        let tx = &self.rest[4..4 + len];
        self.rest = &self.rest[4 + len..];
        Some(tx)
    }
}

/// Submit time embedded in a load-generator transaction, if it has one.
pub fn submit_micros(tx: &[u8]) -> Option<u64> {
    let head: [u8; 8] = tx.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(head))
}

/// Concatenates batches into one payload (no copy for a single batch).
pub fn concat(batches: Vec<Bytes>) -> Bytes {
    match batches.len() {
        0 => Bytes::new(),
        1 => batches.into_iter().next().unwrap_or_default(),
        _ => {
            let mut out = BytesMut::with_capacity(batches.iter().map(Bytes::len).sum());
            for b in batches {
                out.extend_from_slice(&b);
            }
            out.freeze()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trips() {
        let mut out = BytesMut::new();
        put_transaction(&mut out, 512, 1234, 1);
        put_transaction(&mut out, 16, 99, 2);
        let payload = out.freeze();
        let txs: Vec<_> = Transactions::new(&payload).collect();
        assert_eq!(txs.len(), 2);
        assert_eq!(txs[0].len(), 512);
        assert_eq!(submit_micros(txs[0]), Some(1234));
        assert_eq!(submit_micros(txs[1]), Some(99));
    }

    #[test]
    fn truncated_batch_stops() {
        let mut out = BytesMut::new();
        put_transaction(&mut out, 32, 1, 1);
        let payload = out.freeze();
        assert_eq!(Transactions::new(&payload[..20]).count(), 0);
    }
}
