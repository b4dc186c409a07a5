"""Sans-IO reassembly of concatenated mobile-originated messages.

Parts of one long MO message arrive as separate deliver_sm/data_sm PDUs, marked by a
concatenation information element in the UDH (IEI 0x00: 8-bit reference, IEI 0x08:
16-bit reference; TS 23.040 9.2.3.24.1/.8) or by the SAR TLVs (sar_msg_ref_num,
sar_total_segments, sar_segment_seqnum; SMPP 3.4 5.3.2.22-24). ``Reassembler`` keys
them by (source, destination, reference kind, ref, total), accepts them in any order,
ignores repeated parts (also a part repeated within ``timeout`` after its message
completed: SMSCs re-send a deliver_sm whose response they missed), and gives back the
whole message once every part is in.
``expire(now)`` gives back what never completed, with the parts that did arrive, so
nothing is lost silently. Time is an argument; nothing here reads a clock.

Text is decoded once the message is whole, by ``engine.encoding.decode`` (the Rust
core) or, where the extension is unavailable, ``engine.encoding.reference.decode``.
UCS-2 and unpacked GSM are decoded over the joined payload, so a surrogate pair or
escape sequence split across parts by a careless sender still decodes; packed GSM and
parts carrying national-language shift IEs are decoded part by part (their fill bits
and tables are per part) and the texts joined.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Callable

from engine.smpp.constants import EsmClass, Tag
from engine.smpp.tlv import tlv_int

__all__ = [
    "Reassembler", "Part", "Message", "Incomplete", "ConcatPart", "concat_part", "split_udh", "MAX_PENDING",
    "DEFAULT_TIMEOUT",
]

# How long the parts of one message may take to all arrive, counted from the first.
# TS 23.040 sets no value; handsets and SMSCs commonly give up after a few minutes,
# and an SMSC retrying a failed part can take that long.
DEFAULT_TIMEOUT = 300.0

# Messages being reassembled at once. A peer sending only first parts would
# otherwise grow memory without bound; past this the oldest is given back as
# Incomplete (through ``expire``). 100,000 x a few hundred octets is tens of MB.
MAX_PENDING = 100_000

_IEI_CONCAT8 = 0x00
_IEI_CONCAT16 = 0x08
_IEI_SHIFTS = (0x24, 0x25)


@dataclass(frozen=True, slots=True)
class Part:
    seq: int
    data: bytes  # the payload after the UDH
    short_message: bytes  # the whole payload as received (UDH included)
    received_at: float
    pdu: Any = None


@dataclass(frozen=True, slots=True)
class Message:
    """A whole MO message (also a single-part one).

    ``method``: "single", "udh8", "udh16" or "sar". ``ref``: the concatenation
    reference (None for single). ``data``: the payloads joined, UDHs removed.
    ``text``: the decoded text, or None for binary data or when decoding failed
    (``decode_error`` then says why; ``data`` still holds every octet).
    ``note``: set when a malformed concatenation marker made the session deliver the
    PDU as a single message.
    """

    source: str
    destination: str
    method: str
    ref: int | None
    total: int
    data_coding: int
    parts: tuple[Part, ...]
    data: bytes
    text: str | None
    decode_error: str | None = None
    first_at: float = 0.0
    completed_at: float = 0.0
    note: str | None = None
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class Incomplete:
    """A message whose parts did not all arrive in time (or that was evicted).

    ``parts``: those that arrived, in sequence order; ``missing``: the sequence numbers
    that did not. ``reason``: "timeout" or "evicted" (over MAX_PENDING). ``text``: what
    arrived, decoded as a whole message's parts are (part by part for packed GSM), or
    None when that fails.
    """

    source: str
    destination: str
    method: str
    ref: int
    total: int
    data_coding: int
    parts: tuple[Part, ...]
    missing: tuple[int, ...]
    first_at: float
    expired_at: float
    reason: str
    text: str | None = None


@dataclass(slots=True)
class _Pending:
    source: str
    destination: str
    method: str
    ref: int
    total: int
    data_coding: int
    first_at: float
    deadline: float
    packed: bool
    parts: dict = field(default_factory=dict)  # seq -> Part
    per_part: bool = False  # decode part by part (packed GSM, shift tables)
    duplicates: int = 0


def split_udh(payload: bytes) -> tuple[bytes, bytes, list[tuple[int, bytes]]] | None:
    """``(udh, rest, elements)`` of a payload with the UDHI bit set, or None when the
    UDH is malformed (its length or an element's runs past the end)."""
    if not payload:
        return None
    end = 1 + payload[0]
    if end > len(payload):
        return None
    elements = []
    i = 1
    while i < end:
        if i + 2 > end or i + 2 + payload[i + 1] > end:
            return None
        elements.append((payload[i], bytes(payload[i + 2 : i + 2 + payload[i + 1]])))
        i += 2 + payload[i + 1]
    return bytes(payload[:end]), bytes(payload[end:]), elements


@dataclass(frozen=True, slots=True)
class ConcatPart:
    """Where one deliver_sm / data_sm belongs in a concatenated message (``concat_part``).

    ``data``: the payload after the UDH; ``short_message``: the payload as received.
    ``per_part``: the message is to be decoded part by part (packed GSM, shift IEs).
    """

    source: str
    destination: str
    data_coding: int
    method: str
    ref: int
    total: int
    seq: int
    data: bytes
    short_message: bytes
    per_part: bool


def _read_concat(pdu: Any, packed: bool) -> ConcatPart | tuple[bytes, bool, str | None]:
    """The concatenation fields of a PDU, or what a single message needs: ``(data,
    udhi, note)`` (``data`` decoded alone, or the whole payload as a UDH message)."""
    payload = pdu.payload
    if pdu.esm_class & EsmClass.UDHI:
        split = split_udh(payload)
        if split is None:
            return payload, False, "malformed UDH: delivered as received, UDH included"
        _, rest, elements = split
        concat = None
        for iei, value in elements:  # a repeated IE: the last one wins, as in the encoding core
            if iei == _IEI_CONCAT8 and len(value) == 3:
                concat = ("udh8", value[0], value[1], value[2])
            elif iei == _IEI_CONCAT16 and len(value) == 4:
                concat = ("udh16", (value[0] << 8) | value[1], value[2], value[3])
        if concat is None:
            return rest, True, None
        per_part = packed or any(iei in _IEI_SHIFTS for iei, _ in elements)
        method, ref, total, seq = concat
    else:
        sar_ref = tlv_int(pdu.tlvs, Tag.SAR_MSG_REF_NUM)
        sar_total = tlv_int(pdu.tlvs, Tag.SAR_TOTAL_SEGMENTS)
        sar_seq = tlv_int(pdu.tlvs, Tag.SAR_SEGMENT_SEQNUM)
        if sar_ref is None or sar_total is None or sar_seq is None:
            return payload, False, None
        method, ref, total, seq = "sar", sar_ref, sar_total, sar_seq
        rest = payload
        # Packed septets of each part start on an octet boundary of their own: joined,
        # every part after the first would be read shifted.
        per_part = packed
    return ConcatPart(pdu.source_addr, pdu.destination_addr, pdu.data_coding, method, ref, total, seq,
                      rest, payload, per_part)


def concat_part(pdu: Any, packed: bool = False) -> ConcatPart | None:
    """The PDU as one part of a longer message, or None when ``Reassembler.add`` would
    give it back at once as a whole message (no concatenation marker, a malformed UDH,
    an invalid or one-part marker). ``packed``: the bind's ``gsm_packed``."""
    read = _read_concat(pdu, packed)
    if not isinstance(read, ConcatPart) or read.total < 2 or read.seq == 0 or read.seq > read.total:
        return None
    return read


def _default_decoder() -> Callable:
    try:
        from engine.encoding import decode
    except ImportError:  # the compiled core is missing or older than this module
        from engine.encoding.reference import decode  # type: ignore[assignment]  # same contract, its own Decoded class
    return decode


class Reassembler:
    """Reassembles concatenated MO messages; see the module docstring.

    ``add(pdu, now) -> Message | None``: a deliver_sm / data_sm. A single-part message
    comes back at once; a part of a longer one comes back as the whole ``Message``
    when it is the last missing part, else None.
    ``expire(now) -> list[Incomplete]``: messages whose time ran out (and any evicted).
    ``next_deadline() -> float | None``: when ``expire`` next has something to do.
    ``packed``: the SMSC sends GSM 7-bit packed (the bind's setting).
    ``decoder``: ``decode(payload, data_coding, udhi, packed=...)`` as in
    docs/encoding.md; defaults to ``engine.encoding.decode``.
    """

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        packed: bool = False,
        max_pending: int = MAX_PENDING,
        decoder: Callable | None = None,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        if not isinstance(max_pending, int) or max_pending < 1:
            raise ValueError(f"max_pending must be an int >= 1, got {max_pending!r}")
        self.timeout = float(timeout)
        self.packed = packed
        self.max_pending = max_pending
        self._decoder = decoder
        self._pending: dict[tuple, _Pending] = {}
        self._deadlines: list[tuple[float, int, tuple, _Pending]] = []
        self._counter = 0
        self._evicted: list[Incomplete] = []
        # Recently completed messages (key -> (forget at, sequence numbers)), in
        # completion order, so that a part repeated after completion is recognised.
        self._recent: dict[tuple, tuple[float, frozenset]] = {}
        self.duplicates = 0  # parts ignored because their sequence number had arrived already

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _decode(self, payload: bytes, data_coding: int, udhi: bool, packed: bool | None = None) -> tuple[str | None, str | None]:
        if self._decoder is None:
            self._decoder = _default_decoder()
        try:
            return self._decoder(payload, data_coding, udhi, packed=self.packed if packed is None else packed).text, None
        except ValueError as exc:  # DecodeError, or a data_coding the core refuses
            return None, f"{type(exc).__name__}: {exc}"

    # -- input --------------------------------------------------------------------

    def add(self, pdu: Any, now: float) -> Message | None:
        read = _read_concat(pdu, self.packed)
        if not isinstance(read, ConcatPart):
            data, udhi, note = read
            return self._single(pdu, pdu.payload, data, now, note, udhi=udhi)
        return self.add_part(
            source=read.source,
            destination=read.destination,
            method=read.method,
            ref=read.ref,
            total=read.total,
            seq=read.seq,
            data=read.data,
            short_message=read.short_message,
            data_coding=read.data_coding,
            now=now,
            pdu=pdu,
            per_part=read.per_part,
        )

    def add_part(
        self,
        *,
        source: str,
        destination: str,
        method: str,
        ref: int,
        total: int,
        seq: int,
        data: bytes,
        data_coding: int,
        now: float,
        short_message: bytes | None = None,
        pdu: Any = None,
        per_part: bool = False,
    ) -> Message | None:
        """One part whose concatenation fields are already known (``method``: "udh8",
        "udh16" or "sar"; ``data``: the payload without its UDH)."""
        if method not in ("udh8", "udh16", "sar"):
            raise ValueError(f"method must be 'udh8', 'udh16' or 'sar', got {method!r}")
        sm = data if short_message is None else short_message
        if total == 0 or seq == 0 or seq > total:
            # TS 23.040: a concatenation IE with such values is to be ignored; the
            # PDU is then a message of its own, delivered with a note.
            return self._single(
                pdu, sm, data, now, f"invalid {method} concatenation (seq {seq} of {total}): delivered as a single message",
                udhi=method != "sar" and short_message is not None and short_message != data, source=source,
                destination=destination, data_coding=data_coding,
            )
        if total == 1:
            return self._finish(
                _Pending(source, destination, method, ref, 1, data_coding, now, now, self.packed,
                         {1: Part(1, data, sm, now, pdu)}, per_part), now,
            )
        key = (source, destination, method, ref, total)
        pending = self._pending.get(key)
        if pending is None and key in self._recent:
            expires_at, seqs = self._recent[key]
            if expires_at > now and seq in seqs:
                # An SMSC re-sending a part (its deliver_sm_resp was lost) after the
                # message completed: a repeat, not the start of a new message.
                self.duplicates += 1
                return None
            del self._recent[key]
        if pending is None:
            if len(self._pending) >= self.max_pending:
                self._evict_oldest(now)
            pending = _Pending(source, destination, method, ref, total, data_coding, now, now + self.timeout, self.packed)
            self._pending[key] = pending
            if len(self._deadlines) > 2 * len(self._pending) + 1024:
                # Completed messages leave stale heap entries until their deadline;
                # rebuilding keeps the heap proportional to what is pending.
                self._deadlines = [e for e in self._deadlines if self._pending.get(e[2]) is e[3]]
                heapq.heapify(self._deadlines)
            self._counter += 1
            heapq.heappush(self._deadlines, (pending.deadline, self._counter, key, pending))
        if seq in pending.parts:
            pending.duplicates += 1
            self.duplicates += 1
            return None
        pending.parts[seq] = Part(seq, data, sm, now, pdu)
        pending.per_part = pending.per_part or per_part
        if len(pending.parts) < total:
            return None
        del self._pending[key]
        self._recent[key] = (now + self.timeout, frozenset(pending.parts))
        if len(self._recent) > self.max_pending:
            del self._recent[next(iter(self._recent))]
        return self._finish(pending, now)

    def assemble(
        self,
        *,
        source: str,
        destination: str,
        method: str,
        ref: int,
        total: int,
        data_coding: int,
        parts: list[Part],
        per_part: bool,
        packed: bool,
        first_at: float,
        now: float,
    ) -> Message | Incomplete:
        """The message of parts kept elsewhere (``engine.queue.inbound`` keeps them in
        Redis, shared by processes), decoded exactly as ``add`` decodes: a ``Message``
        when every part 1..total is there, else an ``Incomplete`` ("timeout").
        ``packed``: the setting of the bind the parts came over."""
        p = _Pending(source, destination, method, ref, total, data_coding, first_at, first_at + self.timeout,
                     packed, {part.seq: part for part in parts}, per_part)
        if all(i in p.parts for i in range(1, total + 1)):
            return self._finish(p, now)
        return self._incomplete(p, now, "timeout")

    # -- output ---------------------------------------------------------------------

    def _single(
        self,
        pdu: Any,
        short_message: bytes,
        data: bytes,
        now: float,
        note: str | None,
        *,
        udhi: bool = False,
        source: str | None = None,
        destination: str | None = None,
        data_coding: int | None = None,
    ) -> Message:
        dc = pdu.data_coding if data_coding is None else data_coding
        if udhi:
            text, error = self._decode(short_message, dc, True)
        else:
            text, error = self._decode(data, dc, False)
        return Message(
            source=pdu.source_addr if source is None else source,
            destination=pdu.destination_addr if destination is None else destination,
            method="single",
            ref=None,
            total=1,
            data_coding=dc,
            parts=(Part(1, data, short_message, now, pdu),),
            data=data,
            text=text,
            decode_error=error,
            first_at=now,
            completed_at=now,
            note=note,
        )

    def _text(self, p: _Pending, parts: tuple[Part, ...], data: bytes) -> tuple[str | None, str | None]:
        """The text of ``parts`` (their payloads joined in ``data``) and the decoding
        error: part by part when the message needs it (packed GSM, shift tables)."""
        if p.per_part:
            texts, error = [], None
            for part in parts:
                text, error = self._decode(part.short_message, p.data_coding, part.short_message != part.data, p.packed)
                if text is None:
                    break
                texts.append(text)
            return (None if error is not None or len(texts) != len(parts) else "".join(texts)), error
        return self._decode(data, p.data_coding, False, p.packed)

    def _finish(self, p: _Pending, now: float) -> Message:
        parts = tuple(p.parts[i] for i in sorted(p.parts))
        data = b"".join(part.data for part in parts)
        joined, error = self._text(p, parts, data)
        return Message(
            source=p.source,
            destination=p.destination,
            method=p.method,
            ref=p.ref,
            total=p.total,
            data_coding=p.data_coding,
            parts=parts,
            data=data,
            text=joined,
            decode_error=error,
            first_at=p.first_at,
            completed_at=now,
            duplicates=p.duplicates,
        )

    def _incomplete(self, p: _Pending, now: float, reason: str) -> Incomplete:
        parts = tuple(p.parts[i] for i in sorted(p.parts))
        text, _ = self._text(p, parts, b"".join(part.data for part in parts))
        return Incomplete(
            source=p.source,
            destination=p.destination,
            method=p.method,
            ref=p.ref,
            total=p.total,
            data_coding=p.data_coding,
            parts=parts,
            missing=tuple(i for i in range(1, p.total + 1) if i not in p.parts),
            first_at=p.first_at,
            expired_at=now,
            reason=reason,
            text=text,
        )

    def _evict_oldest(self, now: float) -> None:
        while self._deadlines:
            _, _, key, pending = heapq.heappop(self._deadlines)
            if self._pending.get(key) is pending:
                del self._pending[key]
                self._evicted.append(self._incomplete(pending, now, "evicted"))
                return

    def expire(self, now: float) -> list[Incomplete]:
        out, self._evicted = self._evicted, []
        recent = self._recent
        while recent:
            key = next(iter(recent))
            if recent[key][0] > now:
                break
            del recent[key]
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, _, key, pending = heapq.heappop(heap)
            if self._pending.get(key) is pending:
                del self._pending[key]
                out.append(self._incomplete(pending, now, "timeout"))
        return out

    def next_deadline(self) -> float | None:
        if self._evicted:
            return float("-inf")
        heap = self._deadlines
        while heap and self._pending.get(heap[0][2]) is not heap[0][3]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None
