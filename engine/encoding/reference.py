"""The pure-Python reference of the encoding core: the readable oracle of docs/encoding.md.

Clarity over speed: the Rust core (``engine.encoding``) must give the same answers,
and the differential tests hold it to that. Sources: 3GPP TS 23.038 (alphabets,
packing, annex A national tables), TS 23.040 §9.2.3.24 (UDH), SMPP 3.4 §5.2.19.

Decisions where docs/encoding.md is silent or ambiguous (each is a reading a careful
engineer would take; the lead folds them into the doc):

 1. Packed CR rules. A part whose septets end with 0x0D exactly on an octet boundary
    gets one more CR septet (TS 23.038 §6.1.2.3.1), and the splitter counts it against
    the part's limit (also for the single-segment check: 160 packed septets ending in
    CR are 2 segments). The test is on the septet value 0x0D, whatever character it
    encodes. ``decode(packed=True)`` only drops the 7-bit CR pad (a final 0x0D ending
    exactly on the last octet boundary), as the doc says; so such a part decodes with
    the doubled CR (the spec's "the receiving entity will perform the carriage return
    function twice"): packed round trips hold for every text except one whose part
    ends in CR on an octet boundary, which comes back with one extra CR.
 2. The encoding and national tables are chosen on unpacked segment counts (what
    count() sees, as it has no ``packed``); packing is applied after the choice. Only
    the final ``segments`` (and TooManyParts) see the packed extra CR.
 3. Forced gsm7 that no candidate can carry: the error names the first character that
    is in no candidate table at all (default basic/extension, each enabled locking
    and single table). If every character is in some table but no one combination
    carries them all, it names the character at which the longest prefix any single
    candidate can carry ends (the largest of the candidates' first failing indices).
 4. Option validation happens before any text is looked at, and does not depend on
    the text: an int ``ref`` must fit the width of ``concat`` (udh8: 0..255; udh16,
    sar: 0..65535; payload: 0..65535, never used) even when the message turns out to
    be one segment. In ``encode_batch`` every option, each int of a ``ref`` sequence
    included, is validated before the first text is encoded; then texts are encoded
    in order and the first error is raised (references already taken by earlier texts
    stay taken). A reference is taken only after the message is known to encode (no
    UnencodableCharacter, no TooManyParts).
 5. Types: ``packed`` must be a bool, ``max_parts`` an int (bool is an int), ``national``
    a list or tuple of str, or None meaning none (a bare str is a TypeError: it is the
    usual mistake for a one-element tuple); an unknown or repeated language is a
    ValueError. Binary text must be ``bytes`` (a bytearray is a TypeError; a str with
    ``binary`` and bytes with any other encoding are ValueErrors, as the doc says).
    ``decode`` takes ``bytes`` only and ``data_coding`` an int 0..255. A ``ref``
    object's ``next_ref`` must return an int in range, else ValueError.
 6. ``national`` options are validated for every encoding but only used for gsm7.
    ``packed`` is ignored when the result is not gsm7 (auto may pick UCS-2).
 7. Tie-break key of the national choice: (segments, number of shift IEs, single-only
    before locking-only, position of the locking language in ``national``, position of
    the single language); a missing table sorts as position -1 (only comparable
    within the same kind anyway).
 8. Empty text: one part ``b""`` for every encoding (gsm7 auto; a forced ucs2 empty
    text is ucs2). ``Count.chars`` of a binary text is its octet count. ``count()``
    raises what ``encode()`` would (UnencodableCharacter, TooManyParts), except for
    errors of ``ref``/``packed`` which it does not take.
 9. Decoding: ``Decoded.encoding`` is "ascii" for data_coding 0x01. Only the coding
    groups the doc lists are decoded (0x10-0x1F and 0x40-0x7F by bits 3-2: 00 gsm7,
    01 binary, 10 ucs2, 11 DecodeError — the compressed flag, bit 5, is not looked at;
    0xF0-0xFF by bit 2: 0 gsm7, 1 binary); every other value not in the SMPP list
    (0x00-0x04, 0x08) is a DecodeError. A repeated IE: the last occurrence wins
    (TS 23.040 §9.2.3.24). A concat IE of the wrong length (0x00 not 3, 0x08 not 4), a
    shift IE not of length 1, or a shift IE naming a language we have no table for (any
    id but 1-3; Spanish in a locking shift IE) is a DecodeError: decoding on the default
    table instead would silently give wrong text. Concat values (total 0, seq > total)
    are reported as they are; judging them is the reassembler's job. ESC ESC is one
    space; the septet after it starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from engine.encoding import _tables
from engine.encoding.errors import DecodeError, TooManyParts, UnencodableCharacter
from engine.encoding.refs import DEFAULT_REFS

__all__ = [
    "EncodedMessage",
    "Count",
    "Decoded",
    "Udh",
    "encode",
    "encode_batch",
    "count",
    "decode",
]

# --- limits, each with its reason --------------------------------------------------

SM_OCTETS = 140  # TP-User-Data of one SMS is 140 octets (TS 23.040 §9.2.3.16)
MAX_PARTS_LIMIT = 255  # the concat IE's "total" is one octet
CR = 0x0D  # the packing pad character (TS 23.038 §6.1.2.3.1)
ESC = _tables.ESC

IEI_CONCAT8 = 0x00  # TS 23.040 §9.2.3.24.1: 8-bit reference, length 3
IEI_CONCAT16 = 0x08  # §9.2.3.24.8: 16-bit reference, length 4
IEI_SINGLE_SHIFT = 0x24  # §9.2.3.24.15: national language single shift, length 1
IEI_LOCKING_SHIFT = 0x25  # §9.2.3.24.16: national language locking shift, length 1
CONCAT_IE_OCTETS = {"udh8": 5, "udh16": 6}  # IEI + length + data
SHIFT_IE_OCTETS = 3

DATA_CODING = {"gsm7": 0x00, "latin1": 0x03, "binary": 0x04, "ucs2": 0x08}
ENCODINGS = ("auto", "gsm7", "ucs2", "latin1", "binary")
CONCATS = ("udh8", "udh16", "sar", "payload")
REF_BITS = {"udh8": 8, "udh16": 16, "sar": 16, "payload": 16}

# --- result types ------------------------------------------------------------------

National = tuple["str | None", "str | None"]
_NO_NATIONAL: National = (None, None)


@dataclass(frozen=True, slots=True)
class EncodedMessage:
    encoding: str
    data_coding: int
    segments: int
    units: int
    parts: list[bytes]
    udhi: bool
    sar: list[tuple[int, int, int]] | None
    ref: int | None
    national: National


@dataclass(frozen=True, slots=True)
class Count:
    encoding: str
    data_coding: int
    segments: int
    units: int
    chars: int
    per_segment: int
    national: National


@dataclass(frozen=True, slots=True)
class Udh:
    concat: tuple[int, int, int] | None
    ref_bits: int | None
    national: National
    elements: list[tuple[int, bytes]]


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str | None
    data: bytes
    encoding: str
    udh: Udh | None


# --- options -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Options:
    encoding: str
    concat: str
    max_parts: int
    packed: bool
    national: tuple[str, ...]


def _check_options(encoding: Any, concat: Any, max_parts: Any, packed: Any, national: Any) -> _Options:
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a str, got {type(encoding).__name__}")
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}: expected one of {', '.join(ENCODINGS)}")
    if not isinstance(concat, str):
        raise TypeError(f"concat must be a str, got {type(concat).__name__}")
    if concat not in CONCATS:
        raise ValueError(f"unknown concat {concat!r}: expected one of {', '.join(CONCATS)}")
    if not isinstance(max_parts, int):
        raise TypeError(f"max_parts must be an int, got {type(max_parts).__name__}")
    if not 1 <= max_parts <= MAX_PARTS_LIMIT:
        raise ValueError(f"max_parts must be within 1..{MAX_PARTS_LIMIT}, got {max_parts}")
    if not isinstance(packed, bool):
        raise TypeError(f"packed must be a bool, got {type(packed).__name__}")
    if national is None:
        national = ()
    if isinstance(national, str) or not isinstance(national, (list, tuple)):
        raise TypeError(f"national must be a list or tuple of language names, got {type(national).__name__}")
    for name in national:
        if not isinstance(name, str):
            raise TypeError(f"national languages must be str, got {type(name).__name__}")
        if name not in _tables.LANGUAGE_IDS:
            raise ValueError(
                f"unknown national language {name!r}: expected one of {', '.join(_tables.LANGUAGE_IDS)}"
            )
    if len(set(national)) != len(national):
        raise ValueError(f"national names a language twice: {list(national)!r}")
    return _Options(encoding, concat, max_parts, packed, tuple(national))


def _check_int_ref(ref: int, concat: str) -> int:
    bits = REF_BITS[concat]
    if not 0 <= ref < (1 << bits):
        raise ValueError(f"ref {ref} does not fit the {bits}-bit reference of concat={concat!r}")
    return ref


def _check_ref(ref: Any, concat: str) -> Any:
    if ref is None:
        return None
    if isinstance(ref, int):
        return _check_int_ref(ref, concat)
    if callable(getattr(ref, "next_ref", None)):
        return ref
    raise TypeError(f"ref must be an int, an object with next_ref(bits), or None; got {type(ref).__name__}")


def _check_text(text: Any, encoding: str) -> None:
    if isinstance(text, str):
        if encoding == "binary":
            raise ValueError("encoding='binary' needs bytes, got a str")
    elif isinstance(text, bytes):
        if encoding != "binary":
            raise ValueError(f"encoding={encoding!r} needs a str, got bytes (use encoding='binary')")
    else:
        raise TypeError(f"text must be a str (or bytes for encoding='binary'), got {type(text).__name__}")


# --- the alphabets: which tables carry which characters ----------------------------

_REVERSE_BASIC = {char: septet for septet, char in _tables.BASIC.items()}
_REVERSE_EXTENSION = {char: septet for septet, char in _tables.EXTENSION.items()}
_REVERSE_LOCKING = {lang: {c: s for s, c in table.items()} for lang, table in _tables.LOCKING.items()}
_REVERSE_SINGLE = {lang: {c: s for s, c in table.items()} for lang, table in _tables.SINGLE.items()}


def _gsm_chars(text: str, locking: str | None, single: str | None) -> list[tuple[int, ...]] | int:
    """The septets of each character with these tables, or the index of the first
    character they cannot carry. A character in the basic/locking table takes one
    septet there, else ESC + its code in the extension/single table."""
    basic = _REVERSE_LOCKING[locking] if locking else _REVERSE_BASIC
    extension = _REVERSE_SINGLE[single] if single else _REVERSE_EXTENSION
    out: list[tuple[int, ...]] = []
    for index, char in enumerate(text):
        if char in basic:
            out.append((basic[char],))
        elif char in extension:
            out.append((ESC, extension[char]))
        else:
            return index
    return out


def _utf16_chars(text: str) -> list[tuple[int, ...]]:
    """UTF-16 code units of each character: a surrogate pair stays one character."""
    out: list[tuple[int, ...]] = []
    for char in text:
        cp = ord(char)
        if cp >= 0x10000:
            cp -= 0x10000
            out.append((0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)))
        else:
            out.append((cp,))
    return out


# --- segment limits ----------------------------------------------------------------


def _udh_len(concat_ie: int, shift_ies: int) -> int:
    """Octets of the UDH: UDHL octet + the IEs, or 0 without any IE."""
    ies = concat_ie + shift_ies * SHIFT_IE_OCTETS
    return 1 + ies if ies else 0


def _capacity(encoding: str, udh_len: int) -> int:
    room = SM_OCTETS - udh_len
    if encoding == "gsm7":
        return room * 8 // 7
    if encoding == "ucs2":
        return room // 2
    return room


def _fill_bits(udh_len: int) -> int:
    """Fill bits after a UDH so that the first septet starts on a septet boundary."""
    return (7 - (udh_len * 8) % 7) % 7


def _packed_extra_cr(septets: list[int], udh_len: int) -> int:
    """1 when a packed part's septets end with CR exactly on an octet boundary: the
    receiver would take it for the 7-bit CR pad, so one more CR is sent."""
    if septets and septets[-1] == CR and (_fill_bits(udh_len) + 7 * len(septets)) % 8 == 0:
        return 1
    return 0


@dataclass(frozen=True, slots=True)
class _Layout:
    """How a message is laid out: its UDH sizes and limits for one encoding."""

    encoding: str
    concat: str
    shift_ies: int
    packed: bool

    @property
    def single_udh(self) -> int:
        return _udh_len(0, self.shift_ies)

    @property
    def multi_udh(self) -> int:
        # sar and payload are split as for udh8: the SMSC adds that UDH on the air.
        concat_ie = CONCAT_IE_OCTETS["udh16" if self.concat == "udh16" else "udh8"]
        return _udh_len(concat_ie, self.shift_ies)

    def cost(self, units: list[int], udh_len: int) -> int:
        extra = _packed_extra_cr(units, udh_len) if self.packed and self.encoding == "gsm7" else 0
        return len(units) + extra


def _split(chars: list[tuple[int, ...]], layout: _Layout) -> list[list[tuple[int, ...]]]:
    """Greedy split into parts of whole characters (an ESC pair, a surrogate pair)."""
    all_units = [u for c in chars for u in c]
    if layout.cost(all_units, layout.single_udh) <= _capacity(layout.encoding, layout.single_udh):
        return [chars]
    cap = _capacity(layout.encoding, layout.multi_udh)
    parts: list[list[tuple[int, ...]]] = []
    current: list[tuple[int, ...]] = []
    current_units: list[int] = []
    for char in chars:
        candidate = current_units + list(char)
        if current and layout.cost(candidate, layout.multi_udh) > cap:
            parts.append(current)
            current, current_units = [char], list(char)
        else:
            current.append(char)
            current_units = candidate
    parts.append(current)
    return parts


def _segments(chars: list[tuple[int, ...]], layout: _Layout) -> int:
    return len(_split(chars, layout))


# --- choosing the encoding and the tables ------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    encoding: str
    chars: list[tuple[int, ...]]  # the units of each character
    national: National

    @property
    def units(self) -> int:
        return sum(len(c) for c in self.chars)

    @property
    def shift_ies(self) -> int:
        return sum(1 for lang in self.national if lang is not None)


def _national_candidates(text: str, opts: _Options) -> list[tuple[tuple, _Plan]]:
    """Every (locking, single) combination that carries the text, with its sort key."""
    langs = opts.national
    lockings = [None] + [lang for lang in langs if lang in _tables.LOCKING]
    singles = [None] + list(langs)
    out = []
    for locking in lockings:
        for single in singles:
            if locking is None and single is None:
                continue
            chars = _gsm_chars(text, locking, single)
            if isinstance(chars, int):
                continue
            plan = _Plan("gsm7", chars, (locking, single))
            segments = _segments(chars, _Layout("gsm7", opts.concat, plan.shift_ies, False))
            kind = 1 if single is None and locking is not None else 0  # single-only before locking-only
            key = (
                segments,
                plan.shift_ies,
                kind,
                langs.index(locking) if locking else -1,
                langs.index(single) if single else -1,
            )
            out.append((key, plan))
    return out


def _unencodable_gsm(text: str, opts: _Options) -> UnencodableCharacter:
    """The error for a forced gsm7 text that no candidate carries (decision 3)."""
    carried = set(_REVERSE_BASIC) | set(_REVERSE_EXTENSION)
    for lang in opts.national:
        carried |= set(_REVERSE_SINGLE[lang]) | set(_REVERSE_LOCKING.get(lang, {}))
    for index, char in enumerate(text):
        if char not in carried:
            return UnencodableCharacter(char, index)
    lockings = [None] + [lang for lang in opts.national if lang in _tables.LOCKING]
    singles = [None] + list(opts.national)
    first_failures = []
    for locking in lockings:
        for single in singles:
            failed_at = _gsm_chars(text, locking, single)
            assert isinstance(failed_at, int), "a candidate carries the text: no error"
            first_failures.append(failed_at)
    index = max(first_failures)
    return UnencodableCharacter(text[index], index)


def _plan(text: str | bytes, opts: _Options) -> _Plan:
    if opts.encoding == "binary":
        assert isinstance(text, bytes)
        return _Plan("binary", [(b,) for b in text], _NO_NATIONAL)
    assert isinstance(text, str)
    if opts.encoding == "ucs2":
        return _Plan("ucs2", _utf16_chars(text), _NO_NATIONAL)
    if opts.encoding == "latin1":
        for index, char in enumerate(text):
            if ord(char) > 0xFF:
                raise UnencodableCharacter(char, index)
        return _Plan("latin1", [(ord(c),) for c in text], _NO_NATIONAL)

    default = _gsm_chars(text, None, None)
    if not isinstance(default, int):
        return _Plan("gsm7", default, _NO_NATIONAL)
    candidates = _national_candidates(text, opts) if opts.national else []
    best = min(candidates, key=lambda kp: kp[0])[1] if candidates else None
    if opts.encoding == "gsm7":
        if best is None:
            raise _unencodable_gsm(text, opts)
        return best
    ucs2 = _Plan("ucs2", _utf16_chars(text), _NO_NATIONAL)
    if best is not None:
        best_segments = _segments(best.chars, _Layout("gsm7", opts.concat, best.shift_ies, False))
        ucs2_segments = _segments(ucs2.chars, _Layout("ucs2", opts.concat, 0, False))
        if best_segments < ucs2_segments:
            return best
    return ucs2


# --- building the bytes ------------------------------------------------------------


def _udh(concat_ie: bytes, national: National) -> bytes:
    ies = concat_ie
    locking, single = national
    if locking is not None:
        ies += bytes([IEI_LOCKING_SHIFT, 1, _tables.LANGUAGE_IDS[locking]])
    if single is not None:
        ies += bytes([IEI_SINGLE_SHIFT, 1, _tables.LANGUAGE_IDS[single]])
    return bytes([len(ies)]) + ies if ies else b""


def _concat_ie(concat: str, ref: int, total: int, seq: int) -> bytes:
    if concat == "udh8":
        return bytes([IEI_CONCAT8, 3, ref, total, seq])
    if concat == "udh16":
        return bytes([IEI_CONCAT16, 4, ref >> 8, ref & 0xFF, total, seq])
    return b""  # sar and payload carry the reference outside the UDH


def _pack(septets: list[int], udh_len: int) -> bytes:
    """Septets packed LSB-first after the fill bits, with the CR rules of §6.1.2.3.1."""
    septets = septets + [CR] * _packed_extra_cr(septets, udh_len)
    fill = _fill_bits(udh_len)
    bits = fill + 7 * len(septets)
    octets = (bits + 7) // 8
    if octets * 8 - bits == 7:
        septets = septets + [CR]  # 7 spare bits would read as '@': pad with CR
    value = 0
    for i, septet in enumerate(septets):
        value |= septet << (fill + 7 * i)
    return value.to_bytes(octets, "little")


def _body(plan: _Plan, chars: list[tuple[int, ...]], udh_len: int, packed: bool) -> bytes:
    units = [u for c in chars for u in c]
    if plan.encoding == "gsm7":
        return _pack(units, udh_len) if packed else bytes(units)
    if plan.encoding == "ucs2":
        return b"".join(u.to_bytes(2, "big") for u in units)
    return bytes(units)


def _take_ref(ref: Any, concat: str) -> int:
    if ref is None:
        ref = DEFAULT_REFS
    if isinstance(ref, int):
        return ref
    value = ref.next_ref(REF_BITS[concat])
    if not isinstance(value, int):
        raise ValueError(f"ref.next_ref() returned {value!r}, not an int")
    return _check_int_ref(value, concat)


def _encode_one(text: str | bytes, opts: _Options, ref: Any) -> EncodedMessage:
    _check_text(text, opts.encoding)
    plan = _plan(text, opts)
    packed = opts.packed and plan.encoding == "gsm7"
    layout = _Layout(plan.encoding, opts.concat, plan.shift_ies, packed)
    pieces = _split(plan.chars, layout)
    segments = len(pieces)
    if segments > opts.max_parts:
        raise TooManyParts(segments, opts.max_parts)

    shift_udh = _udh(b"", plan.national)
    udhi = bool(shift_udh)
    sar = None
    used_ref = None
    if segments == 1 or opts.concat == "payload":
        # One part: the whole text (payload: for the message_payload TLV).
        parts = [shift_udh + _body(plan, plan.chars, len(shift_udh), packed)]
    elif opts.concat == "sar":
        used_ref = _take_ref(ref, opts.concat)
        parts = [shift_udh + _body(plan, piece, len(shift_udh), packed) for piece in pieces]
        sar = [(used_ref, segments, seq) for seq in range(1, segments + 1)]
    else:
        used_ref = _take_ref(ref, opts.concat)
        parts = []
        for seq, piece in enumerate(pieces, start=1):
            udh = _udh(_concat_ie(opts.concat, used_ref, segments, seq), plan.national)
            parts.append(udh + _body(plan, piece, len(udh), packed))
        udhi = True
    return EncodedMessage(
        encoding=plan.encoding,
        data_coding=DATA_CODING[plan.encoding],
        segments=segments,
        units=plan.units,
        parts=parts,
        udhi=udhi,
        sar=sar,
        ref=used_ref,
        national=plan.national,
    )


# --- public API --------------------------------------------------------------------


def encode(
    text: str | bytes,
    *,
    encoding: str = "auto",
    concat: str = "udh8",
    ref: Any = None,
    max_parts: int = 255,
    packed: bool = False,
    national: Sequence[str] = (),
) -> EncodedMessage:
    """Encode one message into its SMS parts (docs/encoding.md)."""
    opts = _check_options(encoding, concat, max_parts, packed, national)
    ref = _check_ref(ref, concat)
    return _encode_one(text, opts, ref)


def encode_batch(
    texts: Iterable[str | bytes],
    *,
    encoding: str = "auto",
    concat: str = "udh8",
    ref: Any = None,
    max_parts: int = 255,
    packed: bool = False,
    national: Sequence[str] = (),
) -> list[EncodedMessage]:
    """encode() for many texts; ``ref`` may also be a sequence of ints, one per text."""
    opts = _check_options(encoding, concat, max_parts, packed, national)
    texts = list(texts)
    if isinstance(ref, (list, tuple)):
        if len(ref) != len(texts):
            raise ValueError(f"ref has {len(ref)} references for {len(texts)} texts")
        for value in ref:
            if not isinstance(value, int):
                raise TypeError(f"a ref sequence must hold ints, got {type(value).__name__}")
            _check_int_ref(value, concat)
        refs = list(ref)
    else:
        refs = [_check_ref(ref, concat)] * len(texts)
    return [_encode_one(text, opts, r) for text, r in zip(texts, refs)]


def count(
    text: str | bytes,
    *,
    encoding: str = "auto",
    concat: str = "udh8",
    max_parts: int = 255,
    national: Sequence[str] = (),
) -> Count:
    """What encode() would choose and cost, without building bytes."""
    opts = _check_options(encoding, concat, max_parts, False, national)
    _check_text(text, opts.encoding)
    plan = _plan(text, opts)
    layout = _Layout(plan.encoding, opts.concat, plan.shift_ies, False)
    segments = _segments(plan.chars, layout)
    if segments > opts.max_parts:
        raise TooManyParts(segments, opts.max_parts)
    udh = layout.single_udh if segments == 1 else layout.multi_udh
    return Count(
        encoding=plan.encoding,
        data_coding=DATA_CODING[plan.encoding],
        segments=segments,
        units=plan.units,
        chars=len(text),
        per_segment=_capacity(plan.encoding, udh),
        national=plan.national,
    )


# --- decoding ----------------------------------------------------------------------


def _alphabet(data_coding: int) -> str:
    """The alphabet of an SMPP 3.4 / TS 23.038 data_coding value (decision 9)."""
    smpp = {0x00: "gsm7", 0x01: "ascii", 0x02: "binary", 0x03: "latin1", 0x04: "binary", 0x08: "ucs2"}
    if data_coding in smpp:
        return smpp[data_coding]
    if 0x10 <= data_coding <= 0x1F or 0x40 <= data_coding <= 0x7F:
        bits = (data_coding >> 2) & 0b11
        if bits == 0b11:
            raise DecodeError(f"data_coding 0x{data_coding:02X} names a reserved alphabet")
        return ("gsm7", "binary", "ucs2")[bits]
    if 0xF0 <= data_coding <= 0xFF:
        return "binary" if data_coding & 0x04 else "gsm7"
    raise DecodeError(f"data_coding 0x{data_coding:02X} is reserved or not supported")


def _parse_udh(payload: bytes) -> tuple[Udh, int]:
    if not payload:
        raise DecodeError("udhi is set but the payload is empty")
    end = 1 + payload[0]
    if end > len(payload):
        raise DecodeError(f"UDH length {payload[0]} runs past the payload of {len(payload)} octets")
    elements: list[tuple[int, bytes]] = []
    i = 1
    while i < end:
        if i + 2 > end:
            raise DecodeError(f"UDH information element at octet {i} is truncated")
        iei, length = payload[i], payload[i + 1]
        if i + 2 + length > end:
            raise DecodeError(f"UDH information element 0x{iei:02X} runs past the UDH")
        elements.append((iei, bytes(payload[i + 2 : i + 2 + length])))
        i += 2 + length
    concat = None
    ref_bits = None
    locking = single = None
    for iei, data in elements:  # a repeated IE: the last occurrence wins
        if iei == IEI_CONCAT8:
            if len(data) != 3:
                raise DecodeError(f"concatenation IE 0x00 has length {len(data)}, not 3")
            concat, ref_bits = (data[0], data[1], data[2]), 8
        elif iei == IEI_CONCAT16:
            if len(data) != 4:
                raise DecodeError(f"concatenation IE 0x08 has length {len(data)}, not 4")
            concat, ref_bits = ((data[0] << 8) | data[1], data[2], data[3]), 16
        elif iei in (IEI_LOCKING_SHIFT, IEI_SINGLE_SHIFT):
            if len(data) != 1:
                raise DecodeError(f"national shift IE 0x{iei:02X} has length {len(data)}, not 1")
            lang = _tables.LANGUAGE_NAMES.get(data[0])
            if iei == IEI_LOCKING_SHIFT:
                if lang not in _tables.LOCKING:
                    raise DecodeError(f"no national locking shift table for language id {data[0]}")
                locking = lang
            else:
                if lang not in _tables.SINGLE:
                    raise DecodeError(f"no national single shift table for language id {data[0]}")
                single = lang
    return Udh(concat=concat, ref_bits=ref_bits, national=(locking, single), elements=elements), end


def _unpack(data: bytes, udh_len: int) -> list[int]:
    fill = _fill_bits(udh_len)
    count_ = max(0, (len(data) * 8 - fill) // 7)
    value = int.from_bytes(data, "little")
    septets = [(value >> (fill + 7 * i)) & 0x7F for i in range(count_)]
    if septets and septets[-1] == CR and fill + 7 * count_ == len(data) * 8:
        septets.pop()  # the CR pad of 7 spare bits
    return septets


def _gsm_text(septets: list[int], national: National) -> str:
    locking, single = national
    basic = _tables.LOCKING[locking] if locking else _tables.BASIC
    extension = _tables.SINGLE[single] if single else _tables.EXTENSION
    out = []
    i = 0
    while i < len(septets):
        septet = septets[i]
        if septet != ESC:
            out.append(basic[septet])
            i += 1
        elif i + 1 == len(septets) or septets[i + 1] == ESC:
            out.append(" ")  # a trailing ESC, or ESC ESC (reserved SS2): shown as a space
            i += 2
        else:
            code = septets[i + 1]
            out.append(extension[code] if code in extension else basic[code])
            i += 2
    return "".join(out)


def _ucs2_text(data: bytes) -> str:
    units = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2)]
    out = []
    i = 0
    while i < len(units):
        unit = units[i]
        if 0xD800 <= unit <= 0xDBFF and i + 1 < len(units) and 0xDC00 <= units[i + 1] <= 0xDFFF:
            out.append(chr(0x10000 + ((unit - 0xD800) << 10) + (units[i + 1] - 0xDC00)))
            i += 2
            continue
        out.append("\ufffd" if 0xD800 <= unit <= 0xDFFF else chr(unit))
        i += 1
    if len(data) % 2:
        out.append("\ufffd")  # a trailing odd octet
    return "".join(out)


def decode(payload: bytes, data_coding: int, udhi: bool = False, *, packed: bool = False) -> Decoded:
    """Text (or data) and parsed UDH of one inbound short_message."""
    if not isinstance(payload, bytes):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    if not isinstance(data_coding, int):
        raise TypeError(f"data_coding must be an int, got {type(data_coding).__name__}")
    if not 0 <= data_coding <= 0xFF:
        raise ValueError(f"data_coding must be within 0..255, got {data_coding}")
    if not isinstance(udhi, bool) or not isinstance(packed, bool):
        raise TypeError("udhi and packed must be bools")
    alphabet = _alphabet(data_coding)
    udh = None
    udh_len = 0
    if udhi:
        udh, udh_len = _parse_udh(payload)
    data = payload[udh_len:]
    national = udh.national if udh else _NO_NATIONAL

    if alphabet == "gsm7":
        if packed:
            septets = _unpack(data, udh_len)
        else:
            for offset, octet in enumerate(data):
                if octet >= 0x80:
                    raise DecodeError(f"octet 0x{octet:02X} at {udh_len + offset} is not a GSM septet")
            septets = list(data)
        text: str | None = _gsm_text(septets, national)
    elif alphabet == "ascii":
        for offset, octet in enumerate(data):
            if octet >= 0x80:
                raise DecodeError(f"octet 0x{octet:02X} at {udh_len + offset} is not ASCII")
        text = data.decode("ascii")
    elif alphabet == "latin1":
        text = data.decode("latin-1")
    elif alphabet == "ucs2":
        text = _ucs2_text(data)
    else:
        text = None
    return Decoded(text=text, data=data, encoding=alphabet, udh=udh)
