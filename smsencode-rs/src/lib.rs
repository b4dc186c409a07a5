//! smsencode: the Rust core of smpp-engine.
//!
//! The codec modules are plain Rust with their own `cargo test`; only
//! `python/` knows about PyO3, and it is compiled only with the `python`
//! feature that maturin turns on.

pub mod encoding;
pub mod pdu;
pub mod sim;

#[cfg(feature = "python")]
mod python;
