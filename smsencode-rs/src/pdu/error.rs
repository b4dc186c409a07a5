//! Errors of the PDU codec: one struct carrying the numbers, converted to
//! `engine.smpp.errors.PduError` in one place (src/python/pdu.rs).
//!
//! The Display text of every kind is, word for word, the message of the pure-Python
//! codec (`engine/smpp/pdu.py`) for the same fault, and `status()` is the SMPP
//! command_status it answers with: the differential tests compare whole errors, so
//! a user switching backends sees the same text.

use std::fmt;

use super::constants::{status, HEADER_LENGTH, MAX_SHORT_MESSAGE_LENGTH};
use super::tags::tlv_name;

/// What went wrong, with the numbers. `pdu` is the Python class name of the PDU
/// (`"DeliverSm"`), `field` the field name as in the SMPP 3.4 spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    // --- framing and header ---
    /// A frame shorter than the 16-octet header.
    FrameTooShort { actual: usize },
    /// command_length differs from the frame's length.
    LengthMismatch { declared: u32, actual: usize },
    /// command_length below 16: the stream cannot be resynchronised (fatal).
    CommandLengthBelowHeader { length: u32 },
    /// command_length above the framer's maximum: cannot be resynchronised (fatal).
    CommandLengthTooLarge { length: u32, max: u32 },
    UnknownCommandId { id: u32 },

    // --- body ---
    /// A fixed-size field run starts with `field` and the body ends inside it.
    Truncated { pdu: &'static str, field: &'static str, remaining: usize },
    /// A C-string whose NUL would lie past the end of the body.
    CStrTruncated { pdu: &'static str, field: &'static str, remaining: usize },
    /// A C-string without its NUL within its maximum size (NUL included).
    CStrNoNul { pdu: &'static str, field: &'static str, max: usize, status: u32 },
    SmLengthTooLarge { pdu: &'static str, sm_length: usize },
    SmLengthPastEnd { pdu: &'static str, sm_length: usize, remaining: usize },
    /// 1..3 octets left where a TLV header (4 octets) should start.
    TlvHeaderTruncated { pdu: &'static str, remaining: usize },
    TlvPastEnd { pdu: &'static str, tag: u16, length: usize, remaining: usize },
    /// Octets after the body of a PDU that has no optional parameters.
    TrailingOctets { pdu: &'static str, count: usize },

    // --- encoding a PDU object ---
    /// A C-string character above U+00FF (`index` counts code points).
    NotLatin1 { pdu: &'static str, field: &'static str, ch: char, index: usize, status: u32 },
    /// A C-string of `len` characters where at most `size - 1` fit.
    CStrTooLong { pdu: &'static str, field: &'static str, len: usize, size: usize, status: u32 },
    CStrHasNul { pdu: &'static str, field: &'static str, status: u32 },
    /// An integer field out of its range; `value` is the decimal text.
    IntRange { pdu: &'static str, field: &'static str, value: String, octets: u8 },
    /// command_status / sequence_number not a 32-bit unsigned integer; `repr` as Python shows it.
    NotU32 { pdu: &'static str, field: &'static str, repr: String },
    SmTooLong { pdu: &'static str, len: usize },
    /// A TLV tag outside 0..0xFFFF; `repr` as Python shows it.
    TlvTag { pdu: &'static str, index: usize, repr: String },
    TlvValueTooLong { pdu: &'static str, index: usize, tag: u16, len: usize },
    CommandLengthOver { pdu: &'static str, len: usize, max: u32 },
}

/// A decode or encode error: the kind, plus the header numbers when they were readable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PduError {
    pub kind: ErrorKind,
    pub command_id: Option<u32>,
    pub sequence_number: Option<u32>,
    /// The stream cannot be resynchronised after this error.
    pub fatal: bool,
}

impl PduError {
    pub fn new(kind: ErrorKind) -> Self {
        PduError { kind, command_id: None, sequence_number: None, fatal: false }
    }

    pub fn at(kind: ErrorKind, command_id: u32, sequence_number: u32) -> Self {
        PduError { kind, command_id: Some(command_id), sequence_number: Some(sequence_number), fatal: false }
    }

    /// An encode error: Python's `_field_error` sets the command_id and no sequence number.
    pub fn field(kind: ErrorKind, command_id: u32) -> Self {
        PduError { kind, command_id: Some(command_id), sequence_number: None, fatal: false }
    }

    /// The SMPP command_status to answer with.
    pub fn status(&self) -> u32 {
        use ErrorKind::*;
        match &self.kind {
            FrameTooShort { .. }
            | LengthMismatch { .. }
            | CommandLengthBelowHeader { .. }
            | CommandLengthTooLarge { .. }
            | Truncated { .. }
            | CStrTruncated { .. }
            | TrailingOctets { .. }
            | CommandLengthOver { .. } => status::ESME_RINVCMDLEN,
            UnknownCommandId { .. } => status::ESME_RINVCMDID,
            CStrNoNul { status, .. } | NotLatin1 { status, .. } | CStrTooLong { status, .. } | CStrHasNul { status, .. } => {
                *status
            }
            SmLengthTooLarge { .. } | SmLengthPastEnd { .. } | SmTooLong { .. } => status::ESME_RINVMSGLEN,
            TlvHeaderTruncated { .. } | TlvPastEnd { .. } | TlvTag { .. } => status::ESME_RINVOPTPARSTREAM,
            TlvValueTooLong { .. } => status::ESME_RINVPARLEN,
            IntRange { .. } | NotU32 { .. } => status::ESME_RSYSERR,
        }
    }
}

impl fmt::Display for PduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match &self.kind {
            FrameTooShort { actual } => {
                write!(f, "{actual} octets are too few for a PDU: the header alone is {HEADER_LENGTH}")
            }
            LengthMismatch { declared, actual } => {
                write!(f, "command_length says {declared} octets but the frame has {actual}")
            }
            CommandLengthBelowHeader { length } => write!(
                f,
                "command_length {length} is below the {HEADER_LENGTH}-octet header; the stream cannot be resynchronised"
            ),
            CommandLengthTooLarge { length, max } => write!(
                f,
                "command_length {length} is above the maximum of {max}; the stream cannot be resynchronised"
            ),
            UnknownCommandId { id } => write!(f, "unknown command_id 0x{id:08X}"),
            Truncated { pdu, field, remaining } => {
                write!(f, "{pdu}: the body ends inside {field} ({remaining} octet(s) left)")
            }
            CStrTruncated { pdu, field, remaining } => {
                write!(f, "{pdu}: the body ends inside {field} (no NUL in the {remaining} octet(s) left)")
            }
            CStrNoNul { pdu, field, max, .. } => write!(f, "{pdu}: {field} has no NUL within its maximum of {max} octets"),
            SmLengthTooLarge { pdu, sm_length } => {
                write!(f, "{pdu}: sm_length {sm_length} is over the maximum of {MAX_SHORT_MESSAGE_LENGTH}")
            }
            SmLengthPastEnd { pdu, sm_length, remaining } => {
                write!(f, "{pdu}: sm_length says {sm_length} octets but only {remaining} remain in the body")
            }
            TlvHeaderTruncated { pdu, remaining } => {
                write!(f, "{pdu}: {remaining} octet(s) after the last TLV are too few for a TLV header (4)")
            }
            TlvPastEnd { pdu, tag, length, remaining } => write!(
                f,
                "{pdu}: TLV {} says {length} octets but only {remaining} remain in the body",
                tlv_name(*tag)
            ),
            TrailingOctets { pdu, count } => {
                write!(f, "{pdu}: {count} octet(s) after the end of the body (it has no optional parameters)")
            }
            // Python shows the character with repr(); the binding replaces this text
            // with Python's own repr, since Rust cannot know which characters Python
            // considers printable.
            NotLatin1 { pdu, field, ch, index, .. } => {
                write!(f, "{pdu}.{field}: character {ch:?} at {index} is not one octet (Latin-1)")
            }
            CStrTooLong { pdu, field, len, size, .. } => write!(
                f,
                "{pdu}.{field}: {len} characters; at most {} fit (C-octet string of {size})",
                size - 1
            ),
            CStrHasNul { pdu, field, .. } => {
                write!(f, "{pdu}.{field}: contains a NUL, which would end the C-octet string")
            }
            IntRange { pdu, field, value, octets } => {
                write!(f, "{pdu}.{field}: {value} does not fit in {octets} octet(s)")
            }
            NotU32 { pdu, field, repr } => write!(f, "{pdu}.{field}: {repr} is not a 32-bit unsigned integer"),
            SmTooLong { pdu, len } => write!(
                f,
                "{pdu}.short_message: {len} octets; at most {MAX_SHORT_MESSAGE_LENGTH} (longer content goes in message_payload)"
            ),
            TlvTag { pdu, index, repr } => {
                write!(f, "{pdu}.tlvs[{index}]: tag {repr} is not a 16-bit unsigned integer")
            }
            TlvValueTooLong { pdu, index, tag, len } => write!(
                f,
                "{pdu}.tlvs[{index}]: {} value is {len} octets; at most {}",
                tlv_name(*tag),
                u16::MAX
            ),
            CommandLengthOver { pdu, len, max } => write!(f, "{pdu}.command_length: {len} octets; at most {max}"),
        }
    }
}

impl std::error::Error for PduError {}
