//! Cutting a byte stream into frames, as `engine.smpp.pdu.Framer.feed_frames` does.
//!
//! A command_length below 16 or above the framer's maximum cannot be
//! resynchronised: it is reported once the 16 header octets have arrived (so the
//! error carries command_id and sequence_number whatever the chunking), the framer
//! is then broken and drops whatever it is fed.

use super::constants::{HEADER_LENGTH, MAX_COMMAND_LENGTH};
use super::decode::Header;
use super::error::{ErrorKind, PduError};

#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    broken: bool,
    max_command_length: u32,
}

impl Default for Framer {
    fn default() -> Self {
        Framer { buf: Vec::new(), broken: false, max_command_length: MAX_COMMAND_LENGTH }
    }
}

/// What the framer found: a whole frame, or the fatal framing error (always last).
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Frame(&'a [u8]),
    Fatal(PduError),
}

impl Framer {
    /// A framer refusing frames above `max_command_length` (16..=MAX_COMMAND_LENGTH).
    pub fn new(max_command_length: u32) -> Result<Framer, String> {
        if !(HEADER_LENGTH as u32..=MAX_COMMAND_LENGTH).contains(&max_command_length) {
            return Err(format!(
                "max_command_length must be within {HEADER_LENGTH}..{MAX_COMMAND_LENGTH}, got {max_command_length}"
            ));
        }
        Ok(Framer { buf: Vec::new(), broken: false, max_command_length })
    }

    pub fn broken(&self) -> bool {
        self.broken
    }

    pub fn max_command_length(&self) -> u32 {
        self.max_command_length
    }

    /// Octets waiting for the rest of their PDU.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds `data` and calls `on` for every frame it completes, in stream order,
    /// then at most once with the fatal error. When nothing was buffered the frames
    /// are slices of `data` itself: only an incomplete tail is copied.
    pub fn feed<F: FnMut(Item<'_>)>(&mut self, data: &[u8], mut on: F) {
        if self.broken {
            return;
        }
        if self.buf.is_empty() {
            let used = self.scan(data, &mut on);
            if !self.broken {
                self.buf.extend_from_slice(&data[used..]);
            }
        } else {
            let mut buf = std::mem::take(&mut self.buf);
            buf.extend_from_slice(data);
            let used = self.scan(&buf, &mut on);
            if self.broken {
                buf.clear();
            } else {
                buf.drain(..used);
            }
            self.buf = buf;
        }
    }

    /// Frames in `buf` from the start; returns how many octets they used.
    fn scan<F: FnMut(Item<'_>)>(&mut self, buf: &[u8], on: &mut F) -> usize {
        let mut pos = 0;
        let n = buf.len();
        while n - pos >= HEADER_LENGTH {
            let h = Header::read(&buf[pos..]);
            let length = h.command_length;
            if length < HEADER_LENGTH as u32 || length > self.max_command_length {
                let kind = if length < HEADER_LENGTH as u32 {
                    ErrorKind::CommandLengthBelowHeader { length }
                } else {
                    ErrorKind::CommandLengthTooLarge { length, max: self.max_command_length }
                };
                let mut e = PduError::at(kind, h.command_id, h.sequence_number);
                e.fatal = true;
                self.broken = true;
                on(Item::Fatal(e));
                return n;
            }
            let length = length as usize;
            if n - pos < length {
                break;
            }
            on(Item::Frame(&buf[pos..pos + length]));
            pos += length;
        }
        pos
    }
}
