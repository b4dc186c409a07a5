"""Delivery receipts: parse them, map their state to one vocabulary, normalise message ids.

A receipt is a deliver_sm (or data_sm) whose esm_class says "SMSC delivery receipt".
Its facts come from two places:
- the SMPP 3.4 appendix B text in short_message (or message_payload)::

      id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
      stat:DDDDDDD err:E text:...

  which SMSCs vary freely: any letter case, fields missing or added, 10- or 12-digit
  dates, ``submit_date`` for ``submit date``, text containing colons;
- the TLVs receipted_message_id (0x001E), message_state (0x0427) and
  network_error_code (0x0423). When present, **the TLVs win** over the text.

States are mapped to one vocabulary (``STATES``): delivered, expired, deleted,
undeliverable, accepted, unknown, rejected, enroute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.smpp.constants import MessageState, Tag
from engine.smpp.tlv import Tlv, cstr_value, find_tlv, tlv_int

__all__ = [
    "Receipt",
    "ReceiptError",
    "STATES",
    "FINAL_STATES",
    "parse_receipt",
    "parse_receipt_body",
    "parse_receipt_text",
    "parse_receipt_date",
    "state_from_stat",
    "state_from_message_state",
    "normalize_message_id",
    "message_id_forms",
]

STATES = ("delivered", "expired", "deleted", "undeliverable", "accepted", "unknown", "rejected", "enroute")
# enroute is the only state SMPP 3.4 (5.2.28) does not call final.
FINAL_STATES = frozenset(STATES) - {"enroute"}

_FROM_MESSAGE_STATE: dict[int, str] = {
    MessageState.ENROUTE: "enroute",
    MessageState.DELIVERED: "delivered",
    MessageState.EXPIRED: "expired",
    MessageState.DELETED: "deleted",
    MessageState.UNDELIVERABLE: "undeliverable",
    MessageState.ACCEPTED: "accepted",
    MessageState.UNKNOWN: "unknown",
    MessageState.REJECTED: "rejected",
}

# The appendix B words are 7 letters (DELIVRD, UNDELIV, ACCEPTD, REJECTD, ...); SMSCs
# also send them spelled out or cut differently, so a stat is matched by prefix.
# Order matters: "UNDELIV" before "DELIV". FAILED/FAIL are not in the spec but are
# what several SMSCs send for an undeliverable message.
_STAT_PREFIXES = (
    ("UNDELIV", "undeliverable"),
    ("UNDELIVERABLE", "undeliverable"),
    ("FAIL", "undeliverable"),
    ("DELIV", "delivered"),
    ("EXPIR", "expired"),
    ("DELET", "deleted"),
    ("ACCEPT", "accepted"),
    ("REJECT", "rejected"),
    ("ENROUT", "enroute"),
    ("UNKNOWN", "unknown"),
)


class ReceiptError(ValueError):
    """A receipt that cannot be used: it names no message id in the text or TLVs."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """One delivery receipt.

    ``message_id``: the id as the SMSC wrote it (the receipted_message_id TLV when
    present, else the text's ``id:``), not normalised: see ``normalize_message_id``.
    ``state``: one of ``STATES``. ``stat``: the text's raw stat word (or None).
    ``message_state``: the TLV's value (or None). ``error``: the text's ``err:`` value,
    raw. ``network_error_code``: ``(network type, code)`` from the TLV (or None).
    ``submit_date`` / ``done_date``: raw text; ``parse_receipt_date`` reads them.
    ``fields``: every ``key: value`` of the text, keys lower-case with spaces as
    underscores (``submit_date``), unknown keys included.
    """

    message_id: str
    state: str
    stat: str | None = None
    message_state: int | None = None
    error: str | None = None
    network_error_code: tuple[int, int] | None = None
    submitted: str | None = None
    delivered: str | None = None
    submit_date: str | None = None
    done_date: str | None = None
    text: str | None = None
    fields: dict = field(default_factory=dict, compare=False)

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def error_code(self) -> int | None:
        """``err:`` as an int when it is decimal digits (the usual form), else None."""
        return int(self.error) if self.error and self.error.isdigit() else None


# A key is a word (letters, digits, "_", "-") at the start or after whitespace, then ":".
# "submit date" / "done date" keep their space. A value runs to the next key; "text:"
# runs to the end, so colons and key-like words inside the text stay in it.
_KEY = re.compile(r"(?:(?<=\s)|^)(submit[ _]date|done[ _]date|[A-Za-z][A-Za-z0-9_-]*)\s?:", re.IGNORECASE)
_ALIASES = {"stat": "stat", "state": "stat", "status": "stat", "error": "err", "sub": "sub", "dlvrd": "dlvrd"}


# The appendix B layout exactly (any case): one match instead of a scan. When it does
# not match, the tolerant scan below runs; both give the same fields for a text in
# this layout (tests/smpp/test_receipts.py holds them to it).
_STANDARD = re.compile(
    r"id:(?P<id>\S+) sub:(?P<sub>\S+) dlvrd:(?P<dlvrd>\S+) submit date:(?P<submit_date>\d+) "
    r"done date:(?P<done_date>\d+) stat:(?P<stat>\S+) err:(?P<err>\S+) text:(?P<text>.*)\Z",
    re.IGNORECASE | re.DOTALL,
)


def parse_receipt_text(text: str) -> dict[str, str]:
    """The ``key: value`` fields of an appendix B text (keys lower-case, ``submit_date``)."""
    m = _STANDARD.match(text)
    if m is not None:
        return m.groupdict()
    return _scan_receipt_text(text)


def _scan_receipt_text(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    matches = list(_KEY.finditer(text))
    for i, m in enumerate(matches):
        key = m.group(1).lower().replace(" ", "_").replace("-", "_")
        key = _ALIASES.get(key, key)
        if key in out and key != "text":
            continue  # keep the first: a later "id:" is more likely inside a value
        if key == "text":
            out["text"] = text[m.end() :]
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        out[key] = text[m.end() : end].strip()
    return out


def state_from_stat(stat: str | None) -> str:
    """The vocabulary state of a stat word (``"DELIVRD"`` -> ``"delivered"``); unknown words -> ``"unknown"``."""
    if not stat:
        return "unknown"
    word = stat.strip().upper()
    for prefix, state in _STAT_PREFIXES:
        if word.startswith(prefix):
            return state
    return "unknown"


def state_from_message_state(value: int | None) -> str:
    """The vocabulary state of a message_state value (SMPP 3.4 5.2.28); out of range -> ``"unknown"``."""
    return _FROM_MESSAGE_STATE.get(value, "unknown") if value is not None else "unknown"


_DATE = re.compile(r"^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?$")


def parse_receipt_date(value: str | None) -> tuple[int, int, int, int, int, int] | None:
    """``"2611220405"`` (YYMMDDhhmm) or ``"261122040507"`` (YYMMDDhhmmss) ->
    ``(2026, 11, 22, 4, 5, 7)`` (seconds 0 when absent); None for anything else.

    Years are 2000 + YY (receipts carry two digits). No time zone: the SMSC's local
    time, which is why this returns fields, not a timestamp.
    """
    if not value:
        return None
    m = _DATE.match(value.strip())
    if m is None:
        return None
    yy, mo, dd, hh, mi, ss = (int(g) if g is not None else 0 for g in m.groups())
    if not (1 <= mo <= 12 and 1 <= dd <= 31 and hh <= 23 and mi <= 59 and ss <= 60):
        return None
    return 2000 + yy, mo, dd, hh, mi, ss


def _payload_text(pdu, payload: bytes | None = None) -> str:
    if payload is None:
        payload = find_tlv(pdu.tlvs, Tag.MESSAGE_PAYLOAD)
    if payload is None:
        payload = getattr(pdu, "short_message", b"")
    if getattr(pdu, "data_coding", 0) == 0x08:
        # Some SMSCs send the receipt text in UCS-2 to a bind that submits in UCS-2.
        return payload.decode("utf-16-be", "replace")
    # The appendix B text is ASCII; Latin-1 maps every octet, so nothing is dropped.
    return payload.decode("latin-1")


_RECEIPT_TAGS = frozenset((Tag.RECEIPTED_MESSAGE_ID, Tag.MESSAGE_STATE, Tag.NETWORK_ERROR_CODE, Tag.MESSAGE_PAYLOAD))


def parse_receipt(pdu=None, *, text: str | bytes | None = None, tlvs: tuple[Tlv, ...] = ()) -> Receipt:
    """A ``Receipt`` from a deliver_sm/data_sm PDU, or from ``text`` and ``tlvs``.

    Raises ``ReceiptError`` when neither the TLVs nor the text name a message id.
    A message_state TLV of the wrong length raises ``PduError`` (ESME_RINVPARLEN).
    """
    return parse_receipt_body(pdu, text=text, tlvs=tlvs)[0]


def parse_receipt_body(pdu=None, *, text: str | bytes | None = None,
                       tlvs: tuple[Tlv, ...] = ()) -> tuple[Receipt, str]:
    """``parse_receipt``, and the receipt's text as read (so a caller need not decode
    it again). The TLVs are read in one pass (a receipt has a handful; the four
    looked up one by one cost a pass each)."""
    if pdu is not None:
        tlvs = pdu.tlvs
        if getattr(pdu, "data_coding", 0) != 0x08 and _native_standard is not None:
            sm = getattr(pdu, "short_message", None)
            if type(sm) is bytes:
                # The common receipt in one Rust call; None (any other variant) reads on.
                fast = _native_standard(sm, tlvs)
                if fast is not None:
                    return fast, sm.decode("latin-1")
    found: dict[int, bytes] = {}
    for t in tlvs:
        tag = t.tag
        if tag in _RECEIPT_TAGS and tag not in found:
            found[tag] = t.value
    if pdu is not None:
        body = _payload_text(pdu, found.get(Tag.MESSAGE_PAYLOAD))
    elif isinstance(text, bytes):
        body = text.decode("latin-1")
    else:
        body = text or ""
    m = _STANDARD.match(body)
    fields_ = m.groupdict() if m is not None else _scan_receipt_text(body)
    raw_id = found.get(Tag.RECEIPTED_MESSAGE_ID)
    tlv_id = cstr_value(raw_id) if raw_id is not None else None
    message_id = tlv_id if tlv_id else fields_.get("id")
    if not message_id:
        raise ReceiptError(
            "receipt has no message id: no receipted_message_id TLV and no 'id:' in the text "
            f"{body[:80]!r}"
        )
    message_state = tlv_int(tlvs, Tag.MESSAGE_STATE) if Tag.MESSAGE_STATE in found else None
    stat = fields_.get("stat")
    state = state_from_message_state(message_state) if message_state is not None else state_from_stat(stat)
    nec = found.get(Tag.NETWORK_ERROR_CODE)
    network_error_code = (nec[0], int.from_bytes(nec[1:3], "big")) if nec is not None and len(nec) == 3 else None
    get = fields_.get
    return _make_receipt((message_id.strip(), state, stat, message_state, get("err"), network_error_code,
                          get("sub"), get("dlvrd"), get("submit_date"), get("done_date"), get("text"),
                          fields_)), body


def _receipt_maker():
    """``Receipt(*values)`` without the frozen dataclass's ``__init__`` (which sets each
    field through ``object.__setattr__``: 3 us of the ~7 a receipt cost). The slot
    descriptors write the same fields; tests/smpp/test_receipts.py compares the two."""
    from dataclasses import fields as _fields

    setters = tuple(getattr(Receipt, f.name).__set__ for f in _fields(Receipt))
    new = object.__new__

    def make(values: tuple) -> Receipt:
        r = new(Receipt)
        for set_, v in zip(setters, values):
            set_(r, v)
        return r

    return make


_make_receipt = _receipt_maker()


def _native_receipt_parser():
    """``engine.smpp._native.receipt_standard`` (imported late: that module imports this
    one's package), or None without the extension."""
    try:
        from engine.smpp import _native
    except ImportError:  # pragma: no cover - the package itself is broken then
        return None
    return _native.receipt_standard if _native.NATIVE else None


_native_standard = _native_receipt_parser()


# ---------------------------------------------------------------------------
# Message ids

_HEX = re.compile(r"^(?:0[xX])?([0-9A-Fa-f]+)$")
_DEC = re.compile(r"^[0-9]+$")


def _clean(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")
    if not isinstance(raw, str):
        raise TypeError(f"message id must be str or bytes, not {type(raw).__name__}")
    value = raw.strip().strip("\0").strip()
    if not value:
        raise ValueError(f"empty message id {raw!r}")
    return value


def normalize_message_id(raw: str | bytes, fmt: str = "auto") -> str:
    """The canonical form of an SMSC message id, so that the submit_sm_resp id and the
    receipt id of one message compare equal.

    Rules (surrounding spaces and NULs are removed first):

    - ``"dec"``: the id is a decimal number; canonical = that number in decimal without
      leading zeros (``"002587"`` -> ``"2587"``). Not decimal digits -> ValueError.
    - ``"hex"``: the id is a hexadecimal number (any case, optional ``0x``); canonical =
      the **same number in decimal** (``"0A1B"`` -> ``"2587"``), so that an SMSC that
      answers submit_sm_resp in hex and writes receipts in decimal (a common mismatch)
      matches when each side is normalised with its own format. Not hex -> ValueError.
    - ``"str"``: an opaque id; canonical = lower case (``"AbC-1"`` -> ``"abc-1"``).
    - ``"auto"``: decimal digits only -> as ``"dec"``; else hex digits (with at least one
      letter a-f, or a ``0x`` prefix) -> as ``"hex"``; else as ``"str"``. Auto cannot
      tell a hex id made only of digits from a decimal one (``"1234"`` is read as
      decimal); when an SMSC's ids are hex, say so (``fmt="hex"``) or compare
      ``message_id_forms``.
    """
    value = _clean(raw)
    if fmt == "dec":
        if not _DEC.match(value):
            raise ValueError(f"message id {value!r} is not decimal (fmt='dec')")
        return str(int(value))
    if fmt == "hex":
        m = _HEX.match(value)
        if m is None:
            raise ValueError(f"message id {value!r} is not hexadecimal (fmt='hex')")
        return str(int(m.group(1), 16))
    if fmt == "str":
        return value.lower()
    if fmt == "auto":
        if _DEC.match(value):
            return str(int(value))
        m = _HEX.match(value)
        if m is not None:
            return str(int(m.group(1), 16))
        return value.lower()
    raise ValueError(f"fmt must be 'auto', 'hex', 'dec' or 'str', got {fmt!r}")


def message_id_forms(raw: str | bytes) -> dict[str, str]:
    """Every canonical form the id can have: ``{"dec": ..., "hex": ..., "str": ...}`` for
    the formats it is valid in. ``"1234"`` -> ``{"dec": "1234", "hex": "4660", "str":
    "1234"}``. Lets a tracker detect an SMSC's format from its first receipts (the
    format whose forms keep matching) or match a receipt under every reading."""
    value = _clean(raw)
    out = {}
    if _DEC.match(value):
        out["dec"] = str(int(value))
    m = _HEX.match(value)
    if m is not None:
        out["hex"] = str(int(m.group(1), 16))
    out["str"] = value.lower()
    return out
