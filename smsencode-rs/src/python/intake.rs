//! The intake lane: stream entries read by the consumer (`engine.queue.consumer`)
//! made into `Entry` objects holding their `Message`, in one call per read.
//!
//! A fast lane, not the parser: `Message.from_fields` is the reference. An entry is
//! taken here only when its record is the plain case (every field of the type the
//! producer writes, values that pass `engine.queue.message._validate`); for any other
//! the lane gives None and the caller asks `Message.from_fields`, which gives the
//! message or the `MalformedEntry` naming the problem. Where the lane answers, its
//! objects equal the reference's, field for field (tests/native/test_intake_lane.py).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};
use pyo3::{intern, IntoPyObjectExt};
use std::borrow::Cow;

use super::pdu::{new_slotted, slotted_with};

/// `Message`'s fields, in its dataclass order: the lane fills exactly these.
const MESSAGE_FIELDS: [&str; 14] = [
    "id", "destination", "text", "source", "source_ton", "source_npi", "priority", "campaign", "encoding",
    "concat", "national", "registered_delivery", "segments", "created",
];
const ENTRY_FIELDS: [&str; 7] = ["stream", "entry_id", "message", "reclaimed", "attempt", "attempts", "read_at"];

struct Classes {
    message: Py<PyType>,
    entry: Py<PyType>,
    /// Both plain slotted dataclasses with the fields above: filled without `__init__`.
    fast: bool,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let message = py.import("engine.queue.message")?.getattr("Message")?.cast_into::<PyType>()?;
        let entry = py.import("engine.queue.consumer")?.getattr("Entry")?.cast_into::<PyType>()?;
        // Message has a __post_init__ (its checks): the lane makes those checks itself,
        // as Message.from_dict does when it fills the slots directly.
        let fast = slotted_with(&message, &MESSAGE_FIELDS)? && slotted_with(&entry, &ENTRY_FIELDS)?
            && !entry.hasattr("__post_init__")?;
        Ok(Classes { message: message.unbind(), entry: entry.unbind(), fast })
    })
}

/// A JSON value as the lane reads it. Objects and arrays of anything but strings are
/// not read (`Other`: the record goes to the reference).
#[derive(Debug, Clone, PartialEq)]
enum V<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    /// A number with a fraction or an exponent, or an integer beyond i64.
    Float(f64),
    Null,
    Bool,
    Strs(Vec<Cow<'a, str>>),
}

/// A flat JSON object's scanner (RFC 8259, as Python's json.loads reads it, strictly:
/// no NaN/Infinity, no control characters in strings, no lone surrogates). None for
/// anything else: the reference then decides.
struct Scan<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }

    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.i;
        // The common case: no escape, borrowed (splits fall on ASCII, so on char boundaries).
        loop {
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(Cow::Borrowed(&self.s[start..self.i - 1]));
                }
                b'\\' => break,
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
        let mut out = String::from(&self.s[start..self.i]);
        loop {
            let c = *self.b.get(self.i)?;
            match c {
                b'"' => {
                    self.i += 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    self.i += 1;
                    let e = *self.b.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                // A high surrogate must be followed by an escaped low one.
                                self.eat(b'\\')?;
                                self.eat(b'u')?;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp)?); // None for a lone low surrogate
                        }
                        _ => return None,
                    }
                }
                c if c < 0x20 => return None,
                _ => {
                    // Copy the run up to the next quote or backslash as it is.
                    let run = self.i;
                    while let Some(&c) = self.b.get(self.i) {
                        if c == b'"' || c == b'\\' || c < 0x20 {
                            break;
                        }
                        self.i += 1;
                    }
                    out.push_str(&self.s[run..self.i]);
                }
            }
        }
    }

    fn number(&mut self) -> Option<V<'a>> {
        let start = self.i;
        self.eat(b'-');
        let digits = |sc: &mut Self| {
            let from = sc.i;
            while sc.b.get(sc.i).is_some_and(u8::is_ascii_digit) {
                sc.i += 1;
            }
            sc.i - from
        };
        let int_start = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.b[int_start] == b'0') {
            return None; // no digits, or a leading zero: not JSON
        }
        let mut float = false;
        if self.eat(b'.').is_some() {
            float = true;
            if digits(self) == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            float = true;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        let text = &self.s[start..self.i];
        if !float {
            if let Ok(v) = text.parse::<i64>() {
                return Some(V::Int(v));
            }
        }
        // Correctly rounded, as Python's float() of the literal (or of the integer).
        let v: f64 = text.parse().ok()?;
        v.is_finite().then_some(V::Float(v))
    }

    fn literal(&mut self, word: &str, v: V<'a>) -> Option<V<'a>> {
        self.s[self.i..].starts_with(word).then(|| {
            self.i += word.len();
            v
        })
    }

    fn value(&mut self) -> Option<V<'a>> {
        match *self.b.get(self.i)? {
            b'"' => self.string().map(V::Str),
            b'-' | b'0'..=b'9' => self.number(),
            b'n' => self.literal("null", V::Null),
            b't' => self.literal("true", V::Bool),
            b'f' => self.literal("false", V::Bool),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b']').is_some() {
                    return Some(V::Strs(items));
                }
                loop {
                    self.ws();
                    items.push(self.string()?);
                    self.ws();
                    if self.eat(b',').is_none() {
                        self.eat(b']')?;
                        return Some(V::Strs(items));
                    }
                }
            }
            _ => None,
        }
    }

    /// The object's members, keys as written; None unless the whole input is one object.
    fn object(s: &'a str) -> Option<Vec<(Cow<'a, str>, V<'a>)>> {
        let mut sc = Scan { s, b: s.as_bytes(), i: 0 };
        let mut out = Vec::with_capacity(12);
        sc.ws();
        sc.eat(b'{')?;
        sc.ws();
        if sc.eat(b'}').is_none() {
            loop {
                sc.ws();
                let k = sc.string()?;
                sc.ws();
                sc.eat(b':')?;
                sc.ws();
                let v = sc.value()?;
                out.push((k, v));
                sc.ws();
                if sc.eat(b',').is_none() {
                    sc.eat(b'}')?;
                    break;
                }
            }
        }
        sc.ws();
        (sc.i == sc.b.len()).then_some(out)
    }
}

/// The record's fields by name (the last of a repeated key wins, as in Python's dict).
struct Rec<'a> {
    members: Vec<(Cow<'a, str>, V<'a>)>,
}

impl<'a> Rec<'a> {
    fn get(&self, key: &str) -> Option<&V<'a>> {
        self.members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A string field: absent gives `default`; present, it must be a JSON string.
    fn str_field(&self, key: &str, default: Option<&'a str>) -> Option<Option<&str>> {
        match self.get(key) {
            None => Some(default),
            Some(V::Str(s)) => Some(Some(s.as_ref())),
            Some(_) => None,
        }
    }

    /// An integer field (`int(d.get(key, default))` of a JSON integer).
    fn int_field(&self, key: &str, default: i64) -> Option<i64> {
        match self.get(key) {
            None => Some(default),
            Some(V::Int(v)) => Some(*v),
            Some(_) => None,
        }
    }

    /// `d.get(key) or None` of a string or null.
    fn opt_field(&self, key: &str) -> Option<Option<&str>> {
        match self.get(key) {
            None | Some(V::Null) => Some(None),
            Some(V::Str(s)) => Some((!s.is_empty()).then_some(s.as_ref())),
            Some(_) => None,
        }
    }
}

/// The interned Python string for the values the vocabulary allows, None otherwise.
fn word<'py>(py: Python<'py>, s: &str, allowed: &[&str]) -> Option<Bound<'py, PyString>> {
    allowed.contains(&s).then(|| PyString::intern(py, s))
}

/// The Message of one record, or None when the lane leaves it to the reference.
fn message<'py>(py: Python<'py>, cls: &Bound<'py, PyType>, raw: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some(members) = Scan::object(raw) else { return Ok(None) };
    let m = Rec { members };
    let lane = (|| {
        let id = m.str_field("id", None)??;
        let to = m.str_field("to", None)??;
        let text = m.str_field("text", None)??;
        let from = m.str_field("from", None)??;
        let ton = m.int_field("ton", 5)?;
        let npi = m.int_field("npi", 0)?;
        let prio = m.str_field("prio", Some("bulk"))??;
        let camp = m.opt_field("camp")?;
        let enc = m.str_field("enc", Some("auto"))??;
        let concat = m.opt_field("concat")?;
        let nat: Vec<&str> = match m.get("nat") {
            None | Some(V::Null) => Vec::new(),
            Some(V::Strs(a)) => a.iter().map(|s| s.as_ref()).collect(),
            Some(_) => return None,
        };
        let rd = m.int_field("rd", 1)?;
        let seg = m.int_field("seg", 0)?;
        let ts = match m.get("ts") {
            None => 0.0,
            Some(V::Int(v)) => *v as f64,
            Some(V::Float(v)) => *v,
            Some(_) => return None,
        };
        // _validate's checks; a record that fails one is the reference's to refuse.
        let dest_ok = to.len() > 1 && to.starts_with('+') && to[1..].bytes().all(|b| b.is_ascii_digit());
        if id.is_empty() || id.contains(['\n', '\x1f']) || !dest_ok || !(0..=255).contains(&rd) {
            return None;
        }
        if concat.is_some_and(|c| !["udh8", "udh16", "sar", "payload"].contains(&c)) {
            return None;
        }
        Some((id, to, text, from, ton, npi, prio, camp, enc, concat, nat, rd, seg, ts))
    })();
    let Some((id, to, text, from, ton, npi, prio, camp, enc, concat, nat, rd, seg, ts)) = lane else { return Ok(None) };
    let Some(prio) = word(py, prio, &["transactional", "bulk"]) else { return Ok(None) };
    let Some(enc) = word(py, enc, &["auto", "gsm7", "ucs2", "latin1"]) else { return Ok(None) };
    let opt = |s: Option<&str>| match s {
        Some(s) => PyString::new(py, s).into_any(),
        None => py.None().into_bound(py),
    };
    let names = [
        intern!(py, "id"), intern!(py, "destination"), intern!(py, "text"), intern!(py, "source"),
        intern!(py, "source_ton"), intern!(py, "source_npi"), intern!(py, "priority"), intern!(py, "campaign"),
        intern!(py, "encoding"), intern!(py, "concat"), intern!(py, "national"),
        intern!(py, "registered_delivery"), intern!(py, "segments"), intern!(py, "created"),
    ];
    let values = vec![
        PyString::new(py, id).into_any(),
        PyString::new(py, to).into_any(),
        PyString::new(py, text).into_any(),
        PyString::new(py, from).into_any(),
        ton.into_bound_py_any(py)?,
        npi.into_bound_py_any(py)?,
        prio.into_any(),
        opt(camp),
        enc.into_any(),
        match concat {
            Some(c) => PyString::intern(py, c).into_any(),
            None => py.None().into_bound(py),
        },
        PyTuple::new(py, nat.iter().map(|s| PyString::new(py, s)))?.into_any(),
        rd.into_bound_py_any(py)?,
        seg.into_bound_py_any(py)?,
        ts.into_bound_py_any(py)?,
    ];
    let fields: Vec<_> = names.into_iter().zip(values).collect();
    new_slotted(py, cls, &fields).map(Some)
}

/// For each `(entry_id, fields)` of an XREADGROUP reply's stream (`fields` the dict
/// redis-py gives, or the flat `[field, value, ...]` list of the raw reply, or None for
/// an entry deleted while pending): the `Entry(stream,
/// entry_id, Message.from_fields(fields, entry_id), reclaimed, read_at=now)` the
/// consumer would make, or None where the lane leaves the entry to the reference
/// (`Message.from_fields`: the message or its `MalformedEntry`).
#[pyfunction]
pub fn intake_entries<'py>(py: Python<'py>, items: &Bound<'py, PyAny>, stream: &Bound<'py, PyAny>, reclaimed: bool, now: f64) -> PyResult<Bound<'py, PyList>> {
    let c = classes(py)?;
    let out = PyList::empty(py);
    let message_cls = c.message.bind(py);
    let entry_cls = c.entry.bind(py);
    let names = [
        intern!(py, "stream"), intern!(py, "entry_id"), intern!(py, "message"), intern!(py, "reclaimed"),
        intern!(py, "attempt"), intern!(py, "attempts"), intern!(py, "read_at"),
    ];
    let m_key = intern!(py, "m");
    for item in items.try_iter()? {
        let item = item?;
        let pair = item.cast::<PyTuple>().map(|t| t.to_list()).or_else(|_| item.cast::<PyList>().cloned());
        let Ok(pair) = pair else {
            return Err(PyTypeError::new_err("items must be (entry_id, fields) pairs"));
        };
        if pair.len() != 2 || !c.fast {
            out.append(py.None())?;
            continue;
        }
        let (entry_id, fields) = (pair.get_item(0)?, pair.get_item(1)?);
        let raw = if let Ok(d) = fields.cast::<PyDict>() {
            d.get_item(m_key)?
        } else if let Ok(flat) = fields.cast::<PyList>() {
            // The reply as Redis sends it: [field, value, field, value...]; the last
            // "m" wins, as in the dict redis-py would have made.
            let mut found = None;
            let n = flat.len();
            for k in (0..n.saturating_sub(1)).step_by(2) {
                let key = flat.get_item(k)?;
                if key.cast::<PyString>().is_ok_and(|s| s.to_str().is_ok_and(|t| t == "m")) {
                    found = Some(flat.get_item(k + 1)?);
                }
            }
            if n % 2 == 1 {
                found = None; // not pairs: the reference's case
            }
            found
        } else {
            None
        };
        let msg = match raw.as_ref().map(|r| r.cast::<PyString>().map(|s| s.to_str())) {
            Some(Ok(Ok(s))) => message(py, message_cls, s)?,
            _ => None, // not a str, or one with lone surrogates: the reference's case
        };
        let Some(msg) = msg else {
            out.append(py.None())?;
            continue;
        };
        let values = vec![
            stream.clone(),
            entry_id,
            msg,
            reclaimed.into_bound_py_any(py)?,
            py.None().into_bound(py),
            0i64.into_bound_py_any(py)?,
            now.into_bound_py_any(py)?,
        ];
        let fields: Vec<_> = names.iter().copied().zip(values).collect();
        out.append(new_slotted(py, entry_cls, &fields)?)?;
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(intake_entries, m)?)?;
    Ok(())
}
