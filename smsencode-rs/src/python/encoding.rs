//! Python binding of the encoding codec: argument checking, reference taking and
//! result objects. All logic is in `crate::encoding`; errors are converted to the
//! classes of `engine.encoding.errors` in one place (`encode_err` / `decode_err`).
//!
//! Argument checks follow `engine.encoding.reference` exactly (same order, same
//! exception classes), because the differential tests hold both backends to it.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::string::PyStringData;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PyString, PyTuple, PyType};
use pyo3::{intern, IntoPyObjectExt};

use crate::encoding::{self as core, Alphabet, Concat, EncodeError, Encoder, Input, Language, Options, Plan, Requested};

// --- errors: the one place where core errors become Python exceptions ---------------

static UNENCODABLE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TOO_MANY_PARTS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DECODE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DEFAULT_REFS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

const ERRORS: &str = "engine.encoding.errors";

fn raise_instance<'py>(py: Python<'py>, cls: &PyOnceLock<Py<PyType>>, name: &str, args: impl pyo3::call::PyCallArgs<'py>) -> PyErr {
    match cls.import(py, ERRORS, name).and_then(|c| c.call1(args)) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

fn encode_err(py: Python<'_>, e: EncodeError) -> PyErr {
    match e {
        EncodeError::Unencodable { cp, index } => match char::from_u32(cp) {
            Some(ch) => raise_instance(py, &UNENCODABLE, "UnencodableCharacter", (ch, index)),
            // A lone surrogate is no Rust char: let Python's chr() make the str.
            None => match py.import(intern!(py, "builtins")).and_then(|b| b.getattr(intern!(py, "chr"))).and_then(|f| f.call1((cp,))) {
                Ok(ch) => raise_instance(py, &UNENCODABLE, "UnencodableCharacter", (ch, index)),
                Err(e) => e,
            },
        },
        EncodeError::TooManyParts { actual, max } => raise_instance(py, &TOO_MANY_PARTS, "TooManyParts", (actual, max)),
        EncodeError::WrongInputType { .. } | EncodeError::InvalidOption { .. } => PyValueError::new_err(e.to_string()),
    }
}

fn decode_err(py: Python<'_>, e: core::DecodeError) -> PyErr {
    raise_instance(py, &DECODE_ERROR, "DecodeError", (e.to_string(),))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

// --- options -------------------------------------------------------------------------

/// A keyword argument that is either absent (its default applies) or given, None
/// included: the reference rejects an explicit `encoding=None`, so we must see it.
pub enum Arg<'py> {
    Absent,
    Given(Bound<'py, PyAny>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for Arg<'py> {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Arg::Given(obj.to_owned()))
    }
}

impl<'py> Arg<'py> {
    fn or<'b>(&'b self, default: &'b Bound<'py, PyAny>) -> &'b Bound<'py, PyAny> {
        match self {
            Arg::Absent => default,
            Arg::Given(v) => v,
        }
    }
    fn given(&self) -> Option<&Bound<'py, PyAny>> {
        match self {
            Arg::Absent => None,
            Arg::Given(v) => Some(v),
        }
    }
}

fn check_str<'a>(obj: &'a Bound<'_, PyAny>, option: &str) -> PyResult<&'a Bound<'a, PyString>> {
    obj.cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{option} must be a str, got {}", type_name(obj))))
}

/// An int option as i128 (a Python int too large for that is out of every range anyway).
fn int_value(obj: &Bound<'_, PyAny>) -> Option<i128> {
    if !obj.is_instance_of::<PyInt>() {
        return None;
    }
    Some(obj.extract::<i128>().unwrap_or(i128::MAX))
}

fn to_i64_clamped(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn parse_options(
    encoding: &Bound<'_, PyAny>,
    concat: &Bound<'_, PyAny>,
    max_parts: &Bound<'_, PyAny>,
    packed: Option<&Bound<'_, PyAny>>,
    national: &Bound<'_, PyAny>,
) -> PyResult<Options> {
    let map = |e: EncodeError| PyValueError::new_err(e.to_string());
    let encoding = Requested::from_name(check_str(encoding, "encoding")?.to_str()?).map_err(map)?;
    let concat = Concat::from_name(check_str(concat, "concat")?.to_str()?).map_err(map)?;
    let max_parts = int_value(max_parts)
        .ok_or_else(|| PyTypeError::new_err(format!("max_parts must be an int, got {}", type_name(max_parts))))?;
    let max_parts = Options::check_max_parts(to_i64_clamped(max_parts)).map_err(map)?;
    let packed = match packed {
        None => false,
        Some(p) => {
            if !p.is_instance_of::<PyBool>() {
                return Err(PyTypeError::new_err(format!("packed must be a bool, got {}", type_name(p))));
            }
            p.is_truthy()?
        }
    };
    let mut opts = Options { encoding, concat, max_parts, packed, national: Vec::new() };
    if !national.is_none() {
        let items: Vec<Bound<'_, PyAny>> = if let Ok(list) = national.cast::<PyList>() {
            list.iter().collect()
        } else if let Ok(tuple) = national.cast::<PyTuple>() {
            tuple.iter().collect()
        } else {
            return Err(PyTypeError::new_err(format!(
                "national must be a list or tuple of language names, got {}",
                type_name(national)
            )));
        };
        for item in &items {
            let name = item
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err(format!("national languages must be str, got {}", type_name(item))))?;
            opts.add_language(name.to_str()?).map_err(map)?;
        }
        opts.check_no_repeats().map_err(map)?;
    }
    Ok(opts)
}

/// Where concatenation references come from.
enum RefSource<'py> {
    Fixed(u16),
    /// An object with `next_ref(bits)`; None means `engine.encoding.refs.DEFAULT_REFS`.
    Counter(Option<Bound<'py, PyAny>>),
}

fn check_int_ref(value: i128, opts: &Options) -> PyResult<u16> {
    opts.check_ref(to_i64_clamped(value)).map_err(|e| PyValueError::new_err(e.to_string()))
}

fn parse_ref<'py>(r: &Bound<'py, PyAny>, opts: &Options) -> PyResult<RefSource<'py>> {
    if r.is_none() {
        return Ok(RefSource::Counter(None));
    }
    if let Some(v) = int_value(r) {
        return Ok(RefSource::Fixed(check_int_ref(v, opts)?));
    }
    let py = r.py();
    if let Ok(m) = r.getattr(intern!(py, "next_ref")) {
        if m.is_callable() {
            return Ok(RefSource::Counter(Some(r.clone())));
        }
    }
    Err(PyTypeError::new_err(format!(
        "ref must be an int, an object with next_ref(bits), or None; got {}",
        type_name(r)
    )))
}

fn take_ref(py: Python<'_>, source: &RefSource<'_>, opts: &Options) -> PyResult<u16> {
    match source {
        RefSource::Fixed(v) => Ok(*v),
        RefSource::Counter(obj) => {
            let counter = match obj {
                Some(o) => o.clone(),
                None => DEFAULT_REFS.import(py, "engine.encoding.refs", "DEFAULT_REFS")?.clone(),
            };
            let value = counter.call_method1(intern!(py, "next_ref"), (opts.concat.ref_bits(),))?;
            let v = int_value(&value)
                .ok_or_else(|| PyValueError::new_err(format!("ref.next_ref() returned {}, not an int", value.repr().map(|r| r.to_string()).unwrap_or_default())))?;
            check_int_ref(v, opts)
        }
    }
}

// --- texts ---------------------------------------------------------------------------

/// Borrow the text of a str / bytes argument, or raise what the reference raises.
fn text_input<'a>(obj: &'a Bound<'_, PyAny>, opts: &Options) -> PyResult<Input<'a>> {
    if let Ok(s) = obj.cast::<PyString>() {
        if opts.encoding == Requested::Binary {
            return Err(PyValueError::new_err("encoding='binary' needs bytes, got a str"));
        }
        // SAFETY: the str is alive (borrowed from `obj`) and immutable while we read
        // it; the GIL is held for the whole encode. Reading CPython's own storage
        // avoids making (and caching in the str) a UTF-8 copy of every non-ASCII text.
        return Ok(match unsafe { s.data() }? {
            PyStringData::Ucs1(b) => Input::Ucs1(b),
            PyStringData::Ucs2(u) => Input::Ucs2(u),
            PyStringData::Ucs4(u) => Input::Ucs4(u),
        });
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        if opts.encoding != Requested::Binary {
            return Err(PyValueError::new_err(format!(
                "encoding={:?} needs a str, got bytes (use encoding='binary')",
                requested_name(opts.encoding)
            )));
        }
        return Ok(Input::Bytes(b.as_bytes()));
    }
    Err(PyTypeError::new_err(format!(
        "text must be a str (or bytes for encoding='binary'), got {}",
        type_name(obj)
    )))
}

fn requested_name(r: Requested) -> &'static str {
    match r {
        Requested::Auto => "auto",
        Requested::Gsm7 => "gsm7",
        Requested::Ucs2 => "ucs2",
        Requested::Latin1 => "latin1",
        Requested::Binary => "binary",
    }
}

fn alphabet_str<'py>(py: Python<'py>, a: Alphabet) -> &'py Bound<'py, PyString> {
    match a {
        Alphabet::Gsm7 => intern!(py, "gsm7"),
        Alphabet::Ucs2 => intern!(py, "ucs2"),
        Alphabet::Latin1 => intern!(py, "latin1"),
        Alphabet::Binary => intern!(py, "binary"),
    }
}

fn lang_obj<'py>(py: Python<'py>, l: Option<Language>) -> Bound<'py, PyAny> {
    match l {
        None => py.None().into_bound(py),
        Some(Language::Turkish) => intern!(py, "turkish").clone().into_any(),
        Some(Language::Spanish) => intern!(py, "spanish").clone().into_any(),
        Some(Language::Portuguese) => intern!(py, "portuguese").clone().into_any(),
    }
}

fn national_tuple<'py>(py: Python<'py>, locking: Option<Language>, single: Option<Language>) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, [lang_obj(py, locking), lang_obj(py, single)])
}

fn lang_repr(l: Option<Language>) -> String {
    l.map_or("None".into(), |l| format!("'{}'", l.name()))
}

fn opt_repr<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("None".into(), |v| v.to_string())
}

// --- result classes ------------------------------------------------------------------

/// Creates a result object and takes it off the cyclic GC's list. PyO3 makes every
/// pyclass GC-tracked, but ours hold only bytes, ints and each other, so they can
/// never be part of a cycle (CPython untracks such tuples the same way). Tracked,
/// they made the collector run over every result of a batch: half the batch time.
fn untracked<T: pyo3::PyClass + Into<pyo3::PyClassInitializer<T>>>(py: Python<'_>, value: T) -> PyResult<Py<T>> {
    let obj = Py::new(py, value)?;
    // SAFETY: obj is a live GC-capable object we own; untracking an object whose
    // references cannot form a cycle is what CPython itself does for atomic tuples,
    // and PyO3's dealloc tolerates an untracked object.
    unsafe { pyo3::ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    Ok(obj)
}

/// Most messages have one part: no heap slice for them.
enum Parts {
    One(Py<PyBytes>),
    Many(Box<[Py<PyBytes>]>),
}

impl Parts {
    fn as_slice(&self) -> &[Py<PyBytes>] {
        match self {
            Parts::One(p) => std::slice::from_ref(p),
            Parts::Many(b) => b,
        }
    }
}

/// The parts of one message and how they were made (docs/encoding.md).
#[pyclass(frozen, module = "engine._smsencode", name = "EncodedMessage")]
pub struct EncodedMessage {
    alphabet: Alphabet,
    segments: usize,
    units: usize,
    /// The bytes are made eagerly; the list around them is made on access, so that a
    /// batch allocates no GC-tracked object per message (the cyclic GC cost a sixth
    /// of the batch time when each message held a list).
    parts: Parts,
    udhi: bool,
    sar: bool,
    reference: Option<u16>,
    locking: Option<Language>,
    single: Option<Language>,
}

/// What the PDU builder (`super::pdu::build_submit_sm_encoded`) reads of a message,
/// without a Python list per access.
impl EncodedMessage {
    pub(crate) fn is_gsm7(&self) -> bool {
        matches!(self.alphabet, Alphabet::Gsm7)
    }
    pub(crate) fn alphabet_data_coding(&self) -> u8 {
        self.alphabet.data_coding()
    }
    pub(crate) fn encoding_name<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        alphabet_str(py, self.alphabet).clone()
    }
    pub(crate) fn part_bytes(&self) -> &[Py<PyBytes>] {
        self.parts.as_slice()
    }
    pub(crate) fn has_udhi(&self) -> bool {
        self.udhi
    }
    /// The SAR reference when the parts carry SAR TLVs.
    pub(crate) fn sar_reference(&self) -> Option<u16> {
        if self.sar {
            self.reference
        } else {
            None
        }
    }
}

#[pymethods]
impl EncodedMessage {
    #[getter]
    fn encoding<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        alphabet_str(py, self.alphabet).clone()
    }
    #[getter]
    fn data_coding(&self) -> u8 {
        self.alphabet.data_coding()
    }
    #[getter]
    fn segments(&self) -> usize {
        self.segments
    }
    #[getter]
    fn units(&self) -> usize {
        self.units
    }
    #[getter]
    fn parts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.parts.as_slice().iter().map(|p| p.bind(py)))
    }
    #[getter]
    fn udhi(&self) -> bool {
        self.udhi
    }
    /// (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum) per part, or None.
    #[getter]
    fn sar(&self) -> Option<Vec<(u16, usize, usize)>> {
        let r = self.reference?;
        self.sar.then(|| (1..=self.segments).map(|seq| (r, self.segments, seq)).collect())
    }
    #[getter(r#ref)]
    fn reference(&self) -> Option<u16> {
        self.reference
    }
    #[getter]
    fn national<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        national_tuple(py, self.locking, self.single)
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, Self>) -> PyResult<bool> {
        let o = other.get();
        Ok(self.alphabet == o.alphabet
            && self.segments == o.segments
            && self.units == o.units
            && self.udhi == o.udhi
            && self.sar == o.sar
            && self.reference == o.reference
            && self.locking == o.locking
            && self.single == o.single
            && self.parts.as_slice().len() == o.parts.as_slice().len()
            && self.parts.as_slice().iter().zip(o.parts.as_slice()).all(|(a, b)| a.as_bytes(py) == b.as_bytes(py)))
    }
    fn __ne__(&self, py: Python<'_>, other: &Bound<'_, Self>) -> PyResult<bool> {
        Ok(!self.__eq__(py, other)?)
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let sar = self.sar().into_pyobject(py)?.repr()?.to_string();
        Ok(format!(
            "EncodedMessage(encoding='{}', data_coding={}, segments={}, units={}, parts={}, udhi={}, sar={}, ref={}, national=({}, {}))",
            self.alphabet.name(),
            self.alphabet.data_coding(),
            self.segments,
            self.units,
            self.parts(py)?.repr()?,
            if self.udhi { "True" } else { "False" },
            sar,
            opt_repr(self.reference),
            lang_repr(self.locking),
            lang_repr(self.single),
        ))
    }
}

/// What encode() would choose and cost, without the bytes.
#[pyclass(frozen, module = "engine._smsencode", name = "Count")]
pub struct Count {
    alphabet: Alphabet,
    segments: usize,
    units: usize,
    chars: usize,
    per_segment: usize,
    locking: Option<Language>,
    single: Option<Language>,
}

impl Count {
    fn key(&self) -> (Alphabet, usize, usize, usize, usize, Option<Language>, Option<Language>) {
        (self.alphabet, self.segments, self.units, self.chars, self.per_segment, self.locking, self.single)
    }
}

#[pymethods]
impl Count {
    #[getter]
    fn encoding<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        alphabet_str(py, self.alphabet).clone()
    }
    #[getter]
    fn data_coding(&self) -> u8 {
        self.alphabet.data_coding()
    }
    #[getter]
    fn segments(&self) -> usize {
        self.segments
    }
    #[getter]
    fn units(&self) -> usize {
        self.units
    }
    #[getter]
    fn chars(&self) -> usize {
        self.chars
    }
    #[getter]
    fn per_segment(&self) -> usize {
        self.per_segment
    }
    #[getter]
    fn national<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        national_tuple(py, self.locking, self.single)
    }
    fn __eq__(&self, other: &Bound<'_, Self>) -> bool {
        self.key() == other.get().key()
    }
    fn __ne__(&self, other: &Bound<'_, Self>) -> bool {
        self.key() != other.get().key()
    }
    fn __repr__(&self) -> String {
        format!(
            "Count(encoding='{}', data_coding={}, segments={}, units={}, chars={}, per_segment={}, national=({}, {}))",
            self.alphabet.name(),
            self.alphabet.data_coding(),
            self.segments,
            self.units,
            self.chars,
            self.per_segment,
            lang_repr(self.locking),
            lang_repr(self.single)
        )
    }
}

/// The parsed user data header of an inbound message.
#[pyclass(frozen, module = "engine._smsencode", name = "Udh")]
pub struct Udh {
    inner: core::Udh,
}

#[pymethods]
impl Udh {
    /// (ref, total, seq) or None.
    #[getter]
    fn concat(&self) -> Option<(u16, u8, u8)> {
        self.inner.concat
    }
    #[getter]
    fn ref_bits(&self) -> Option<u8> {
        self.inner.ref_bits
    }
    #[getter]
    fn national<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        national_tuple(py, self.inner.locking, self.inner.single)
    }
    /// Every information element in order as (iei, bytes).
    #[getter]
    fn elements<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.elements.iter().map(|(iei, data)| (*iei, PyBytes::new(py, data))))
    }
    fn __eq__(&self, other: &Bound<'_, Self>) -> bool {
        self.inner == other.get().inner
    }
    fn __ne__(&self, other: &Bound<'_, Self>) -> bool {
        self.inner != other.get().inner
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Udh(concat={}, ref_bits={}, national=({}, {}), elements={})",
            self.concat().into_pyobject(py)?.repr()?,
            opt_repr(self.inner.ref_bits),
            lang_repr(self.inner.locking),
            lang_repr(self.inner.single),
            self.elements(py)?.repr()?
        ))
    }
}

/// Text (or data) and UDH of one inbound short_message.
#[pyclass(frozen, module = "engine._smsencode", name = "Decoded")]
pub struct Decoded {
    text: Option<String>,
    data: Py<PyBytes>,
    encoding: &'static str,
    udh: Option<Py<Udh>>,
}

#[pymethods]
impl Decoded {
    #[getter]
    fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.clone_ref(py)
    }
    #[getter]
    fn encoding(&self) -> &'static str {
        self.encoding
    }
    #[getter]
    fn udh(&self, py: Python<'_>) -> Option<Py<Udh>> {
        self.udh.as_ref().map(|u| u.clone_ref(py))
    }
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, Self>) -> bool {
        let o = other.get();
        self.text == o.text
            && self.encoding == o.encoding
            && self.data.as_bytes(py) == o.data.as_bytes(py)
            && match (&self.udh, &o.udh) {
                (None, None) => true,
                (Some(a), Some(b)) => a.get().inner == b.get().inner,
                _ => false,
            }
    }
    fn __ne__(&self, py: Python<'_>, other: &Bound<'_, Self>) -> bool {
        !self.__eq__(py, other)
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let udh = match &self.udh {
            None => "None".to_string(),
            Some(u) => u.bind(py).repr()?.to_string(),
        };
        Ok(format!(
            "Decoded(text={}, data={}, encoding='{}', udh={})",
            self.text().into_pyobject(py)?.repr()?,
            self.data.bind(py).repr()?,
            self.encoding,
            udh
        ))
    }
}

// --- functions -----------------------------------------------------------------------

/// Plan, take a reference if needed, and build the result object.
fn encode_one(
    py: Python<'_>,
    enc: &mut Encoder,
    text: &Bound<'_, PyAny>,
    opts: &Options,
    refs: &RefSource<'_>,
) -> PyResult<Py<EncodedMessage>> {
    let input = text_input(text, opts)?;
    let plan = enc.plan(input, opts).map_err(|e| encode_err(py, e))?;
    let reference = if plan.needs_ref() { Some(take_ref(py, refs, opts)?) } else { None };
    let parts = build_parts(py, enc, &plan, reference.unwrap_or(0))?;
    untracked(
        py,
        EncodedMessage {
            alphabet: plan.alphabet,
            segments: plan.segments,
            units: plan.units,
            parts,
            udhi: plan.udhi(),
            sar: plan.concat == Concat::Sar && plan.multi(),
            reference,
            locking: plan.locking,
            single: plan.single,
        },
    )
}

/// Each part is written straight into its Python bytes object (length computed first).
fn build_parts(py: Python<'_>, enc: &Encoder, plan: &Plan, reference: u16) -> PyResult<Parts> {
    let part = |i: usize| {
        PyBytes::new_with(py, enc.part_len(plan, i), |buf| {
            enc.write_part(plan, i, reference, buf);
            Ok(())
        })
        .map(Bound::unbind)
    };
    match plan.part_count() {
        1 => Ok(Parts::One(part(0)?)),
        n => Ok(Parts::Many((0..n).map(part).collect::<PyResult<_>>()?)),
    }
}

/// Encode one message into its SMS parts (docs/encoding.md).
#[pyfunction]
#[pyo3(signature = (text, *, encoding=Arg::Absent, concat=Arg::Absent, r#ref=None, max_parts=Arg::Absent, packed=Arg::Absent, national=None))]
#[allow(clippy::too_many_arguments)]
fn encode<'py>(
    py: Python<'py>,
    text: &Bound<'_, PyAny>,
    encoding: Arg<'py>,
    concat: Arg<'py>,
    r#ref: Option<&Bound<'_, PyAny>>,
    max_parts: Arg<'py>,
    packed: Arg<'py>,
    national: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<EncodedMessage>> {
    let d = Defaults::new(py);
    let opts = parse_options(
        encoding.or(&d.encoding),
        concat.or(&d.concat),
        max_parts.or(&d.max_parts),
        Some(packed.or(&d.packed)),
        national.unwrap_or(&d.none),
    )?;
    let refs = parse_ref(r#ref.unwrap_or(&d.none), &opts)?;
    with_encoder(|e| encode_one(py, e, text, &opts, &refs))
}

thread_local! {
    /// Reused buffers of single calls (the GIL is held, but threads still differ).
    static ENCODER: std::cell::RefCell<Encoder> = std::cell::RefCell::new(Encoder::new());
}

/// The thread's reusable encoder, or a fresh one when it is busy: a `next_ref()` written
/// in Python may itself call encode() or count() while this thread is encoding.
fn with_encoder<R>(f: impl FnOnce(&mut Encoder) -> R) -> R {
    ENCODER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut e) => f(&mut e),
        Err(_) => f(&mut Encoder::new()),
    })
}

/// The contract's defaults as Python objects (checked like explicit arguments).
struct Defaults<'py> {
    encoding: Bound<'py, PyAny>,
    concat: Bound<'py, PyAny>,
    max_parts: Bound<'py, PyAny>,
    packed: Bound<'py, PyAny>,
    none: Bound<'py, PyAny>,
}

impl<'py> Defaults<'py> {
    fn new(py: Python<'py>) -> Self {
        Defaults {
            encoding: intern!(py, "auto").clone().into_any(),
            concat: intern!(py, "udh8").clone().into_any(),
            max_parts: core::MAX_PARTS_LIMIT.into_bound_py_any(py).expect("small int"),
            packed: PyBool::new(py, false).to_owned().into_any(),
            none: py.None().into_bound(py),
        }
    }
}

/// encode() for many texts in one crossing; `ref` may also be a sequence of ints.
#[pyfunction]
#[pyo3(signature = (texts, *, encoding=Arg::Absent, concat=Arg::Absent, r#ref=None, max_parts=Arg::Absent, packed=Arg::Absent, national=None))]
#[allow(clippy::too_many_arguments)]
fn encode_batch<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    encoding: Arg<'py>,
    concat: Arg<'py>,
    r#ref: Option<&Bound<'py, PyAny>>,
    max_parts: Arg<'py>,
    packed: Arg<'py>,
    national: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let d = Defaults::new(py);
    let opts = parse_options(
        encoding.or(&d.encoding),
        concat.or(&d.concat),
        max_parts.or(&d.max_parts),
        Some(packed.or(&d.packed)),
        national.unwrap_or(&d.none),
    )?;
    // A list is read in place; any other iterable is first collected, as list() would.
    let collected;
    let list: &Bound<'py, PyList> = match texts.cast::<PyList>() {
        Ok(l) => l,
        Err(_) => {
            collected = PyList::new(py, texts.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;
            &collected
        }
    };
    let n = list.len();
    let r = r#ref.unwrap_or(&d.none);
    let per_text: Option<Vec<u16>> = if r.is_instance_of::<PyList>() || r.is_instance_of::<PyTuple>() {
        let seq: Vec<Bound<'py, PyAny>> = r.try_iter()?.collect::<PyResult<_>>()?;
        if seq.len() != n {
            return Err(PyValueError::new_err(format!("ref has {} references for {} texts", seq.len(), n)));
        }
        let mut refs = Vec::with_capacity(n);
        for v in &seq {
            let value = int_value(v)
                .ok_or_else(|| PyTypeError::new_err(format!("a ref sequence must hold ints, got {}", type_name(v))))?;
            refs.push(check_int_ref(value, &opts)?);
        }
        Some(refs)
    } else {
        None
    };
    let shared = match &per_text {
        Some(_) => RefSource::Fixed(0),
        None => parse_ref(r, &opts)?,
    };
    let mut out = Vec::with_capacity(n);
    with_encoder(|enc| -> PyResult<()> {
        for i in 0..n {
            let text = list.get_item(i)?;
            let item = match &per_text {
                Some(refs) => encode_one(py, enc, &text, &opts, &RefSource::Fixed(refs[i]))?,
                None => encode_one(py, enc, &text, &opts, &shared)?,
            };
            out.push(item);
        }
        Ok(())
    })?;
    // Made at its final size in one go (appending one by one regrows it).
    PyList::new(py, out)
}

/// What encode() would choose and cost, without building bytes.
#[pyfunction]
#[pyo3(signature = (text, *, encoding=Arg::Absent, concat=Arg::Absent, max_parts=Arg::Absent, national=None))]
fn count<'py>(
    py: Python<'py>,
    text: &Bound<'_, PyAny>,
    encoding: Arg<'py>,
    concat: Arg<'py>,
    max_parts: Arg<'py>,
    national: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<Count>> {
    let d = Defaults::new(py);
    let opts = parse_options(
        encoding.or(&d.encoding),
        concat.or(&d.concat),
        max_parts.or(&d.max_parts),
        None,
        national.unwrap_or(&d.none),
    )?;
    let input = text_input(text, &opts)?;
    let plan = with_encoder(|e| e.plan(input, &opts)).map_err(|e| encode_err(py, e))?;
    untracked(py, Count {
        alphabet: plan.alphabet,
        segments: plan.segments,
        units: plan.units,
        chars: plan.chars,
        per_segment: plan.per_segment,
        locking: plan.locking,
        single: plan.single,
    })
}

/// Text (or data) and parsed UDH of one inbound short_message.
#[pyfunction]
#[pyo3(signature = (payload, data_coding, udhi=Arg::Absent, *, packed=Arg::Absent))]
fn decode<'py>(
    py: Python<'py>,
    payload: &Bound<'_, PyAny>,
    data_coding: &Bound<'_, PyAny>,
    udhi: Arg<'py>,
    packed: Arg<'py>,
) -> PyResult<Py<Decoded>> {
    let payload = payload
        .cast::<PyBytes>()
        .map_err(|_| PyTypeError::new_err(format!("payload must be bytes, got {}", type_name(payload))))?;
    let dc = int_value(data_coding)
        .ok_or_else(|| PyTypeError::new_err(format!("data_coding must be an int, got {}", type_name(data_coding))))?;
    if !(0..=255).contains(&dc) {
        return Err(PyValueError::new_err(format!("data_coding must be within 0..255, got {}", data_coding)));
    }
    let flag = |o: Option<&Bound<'_, PyAny>>| -> PyResult<bool> {
        match o {
            None => Ok(false),
            Some(b) if b.is_instance_of::<PyBool>() => b.is_truthy(),
            Some(_) => Err(PyTypeError::new_err("udhi and packed must be bools")),
        }
    };
    let (udhi, packed) = (flag(udhi.given())?, flag(packed.given())?);
    let bytes = payload.as_bytes();
    let d = core::decode(bytes, dc as u8, udhi, packed).map_err(|e| decode_err(py, e))?;
    let data = if d.data_offset == 0 { payload.clone().unbind() } else { PyBytes::new(py, &bytes[d.data_offset..]).unbind() };
    let udh = match d.udh {
        Some(inner) => Some(untracked(py, Udh { inner })?),
        None => None,
    };
    untracked(py, Decoded { text: d.text, data, encoding: d.encoding, udh })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EncodedMessage>()?;
    m.add_class::<Count>()?;
    m.add_class::<Decoded>()?;
    m.add_class::<Udh>()?;
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(encode_batch, m)?)?;
    m.add_function(wrap_pyfunction!(count, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    Ok(())
}
