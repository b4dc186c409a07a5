//! Python binding of the PDU codec (`crate::pdu`): argument checks in the order of
//! `engine/smpp/pdu.py`, PDU objects built as the very dataclasses of that module,
//! and errors converted to `engine.smpp.errors.PduError` in one place (`py_error`).
//!
//! Exposed (see engine/_smsencode.pyi, `# --- pdu ---`, and the facade
//! engine/smpp/_native.py): `PduFramer`, `pdu_decode`, `encode_submit_sm_batch`,
//! `encode_sm_batch`, `build_submit_sm_batch`.

use std::borrow::Cow;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyInt, PyList, PyMemoryView, PyString, PyTuple, PyType};
use pyo3::{intern, IntoPyObjectExt};

use crate::pdu::build::{self, CStrField, SmPdu, SUBMIT_SM};
use crate::pdu::constants::{command_id as cid, MAX_COMMAND_LENGTH};
use crate::pdu::decode::{self as dec, Body, Decoded, SmBody, Tlv};
use crate::pdu::error::{ErrorKind, PduError};
use crate::pdu::frame::{Framer, Item};
use crate::pdu::tags::tlv_name;

const PDU_MODULE: &str = "engine.smpp.pdu";

// --- errors: the one place where codec errors become Python exceptions -------------

static PDU_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The `engine.smpp.errors.PduError` instance for `e`, with the same message,
/// status, command_id, sequence_number and fatal flag the Python codec gives.
fn py_error<'py>(py: Python<'py>, e: &PduError) -> PyResult<Bound<'py, PyAny>> {
    let message = match &e.kind {
        // Python shows the character with repr(): ask Python, so that which
        // characters are printable is Python's call, not ours.
        ErrorKind::NotLatin1 { pdu, field, ch, index, .. } => {
            let r = PyString::new(py, ch.encode_utf8(&mut [0u8; 4])).repr()?;
            format!("{pdu}.{field}: character {r} at {index} is not one octet (Latin-1)")
        }
        _ => e.to_string(),
    };
    py_error_with(py, message, e.status(), e.command_id, e.sequence_number, e.fatal)
}

fn py_error_with<'py>(
    py: Python<'py>,
    message: String,
    status: u32,
    command_id: Option<u32>,
    sequence_number: Option<u32>,
    fatal: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let cls = PDU_ERROR.import(py, "engine.smpp.errors", "PduError")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item(intern!(py, "command_id"), command_id)?;
    kwargs.set_item(intern!(py, "sequence_number"), sequence_number)?;
    kwargs.set_item(intern!(py, "fatal"), fatal)?;
    cls.call((message, status), Some(&kwargs))
}

fn raise(py: Python<'_>, e: &PduError) -> PyErr {
    match py_error(py, e) {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

// --- the Python PDU classes ----------------------------------------------------------

/// A dataclass of engine.smpp.pdu and whether its fields are the ones this binding
/// sets. When they are, instances are made without running the frozen dataclass
/// `__init__` (object.__new__ plus the slots' own setters: a fifth of the cost);
/// when the Python module has changed its fields, the class is called with keywords
/// instead, which is slower but always right.
struct PduClass {
    cls: Py<PyType>,
    fast: bool,
}

static CLASSES: PyOnceLock<Vec<(u32, PduClass)>> = PyOnceLock::new();
static TLV_CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static PY_DECODE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

const HEADER_FIELDS: [&str; 2] = ["command_status", "sequence_number"];
const MESSAGE_ID_FIELDS: [&str; 4] = ["command_status", "sequence_number", "message_id", "tlvs"];
const SM_FIELDS: [&str; 20] = [
    "command_status",
    "sequence_number",
    "service_type",
    "source_addr_ton",
    "source_addr_npi",
    "source_addr",
    "dest_addr_ton",
    "dest_addr_npi",
    "destination_addr",
    "esm_class",
    "protocol_id",
    "priority_flag",
    "schedule_delivery_time",
    "validity_period",
    "registered_delivery",
    "replace_if_present_flag",
    "data_coding",
    "sm_default_msg_id",
    "short_message",
    "tlvs",
];

fn classes(py: Python<'_>) -> PyResult<&Vec<(u32, PduClass)>> {
    CLASSES.get_or_try_init(py, || {
        let module = py.import(PDU_MODULE)?;
        let table: [(u32, &str, &[&str]); 12] = [
            (cid::GENERIC_NACK, "GenericNack", &HEADER_FIELDS),
            (cid::UNBIND, "Unbind", &HEADER_FIELDS),
            (cid::UNBIND_RESP, "UnbindResp", &HEADER_FIELDS),
            (cid::ENQUIRE_LINK, "EnquireLink", &HEADER_FIELDS),
            (cid::ENQUIRE_LINK_RESP, "EnquireLinkResp", &HEADER_FIELDS),
            (cid::CANCEL_SM_RESP, "CancelSmResp", &HEADER_FIELDS),
            (cid::REPLACE_SM_RESP, "ReplaceSmResp", &HEADER_FIELDS),
            (cid::SUBMIT_SM_RESP, "SubmitSmResp", &MESSAGE_ID_FIELDS),
            (cid::DELIVER_SM_RESP, "DeliverSmResp", &MESSAGE_ID_FIELDS),
            (cid::DATA_SM_RESP, "DataSmResp", &MESSAGE_ID_FIELDS),
            (cid::SUBMIT_SM, "SubmitSm", &SM_FIELDS),
            (cid::DELIVER_SM, "DeliverSm", &SM_FIELDS),
        ];
        let mut out = Vec::with_capacity(table.len());
        for (id, name, expected) in table {
            let cls = module.getattr(name)?.cast_into::<PyType>()?;
            // No __post_init__ either: all an instance is, is its slots.
            let fast = slotted_with(&cls, expected)? && !cls.hasattr("__post_init__")?;
            out.push((id, PduClass { cls: cls.unbind(), fast }));
        }
        Ok(out)
    })
}

/// Whether `cls` is a dataclass whose instances have no `__dict__` and whose fields are
/// `expected`, in order: then `new_slotted` makes its instances.
pub(super) fn slotted_with(cls: &Bound<'_, PyType>, expected: &[&str]) -> PyResult<bool> {
    let py = cls.py();
    let names: Vec<String> = py
        .import("dataclasses")?
        .getattr("fields")?
        .call1((cls,))?
        .try_iter()?
        .map(|f| f.and_then(|f| f.getattr("name")?.extract::<String>()))
        .collect::<PyResult<_>>()?;
    Ok(cls.getattr("__dictoffset__")?.extract::<isize>()? == 0 && names.iter().map(String::as_str).eq(expected.iter().copied()))
}

fn class_for(py: Python<'_>, command_id: u32) -> PyResult<&PduClass> {
    classes(py)?
        .iter()
        .find(|(id, _)| *id == command_id)
        .map(|(_, c)| c)
        .ok_or_else(|| PyValueError::new_err(format!("no PDU class for command_id 0x{command_id:08X}")))
}

/// An instance of `class` with these fields (given in the dataclass's field order).
fn make_pdu<'py>(py: Python<'py>, class: &PduClass, fields: &[(&Bound<'py, PyString>, Bound<'py, PyAny>)]) -> PyResult<Bound<'py, PyAny>> {
    let cls = class.cls.bind(py);
    if !class.fast {
        let kwargs = PyDict::new(py);
        for (k, v) in fields {
            kwargs.set_item(k, v)?;
        }
        return cls.call((), Some(&kwargs));
    }
    new_slotted(py, cls, fields)
}

/// An instance of the plain slotted dataclass `cls` (the caller checked it is one, and
/// that `fields` names every slot) without its `__init__`.
pub(super) fn new_slotted<'py>(py: Python<'py>, cls: &Bound<'py, PyType>, fields: &[(&Bound<'py, PyString>, Bound<'py, PyAny>)]) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: object.__new__ for a plain slotted dataclass (checked by the caller):
    // tp_new of object with empty args allocates the instance with every slot
    // empty; every slot is then set through the type's own member descriptors
    // (PyObject_GenericSetAttr bypasses only the frozen dataclass's __setattr__,
    // which exists to stop callers, not the constructor). A slot left empty would
    // only raise AttributeError; `fields` covers them all (checked by the caller).
    unsafe {
        let tp_new = (*std::ptr::addr_of_mut!(ffi::PyBaseObject_Type)).tp_new.expect("object has tp_new");
        let args = PyTuple::empty(py);
        let raw = tp_new(cls.as_type_ptr(), args.as_ptr(), std::ptr::null_mut());
        let obj = Bound::from_owned_ptr_or_err(py, raw)?;
        for (k, v) in fields {
            if ffi::PyObject_GenericSetAttr(obj.as_ptr(), k.as_ptr(), v.as_ptr()) != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(obj)
    }
}

/// A C-octet string as Python's codec returns it: the octets decoded as Latin-1.
fn latin1_str<'py>(py: Python<'py>, octets: &[u8]) -> Bound<'py, PyAny> {
    if octets.is_empty() {
        return intern!(py, "").clone().into_any();
    }
    if octets.is_ascii() {
        // ASCII octets are valid UTF-8.
        return PyString::new(py, std::str::from_utf8(octets).unwrap_or_default()).into_any();
    }
    let s: String = octets.iter().map(|&b| b as char).collect();
    PyString::new(py, &s).into_any()
}

fn tlv_tuple<'py>(py: Python<'py>, tlvs: &[Tlv<'_>]) -> PyResult<Bound<'py, PyAny>> {
    if tlvs.is_empty() {
        return Ok(PyTuple::empty(py).into_any());
    }
    let cls = TLV_CLASS.import(py, "engine.smpp.tlv", "Tlv")?;
    let mut items = Vec::with_capacity(tlvs.len());
    for t in tlvs {
        let pair = PyTuple::new(py, [t.tag.into_bound_py_any(py)?, PyBytes::new(py, t.value).into_any()])?;
        // Tlv is a NamedTuple: tuple.__new__(Tlv, (tag, value)) is what its own
        // __new__ does, without the Python-level call.
        // SAFETY: tuple's tp_new with one iterable argument, on a tuple subclass.
        let item = unsafe {
            let tp_new = (*std::ptr::addr_of_mut!(ffi::PyTuple_Type)).tp_new.expect("tuple has tp_new");
            let args = PyTuple::new(py, [pair])?;
            Bound::from_owned_ptr_or_err(py, tp_new(cls.as_type_ptr(), args.as_ptr(), std::ptr::null_mut()))?
        };
        items.push(item);
    }
    Ok(PyTuple::new(py, items)?.into_any())
}

fn sm_fields<'py>(py: Python<'py>, d: &Decoded<'_>, b: &SmBody<'_>) -> PyResult<Vec<(&'py Bound<'py, PyString>, Bound<'py, PyAny>)>> {
    let int = |v: u8| v.into_bound_py_any(py);
    Ok(vec![
        (intern!(py, "command_status"), d.header.command_status.into_bound_py_any(py)?),
        (intern!(py, "sequence_number"), d.header.sequence_number.into_bound_py_any(py)?),
        (intern!(py, "service_type"), latin1_str(py, b.service_type)),
        (intern!(py, "source_addr_ton"), int(b.source_addr_ton)?),
        (intern!(py, "source_addr_npi"), int(b.source_addr_npi)?),
        (intern!(py, "source_addr"), latin1_str(py, b.source_addr)),
        (intern!(py, "dest_addr_ton"), int(b.dest_addr_ton)?),
        (intern!(py, "dest_addr_npi"), int(b.dest_addr_npi)?),
        (intern!(py, "destination_addr"), latin1_str(py, b.destination_addr)),
        (intern!(py, "esm_class"), int(b.esm_class)?),
        (intern!(py, "protocol_id"), int(b.protocol_id)?),
        (intern!(py, "priority_flag"), int(b.priority_flag)?),
        (intern!(py, "schedule_delivery_time"), latin1_str(py, b.schedule_delivery_time)),
        (intern!(py, "validity_period"), latin1_str(py, b.validity_period)),
        (intern!(py, "registered_delivery"), int(b.registered_delivery)?),
        (intern!(py, "replace_if_present_flag"), int(b.replace_if_present_flag)?),
        (intern!(py, "data_coding"), int(b.data_coding)?),
        (intern!(py, "sm_default_msg_id"), int(b.sm_default_msg_id)?),
        (intern!(py, "short_message"), PyBytes::new(py, b.short_message).into_any()),
        (intern!(py, "tlvs"), tlv_tuple(py, &b.tlvs)?),
    ])
}

/// The Python object for one frame: the PDU, or the PduError that describes it.
/// Frames this module does not decode go to `engine.smpp.pdu.decode`.
fn frame_object<'py>(py: Python<'py>, frame: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    match dec::decode(frame) {
        Err(e) => py_error(py, &e),
        Ok(d) => pdu_object(py, frame, &d),
    }
}

fn pdu_object<'py>(py: Python<'py>, frame: &[u8], d: &Decoded<'_>) -> PyResult<Bound<'py, PyAny>> {
    let h = d.header;
    match &d.body {
        Body::Other => {
            let decode = PY_DECODE.import(py, PDU_MODULE, "decode")?;
            match decode.call1((PyBytes::new(py, frame),)) {
                Ok(pdu) => Ok(pdu),
                Err(err) => {
                    let pdu_error = PDU_ERROR.import(py, "engine.smpp.errors", "PduError")?;
                    if err.is_instance(py, pdu_error) {
                        Ok(err.into_value(py).into_bound(py).into_any())
                    } else {
                        Err(err)
                    }
                }
            }
        }
        Body::Empty => {
            let fields = [
                (intern!(py, "command_status"), h.command_status.into_bound_py_any(py)?),
                (intern!(py, "sequence_number"), h.sequence_number.into_bound_py_any(py)?),
            ];
            make_pdu(py, class_for(py, h.command_id)?, &fields)
        }
        Body::MessageId { message_id, tlvs } => {
            let fields = [
                (intern!(py, "command_status"), h.command_status.into_bound_py_any(py)?),
                (intern!(py, "sequence_number"), h.sequence_number.into_bound_py_any(py)?),
                (intern!(py, "message_id"), latin1_str(py, message_id)),
                (intern!(py, "tlvs"), tlv_tuple(py, tlvs)?),
            ];
            make_pdu(py, class_for(py, h.command_id)?, &fields)
        }
        Body::Sm(b) => {
            let fields = sm_fields(py, d, b)?;
            make_pdu(py, class_for(py, h.command_id)?, &fields)
        }
    }
}

// --- Framer ----------------------------------------------------------------------

/// `engine.smpp.pdu.Framer` with the hot PDUs decoded in Rust.
#[pyclass(module = "engine._smsencode", name = "PduFramer")]
pub struct PyFramer {
    inner: Framer,
}

#[pymethods]
impl PyFramer {
    #[new]
    #[pyo3(signature = (max_command_length = MAX_COMMAND_LENGTH as i64))]
    fn new(max_command_length: i64) -> PyResult<Self> {
        let m = u32::try_from(max_command_length).unwrap_or(0);
        let inner = Framer::new(m).map_err(|_| {
            PyValueError::new_err(format!(
                "max_command_length must be within 16..{MAX_COMMAND_LENGTH}, got {max_command_length}"
            ))
        })?;
        Ok(PyFramer { inner })
    }

    /// The PDUs and PduErrors completed by `data`, in stream order.
    fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        self.each(data, |item| {
            out.append(match item {
                Item::Frame(f) => frame_object(py, f)?,
                Item::Fatal(e) => py_error(py, &e)?,
            })
        })?;
        Ok(out)
    }

    /// `feed`, with the common delivery receipts taken out of the stream:
    /// `(items, rows)`. A deliver_sm whose esm_class says receipt, not UCS-2, whose
    /// text and TLVs `crate::pdu::receipt::parse_standard` reads, becomes the row
    /// `(sequence_number, message_id, state, stat, err, message_state)` (the fields
    /// `engine.smpp.receipts.parse_receipt_body` gives it) instead of a DeliverSm
    /// object in `items`. Only up to the first item that could change the session's
    /// state (anything but submit_sm_resp, deliver_sm, data_sm, enquire_link(_resp),
    /// or an error): after it every PDU is in `items`, so a receipt the session would
    /// refuse after, say, an unbind is never taken out. The caller checks that the
    /// session takes deliver_sm in its state before it calls this.
    fn feed_receipts<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let out = PyList::empty(py);
        let rows = PyList::empty(py);
        let mut lane = true;
        self.each(data, |item| {
            let obj = match item {
                Item::Frame(f) => match dec::decode(f) {
                    Err(e) => {
                        lane = false;
                        py_error(py, &e)?
                    }
                    Ok(d) => {
                        if lane {
                            if let Some(row) = receipt_row(py, &d) {
                                return rows.append(row?);
                            }
                            lane = LANE_KEEPS_OPEN.contains(&d.header.command_id);
                        }
                        pdu_object(py, f, &d)?
                    }
                },
                Item::Fatal(e) => {
                    lane = false;
                    py_error(py, &e)?
                }
            };
            out.append(obj)
        })?;
        Ok((out, rows))
    }

    /// The raw frames (bytes) completed by `data`, and the fatal error if any.
    fn feed_frames<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        self.each(data, |item| {
            out.append(match item {
                Item::Frame(f) => PyBytes::new(py, f).into_any(),
                Item::Fatal(e) => py_error(py, &e)?,
            })
        })?;
        Ok(out)
    }

    #[getter]
    fn broken(&self) -> bool {
        self.inner.broken()
    }

    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }

    #[getter]
    fn max_command_length(&self) -> u32 {
        self.inner.max_command_length()
    }
}

impl PyFramer {
    /// Feeds `data` to the framer and calls `f` for each item, in stream order; the first
    /// error `f` returns stops the calls and is returned once the framer is done.
    fn each(&mut self, data: &Bound<'_, PyAny>, mut f: impl FnMut(Item<'_>) -> PyResult<()>) -> PyResult<()> {
        let mut failure: Option<PyErr> = None;
        with_octets(data, |octets| {
            self.inner.feed(octets, |item| {
                if failure.is_none() {
                    failure = f(item).err();
                }
            });
        })?;
        failure.map_or(Ok(()), Err)
    }
}

/// The PDUs that change no session state: the receipt lane stays open past them.
const LANE_KEEPS_OPEN: [u32; 5] = [cid::SUBMIT_SM_RESP, cid::DELIVER_SM, cid::DATA_SM, cid::ENQUIRE_LINK, cid::ENQUIRE_LINK_RESP];

/// The receipt lane's row for a decoded deliver_sm that is a receipt in the standard
/// layout (see `feed_receipts`), None for any other PDU.
fn receipt_row<'py>(py: Python<'py>, d: &Decoded<'_>) -> Option<PyResult<Bound<'py, PyTuple>>> {
    if d.header.command_id != cid::DELIVER_SM {
        return None;
    }
    let Body::Sm(b) = &d.body else { return None };
    // esm_class bits 2-5: 0x04 SMSC delivery receipt, 0x20 intermediate notification
    // (as SmscClient._on_deliver tells receipts from MO).
    if !matches!(b.esm_class & 0x3C, 0x04 | 0x20) || b.data_coding == 0x08 {
        return None;
    }
    let r = crate::pdu::receipt::parse_standard(b.short_message, &b.tlvs)?;
    let row = (|| {
        let message_state = match r.message_state {
            Some(v) => v.into_bound_py_any(py)?,
            None => py.None().into_bound(py),
        };
        PyTuple::new(
            py,
            [
                d.header.sequence_number.into_bound_py_any(py)?,
                latin1_str(py, r.message_id),
                PyString::intern(py, r.state).into_any(),
                latin1_str(py, r.stat),
                latin1_str(py, r.err),
                message_state,
            ],
        )
    })();
    Some(row)
}

/// Runs `f` on the octets of a bytes / bytearray / memoryview argument.
fn with_octets<R>(data: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    if let Ok(b) = data.cast::<PyByteArray>() {
        return Ok(f(&b.to_vec()));
    }
    if data.is_instance_of::<PyMemoryView>() {
        let b = PyBytes::new(data.py(), &[]).get_type().call1((data,))?;
        return Ok(f(b.cast::<PyBytes>()?.as_bytes()));
    }
    Err(PyTypeError::new_err(format!("data must be bytes, bytearray or memoryview, not {}", type_name(data))))
}

/// One whole PDU, like `engine.smpp.pdu.decode` (raises PduError).
#[pyfunction]
fn pdu_decode<'py>(py: Python<'py>, frame: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let obj = with_octets(frame, |octets| frame_object(py, octets))??;
    let pdu_error = PDU_ERROR.import(py, "engine.smpp.errors", "PduError")?;
    if obj.is_instance(pdu_error)? {
        return Err(PyErr::from_value(obj));
    }
    Ok(obj)
}

// --- building submit_sm ------------------------------------------------------------

/// A submit_sm's (or deliver_sm's) fields taken from a Python object and checked, owned.
#[derive(Default)]
struct OwnedSm {
    command_id: u32,
    command_status: u32,
    sequence_number: u32,
    service_type: Vec<u8>,
    source_addr_ton: u8,
    source_addr_npi: u8,
    source_addr: Vec<u8>,
    dest_addr_ton: u8,
    dest_addr_npi: u8,
    destination_addr: Vec<u8>,
    esm_class: u8,
    protocol_id: u8,
    priority_flag: u8,
    schedule_delivery_time: Vec<u8>,
    validity_period: Vec<u8>,
    registered_delivery: u8,
    replace_if_present_flag: u8,
    data_coding: u8,
    sm_default_msg_id: u8,
    short_message: Vec<u8>,
    tlvs: Vec<(u16, Vec<u8>)>,
}

impl OwnedSm {
    fn pdu(&self) -> SmPdu<'_> {
        SmPdu {
            command_id: self.command_id,
            command_status: self.command_status,
            sequence_number: self.sequence_number,
            service_type: Cow::Borrowed(&self.service_type),
            source_addr_ton: self.source_addr_ton,
            source_addr_npi: self.source_addr_npi,
            source_addr: Cow::Borrowed(&self.source_addr),
            dest_addr_ton: self.dest_addr_ton,
            dest_addr_npi: self.dest_addr_npi,
            destination_addr: Cow::Borrowed(&self.destination_addr),
            esm_class: self.esm_class,
            protocol_id: self.protocol_id,
            priority_flag: self.priority_flag,
            schedule_delivery_time: Cow::Borrowed(&self.schedule_delivery_time),
            validity_period: Cow::Borrowed(&self.validity_period),
            registered_delivery: self.registered_delivery,
            replace_if_present_flag: self.replace_if_present_flag,
            data_coding: self.data_coding,
            sm_default_msg_id: self.sm_default_msg_id,
            short_message: &self.short_message,
            tlvs: self.tlvs.iter().map(|(t, v)| (*t, v.as_slice())).collect(),
        }
    }
}

fn cstr_value(obj: &Bound<'_, PyAny>, k: SmKind, f: CStrField) -> PyResult<Vec<u8>> {
    let pdu = k.name;
    let py = obj.py();
    if !obj.is_exact_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!("{pdu}.{} must be str, not {}", f.name, type_name(obj))));
    }
    let s = obj.cast::<PyString>()?;
    let text = match s.to_str() {
        Ok(t) => t,
        // A lone surrogate: not Latin-1 either; name it as Python's encoder would.
        Err(_) => return Err(lone_surrogate(py, s, k, f)),
    };
    build::latin1_cstr(pdu, f, text).map(Cow::into_owned).map_err(|e| raise(py, &e))
}

fn lone_surrogate(py: Python<'_>, s: &Bound<'_, PyString>, k: SmKind, f: CStrField) -> PyErr {
    let pdu = k.name;
    // A str holding a lone surrogate is not UTF-8, so Rust never sees its text.
    // str.encode("latin-1") fails at the first character above U+00FF, which may be
    // an ordinary character before the surrogate: let Python find it, as the
    // Python codec does.
    let err = match s.call_method1(intern!(py, "encode"), ("latin-1",)) {
        Err(err) => err,
        Ok(_) => return PyValueError::new_err(format!("{pdu}.{}: not valid text", f.name)),
    };
    let start: usize = err.value(py).getattr("start").and_then(|v| v.extract()).unwrap_or(0);
    let ch = s.get_item(start).and_then(|c| c.repr()).map(|r| r.to_string()).unwrap_or_default();
    let message = format!("{pdu}.{}: character {ch} at {start} is not one octet (Latin-1)", f.name);
    match py_error_with(py, message, f.status, Some(k.command_id), None, false) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

fn u8_value(obj: &Bound<'_, PyAny>, k: SmKind, field: &'static str) -> PyResult<u8> {
    let pdu = k.name;
    if !obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!("{pdu}.{field} must be int, not {}", type_name(obj))));
    }
    let v: i128 = obj.extract().unwrap_or(i128::MAX);
    build::u8_field(pdu, field, v, || obj.str().map(|s| s.to_string()).unwrap_or_default())
        .map_err(|e| raise(obj.py(), &e))
}

fn u32_value(obj: &Bound<'_, PyAny>, k: SmKind, field: &'static str) -> PyResult<u32> {
    let pdu = k.name;
    if obj.is_instance_of::<PyInt>() {
        if let Ok(v) = obj.extract::<u32>() {
            return Ok(v);
        }
    }
    let repr = obj.repr().map(|r| r.to_string()).unwrap_or_default();
    Err(raise(obj.py(), &PduError::field(ErrorKind::NotU32 { pdu, field, repr }, k.command_id)))
}

fn octets_value(obj: &Bound<'_, PyAny>, what: impl FnOnce() -> String) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if obj.is_instance_of::<PyByteArray>() || obj.is_instance_of::<PyMemoryView>() {
        return with_octets(obj, |o| o.to_vec());
    }
    Err(PyTypeError::new_err(format!("{} must be bytes, not {}", what(), type_name(obj))))
}

fn short_message_value(obj: &Bound<'_, PyAny>, k: SmKind) -> PyResult<Vec<u8>> {
    let pdu = k.name;
    let sm = octets_value(obj, || format!("{pdu}.short_message"))?;
    build::short_message(pdu, &sm).map_err(|e| raise(obj.py(), &e))?;
    Ok(sm)
}

fn tlvs_value(obj: &Bound<'_, PyAny>, k: SmKind) -> PyResult<Vec<(u16, Vec<u8>)>> {
    let pdu = k.name;
    let py = obj.py();
    let mut out = Vec::new();
    if let Ok(t) = obj.cast::<PyTuple>() {
        if t.is_empty() {
            return Ok(out);
        }
    }
    for (index, item) in obj.try_iter()?.enumerate() {
        let item = item?;
        // `tag, value = t`, as Python unpacks it: any iterable of exactly two.
        let pair: Option<Vec<Bound<'_, PyAny>>> = match item.cast::<PyTuple>() {
            Ok(t) => Some(t.iter().collect()),
            Err(_) => item.try_iter().ok().and_then(|it| it.collect::<PyResult<Vec<_>>>().ok()),
        };
        let (tag, value) = match pair {
            Some(mut v) if v.len() == 2 => {
                let value = v.pop().expect("two items");
                (v.pop().expect("two items"), value)
            }
            _ => {
                let r = item.repr().map(|r| r.to_string()).unwrap_or_default();
                return Err(PyTypeError::new_err(format!("{pdu}.tlvs[{index}] must be Tlv(tag, value), not {r}")));
            }
        };
        let tag_num: Option<u16> = if tag.is_instance_of::<PyInt>() { tag.extract::<u16>().ok() } else { None };
        let value = octets_value(&value, || {
            let name = match tag_num {
                Some(t) => tlv_name(t),
                None => tag.repr().map(|r| r.to_string()).unwrap_or_default(),
            };
            format!("{pdu}.tlvs[{index}] ({name}) value")
        })?;
        let Some(tag) = tag_num else {
            let repr = tag.repr().map(|r| r.to_string()).unwrap_or_default();
            return Err(raise(py, &PduError::field(ErrorKind::TlvTag { pdu, index, repr }, k.command_id)));
        };
        build::tlv_value(pdu, index, tag, &value).map_err(|e| raise(py, &e))?;
        out.push((tag, value));
    }
    Ok(out)
}

/// Which of the two PDUs with the submit_sm body is being encoded: errors name it.
#[derive(Clone, Copy)]
struct SmKind {
    name: &'static str,
    command_id: u32,
}

const SUBMIT: SmKind = SmKind { name: SUBMIT_SM, command_id: cid::SUBMIT_SM };
const DELIVER: SmKind = SmKind { name: "DeliverSm", command_id: cid::DELIVER_SM };

static SUBMIT_SM_CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DELIVER_SM_CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn check_submit_sm(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
    let cls = SUBMIT_SM_CLASS.import(obj.py(), PDU_MODULE, "SubmitSm")?;
    if !obj.is_exact_instance(cls) {
        return Err(PyTypeError::new_err(format!("{what} must be a SubmitSm, not {}", type_name(obj))));
    }
    Ok(())
}

/// SubmitSm or DeliverSm (exactly those classes), or None for any other object.
fn sm_kind(obj: &Bound<'_, PyAny>) -> PyResult<Option<SmKind>> {
    let py = obj.py();
    if obj.is_exact_instance(SUBMIT_SM_CLASS.import(py, PDU_MODULE, "SubmitSm")?) {
        return Ok(Some(SUBMIT));
    }
    if obj.is_exact_instance(DELIVER_SM_CLASS.import(py, PDU_MODULE, "DeliverSm")?) {
        return Ok(Some(DELIVER));
    }
    Ok(None)
}

/// Every field of a SubmitSm / DeliverSm object, checked in the order
/// `engine.smpp.pdu.encode` checks them (so that the first error is the same one).
fn extract_sm<'py>(obj: &Bound<'py, PyAny>, k: SmKind) -> PyResult<OwnedSm> {
    let py = obj.py();
    let g = |name: &Bound<'py, PyString>| obj.getattr(name);
    let mut s = OwnedSm {
        command_id: k.command_id,
        service_type: cstr_value(&g(intern!(py, "service_type"))?, k, build::SERVICE_TYPE)?,
        source_addr_ton: u8_value(&g(intern!(py, "source_addr_ton"))?, k, "source_addr_ton")?,
        source_addr_npi: u8_value(&g(intern!(py, "source_addr_npi"))?, k, "source_addr_npi")?,
        source_addr: cstr_value(&g(intern!(py, "source_addr"))?, k, build::SOURCE_ADDR)?,
        dest_addr_ton: u8_value(&g(intern!(py, "dest_addr_ton"))?, k, "dest_addr_ton")?,
        dest_addr_npi: u8_value(&g(intern!(py, "dest_addr_npi"))?, k, "dest_addr_npi")?,
        destination_addr: cstr_value(&g(intern!(py, "destination_addr"))?, k, build::DESTINATION_ADDR)?,
        esm_class: u8_value(&g(intern!(py, "esm_class"))?, k, "esm_class")?,
        protocol_id: u8_value(&g(intern!(py, "protocol_id"))?, k, "protocol_id")?,
        priority_flag: u8_value(&g(intern!(py, "priority_flag"))?, k, "priority_flag")?,
        schedule_delivery_time: cstr_value(&g(intern!(py, "schedule_delivery_time"))?, k, build::SCHEDULE_DELIVERY_TIME)?,
        validity_period: cstr_value(&g(intern!(py, "validity_period"))?, k, build::VALIDITY_PERIOD)?,
        registered_delivery: u8_value(&g(intern!(py, "registered_delivery"))?, k, "registered_delivery")?,
        replace_if_present_flag: u8_value(&g(intern!(py, "replace_if_present_flag"))?, k, "replace_if_present_flag")?,
        data_coding: u8_value(&g(intern!(py, "data_coding"))?, k, "data_coding")?,
        sm_default_msg_id: u8_value(&g(intern!(py, "sm_default_msg_id"))?, k, "sm_default_msg_id")?,
        short_message: short_message_value(&g(intern!(py, "short_message"))?, k)?,
        tlvs: tlvs_value(&g(intern!(py, "tlvs"))?, k)?,
        ..Default::default()
    };
    s.command_status = u32_value(&g(intern!(py, "command_status"))?, k, "command_status")?;
    s.sequence_number = u32_value(&g(intern!(py, "sequence_number"))?, k, "sequence_number")?;
    Ok(s)
}

fn encode_one<'py>(py: Python<'py>, pdu: &SmPdu<'_>, scratch: &mut Vec<u8>) -> PyResult<Bound<'py, PyBytes>> {
    scratch.clear();
    pdu.encode_into(scratch).map_err(|e| raise(py, &e))?;
    Ok(PyBytes::new(py, scratch))
}

/// `[engine.smpp.pdu.encode(p) for p in pdus]` for SubmitSm objects, in one call.
/// Raises what `encode` raises for the first PDU that cannot be encoded.
#[pyfunction]
fn encode_submit_sm_batch<'py>(py: Python<'py>, pdus: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    let mut scratch = Vec::with_capacity(256);
    for (i, item) in pdus.try_iter()?.enumerate() {
        let item = item?;
        check_submit_sm(&item, &format!("pdus[{i}]"))?;
        let owned = extract_sm(&item, SUBMIT)?;
        out.append(encode_one(py, &owned.pdu(), &mut scratch)?)?;
    }
    Ok(out)
}

/// `[engine.smpp.pdu.encode(p) for p in pdus]` for SubmitSm and DeliverSm objects
/// (the two PDUs with this body), in one call; same errors as `encode`.
#[pyfunction]
fn encode_sm_batch<'py>(py: Python<'py>, pdus: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    let mut scratch = Vec::with_capacity(256);
    for (i, item) in pdus.try_iter()?.enumerate() {
        let item = item?;
        let k = sm_kind(&item)?.ok_or_else(|| {
            PyTypeError::new_err(format!("pdus[{i}] must be a SubmitSm or DeliverSm, not {}", type_name(&item)))
        })?;
        let owned = extract_sm(&item, k)?;
        out.append(encode_one(py, &owned.pdu(), &mut scratch)?)?;
    }
    Ok(out)
}

/// submit_sm PDUs that share a template: for each item `(destination_addr,
/// short_message)` or `(destination_addr, short_message, esm_class, data_coding,
/// tlvs)`, the bytes of `encode(dataclasses.replace(template, **those fields))`.
/// The template's fields are checked once; each item's fields as `encode` would.
#[pyfunction]
fn build_submit_sm_batch<'py>(py: Python<'py>, template: &Bound<'py, PyAny>, items: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    check_submit_sm(template, "template")?;
    let base = extract_sm(template, SUBMIT)?;
    let out = PyList::empty(py);
    let mut scratch = Vec::with_capacity(256);
    for (i, item) in items.try_iter()?.enumerate() {
        let item = item?;
        let t = item.cast::<PyTuple>().ok().filter(|t| t.len() == 2 || t.len() == 5).ok_or_else(|| {
            PyTypeError::new_err(format!(
                "items[{i}] must be (destination_addr, short_message) or \
                 (destination_addr, short_message, esm_class, data_coding, tlvs), not {}",
                type_name(&item)
            ))
        })?;
        let mut pdu = base.pdu();
        // Fields are checked in encode's order: destination_addr, esm_class,
        // data_coding, short_message, tlvs.
        let dest = cstr_value(&t.get_item(0)?, SUBMIT, build::DESTINATION_ADDR)?;
        let mut tlvs_owned = None;
        if t.len() == 5 {
            pdu.esm_class = u8_value(&t.get_item(2)?, SUBMIT, "esm_class")?;
            pdu.data_coding = u8_value(&t.get_item(3)?, SUBMIT, "data_coding")?;
        }
        let sm = short_message_value(&t.get_item(1)?, SUBMIT)?;
        if t.len() == 5 {
            tlvs_owned = Some(tlvs_value(&t.get_item(4)?, SUBMIT)?);
        }
        pdu.destination_addr = Cow::Owned(dest);
        pdu.short_message = &sm;
        if let Some(tl) = &tlvs_owned {
            pdu.tlvs = tl.iter().map(|(tag, v)| (*tag, v.as_slice())).collect();
        }
        out.append(encode_one(py, &pdu, &mut scratch)?)?;
    }
    Ok(out)
}

const TAG_SAR_MSG_REF_NUM: u16 = 0x020C;
const TAG_SAR_TOTAL_SEGMENTS: u16 = 0x020E;
const TAG_SAR_SEGMENT_SEQNUM: u16 = 0x020F;
const TAG_MESSAGE_PAYLOAD: u16 = 0x0424;
const ESM_UDHI: u8 = 0x40;

/// The submit_sm PDUs of encoded messages (`engine.encoding.encode_batch`'s
/// `EncodedMessage`s) sharing a template: for each `(destinations[i], encoded[i])`,
/// `(list of PDU bytes, encoding, data_coding)` as `engine.client.smsc.build_submits`
/// gives it for that message and template (destination without its leading "+",
/// esm_class with UDHI when the parts carry a UDH, `gsm_data_coding` for GSM 7-bit,
/// the SAR TLVs of each part, or the whole text in message_payload when `payload`), or
/// None where a PDU cannot be built (the caller asks `build_submits`, which raises the
/// error that names the problem).
#[pyfunction]
fn build_submit_sm_encoded<'py>(
    py: Python<'py>,
    template: &Bound<'py, PyAny>,
    destinations: &Bound<'py, PyList>,
    encoded: &Bound<'py, PyList>,
    gsm_data_coding: u8,
    payload: bool,
) -> PyResult<Bound<'py, PyList>> {
    check_submit_sm(template, "template")?;
    if destinations.len() != encoded.len() {
        return Err(PyValueError::new_err("destinations and encoded must have the same length"));
    }
    let base = extract_sm(template, SUBMIT)?;
    let out = PyList::empty(py);
    let mut scratch = Vec::with_capacity(256);
    for (dest, e) in destinations.iter().zip(encoded.iter()) {
        let e = e.cast::<super::encoding::EncodedMessage>().map_err(|_| {
            PyTypeError::new_err(format!("encoded must hold EncodedMessage objects, not {}", type_name(&e)))
        })?;
        let e = e.get();
        let built = (|| -> PyResult<Option<Bound<'py, PyAny>>> {
            let dest = dest.cast::<PyString>().map_err(|_| PyTypeError::new_err("destinations must be str"))?;
            let d = dest.to_str()?;
            let d = d.strip_prefix('+').unwrap_or(d);
            let Ok(dest_octets) = cstr_value(PyString::new(py, d).as_any(), SUBMIT, build::DESTINATION_ADDR) else {
                return Ok(None);
            };
            let parts = e.part_bytes();
            let total = parts.len();
            let sar = e.sar_reference().filter(|_| total > 1);
            if sar.is_some() && total > 255 {
                return Ok(None); // sar_total_segments is one octet: build_submits says so
            }
            let dc = if e.is_gsm7() { gsm_data_coding } else { e.alphabet_data_coding() };
            let esm = if e.has_udhi() { base.esm_class | ESM_UDHI } else { base.esm_class };
            let pdus = PyList::empty(py);
            for (k, body) in parts.iter().enumerate() {
                let body = body.bind(py).as_bytes();
                let mut pdu = base.pdu();
                pdu.destination_addr = Cow::Borrowed(&dest_octets);
                pdu.esm_class = esm;
                pdu.data_coding = dc;
                let (seq, tot) = ([(k + 1) as u8], [total as u8]);
                let r = sar.map(u16::to_be_bytes);
                if payload {
                    pdu.short_message = b"";
                    pdu.tlvs = vec![(TAG_MESSAGE_PAYLOAD, body)];
                } else if let Some(r) = &r {
                    pdu.short_message = body;
                    pdu.tlvs = vec![(TAG_SAR_MSG_REF_NUM, &r[..]), (TAG_SAR_TOTAL_SEGMENTS, &tot[..]), (TAG_SAR_SEGMENT_SEQNUM, &seq[..])];
                } else {
                    pdu.short_message = body;
                }
                scratch.clear();
                if pdu.encode_into(&mut scratch).is_err() {
                    return Ok(None);
                }
                pdus.append(PyBytes::new(py, &scratch))?;
            }
            let t = PyTuple::new(py, [pdus.into_any(), e.encoding_name(py).into_any(), dc.into_bound_py_any(py)?])?;
            Ok(Some(t.into_any()))
        })()?;
        match built {
            Some(t) => out.append(t)?,
            None => out.append(py.None())?,
        }
    }
    Ok(out)
}

// --- delivery receipts: the fast lane of engine.smpp.receipts ------------------------

const RECEIPT_FIELDS: [&str; 12] = [
    "message_id",
    "state",
    "stat",
    "message_state",
    "error",
    "network_error_code",
    "submitted",
    "delivered",
    "submit_date",
    "done_date",
    "text",
    "fields",
];

static RECEIPT_CLASS: PyOnceLock<PduClass> = PyOnceLock::new();

fn receipt_class(py: Python<'_>) -> PyResult<&PduClass> {
    RECEIPT_CLASS.get_or_try_init(py, || {
        let cls = py.import("engine.smpp.receipts")?.getattr("Receipt")?.cast_into::<PyType>()?;
        let fast = slotted_with(&cls, &RECEIPT_FIELDS)? && !cls.hasattr("__post_init__")?;
        Ok(PduClass { cls: cls.unbind(), fast })
    })
}

/// `engine.smpp.receipts.Receipt` for a receipt in the standard appendix B layout
/// (`crate::pdu::receipt::parse_standard`), or None: the caller then asks the
/// reference parser, which reads every other variant and raises its errors.
/// `short_message` as sent (data_coding other than UCS-2), `tlvs` the PDU's tuple of
/// `(tag, value)`.
#[pyfunction]
fn receipt_standard<'py>(py: Python<'py>, short_message: &Bound<'py, PyBytes>, tlvs: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let tuple = tlvs.cast::<PyTuple>().map_err(|_| PyTypeError::new_err("tlvs must be a tuple of (tag, value)"))?;
    let mut values: Vec<(u16, Bound<'py, PyBytes>)> = Vec::with_capacity(tuple.len());
    for item in tuple.iter() {
        let t = item.cast::<PyTuple>().map_err(|_| PyTypeError::new_err("tlvs must be a tuple of (tag, value)"))?;
        if t.len() != 2 {
            return Err(PyTypeError::new_err("tlvs must be a tuple of (tag, value)"));
        }
        let tag: u16 = match t.get_item(0)?.extract() {
            Ok(v) => v,
            Err(_) => return Ok(None),
        };
        let value = match t.get_item(1)?.cast_into::<PyBytes>() {
            Ok(v) => v,
            Err(_) => return Ok(None),
        };
        values.push((tag, value));
    }
    let parsed_tlvs: Vec<Tlv<'_>> = values.iter().map(|(tag, v)| Tlv { tag: *tag, value: v.as_bytes() }).collect();
    let Some(r) = crate::pdu::receipt::parse_standard(short_message.as_bytes(), &parsed_tlvs) else {
        return Ok(None);
    };
    let s = |b: &[u8]| latin1_str(py, b);
    let fields = PyDict::new(py);
    let id = s(r.id);
    let sub = s(r.sub);
    let dlvrd = s(r.dlvrd);
    let submit_date = s(r.submit_date);
    let done_date = s(r.done_date);
    let stat = s(r.stat);
    let err = s(r.err);
    let text = s(r.text);
    for (k, v) in [
        (intern!(py, "id"), &id),
        (intern!(py, "sub"), &sub),
        (intern!(py, "dlvrd"), &dlvrd),
        (intern!(py, "submit_date"), &submit_date),
        (intern!(py, "done_date"), &done_date),
        (intern!(py, "stat"), &stat),
        (intern!(py, "err"), &err),
        (intern!(py, "text"), &text),
    ] {
        fields.set_item(k, v)?;
    }
    let message_id = if std::ptr::eq(r.message_id.as_ptr(), r.id.as_ptr()) && r.message_id.len() == r.id.len() {
        id.clone()
    } else {
        s(r.message_id)
    };
    let nec = match r.network_error_code {
        Some((t, c)) => PyTuple::new(py, [t.into_bound_py_any(py)?, c.into_bound_py_any(py)?])?.into_any(),
        None => py.None().into_bound(py),
    };
    let message_state = match r.message_state {
        Some(v) => v.into_bound_py_any(py)?,
        None => py.None().into_bound(py),
    };
    let vals: [(&Bound<'py, PyString>, Bound<'py, PyAny>); 12] = [
        (intern!(py, "message_id"), message_id),
        (intern!(py, "state"), PyString::intern(py, r.state).into_any()),
        (intern!(py, "stat"), stat),
        (intern!(py, "message_state"), message_state),
        (intern!(py, "error"), err),
        (intern!(py, "network_error_code"), nec),
        (intern!(py, "submitted"), sub),
        (intern!(py, "delivered"), dlvrd),
        (intern!(py, "submit_date"), submit_date),
        (intern!(py, "done_date"), done_date),
        (intern!(py, "text"), text),
        (intern!(py, "fields"), fields.into_any()),
    ];
    make_pdu(py, receipt_class(py)?, &vals).map(Some)
}

/// The PDU classes this binding builds without calling their `__init__` (all of
/// them, unless engine.smpp.pdu changed their fields): tests hold it to that.
#[pyfunction]
fn pdu_fast_classes(py: Python<'_>) -> PyResult<Vec<String>> {
    let mut out = Vec::new();
    for (_, c) in classes(py)? {
        if c.fast {
            out.push(c.cls.bind(py).name()?.to_string());
        }
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pdu_fast_classes, m)?)?;
    m.add_class::<PyFramer>()?;
    m.add_function(wrap_pyfunction!(pdu_decode, m)?)?;
    m.add_function(wrap_pyfunction!(encode_submit_sm_batch, m)?)?;
    m.add_function(wrap_pyfunction!(encode_sm_batch, m)?)?;
    m.add_function(wrap_pyfunction!(build_submit_sm_batch, m)?)?;
    m.add_function(wrap_pyfunction!(build_submit_sm_encoded, m)?)?;
    m.add_function(wrap_pyfunction!(receipt_standard, m)?)?;
    m.add("PDU_MAX_COMMAND_LENGTH", MAX_COMMAND_LENGTH)?;
    Ok(())
}
