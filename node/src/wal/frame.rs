//! WAL frames: `[len u32][crc32 of len u32][crc32 of payload u32][payload]`, little endian.
//! The length has its own checksum, so a corrupted length is told apart from a frame cut
//! short by the end of the file.

use thiserror::Error;

/// Bytes before a frame's payload.
pub(super) const FRAME_HEADER: usize = 12;

/// Why reading stopped before the end of a segment.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// The header or payload is cut short by the end of the file (torn write).
    #[error("torn frame")]
    Torn,
    /// The length field does not match its checksum.
    #[error("corrupted frame length")]
    Length,
    /// The payload does not match its checksum.
    #[error("checksum mismatch")]
    Checksum,
}

/// Appends a frame holding `payload`.
pub fn encode_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let at = begin_frame(out);
    out.extend_from_slice(payload);
    finish_frame(out, at);
}

/// Reserves a frame header at the end of `out`; the payload is appended after it, then
/// [`finish_frame`] fills the header in. Returns where the header starts.
pub(super) fn begin_frame(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER]);
    at
}

/// Fills in the header reserved at `at`: the payload is everything after it.
pub(super) fn finish_frame(out: &mut [u8], at: usize) {
    let payload = &out[at + FRAME_HEADER..];
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32fast::hash(payload).to_le_bytes();
    out[at..at + 4].copy_from_slice(&len);
    out[at + 4..at + 8].copy_from_slice(&crc32fast::hash(&len).to_le_bytes());
    out[at + 8..at + 12].copy_from_slice(&crc);
}

/// Frame payloads with the offset of their frame.
pub(super) type Frames<'a> = Vec<(usize, &'a [u8])>;

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Payloads of the intact prefix of `data`, the length of that prefix, and why decoding
/// stopped early, if it did.
pub fn decode_frames(data: &[u8]) -> (Frames<'_>, usize, Option<FrameError>) {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        if data.len() - pos < FRAME_HEADER {
            return (out, pos, Some(FrameError::Torn));
        }
        let len_bytes = &data[pos..pos + 4];
        if crc32fast::hash(len_bytes) != u32_at(data, pos + 4) {
            return (out, pos, Some(FrameError::Length));
        }
        let len = u32_at(data, pos) as usize;
        let start = pos + FRAME_HEADER;
        if data.len() - start < len {
            return (out, pos, Some(FrameError::Torn));
        }
        let payload = &data[start..start + len];
        if crc32fast::hash(payload) != u32_at(data, pos + 8) {
            return (out, pos, Some(FrameError::Checksum));
        }
        out.push((pos, payload));
        pos = start + len;
    }
    (out, pos, None)
}

/// Whether decoding `data` stopped at `bad` (with `error`) only because of what a crash
/// leaves at the end of the newest segment: a frame cut short by the end of the file, a
/// last frame whose payload does not match (a partly written page), or a zero-filled end
/// (space the file system allocated but never wrote). Anything else is corruption with
/// log after it.
pub fn is_torn_tail(data: &[u8], bad: usize, error: &FrameError) -> bool {
    let last_frame = match error {
        FrameError::Torn => true,
        FrameError::Length => false,
        FrameError::Checksum => bad + FRAME_HEADER + u32_at(data, bad) as usize == data.len(),
    };
    last_frame || data[bad..].iter().all(|b| *b == 0)
}
