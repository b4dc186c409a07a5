//! The one PyO3 binding of the crate: `engine._smsencode`.
//!
//! Each codec registers its functions from its own file; errors are converted
//! to the Python exception classes of `engine.encoding.errors` /
//! `engine.smpp.errors` in one place per codec.

use pyo3::prelude::*;

mod encoding;
mod intake;
mod pdu;
mod sim;

#[pymodule]
fn _smsencode(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Benchmarks refuse to run on a debug build.
    m.add("DEBUG_BUILD", cfg!(debug_assertions))?;
    encoding::register(m)?;
    pdu::register(m)?;
    intake::register(m)?;
    sim::register(m)?;
    Ok(())
}
