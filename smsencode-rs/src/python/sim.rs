//! Python binding of the simulator's no-fault lane (`crate::sim`): `SimLane`.
//!
//! One call answers the submit_sm and deliver_sm_resp of a read (stopping at the
//! first other PDU, which Python answers before calling again), one call writes a
//! batch of receipts. The receipt items, the dict of unacknowledged receipts and the
//! query_sm state ring stay the Python objects of engine/simulator/server.py, so
//! that the fault path, redeliveries and tests see what they always saw.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple, PyType};

use crate::pdu::frame::{Framer, Item};
use crate::pdu::PduError;
use crate::sim::{self, ReceiptText, Step};

/// message_state ENROUTE: what query_sm reports for an id until its receipt.
const STATE_ENROUTE: u8 = 1;
/// message_state DELIVERED: a "failure only" receipt request gets no such receipt.
const STATE_DELIVERED: u8 = 2;

static PDU_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `engine.smpp.errors.PduError` for a framing error. A copy of the tiny
/// `py_error_with` of python/pdu.rs (private there): framing errors (a bad
/// command_length) have a plain message, none of the Latin-1 cases it also handles.
fn framing_error<'py>(py: Python<'py>, e: &PduError) -> PyResult<Bound<'py, PyAny>> {
    let cls = PDU_ERROR.import(py, "engine.smpp.errors", "PduError")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item(intern!(py, "command_id"), e.command_id)?;
    kwargs.set_item(intern!(py, "sequence_number"), e.sequence_number)?;
    kwargs.set_item(intern!(py, "fatal"), e.fatal)?;
    cls.call((e.to_string(), e.status()), Some(&kwargs))
}

fn octets_of<'a>(data: &'a Bound<'_, PyAny>, copy: &'a mut Vec<u8>) -> PyResult<&'a [u8]> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(b.as_bytes());
    }
    if let Ok(b) = data.cast::<PyByteArray>() {
        *copy = b.to_vec();
        return Ok(copy);
    }
    let name = data.get_type().name().map_or_else(|_| "?".to_string(), |n| n.to_string());
    Err(PyTypeError::new_err(format!("data must be bytes or bytearray, not {name}")))
}

/// One connection's byte stream for the lane: cut into frames kept here (no bytes
/// object per PDU); `feed_frames` is `PduFramer.feed_frames` on the same stream
/// for the simulator's other paths, so that switching path between reads loses nothing.
#[pyclass(module = "engine._smsencode", name = "SimReader")]
pub struct SimReader {
    framer: Framer,
    /// The whole frames of the last `load`, back to back, and where each ends.
    buf: Vec<u8>,
    ends: Vec<usize>,
    /// Index of the next frame the lane takes.
    next: usize,
    fatal: Option<PduError>,
}

impl SimReader {
    fn frame(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }
}

#[pymethods]
impl SimReader {
    #[new]
    fn new() -> Self {
        SimReader { framer: Framer::default(), buf: Vec::new(), ends: Vec::new(), next: 0, fatal: None }
    }

    /// The frames `data` completes, kept for `SimLane.run` (what an earlier load
    /// left untaken is dropped). Returns how many items `feed_frames` would have
    /// given: the frames, and the fatal framing error if any (see `take_fatal`).
    fn load(&mut self, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let mut copy = Vec::new();
        let octets = octets_of(data, &mut copy)?;
        self.buf.clear();
        self.ends.clear();
        self.next = 0;
        self.fatal = None;
        let (buf, ends, fatal) = (&mut self.buf, &mut self.ends, &mut self.fatal);
        self.framer.feed(octets, |item| match item {
            Item::Frame(f) => {
                buf.extend_from_slice(f);
                ends.push(buf.len());
            }
            Item::Fatal(e) => *fatal = Some(e),
        });
        Ok(self.ends.len() + usize::from(self.fatal.is_some()))
    }

    /// The fatal framing error of the last load (a PduError), once; None if none.
    fn take_fatal<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.fatal.take().map(|e| framing_error(py, &e)).transpose()
    }

    /// The frames (bytes) completed by `data` and the fatal error if any, as
    /// `PduFramer.feed_frames`.
    fn feed_frames<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let mut copy = Vec::new();
        let octets = octets_of(data, &mut copy)?;
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let mut fatal = None;
        self.framer.feed(octets, |item| match item {
            Item::Frame(f) => frames.push(f.to_vec()),
            Item::Fatal(e) => fatal = Some(e),
        });
        let out = PyList::empty(py);
        for f in &frames {
            out.append(PyBytes::new(py, f))?;
        }
        if let Some(e) = fatal {
            out.append(framing_error(py, &e)?)?;
        }
        Ok(out)
    }

    #[getter]
    fn broken(&self) -> bool {
        self.framer.broken()
    }

    #[getter]
    fn buffered(&self) -> usize {
        self.framer.buffered()
    }
}

/// `SimLane.run`'s answer: the frame left to Python (None when the reader has no
/// more), the last message id given, and the counts (submits, acked, receipts acked,
/// others acked).
type RunResult<'py> = (Option<Bound<'py, PyBytes>>, u64, u64, u64, u64, u64);

/// The no-fault lane of one Simulator (shared by its connections).
#[pyclass(module = "engine._smsencode", name = "SimLane")]
pub struct SimLane {
    hex: bool,
    /// `Simulator._state_ring`: message_state by id & (len - 1).
    ring: Py<PyByteArray>,
    texts: Vec<ReceiptText>,
    /// Cumulative weights of `texts` (as random.choices), empty when there is one state.
    cum: Vec<f64>,
    scratch: Vec<u8>,
}

/// ring[n & (len - 1)] = state. The bytearray is re-read each time: a Python call in
/// between (random()) may not resize it, but nothing here relies on that.
fn ring_set(ring: &Bound<'_, PyByteArray>, n: u64, state: u8) {
    let len = ring.len();
    let i = (n as usize) & (len - 1);
    if i < len {
        // SAFETY: i < len of a live bytearray; the GIL is held, no other reference
        // to its buffer is in use during this write.
        unsafe { *ring.data().add(i) = state };
    }
}

#[pymethods]
impl SimLane {
    #[new]
    fn new(hex_ids: bool, ring: Bound<'_, PyByteArray>) -> PyResult<Self> {
        let len = ring.len();
        if len == 0 || !len.is_power_of_two() {
            return Err(PyValueError::new_err(format!("ring must be a bytearray of a power-of-two length, got {len}")));
        }
        Ok(SimLane { hex: hex_ids, ring: ring.unbind(), texts: Vec::new(), cum: Vec::new(), scratch: Vec::new() })
    }

    /// The receipt texts by state index: `(message_state, prefix, middle)` (the text
    /// is prefix + message id + middle + quoted text), and their cumulative weights
    /// (empty: one state, no draw).
    fn set_receipts(&mut self, texts: Vec<(u8, Vec<u8>, Vec<u8>)>, cum_weights: Vec<f64>) -> PyResult<()> {
        if texts.is_empty() {
            return Err(PyValueError::new_err("texts must hold at least one receipt state"));
        }
        if !cum_weights.is_empty() && cum_weights.len() != texts.len() {
            return Err(PyValueError::new_err(format!(
                "cum_weights must be empty or one per text ({}), got {}",
                texts.len(),
                cum_weights.len()
            )));
        }
        self.texts = texts.into_iter().map(|(state, prefix, middle)| ReceiptText { state, prefix, middle }).collect();
        self.cum = cum_weights;
        Ok(())
    }

    /// Answers the frames `reader` holds, from the next one up to the first frame it
    /// leaves to Python.
    ///
    /// submit_sm (when `can_submit`): ids `n + 1...`, ENROUTE in the ring, the
    /// submit_sm_resp, `(mid, frame)` appended to `recorded` (unless None) and, when
    /// `items` is a list, the receipt item `(system_id, n, state, body)` appended.
    /// deliver_sm_resp with status 0 and no body: popped from `receipts` (else from
    /// `others`, the MO). The responses are appended to `out` as one bytes.
    ///
    /// Returns `(frame, n, submits, acked, receipts_acked, others_acked)`: `frame` is
    /// the frame left to Python (taken from the reader), None when none is left;
    /// `others_acked` counts the acked entries of `others` whose kind is not "receipt".
    #[pyo3(signature = (reader, n, can_submit, system_id, items, receipts, others, out, recorded, random))]
    #[allow(clippy::too_many_arguments)]
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        reader: &Bound<'py, SimReader>,
        mut n: u64,
        can_submit: bool,
        system_id: &Bound<'py, PyString>,
        items: Option<&Bound<'py, PyList>>,
        receipts: &Bound<'py, PyDict>,
        others: &Bound<'py, PyDict>,
        out: &Bound<'py, PyList>,
        recorded: Option<&Bound<'py, PyList>>,
        random: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<RunResult<'py>> {
        if items.is_some() && self.texts.is_empty() {
            return Err(PyValueError::new_err("set_receipts first: no receipt texts"));
        }
        let ring = self.ring.bind(py);
        let mut resp = std::mem::take(&mut self.scratch);
        resp.clear();
        let mut mid: Vec<u8> = Vec::with_capacity(20);
        let mut body: Vec<u8> = Vec::with_capacity(256);
        let (mut submits, mut acked, mut receipts_acked, mut others_acked) = (0u64, 0u64, 0u64, 0u64);
        let total = self.cum.last().copied().unwrap_or(0.0);
        let mut stop = None;
        let mut r = reader.borrow_mut();
        while r.next < r.ends.len() {
            let i = r.next;
            r.next += 1;
            let octets = r.frame(i);
            match sim::classify(octets, can_submit) {
                Step::Other => {
                    stop = Some(PyBytes::new(py, octets));
                    break;
                }
                Step::Ack { seq } => {
                    acked += 1;
                    // one int object for the lookup and the removal
                    let key = seq.into_pyobject(py)?;
                    if receipts.get_item(&key)?.is_some() {
                        receipts.del_item(&key)?;
                        receipts_acked += 1;
                    } else if let Some(entry) = others.get_item(&key)? {
                        others.del_item(&key)?;
                        if entry.get_item(0)?.eq("receipt")? {
                            receipts_acked += 1;
                        } else {
                            others_acked += 1;
                        }
                    }
                }
                Step::Submit { seq } => {
                    n = n.checked_add(1).ok_or_else(|| PyValueError::new_err("message ids ran past 2**64 - 1"))?;
                    submits += 1;
                    mid.clear();
                    sim::push_message_id(&mut mid, n, self.hex);
                    sim::push_submit_sm_resp(&mut resp, seq, &mid);
                    ring_set(ring, n, STATE_ENROUTE);
                    if let Some(rec) = recorded {
                        rec.append((PyBytes::new(py, &mid), PyBytes::new(py, octets)))?;
                    }
                    let Some(items) = items else { continue };
                    let Some(f) = sim::submit_receipt_fields(octets) else { continue };
                    if f.wanted == 0 {
                        continue;
                    }
                    let k = if self.cum.is_empty() {
                        0
                    } else {
                        // random.choices(names, weights): one random() per draw.
                        let random = random.ok_or_else(|| PyValueError::new_err("random is needed to draw among several receipt states"))?;
                        let x: f64 = random.call0()?.extract()?;
                        sim::bisect_draw(&self.cum, x * total)
                    };
                    let t = &self.texts[k];
                    if f.wanted == 2 && t.state == STATE_DELIVERED {
                        continue; // receipt on failure only
                    }
                    body.clear();
                    sim::push_receipt_body(&mut body, t, &f, &mid);
                    let item = PyTuple::new(
                        py,
                        [
                            system_id.clone().into_any(),
                            n.into_pyobject(py)?.into_any(),
                            t.state.into_pyobject(py)?.into_any(),
                            PyBytes::new(py, &body).into_any(),
                        ],
                    )?;
                    items.append(item)?;
                }
            }
        }
        if !resp.is_empty() {
            out.append(PyBytes::new(py, &resp))?;
        }
        self.scratch = resp;
        Ok((stop, n, submits, acked, receipts_acked, others_acked))
    }

    /// The deliver_sm of receipt items `(system_id, n, state, body)` with sequence
    /// numbers after `seq` (wrapping to 1 after 0x7FFFFFFF), as one bytes; each item is
    /// stored in `receipts` under its sequence number, and its state in the ring when
    /// `n > oldest` (still within the ring). Returns `(octets, last sequence number)`.
    fn write_receipts<'py>(
        &mut self,
        py: Python<'py>,
        items: &Bound<'py, PyList>,
        mut seq: u32,
        receipts: &Bound<'py, PyDict>,
        oldest: i64,
    ) -> PyResult<(Bound<'py, PyBytes>, u32)> {
        let ring = self.ring.bind(py);
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        for (i, item) in items.iter().enumerate() {
            let t = item.cast::<PyTuple>().ok().filter(|t| t.len() == 4).ok_or_else(|| {
                PyTypeError::new_err(format!("items[{i}] must be a tuple (system_id, n, state, body)"))
            })?;
            let n: u64 = t.get_item(1)?.extract()?;
            let state: u8 = t.get_item(2)?.extract()?;
            let body_obj = t.get_item(3)?;
            let body = body_obj
                .cast::<PyBytes>()
                .map_err(|_| PyTypeError::new_err(format!("items[{i}][3] (the deliver_sm body) must be bytes")))?;
            seq = sim::next_sequence(seq);
            sim::push_deliver_sm(&mut out, seq, body.as_bytes());
            receipts.set_item(seq, &item)?;
            if i128::from(n) > i128::from(oldest) {
                ring_set(ring, n, state);
            }
        }
        let octets = PyBytes::new(py, &out);
        self.scratch = out;
        Ok((octets, seq))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SimLane>()?;
    m.add_class::<SimReader>()?;
    Ok(())
}
