//! The SMPP 3.4 PDU hot path, plain Rust (no PyO3): building submit_sm for a batch
//! of messages, cutting a byte stream into frames, and decoding the PDUs a client
//! receives in bulk (submit_sm_resp, deliver_sm, enquire_link, generic_nack...).
//!
//! `engine/smpp/pdu.py` is the reference: the same checks in the same order, the
//! same error texts and the same SMPP statuses. `tests/native/` holds the two to it
//! with differential tests; the tests here pin the bytes and the error numbers and
//! feed arbitrary bytes to the framer and decoder ("if we panic, we lose").

pub mod build;
pub mod constants;
pub mod decode;
pub mod error;
pub mod frame;
pub mod receipt;
pub mod tags;

pub use build::{latin1_cstr, SmPdu};
pub use constants::{command_id, status, HEADER_LENGTH, MAX_COMMAND_LENGTH, MAX_SHORT_MESSAGE_LENGTH};
pub use decode::{decode, Body, Decoded, Header, SmBody, Tlv};
pub use error::{ErrorKind, PduError};
pub use frame::{Framer, Item};

#[cfg(test)]
mod tests;
