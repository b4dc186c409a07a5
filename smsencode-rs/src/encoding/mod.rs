//! GSM-7 / UCS-2 encoding, segmentation and UDH (3GPP TS 23.038 / 23.040).
//!
//! Plain Rust, no PyO3: `docs/encoding.md` is the contract. An [`Encoder`] first
//! *plans* a message (chooses the alphabet and tables, counts units and segments,
//! finds the part boundaries), then writes each part into a buffer whose length it
//! computed first. The caller decides between the two steps whether a concatenation
//! reference is needed, so a reference counter is consulted only when it must be.

pub mod decode;
mod error;
pub mod septets;
pub mod tables;

pub use decode::{decode, Decoded, Udh};
pub use error::{DecodeError, EncodeError};
pub use tables::Language;

use tables::{charmap, Charmap, CR, ESC, EXT, NONE};

/// TP-User-Data holds at most 140 octets (TS 23.040 §9.2.3.24); every limit derives from it.
pub const USER_DATA_OCTETS: usize = 140;
/// The concatenation IE carries the part count in one octet (TS 23.040 §9.2.3.24.1).
pub const MAX_PARTS_LIMIT: usize = 255;

pub const IEI_CONCAT8: u8 = 0x00;
pub const IEI_CONCAT16: u8 = 0x08;
pub const IEI_SINGLE_SHIFT: u8 = 0x24;
pub const IEI_LOCKING_SHIFT: u8 = 0x25;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alphabet {
    Gsm7,
    Ucs2,
    Latin1,
    Binary,
}

impl Alphabet {
    pub const fn name(self) -> &'static str {
        match self {
            Alphabet::Gsm7 => "gsm7",
            Alphabet::Ucs2 => "ucs2",
            Alphabet::Latin1 => "latin1",
            Alphabet::Binary => "binary",
        }
    }

    /// SMPP 3.4 §5.2.19 data_coding.
    pub const fn data_coding(self) -> u8 {
        match self {
            Alphabet::Gsm7 => 0x00,
            Alphabet::Ucs2 => 0x08,
            Alphabet::Latin1 => 0x03,
            Alphabet::Binary => 0x04,
        }
    }

    /// Units that fit after a UDH of `udh_len` octets.
    pub const fn capacity(self, udh_len: usize) -> usize {
        let octets = USER_DATA_OCTETS - udh_len;
        match self {
            Alphabet::Gsm7 => octets * 8 / 7,
            Alphabet::Ucs2 => octets / 2,
            Alphabet::Latin1 | Alphabet::Binary => octets,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requested {
    Auto,
    Gsm7,
    Ucs2,
    Latin1,
    Binary,
}

impl Requested {
    pub fn from_name(name: &str) -> Result<Requested, EncodeError> {
        Ok(match name {
            "auto" => Requested::Auto,
            "gsm7" => Requested::Gsm7,
            "ucs2" => Requested::Ucs2,
            "latin1" => Requested::Latin1,
            "binary" => Requested::Binary,
            _ => {
                return Err(EncodeError::InvalidOption {
                    option: "encoding",
                    reason: format!("unknown encoding {name:?} (auto, gsm7, ucs2, latin1, binary)"),
                })
            }
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concat {
    Udh8,
    Udh16,
    Sar,
    Payload,
}

impl Concat {
    pub fn from_name(name: &str) -> Result<Concat, EncodeError> {
        Ok(match name {
            "udh8" => Concat::Udh8,
            "udh16" => Concat::Udh16,
            "sar" => Concat::Sar,
            "payload" => Concat::Payload,
            _ => {
                return Err(EncodeError::InvalidOption {
                    option: "concat",
                    reason: format!("unknown concat method {name:?} (udh8, udh16, sar, payload)"),
                })
            }
        })
    }

    /// Width of the reference: 8 bits for udh8, 16 for udh16 and SAR (sar_msg_ref_num is
    /// an Integer(2)); payload has none but accepts a 16-bit value.
    pub const fn ref_bits(self) -> u8 {
        match self {
            Concat::Udh8 => 8,
            _ => 16,
        }
    }

    /// Octets of the concatenation IE that limit each part. `sar` and `payload` are
    /// limited as for udh8 because the SMSC adds that UDH on the air.
    const fn limit_ie_len(self) -> usize {
        match self {
            Concat::Udh16 => 6,
            _ => 5,
        }
    }

    /// Octets of the concatenation IE written into each part of a multi-part message.
    const fn written_ie_len(self) -> usize {
        match self {
            Concat::Udh8 => 5,
            Concat::Udh16 => 6,
            Concat::Sar | Concat::Payload => 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub encoding: Requested,
    pub concat: Concat,
    pub max_parts: usize,
    pub packed: bool,
    /// Enabled national languages, in order of preference, without repeats.
    pub national: Vec<Language>,
}

impl Default for Options {
    fn default() -> Self {
        Options { encoding: Requested::Auto, concat: Concat::Udh8, max_parts: MAX_PARTS_LIMIT, packed: false, national: Vec::new() }
    }
}

impl Options {
    pub fn check_max_parts(max_parts: i64) -> Result<usize, EncodeError> {
        if (1..=MAX_PARTS_LIMIT as i64).contains(&max_parts) {
            Ok(max_parts as usize)
        } else {
            Err(EncodeError::InvalidOption {
                option: "max_parts",
                reason: format!("must be within 1..{MAX_PARTS_LIMIT} (the concatenation IE counts parts in one octet), got {max_parts}"),
            })
        }
    }

    /// Adds a language by name, in order of preference.
    pub fn add_language(&mut self, name: &str) -> Result<(), EncodeError> {
        let lang = Language::from_name(name).ok_or_else(|| EncodeError::InvalidOption {
            option: "national",
            reason: format!("unknown national language {name:?} (turkish, spanish, portuguese)"),
        })?;
        self.national.push(lang);
        Ok(())
    }

    /// A language named twice is a caller's mistake (its preference is ambiguous).
    pub fn check_no_repeats(&self) -> Result<(), EncodeError> {
        for (i, l) in self.national.iter().enumerate() {
            if self.national[..i].contains(l) {
                return Err(EncodeError::InvalidOption {
                    option: "national",
                    reason: format!("names {:?} twice", l.name()),
                });
            }
        }
        Ok(())
    }

    /// Checks that an explicit reference fits the width the concat method sends.
    pub fn check_ref(&self, value: i64) -> Result<u16, EncodeError> {
        let bits = self.concat.ref_bits();
        if value < 0 || value >= (1i64 << bits) {
            return Err(EncodeError::InvalidOption {
                option: "ref",
                reason: format!("{value} does not fit the {bits}-bit reference of concat={:?}", self.concat),
            });
        }
        Ok(value as u16)
    }
}

/// The text of a message: a Rust `str`, or the code points of a Python `str` as
/// CPython stores them (PEP 393: one, two or four octets per code point; a lone
/// surrogate is possible there and is carried by UCS-2 as one unit, like any BMP
/// code point), or the bytes of a binary message.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    Text(&'a str),
    Ucs1(&'a [u8]),
    Ucs2(&'a [u16]),
    Ucs4(&'a [u32]),
    Bytes(&'a [u8]),
}

/// Runs `$body` with `$it` bound to an iterator of the text's code points (u32), and
/// `$len` to an upper bound of their number; monomorphised per storage kind.
macro_rules! with_code_points {
    ($text:expr, |$it:ident, $len:ident| $body:expr) => {
        match $text {
            Text::Str(s) => {
                let $len = s.len();
                let $it = s.chars().map(|c| c as u32);
                $body
            }
            Text::Ucs1(b) => {
                let $len = b.len();
                let $it = b.iter().map(|&x| x as u32);
                $body
            }
            Text::Ucs2(u) => {
                let $len = u.len();
                let $it = u.iter().map(|&x| x as u32);
                $body
            }
            Text::Ucs4(u) => {
                let $len = u.len();
                let $it = u.iter().copied();
                $body
            }
        }
    };
}

/// The text inputs (not bytes), for the code-point loops.
#[derive(Clone, Copy)]
enum Text<'a> {
    Str(&'a str),
    Ucs1(&'a [u8]),
    Ucs2(&'a [u16]),
    Ucs4(&'a [u32]),
}

/// What [`Encoder::plan`] decided about one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub alphabet: Alphabet,
    pub locking: Option<Language>,
    pub single: Option<Language>,
    /// Septets (ESC pairs count 2) / UTF-16 units / octets of the whole text.
    pub units: usize,
    /// Code points of the text (octets for binary).
    pub chars: usize,
    pub segments: usize,
    /// Units per segment for this message: the single-part or the multi-part limit.
    pub per_segment: usize,
    pub concat: Concat,
    pub packed: bool,
}

impl Plan {
    pub fn multi(&self) -> bool {
        self.segments > 1
    }

    /// A reference is needed for a multi-part udh8/udh16/sar message, never otherwise.
    pub fn needs_ref(&self) -> bool {
        self.multi() && self.concat != Concat::Payload
    }

    pub fn shift_ies(&self) -> usize {
        self.locking.is_some() as usize + self.single.is_some() as usize
    }

    /// Parts emitted: one for a single segment and for `payload`.
    pub fn part_count(&self) -> usize {
        if self.multi() && self.concat != Concat::Payload {
            self.segments
        } else {
            1
        }
    }

    /// Whether the emitted parts carry a UDH (esm_class UDHI).
    pub fn udhi(&self) -> bool {
        self.shift_ies() > 0 || (self.multi() && self.concat.written_ie_len() > 0)
    }

    fn emitted_udh_len(&self) -> usize {
        let concat = if self.multi() { self.concat.written_ie_len() } else { 0 };
        udh_len(concat, self.shift_ies())
    }
}

/// UDHL octet plus the IEs; 0 when there is no IE (TS 23.040 §9.2.3.24).
const fn udh_len(concat_ie: usize, shift_ies: usize) -> usize {
    let ies = concat_ie + 3 * shift_ies;
    if ies == 0 {
        0
    } else {
        1 + ies
    }
}

/// Fill bits after a UDH of `udh_len` octets so that packed text starts on a septet
/// boundary (TS 23.040 §9.2.3.24).
pub const fn fill_bits(udh_len: usize) -> usize {
    (7 - (udh_len * 8) % 7) % 7
}

/// Packed only: a part whose text ends with CR exactly on an octet boundary gets one
/// more CR (TS 23.038 §6.1.2.3.1), else the receiver would take it for padding.
#[inline]
fn extra_cr(septets: &[u8], fill: usize, packed: bool) -> usize {
    (packed && septets.last() == Some(&CR) && (fill + 7 * septets.len()).is_multiple_of(8)) as usize
}

/// Splitting limits of one message.
#[derive(Clone, Copy)]
struct Limits {
    single: usize,
    multi: usize,
    fill_single: usize,
    fill_multi: usize,
    packed: bool,
}

fn limits(alphabet: Alphabet, concat: Concat, shift_ies: usize, packed: bool) -> Limits {
    let single_u = udh_len(0, shift_ies);
    let multi_u = udh_len(concat.limit_ie_len(), shift_ies);
    // The splitter's CR rule uses the limiting UDH's fill bits (udh8's for sar and
    // payload), as the reference does; the bytes use the UDH really written.
    Limits {
        single: alphabet.capacity(single_u),
        multi: alphabet.capacity(multi_u),
        fill_single: fill_bits(single_u),
        fill_multi: fill_bits(multi_u),
        packed: packed && alphabet == Alphabet::Gsm7,
    }
}

/// Greedy split of GSM septets: never separates ESC from its character. Returns the
/// number of parts; records each part's end offset when `bounds` is given.
fn split_gsm(s: &[u8], lim: Limits, mut bounds: Option<&mut Vec<u32>>) -> usize {
    let n = s.len();
    if n + extra_cr(s, lim.fill_single, lim.packed) <= lim.single {
        if let Some(b) = bounds {
            b.push(n as u32);
        }
        return 1;
    }
    let cap = lim.multi;
    let mut start = 0;
    let mut parts = 0;
    while start < n {
        let mut end = (start + cap).min(n);
        if end < n && s[end - 1] == ESC {
            end -= 1;
        }
        if end - start == cap && extra_cr(&s[start..end], lim.fill_multi, lim.packed) == 1 {
            end -= 1; // the CR moves to the next part, which has room for it
        }
        parts += 1;
        if let Some(b) = bounds.as_deref_mut() {
            b.push(end as u32);
        }
        start = end;
    }
    parts
}

/// Greedy split of UTF-16: never separates a surrogate pair.
fn split_ucs2(s: &[u16], lim: Limits, mut bounds: Option<&mut Vec<u32>>) -> usize {
    let n = s.len();
    if n <= lim.single {
        if let Some(b) = bounds {
            b.push(n as u32);
        }
        return 1;
    }
    let cap = lim.multi;
    let mut start = 0;
    let mut parts = 0;
    while start < n {
        let mut end = (start + cap).min(n);
        // A pair is a high surrogate followed by a low one; a lone surrogate (possible
        // in a Python str) is a character of its own, as in the reference.
        if end < n && (0xD800..0xDC00).contains(&s[end - 1]) && (0xDC00..0xE000).contains(&s[end]) {
            end -= 1;
        }
        parts += 1;
        if let Some(b) = bounds.as_deref_mut() {
            b.push(end as u32);
        }
        start = end;
    }
    parts
}

fn split_octets(n: usize, lim: Limits, bounds: Option<&mut Vec<u32>>) -> usize {
    if n <= lim.single {
        if let Some(b) = bounds {
            b.push(n as u32);
        }
        return 1;
    }
    let parts = n.div_ceil(lim.multi);
    if let Some(b) = bounds {
        b.extend((1..=parts).map(|i| (i * lim.multi).min(n) as u32));
    }
    parts
}

/// Maps code points to septets with one charmap. Err carries the first code point it
/// cannot carry and its index. `len` bounds the number of code points.
#[inline(always)]
fn fill_gsm(cps: impl Iterator<Item = u32>, len: usize, map: &Charmap, out: &mut Vec<u8>) -> Result<usize, (usize, u32)> {
    out.clear();
    out.reserve(2 * len);
    let spare = out.spare_capacity_mut();
    let mut n = 0;
    let mut index = 0;
    for cp in cps {
        let v = map.get_cp(cp);
        if v == NONE {
            // SAFETY: the first n septets were written below.
            unsafe { out.set_len(n) };
            return Err((index, cp));
        }
        if v & EXT != 0 {
            spare[n].write(ESC);
            n += 1;
        }
        spare[n].write(v as u8);
        n += 1;
        index += 1;
    }
    // SAFETY: n <= 2 * len <= capacity, and every one of the n septets was written.
    unsafe { out.set_len(n) };
    Ok(index)
}

/// UTF-16 units of the code points (a lone surrogate stays one unit).
#[inline(always)]
fn fill_ucs2(cps: impl Iterator<Item = u32>, len: usize, out: &mut Vec<u16>) -> usize {
    out.clear();
    out.reserve(2 * len);
    let spare = out.spare_capacity_mut();
    let mut n = 0;
    let mut chars = 0;
    for cp in cps {
        if cp < 0x10000 {
            spare[n].write(cp as u16);
            n += 1;
        } else {
            let v = cp - 0x10000;
            spare[n].write(0xD800 | (v >> 10) as u16);
            spare[n + 1].write(0xDC00 | (v & 0x3FF) as u16);
            n += 2;
        }
        chars += 1;
    }
    // SAFETY: n <= 2 * len <= capacity, and every one of the n units was written.
    unsafe { out.set_len(n) };
    chars
}

/// True when every octet is an ASCII character whose default-alphabet septet is its
/// own code: LF, CR, space to 'z' except '$' (0x02), '@' (0x00), '[' .. '`' (ESC-coded
/// or, for '_' and '`', elsewhere or absent). Written without an early exit so that
/// the compiler vectorises it: most SMS text is then copied as it is.
#[inline]
fn ascii_is_gsm_identity(b: &[u8]) -> bool {
    let mut bad = 0u8;
    for &c in b {
        let in_range = (c.wrapping_sub(0x20) <= 0x5A) as u8;
        let excluded = ((c == b'$') | (c == b'@') | (c.wrapping_sub(b'[') <= 5)) as u8;
        let line = ((c == b'\n') | (c == b'\r')) as u8;
        bad |= ((in_range & (excluded ^ 1)) | line) ^ 1;
    }
    bad == 0
}

/// Octets that the default alphabet codes as themselves (see `ascii_is_gsm_identity`).
static IDENTITY: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0x20;
    while c <= 0x7A {
        t[c] = !(c == 0x24 || c == 0x40 || (c >= 0x5B && c <= 0x60));
        c += 1;
    }
    t[0x0A] = true;
    t[0x0D] = true;
    t
};

/// Text with the default tables: copy runs of self-coded code points, look up only
/// the rest (text with a few '€' or '@' stays near copy speed). Generic over CPython's
/// 1-, 2- and 4-octet storage.
fn gsm_runs<T: Copy + Into<u32>>(b: &[T], map: &Charmap, out: &mut Vec<u8>) -> Result<usize, (usize, u32)> {
    out.clear();
    out.reserve(2 * b.len());
    let identity = |c: T| {
        let c: u32 = c.into();
        c < 256 && IDENTITY[c as usize]
    };
    let mut i = 0;
    while i < b.len() {
        let run = b[i..].iter().position(|&c| !identity(c)).unwrap_or(b.len() - i);
        out.extend(b[i..i + run].iter().map(|&c| Into::<u32>::into(c) as u8));
        i += run;
        if i == b.len() {
            break;
        }
        let cp: u32 = b[i].into();
        let v = map.get_cp(cp);
        if v == NONE {
            return Err((i, cp));
        }
        if v & EXT != 0 {
            out.push(ESC);
        }
        out.push(v as u8);
        i += 1;
    }
    Ok(b.len())
}

/// GSM septets of a text with one charmap, with a branch-free fast path for the
/// common case of Latin-1 storage (or ASCII UTF-8) needing no ESC character.
fn gsm_text(t: Text<'_>, map: &Charmap, out: &mut Vec<u8>) -> Result<usize, (usize, u32)> {
    let default = std::ptr::eq(map, charmap(None, None));
    match t {
        Text::Ucs1(b) => gsm_latin1(b, map, default, out),
        Text::Str(s) if s.is_ascii() => gsm_latin1(s.as_bytes(), map, default, out),
        Text::Ucs2(u) if default => gsm_runs(u, map, out),
        Text::Ucs4(u) if default => gsm_runs(u, map, out),
        _ => with_code_points!(t, |it, len| fill_gsm(it, len, map, out)),
    }
}

fn gsm_latin1(b: &[u8], map: &Charmap, default: bool, out: &mut Vec<u8>) -> Result<usize, (usize, u32)> {
    out.clear();
    if default {
        if ascii_is_gsm_identity(b) {
            out.extend_from_slice(b);
            return Ok(b.len());
        }
        return gsm_runs(b, map, out);
    }
    if map.basic_only(b, out) {
        return Ok(b.len());
    }
    fill_gsm(b.iter().map(|&x| x as u32), b.len(), map, out)
}

/// UTF-16 units of a text; CPython's two-octet storage already is UTF-16.
fn ucs2_text(t: Text<'_>, out: &mut Vec<u16>) -> usize {
    match t {
        Text::Ucs2(u) => {
            out.clear();
            out.extend_from_slice(u);
            u.len()
        }
        Text::Ucs1(b) => {
            out.clear();
            out.extend(b.iter().map(|&x| x as u16));
            b.len()
        }
        _ => with_code_points!(t, |it, len| fill_ucs2(it, len, out)),
    }
}

/// The first code point above U+00FF, or the Latin-1 octets.
#[inline(always)]
fn fill_latin1(cps: impl Iterator<Item = u32>, len: usize, out: &mut Vec<u8>) -> Result<usize, (usize, u32)> {
    out.clear();
    out.reserve(len);
    for (index, cp) in cps.enumerate() {
        if cp > 0xFF {
            return Err((index, cp));
        }
        out.push(cp as u8);
    }
    Ok(out.len())
}

/// Reusable buffers: one `Encoder` per thread or batch keeps allocation off the hot path.
#[derive(Default)]
pub struct Encoder {
    /// GSM septets, or Latin-1 / binary octets, of the planned message.
    octets: Vec<u8>,
    /// UTF-16 units of the planned message.
    ucs2: Vec<u16>,
    /// Scratch septets while national candidates are compared.
    scratch: Vec<u8>,
    /// End offset (in units) of each part.
    bounds: Vec<u32>,
}

struct Candidate {
    locking: Option<Language>,
    single: Option<Language>,
    segments: usize,
    key: (usize, usize, usize, usize, usize),
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses the encoding and tables, counts, and finds the part boundaries.
    pub fn plan(&mut self, input: Input<'_>, opts: &Options) -> Result<Plan, EncodeError> {
        let text = match (opts.encoding, input) {
            (Requested::Binary, Input::Bytes(_)) => None,
            (Requested::Binary, _) => {
                return Err(EncodeError::WrongInputType { encoding: "binary", expected: "bytes" })
            }
            (req, Input::Bytes(_)) => {
                let encoding = match req {
                    Requested::Auto => "auto",
                    Requested::Gsm7 => "gsm7",
                    Requested::Ucs2 => "ucs2",
                    _ => "latin1",
                };
                return Err(EncodeError::WrongInputType { encoding, expected: "str" });
            }
            (_, Input::Text(s)) => Some(Text::Str(s)),
            (_, Input::Ucs1(b)) => Some(Text::Ucs1(b)),
            (_, Input::Ucs2(u)) => Some(Text::Ucs2(u)),
            (_, Input::Ucs4(u)) => Some(Text::Ucs4(u)),
        };
        let (alphabet, locking, single, chars) = match (opts.encoding, text) {
            (_, None) => {
                let Input::Bytes(b) = input else { unreachable!("bytes checked above") };
                self.octets.clear();
                self.octets.extend_from_slice(b);
                (Alphabet::Binary, None, None, b.len())
            }
            (Requested::Latin1, Some(t)) => {
                let n = with_code_points!(t, |it, len| fill_latin1(it, len, &mut self.octets))
                    .map_err(|(index, cp)| EncodeError::Unencodable { cp, index })?;
                (Alphabet::Latin1, None, None, n)
            }
            (Requested::Ucs2, Some(t)) => {
                let n = ucs2_text(t, &mut self.ucs2);
                (Alphabet::Ucs2, None, None, n)
            }
            (req, Some(t)) => {
                let map = charmap(None, None);
                match gsm_text(t, map, &mut self.octets) {
                    Ok(n) => (Alphabet::Gsm7, None, None, n),
                    Err(default_fail) => self.choose_national(t, req, opts, default_fail)?,
                }
            }
        };
        let shift_ies = locking.is_some() as usize + single.is_some() as usize;
        let lim = limits(alphabet, opts.concat, shift_ies, opts.packed);
        self.bounds.clear();
        let (units, segments) = match alphabet {
            Alphabet::Gsm7 => (self.octets.len(), split_gsm(&self.octets, lim, Some(&mut self.bounds))),
            Alphabet::Ucs2 => (self.ucs2.len(), split_ucs2(&self.ucs2, lim, Some(&mut self.bounds))),
            _ => (self.octets.len(), split_octets(self.octets.len(), lim, Some(&mut self.bounds))),
        };
        if segments > opts.max_parts {
            return Err(EncodeError::TooManyParts { actual: segments, max: opts.max_parts });
        }
        Ok(Plan {
            alphabet,
            locking,
            single,
            units,
            chars,
            segments,
            per_segment: if segments > 1 { lim.multi } else { lim.single },
            concat: opts.concat,
            packed: opts.packed && alphabet == Alphabet::Gsm7,
        })
    }

    /// Rule 2 of docs/encoding.md: the cheapest national table combination, used by
    /// `auto` only when strictly cheaper than UCS-2; `gsm7` uses it regardless.
    fn choose_national(
        &mut self,
        t: Text<'_>,
        req: Requested,
        opts: &Options,
        default_fail: (usize, u32),
    ) -> Result<(Alphabet, Option<Language>, Option<Language>, usize), EncodeError> {
        // The first point at which no candidate can carry the text so far.
        let mut last_fail = default_fail;
        let mut best: Option<Candidate> = None;
        let mut chars = 0;
        let national = &opts.national;
        let lockings = std::iter::once(None)
            .chain(national.iter().enumerate().filter(|(_, l)| l.locking().is_some()).map(Some));
        for lock in lockings {
            for sing in std::iter::once(None).chain(national.iter().enumerate().map(Some)) {
                if lock.is_none() && sing.is_none() {
                    continue;
                }
                let (locking, single) = (lock.map(|(_, &l)| l), sing.map(|(_, &l)| l));
                let map = charmap(locking, single);
                match gsm_text(t, map, &mut self.scratch) {
                    Err(fail) => {
                        if fail.0 > last_fail.0 {
                            last_fail = fail;
                        }
                    }
                    Ok(n) => {
                        chars = n;
                        let shift = locking.is_some() as usize + single.is_some() as usize;
                        // Chosen on unpacked counts (what count() sees); packing comes after.
                        let lim = limits(Alphabet::Gsm7, opts.concat, shift, false);
                        let segments = split_gsm(&self.scratch, lim, None);
                        // Fewest segments; then one table before two; then single-shift
                        // only before locking only; then preference order.
                        let kind = (shift == 1 && locking.is_some()) as usize;
                        let key = (segments, shift, kind, lock.map_or(0, |(i, _)| i), sing.map_or(0, |(i, _)| i));
                        if best.as_ref().is_none_or(|b| key < b.key) {
                            std::mem::swap(&mut self.octets, &mut self.scratch);
                            best = Some(Candidate { locking, single, segments, key });
                        }
                    }
                }
            }
        }
        match best {
            None if req == Requested::Gsm7 => {
                // A character that no table at all carries is named first; else the
                // end of the longest prefix that one candidate carries.
                let maps: Vec<&Charmap> = std::iter::once(None)
                    .chain(national.iter().copied().filter(|l| l.locking().is_some()).map(Some))
                    .flat_map(|l| std::iter::once(None).chain(national.iter().copied().map(Some)).map(move |s| charmap(l, s)))
                    .collect();
                let (index, cp) =
                    with_code_points!(t, |it, _len| it.enumerate().find(|&(_, c)| maps.iter().all(|m| m.get_cp(c) == NONE)))
                        .unwrap_or(last_fail);
                Err(EncodeError::Unencodable { cp, index })
            }
            None => {
                let n = ucs2_text(t, &mut self.ucs2);
                Ok((Alphabet::Ucs2, None, None, n))
            }
            Some(b) => {
                if req == Requested::Auto {
                    let n = ucs2_text(t, &mut self.ucs2);
                    let lim = limits(Alphabet::Ucs2, opts.concat, 0, false);
                    if b.segments >= split_ucs2(&self.ucs2, lim, None) {
                        return Ok((Alphabet::Ucs2, None, None, n));
                    }
                }
                Ok((Alphabet::Gsm7, b.locking, b.single, chars))
            }
        }
    }

    /// The planned units (range `start..end`) of part `i`.
    fn part_range(&self, plan: &Plan, i: usize) -> (usize, usize) {
        if plan.part_count() == 1 {
            return (0, plan.units);
        }
        let start = if i == 0 { 0 } else { self.bounds[i - 1] as usize };
        (start, self.bounds[i] as usize)
    }

    /// Octets of part `i` (UDH included).
    pub fn part_len(&self, plan: &Plan, i: usize) -> usize {
        let u = plan.emitted_udh_len();
        let (start, end) = self.part_range(plan, i);
        let n = end - start;
        u + match plan.alphabet {
            Alphabet::Gsm7 if plan.packed => {
                let k = n + extra_cr(&self.octets[start..end], fill_bits(u), true);
                (fill_bits(u) + 7 * k).div_ceil(8)
            }
            Alphabet::Ucs2 => 2 * n,
            _ => n,
        }
    }

    /// Writes part `i` into `out`, which must be `part_len(plan, i)` octets long.
    pub fn write_part(&self, plan: &Plan, i: usize, reference: u16, out: &mut [u8]) {
        let u = plan.emitted_udh_len();
        if u > 0 {
            out[0] = (u - 1) as u8;
            let mut p = 1;
            let total = plan.part_count() as u8;
            let seq = (i + 1) as u8;
            if plan.multi() {
                match plan.concat {
                    Concat::Udh8 => {
                        out[p..p + 5].copy_from_slice(&[IEI_CONCAT8, 3, reference as u8, total, seq]);
                        p += 5;
                    }
                    Concat::Udh16 => {
                        let r = reference.to_be_bytes();
                        out[p..p + 6].copy_from_slice(&[IEI_CONCAT16, 4, r[0], r[1], total, seq]);
                        p += 6;
                    }
                    Concat::Sar | Concat::Payload => {}
                }
            }
            if let Some(l) = plan.locking {
                out[p..p + 3].copy_from_slice(&[IEI_LOCKING_SHIFT, 1, l.id()]);
                p += 3;
            }
            if let Some(l) = plan.single {
                out[p..p + 3].copy_from_slice(&[IEI_SINGLE_SHIFT, 1, l.id()]);
                p += 3;
            }
            debug_assert_eq!(p, u);
        }
        let (start, end) = self.part_range(plan, i);
        let body = &mut out[u..];
        match plan.alphabet {
            Alphabet::Gsm7 if plan.packed => {
                let text = &self.octets[start..end];
                let fill = fill_bits(u);
                septets::pack_into(text, fill, extra_cr(text, fill, true) == 1, body);
            }
            Alphabet::Ucs2 => {
                for (dst, &unit) in body.chunks_exact_mut(2).zip(&self.ucs2[start..end]) {
                    dst.copy_from_slice(&unit.to_be_bytes());
                }
            }
            _ => body.copy_from_slice(&self.octets[start..end]),
        }
    }

    /// All parts as owned vectors (tests and Rust callers; the binding writes straight
    /// into Python bytes).
    pub fn parts(&self, plan: &Plan, reference: u16) -> Vec<Vec<u8>> {
        (0..plan.part_count())
            .map(|i| {
                let mut v = vec![0u8; self.part_len(plan, i)];
                self.write_part(plan, i, reference, &mut v);
                v
            })
            .collect()
    }
}

/// One-shot convenience: plan and build with a fixed reference.
pub fn encode(input: Input<'_>, opts: &Options, reference: u16) -> Result<(Plan, Vec<Vec<u8>>), EncodeError> {
    let mut e = Encoder::new();
    let plan = e.plan(input, opts)?;
    let parts = e.parts(&plan, reference);
    Ok((plan, parts))
}

#[cfg(test)]
mod tests;
