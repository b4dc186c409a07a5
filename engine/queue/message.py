"""The message record that travels through the intake streams, and its stream fields."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import orjson

__all__ = ["Message", "MalformedEntry", "PRIORITIES", "new_id"]

PRIORITIES = ("transactional", "bulk")
_ENCODINGS = ("auto", "gsm7", "ucs2", "latin1")
_CONCATS = ("udh8", "udh16", "sar", "payload")
# SMPP 3.4 §5.2.17: registered_delivery is one octet.
_MAX_REGISTERED_DELIVERY = 0xFF

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_loads = json.loads
_fast_loads = orjson.loads

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(now_ms: int | None = None) -> str:
    """A ULID: 48-bit millisecond time + 80 random bits, 26 Crockford base-32 characters.

    Sortable by creation time, unique across processes without coordination.
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    out = []
    for _ in range(26):
        out.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


class MalformedEntry(ValueError):
    """A stream entry that is not a message record: ``.entry_id``, ``.reason``."""

    def __init__(self, entry_id: str, reason: str) -> None:
        super().__init__(f"stream entry {entry_id} is not a message record: {reason}")
        self.entry_id = entry_id
        self.reason = reason


@dataclass(slots=True)
class Message:
    """One short message to submit. ``destination`` is E.164 (``+79031234567``).

    ``source_ton`` / ``source_npi`` come from :func:`engine.numbers.validate_sender`.
    ``concat`` None means: the bind's configured method. ``segments`` is the
    intake's estimate from the encoding core (0 when not counted).
    """

    id: str
    destination: str
    text: str
    source: str
    source_ton: int = 5
    source_npi: int = 0
    priority: str = "bulk"
    campaign: str | None = None
    encoding: str = "auto"
    concat: str | None = None
    national: tuple[str, ...] = ()
    registered_delivery: int = 1
    segments: int = 0
    created: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Short keys, optional fields at their default left out (the stream's JSON)."""
        d: dict[str, Any] = {
            "id": self.id,
            "to": self.destination,
            "text": self.text,
            "from": self.source,
            "ton": self.source_ton,
            "npi": self.source_npi,
            "prio": self.priority,
            "rd": self.registered_delivery,
            "seg": self.segments,
            "ts": self.created,
        }
        if self.campaign:
            d["camp"] = self.campaign
        if self.encoding != "auto":
            d["enc"] = self.encoding
        if self.concat:
            d["concat"] = self.concat
        if self.national:
            d["nat"] = list(self.national)
        return d

    def to_fields(self) -> dict[str, str]:
        """The stream entry: one field ``m`` holding the record as JSON.

        One field rather than one per attribute: redis-py packs every argument in
        Python, and at ~25 arguments per XADD that packing was most of the enqueue
        cost; JSON (C-accelerated) is cheaper and still readable with XRANGE.
        """
        return {"m": self.to_json()}

    def to_json(self) -> str:
        """The value of the entry's ``m`` field."""
        return _dumps(self.to_dict())

    @classmethod
    def from_fields(cls, fields: Mapping[Any, Any], entry_id: str = "?") -> "Message":
        """Parse a stream entry (str or bytes keys/values); raises :class:`MalformedEntry`."""
        raw = fields.get("m")
        if raw is None:
            raw = fields.get(b"m")
        if raw is None:
            raise MalformedEntry(entry_id, "field 'm' (the message JSON) missing")
        try:
            # orjson: a third of the scanner's cost on a record this size.
            d = _fast_loads(raw)
        except ValueError:
            d = None
        if type(d) is not dict:
            # Anything orjson refuses (or that is not an object) takes json.loads for
            # its verdict: the same records pass and fail as before, with its message.
            try:
                d = _loads(raw)
            except ValueError as exc:
                raise MalformedEntry(entry_id, f"field 'm' is not JSON: {exc}") from None
            if not isinstance(d, dict):
                raise MalformedEntry(entry_id, "field 'm' is not a JSON object")
        return cls.from_dict(d, entry_id)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], entry_id: str = "?") -> "Message":
        # The attributes set directly and checked by _validate, as __init__ and
        # __post_init__ would: this runs once per message read (20,000/s), and the
        # keyword call plus __post_init__ were two thirds of it.
        try:
            m = _new(cls)
            m.id = str(d["id"])
            m.destination = d["to"]
            m.text = d["text"]
            m.source = d["from"]
            m.source_ton = int(d.get("ton", 5))
            m.source_npi = int(d.get("npi", 0))
            m.priority = d.get("prio", "bulk")
            m.campaign = d.get("camp") or None
            m.encoding = d.get("enc", "auto")
            m.concat = d.get("concat") or None
            nat = d.get("nat")
            m.national = tuple(nat) if nat else ()
            m.registered_delivery = int(d.get("rd", 1))
            m.segments = int(d.get("seg", 0))
            m.created = float(d.get("ts", 0.0))
            _validate(m)
            return m
        except KeyError as exc:
            raise MalformedEntry(entry_id, f"field {exc.args[0]!r} missing") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise MalformedEntry(entry_id, str(exc)) from None


_new = object.__new__


def _validate(m: Message) -> None:
    """The checks of ``Message.__post_init__`` (also run by ``from_dict``)."""
    if m.priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {PRIORITIES}, got {m.priority!r}")
    if m.encoding not in _ENCODINGS:
        raise ValueError(f"encoding must be one of {_ENCODINGS}, got {m.encoding!r}")
    if m.concat is not None and m.concat not in _CONCATS:
        raise ValueError(f"concat must be one of {_CONCATS} or None, got {m.concat!r}")
    if not 0 <= m.registered_delivery <= _MAX_REGISTERED_DELIVERY:
        raise ValueError(f"registered_delivery must be 0..255, got {m.registered_delivery}")
    if not m.id or "\n" in m.id or "\x1f" in m.id:
        # The consumer's batch scripts join ids with newlines; the tracking script's
        # correlation entries and replies separate fields with \x1f.
        raise ValueError(f"message id must be non-empty without newlines or \\x1f, got {m.id!r}")
    dest = m.destination
    if not dest.startswith("+") or not dest[1:].isdigit():
        raise ValueError(f"destination must be E.164 (+digits), got {dest!r}")
