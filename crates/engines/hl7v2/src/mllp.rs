//! MLLP framing (`0x0B` payload `0x1C 0x0D`) as a pure codec: no sockets.

use thiserror::Error;

/// Start block byte (VT).
pub const START_BLOCK: u8 = 0x0B;
/// End block byte (FS).
pub const END_BLOCK: u8 = 0x1C;
/// Carriage return that must follow the end block.
pub const CARRIAGE_RETURN: u8 = 0x0D;

/// Default maximum payload size accepted by [`MllpDecoder::default`] (16 MiB).
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Framing errors. After an error the decoder has already resynchronised and
/// can keep being used. Offsets count bytes since the decoder was created.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MllpError {
    /// Bytes other than whitespace were found between frames; they were skipped.
    #[error(
        "{len} byte(s) of garbage between frames at stream offset {offset} (first byte 0x{first:02X})"
    )]
    Garbage {
        /// Stream offset of the first skipped byte.
        offset: u64,
        /// Number of bytes skipped.
        len: usize,
        /// The first skipped byte.
        first: u8,
    },
    /// A frame grew beyond the limit; it is discarded up to its end block.
    #[error("frame starting at stream offset {offset} exceeds the {limit}-byte limit")]
    FrameTooLarge {
        /// Stream offset of the frame's start block.
        offset: u64,
        /// Configured limit.
        limit: usize,
    },
    /// The end block was not followed by a carriage return; the frame is discarded.
    #[error("end block at stream offset {offset} followed by 0x{found:02X} instead of 0x0D")]
    BadTrailer {
        /// Stream offset of the end block.
        offset: u64,
        /// The byte found after it.
        found: u8,
    },
    /// A new start block arrived inside a frame; the unfinished frame is discarded.
    #[error("start block at stream offset {offset} inside an unfinished frame")]
    UnexpectedStart {
        /// Stream offset of the unexpected start block.
        offset: u64,
    },
    /// The stream ended inside a frame (see [`MllpDecoder::finish`]).
    #[error("stream ended inside a frame ({buffered} byte(s) buffered)")]
    Truncated {
        /// Payload bytes that were buffered.
        buffered: usize,
    },
}

/// Wraps `payload` in an MLLP frame.
pub fn encode_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 3);
    encode_frame_into(payload, &mut out);
    out
}

/// Appends the MLLP frame of `payload` to `out`.
pub fn encode_frame_into(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(payload.len() + 3);
    out.push(START_BLOCK);
    out.extend_from_slice(payload);
    out.push(END_BLOCK);
    out.push(CARRIAGE_RETURN);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames.
    Idle,
    /// Inside a frame whose start block is at this offset.
    InFrame { start: u64 },
    /// Inside an over-long frame, skipping to its end.
    Skipping,
    /// Saw the end block at this offset; waiting for the CR.
    SawEnd { at: u64 },
}

/// Incremental MLLP decoder: feed arbitrary chunks with [`push`](Self::push),
/// then drain frames with [`next_frame`](Self::next_frame).
///
/// ```
/// use yiyang_hl7v2::mllp::{MllpDecoder, encode_frame};
/// let mut wire = encode_frame(b"MSH|a");
/// wire.extend(encode_frame(b"MSH|b"));
/// let mut dec = MllpDecoder::new(1024);
/// let mut frames = Vec::new();
/// for chunk in wire.chunks(3) {
///     dec.push(chunk);
///     while let Some(f) = dec.next_frame() {
///         frames.push(f.unwrap());
///     }
/// }
/// assert_eq!(frames, vec![b"MSH|a".to_vec(), b"MSH|b".to_vec()]);
/// ```
#[derive(Debug, Clone)]
pub struct MllpDecoder {
    input: Vec<u8>,
    /// read position in `input`
    pos: usize,
    /// stream offset of `input[0]`
    base: u64,
    frame: Vec<u8>,
    state: State,
    max_frame: usize,
}

impl Default for MllpDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl MllpDecoder {
    /// A decoder that rejects payloads longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        MllpDecoder {
            input: Vec::new(),
            pos: 0,
            base: 0,
            frame: Vec::new(),
            state: State::Idle,
            max_frame,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.pos > 0 && self.pos == self.input.len() {
            self.base += self.pos as u64;
            self.input.clear();
            self.pos = 0;
        } else if self.pos > 4096 && self.pos * 2 > self.input.len() {
            self.base += self.pos as u64;
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        self.input.extend_from_slice(chunk);
    }

    /// True when no partial frame or unread input is buffered.
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle && self.pos == self.input.len()
    }

    /// Returns the next complete frame payload, an error, or `None` when more
    /// input is needed.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, MllpError>> {
        loop {
            let rest = &self.input[self.pos..];
            if rest.is_empty() {
                return None;
            }
            match self.state {
                State::Idle => {
                    // skip whitespace; anything else up to the next start block is garbage
                    let ws = rest
                        .iter()
                        .take_while(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
                        .count();
                    self.pos += ws;
                    let rest = &self.input[self.pos..];
                    if rest.is_empty() {
                        return None;
                    }
                    if rest[0] == START_BLOCK {
                        self.state = State::InFrame {
                            start: self.base + self.pos as u64,
                        };
                        self.pos += 1;
                        self.frame.clear();
                        continue;
                    }
                    let offset = self.base + self.pos as u64;
                    let first = rest[0];
                    let len = memchr::memchr(START_BLOCK, rest).unwrap_or(rest.len());
                    self.pos += len;
                    return Some(Err(MllpError::Garbage { offset, len, first }));
                }
                State::InFrame { start } => {
                    let stop = memchr::memchr2(END_BLOCK, START_BLOCK, rest);
                    let take = stop.unwrap_or(rest.len());
                    if self.frame.len() + take > self.max_frame {
                        self.frame.clear();
                        self.state = State::Skipping;
                        return Some(Err(MllpError::FrameTooLarge {
                            offset: start,
                            limit: self.max_frame,
                        }));
                    }
                    self.frame.extend_from_slice(&rest[..take]);
                    self.pos += take;
                    match stop {
                        None => return None,
                        Some(_) if self.input[self.pos] == START_BLOCK => {
                            let offset = self.base + self.pos as u64;
                            self.frame.clear();
                            self.state = State::InFrame { start: offset };
                            self.pos += 1;
                            return Some(Err(MllpError::UnexpectedStart { offset }));
                        }
                        Some(_) => {
                            self.state = State::SawEnd {
                                at: self.base + self.pos as u64,
                            };
                            self.pos += 1;
                        }
                    }
                }
                State::Skipping => match memchr::memchr2(END_BLOCK, START_BLOCK, rest) {
                    None => {
                        self.pos = self.input.len();
                        return None;
                    }
                    Some(n) if rest[n] == START_BLOCK => {
                        // the over-long frame was cut short: resync on the new frame
                        self.pos += n;
                        self.state = State::Idle;
                    }
                    Some(n) => {
                        self.pos += n + 1;
                        if self.input.get(self.pos) == Some(&CARRIAGE_RETURN) {
                            self.pos += 1;
                        }
                        self.state = State::Idle;
                    }
                },
                State::SawEnd { at } => {
                    let b = rest[0];
                    self.state = State::Idle;
                    if b == CARRIAGE_RETURN {
                        self.pos += 1;
                        return Some(Ok(std::mem::take(&mut self.frame)));
                    }
                    self.frame.clear();
                    return Some(Err(MllpError::BadTrailer {
                        offset: at,
                        found: b,
                    }));
                }
            }
        }
    }

    /// Signals end of stream: reports a frame left unfinished, if any, and resets.
    pub fn finish(&mut self) -> Result<(), MllpError> {
        let state = std::mem::replace(&mut self.state, State::Idle);
        let buffered = self.frame.len();
        self.frame.clear();
        match state {
            State::InFrame { .. } | State::SawEnd { .. } | State::Skipping => {
                Err(MllpError::Truncated { buffered })
            }
            State::Idle => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(d: &mut MllpDecoder) -> Vec<Result<Vec<u8>, MllpError>> {
        std::iter::from_fn(|| d.next_frame()).collect()
    }

    #[test]
    fn byte_by_byte() {
        let mut wire = encode_frame("MSH|^~\\&|张三".as_bytes());
        wire.extend_from_slice(b"\r\n");
        wire.extend(encode_frame(b"MSH|2"));
        let mut d = MllpDecoder::new(100);
        let mut out = Vec::new();
        for b in &wire {
            d.push(std::slice::from_ref(b));
            out.extend(drain(&mut d));
        }
        assert_eq!(
            out,
            vec![
                Ok("MSH|^~\\&|张三".as_bytes().to_vec()),
                Ok(b"MSH|2".to_vec())
            ]
        );
        assert!(d.is_idle());
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn garbage_too_large_bad_trailer() {
        let mut d = MllpDecoder::new(4);
        d.push(b"xx\x0bABCDEFG\x1c\r\x0bAB\x1cZ\x0bOK\x1c\r");
        let out = drain(&mut d);
        assert_eq!(
            out,
            vec![
                Err(MllpError::Garbage {
                    offset: 0,
                    len: 2,
                    first: b'x'
                }),
                Err(MllpError::FrameTooLarge {
                    offset: 2,
                    limit: 4
                }),
                Err(MllpError::BadTrailer {
                    offset: 15,
                    found: b'Z'
                }),
                Err(MllpError::Garbage {
                    offset: 16,
                    len: 1,
                    first: b'Z'
                }),
                Ok(b"OK".to_vec()),
            ]
        );
    }

    #[test]
    fn unexpected_start_and_truncation() {
        let mut d = MllpDecoder::default();
        d.push(b"\x0bhalf\x0bfull\x1c\r\x0bcut");
        let out = drain(&mut d);
        assert_eq!(
            out,
            vec![
                Err(MllpError::UnexpectedStart { offset: 5 }),
                Ok(b"full".to_vec())
            ]
        );
        assert_eq!(d.finish(), Err(MllpError::Truncated { buffered: 3 }));
    }
}
