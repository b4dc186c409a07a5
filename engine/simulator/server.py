"""An SMSC simulator for demos, tests and benchmarks: asyncio TCP server speaking SMPP 3.4.

It accepts binds (checking credentials when given), answers submit_sm, data_sm,
submit_multi, query_sm, cancel_sm, replace_sm, enquire_link and unbind, sends delivery
receipts after a delay with a configurable mix of final states, sends MO messages on
request, and injects faults (``Faults``): throttling, queue full, failures, slow,
missing and out-of-order responses, disconnects, malformed PDUs.

It is built not to be the bottleneck of a benchmark (5-6 us of CPU per message
with its receipt in ``python -m bench e2e``, 8-10 with the Python lane below, 20 before
that): every PDU of one read is answered in one write. Without faults
(``Faults._quiet``) the submit_sm and deliver_sm_resp of a read go to the Rust lane
(``_native.SimLane``, src/sim.rs) in one call: it gives the message ids and the
submit_sm_resp, builds each receipt's deliver_sm body then (from per-state texts whose
dates change once a minute), and pops acknowledged receipts; one heap entry per read
schedules the receipts, and one more call writes a tick's worth with their sequence
numbers. Any other PDU is answered in Python between two lane calls. Without the
extension ``_data_quiet`` does the same in Python (one regular expression for the
receipt fields of a usual submit_sm). Everything, when a fault is on, takes the
general path (the full decoder, ``_data_faults``), the reference: tests/simulator and
tests/native/test_sim_lane.py hold the three to the same octets and records. query_sm
states are one octet per message id in a ring (``_STATE_SLOTS``).

``Record`` keeps what it received for test assertions: every accepted submit_sm with
its message id, duplicates (same body on the same system_id), the most responses it
ever owed a connection at once (the client's window as seen from here).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import random
import re
import struct
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from engine.smpp import _native
from engine.smpp import pdu as P
from engine.smpp.constants import CommandId, CommandStatus, EsmClass, MessageState, Tag
from engine.smpp.errors import PduError
from engine.smpp.tlv import int_tlv, str_tlv

__all__ = ["Simulator", "Faults", "Record", "SubmitRecord", "RECEIPT_STATES"]

log = logging.getLogger("engine.simulator")

_HEADER = struct.Struct(">IIII")
_HEADER_PACK = _HEADER.pack
_HEADER_UNPACK = _HEADER.unpack_from
# submit_sm_resp with an 8-character message id (the "hex" ids up to ffffffff).
_RESP8_PACK = struct.Struct(">IIII8sx").pack
_SUBMIT_SM = int(CommandId.SUBMIT_SM)
_SUBMIT_SM_RESP = int(CommandId.SUBMIT_SM_RESP)
_DELIVER_SM = int(CommandId.DELIVER_SM)
_DELIVER_SM_RESP = int(CommandId.DELIVER_SM_RESP)
# message_state of the last _STATE_SLOTS message ids, for query_sm: one octet each in
# a ring indexed by id (0: not known).
_STATE_SLOTS = 1 << 20
_STATE_MASK = _STATE_SLOTS - 1
# Message ids are numbers the Rust lane keeps in 64 bits; a start past 2**63 leaves
# no room to count (and the ring's "oldest" bound is a signed 64-bit number).
_MAX_ID_START = 2**63 - 1
_DELIVERED = int(MessageState.DELIVERED)
# submit_sm after destination_addr: esm_class, (protocol_id, priority_flag),
# schedule_delivery_time and validity_period when empty (their NUL), registered_delivery,
# (replace_if_present_flag, data_coding, sm_default_msg_id), sm_length.
_SUBMIT_HEAD = re.compile(
    rb"[^\0]{0,5}\0"  # service_type: at most 6 octets with its NUL
    rb"(..[^\0]{0,20}\0)(..[^\0]{0,20}\0)"  # source, destination: ton, npi, address (21)
    # esm_class, protocol_id, priority_flag, schedule_delivery_time "", validity_period "",
    # registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id, sm_length
    rb"(.)..\0\0(.)...(.)",
    re.S,
).match

# Final states a receipt can carry: stat word -> (message_state TLV, err code).
RECEIPT_STATES: dict[str, tuple[int, int]] = {
    "DELIVRD": (MessageState.DELIVERED, 0),
    "UNDELIV": (MessageState.UNDELIVERABLE, 1),
    "EXPIRED": (MessageState.EXPIRED, 27),
    "REJECTD": (MessageState.REJECTED, 11),
    "DELETED": (MessageState.DELETED, 0),
    "UNKNOWN": (MessageState.UNKNOWN, 255),
    "ACCEPTD": (MessageState.ACCEPTED, 0),
}
# How often due receipts are collected and written (one write per connection per tick).
_RECEIPT_TICK = 0.005
# Seconds before a refused deliver_sm is offered again (an SMSC's retry, kept short
# for tests).
_REDELIVERY_DELAY = 0.1
# The simulator's own system_id in bind responses (at most 15 characters).
SMSC_SYSTEM_ID = "SMPPSIM"


@dataclass
class Faults:
    """Faults to inject; change the fields at run time (``sim.faults.throttle_rate = 0.5``).

    Rates are fractions of submit_sm (0..1), drawn from the simulator's seeded RNG.
    """

    throttle_rate: float = 0.0  # answer ESME_RTHROTTLED (not accepted)
    queue_full_rate: float = 0.0  # answer ESME_RMSGQFUL (not accepted)
    fail_rate: float = 0.0  # answer ``fail_status`` (rejected)
    fail_status: int = CommandStatus.ESME_RSUBMITFAIL
    # Accept more than this many submit_sm per second per connection and throttle the rest.
    max_tps: float | None = None
    drop_rate: float = 0.0  # accept but never answer (the client must report "unknown")
    delay: float = 0.0  # answer every submit_sm this many seconds late
    reorder: bool = False  # answer the PDUs of one read in reverse order
    disconnect_after: int | None = None  # close a connection after it sent this many PDUs
    malformed_after: int | None = None  # after this many PDUs, send one PDU with a bad TLV length
    ignore_enquire_link: bool = False  # never answer enquire_link (a silent peer)
    # None, or whether no submit_sm fault is on (the simulator's fast path): reset by
    # every assignment, worked out again on the next read.
    _quiet: bool | None = field(default=None, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name != "_quiet":
            object.__setattr__(self, "_quiet", None)

    def _compute_quiet(self) -> bool:
        quiet = not (
            self.throttle_rate or self.queue_full_rate or self.fail_rate or self.max_tps is not None
            or self.drop_rate or self.delay > 0 or self.reorder
            or self.disconnect_after is not None or self.malformed_after is not None
        )
        object.__setattr__(self, "_quiet", quiet)
        return quiet


@dataclass(slots=True)
class SubmitRecord:
    message_id: str
    system_id: str
    connection: int
    body: bytes = field(repr=False)
    received_at: float = 0.0
    answered: bool = True  # False when the response was dropped on purpose

    @property
    def pdu(self) -> P.SubmitSm:
        return P.decode(_HEADER.pack(16 + len(self.body), _SUBMIT_SM, 0, 0) + self.body)  # type: ignore[return-value]

    @property
    def short_message(self) -> bytes:
        return self.pdu.payload

    @property
    def destination(self) -> str:
        return self.pdu.destination_addr


@dataclass
class Record:
    """What the simulator saw (``Simulator(record=False)`` keeps only the counters)."""

    submits: list[SubmitRecord] = field(default_factory=list)
    submit_count: int = 0
    duplicates: int = 0
    throttled: int = 0
    rejected: int = 0
    dropped: int = 0
    binds: list[tuple[str, str]] = field(default_factory=list)  # (system_id, bind type)
    bind_failures: int = 0
    unbinds: int = 0
    enquire_links: int = 0
    receipts_sent: int = 0  # redeliveries included
    receipts_acked: int = 0
    receipts_refused: int = 0  # answered with an error status: offered again
    receipt_refusal_statuses: Counter = field(default_factory=Counter)
    mo_sent: int = 0  # redeliveries included
    mo_acked: int = 0
    mo_refused: int = 0  # answered with an error status: offered again
    # Every deliver_sm_resp / data_sm_resp by command_status (answers to PDUs it did not
    # track included, e.g. to the malformed deliver_sm of Faults.malformed_after).
    deliver_resp_statuses: Counter = field(default_factory=Counter)
    max_outstanding: int = 0
    disconnects: int = 0
    generic_nacks_received: int = 0
    other: Counter = field(default_factory=Counter)
    _seen: dict[tuple[str, bytes], int] = field(default_factory=dict, repr=False)

    def ids(self) -> list[str]:
        return [s.message_id for s in self.submits]


class _Conn(asyncio.Protocol):
    """One ESME connection."""

    def __init__(self, sim: Simulator, cid: int) -> None:
        self.sim = sim
        self.id = cid
        self.transport: asyncio.Transport | None = None
        # Cuts each read in one Rust call (pure Python without the extension); with
        # the lane, into frames it keeps (no bytes object per PDU).
        self.framer: Any = _native.SimReader() if sim._lane is not None else _native.Framer()
        self.system_id: str | None = None
        self.bind_type: str | None = None
        self.pdus = 0
        self.outstanding = 0
        self.tps_second = 0
        self.tps_count = 0
        self.seq = 0
        # deliver_sm written and not yet acknowledged, by sequence number: receipts as
        # their item (see Simulator._receipt_item), MO as ("mo", item, frame).
        self.unacked_receipts: dict[int, tuple] = {}
        self.unacked: dict[int, tuple[str, Any, bytes]] = {}
        self.closed = False
        self.unbound = False
        self.peer = ""

    # -- asyncio --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = str(transport.get_extra_info("peername"))
        self.sim._conns[self.id] = self

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.sim._conns.pop(self.id, None)
        # Receipts and MO the ESME never acknowledged go back to the queue for its next
        # bind (an SMSC keeps what it could not deliver).
        for item in self.unacked_receipts.values():
            self.sim._requeue(self.system_id or "", "receipt", item, b"")
        self.unacked_receipts.clear()
        for kind, item, data in self.unacked.values():
            self.sim._requeue(self.system_id or "", kind, item, data)
        self.unacked.clear()

    @property
    def can_receive(self) -> bool:
        return self.bind_type in ("rx", "trx")

    def next_seq(self) -> int:
        self.seq = self.seq + 1 if self.seq < 0x7FFFFFFF else 1
        return self.seq

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.sim.record.disconnects += 1
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        """Answer the PDUs of one read in one write.

        Without faults (the common case) submit_sm and deliver_sm_resp take the Rust
        lane (``_data_lane``), or ``_data_quiet`` without the extension; both give the
        same octets and records as ``_data_faults`` with every fault off
        (tests/simulator and tests/native/test_sim_lane.py check it).
        """
        sim = self.sim
        faults = sim.faults
        quiet = faults._quiet
        if quiet is None:
            quiet = faults._compute_quiet()
        framer = self.framer
        if quiet and sim._lane is not None and type(framer) is _native.SimReader:
            self._data_lane(data)
            return
        frames: list[Any] = framer.feed_frames(data)
        if not quiet:
            self._data_faults(frames)
        else:
            self._data_quiet(frames)

    def _data_lane(self, data: bytes) -> None:
        """The no-fault read in Rust (``_native.SimLane.run``): it answers the
        submit_sm and deliver_sm_resp and builds the receipts, and stops at any other
        PDU, which ``_other`` (or ``_deliver_resp`` for an error status) answers here
        before the lane goes on."""
        sim = self.sim
        rec = sim.record
        lane = sim._lane
        reader = self.framer
        self.pdus += reader.load(data)
        out: list[bytes] = []
        items: list[tuple] | None = None
        random_ = None
        if sim.receipt_delay is not None:
            items = []
            templates = sim._receipt_templates()
            if templates is not sim._lane_templates:
                sim._lane_set_templates(templates)
            if sim._single_state is None:
                random_ = sim._random.random
        recorded: list[tuple[bytes, bytes]] | None = [] if sim.recording else None
        receipts = self.unacked_receipts
        unacked = self.unacked
        submits = acked = receipts_acked = others_acked = 0
        while True:
            frame, sim._ids, k, a, ra, oa = lane.run(
                reader, sim._ids, self.bind_type == "tx" or self.bind_type == "trx", self.system_id or "",
                items, receipts, unacked, out, recorded, random_)
            submits += k
            acked += a
            receipts_acked += ra
            others_acked += oa
            if recorded:
                now = time.monotonic()
                for mid, submitted in recorded:
                    self._record_submit(mid.decode("ascii"), submitted, True, now)
                recorded.clear()
            if frame is None:
                break
            length, cid, status, seq = _HEADER_UNPACK(frame)
            if cid == _DELIVER_SM_RESP and status and (length == 16 or (length == 17 and not frame[16])):
                rec.other["DeliverSmResp"] += 1
                self._deliver_resp(status, seq)
                continue
            resp = self._other(frame, cid, seq)
            if resp is not None:
                out.append(resp)
            if self.unbound:
                break
        if acked:
            rec.deliver_resp_statuses[0] += acked
            rec.other["DeliverSmResp"] += acked
            rec.receipts_acked += receipts_acked
            rec.mo_acked += others_acked
        if submits:
            rec.submit_count += submits
            # Responses owed right now: the client cannot have more than its window
            # outstanding, and it has at least these.
            if self.outstanding + submits > rec.max_outstanding:
                rec.max_outstanding = self.outstanding + submits
        if items:
            sim._push_receipts(items, time.monotonic())
        # A fatal framing error ends the read (after the frames before it).
        self._end_read(out, reader.take_fatal())

    def _data_quiet(self, frames: list[Any]) -> None:
        """The no-fault read in Python (without the extension): a submit_sm's receipt
        fields are read by slicing when its body is the usual one (no TLVs, empty
        schedule_delivery_time and validity_period), else by the full decoder, and its
        receipt is built then; a deliver_sm_resp is read from its header."""
        sim = self.sim
        rec = sim.record
        out: list[bytes] = []
        items: list[tuple] = []
        can_submit = self.bind_type == "tx" or self.bind_type == "trx"
        receipts = sim.receipt_delay is not None
        if receipts:
            templates = sim._receipt_templates()
            single = sim._single_state
            single_t = templates[single] if single else None
        recording = sim.recording
        system_id = self.system_id or ""
        n0 = n = marked = sim._ids
        fmt = sim._id_fmt
        limit8 = 0xFFFFFFFF if sim.id_format == "hex" else -1  # ids of 8 hex digits
        acked = not_receipts = others = 0
        receipt_pop = self.unacked_receipts.pop
        self.pdus += len(frames)
        # A fatal framing error can only be the last item.
        bad = frames.pop() if frames and type(frames[-1]) is not bytes else None
        for frame in frames:
            length, cid, status, seq = _HEADER_UNPACK(frame)
            if cid == _SUBMIT_SM and can_submit:
                n += 1
                mid = fmt % n
                if n <= limit8:
                    out.append(_RESP8_PACK(25, _SUBMIT_SM_RESP, 0, seq, mid))
                else:
                    out.append(_HEADER_PACK(17 + len(mid), _SUBMIT_SM_RESP, 0, seq) + mid + b"\0")
                if recording:
                    self._record_submit(mid.decode("ascii"), frame, True, time.monotonic())
                if not receipts:
                    continue
                # submit_sm body: service_type, src ton/npi/addr, dst ton/npi/addr,
                # esm_class, protocol_id, priority_flag, schedule_delivery_time,
                # validity_period, registered_delivery, replace_if_present_flag,
                # data_coding, sm_default_msg_id, sm_length, short_message, TLVs.
                # submit_sm body up to sm_length when service_type, source_addr and
                # destination_addr are within their limits and schedule_delivery_time
                # and validity_period are empty.
                m = _SUBMIT_HEAD(frame, 16)
                if m is not None:
                    src, dst, esm_b, rd_b, sml_b = m.groups()
                    s = m.end()
                    sml = sml_b[0]
                if m is None or s + sml != length or sml > 254:
                    # not the usual body: the full decoder (no receipt when it fails)
                    item = sim._receipt_item(system_id, n, mid, frame)
                    if item is not None:
                        items.append(item)
                    continue
                rd = rd_b[0] & 3
                if not rd:
                    continue
                t = single_t or templates[sim._draw_state()]
                if rd == 2 and t[0] == _DELIVERED:  # receipt on failure only
                    continue
                if esm_b[0] & 0x40 and sml:  # UDHI: the receipt quotes the text after the UDH
                    s += 1 + frame[s]
                text = frame[s : s + 20]
                lm = len(mid)
                ln = t[1] + lm + len(text)
                if ln <= 254:  # as _receipt_body
                    body = t[2] % (dst, src, ln, mid, text, lm + 1, mid)
                else:
                    body = _receipt_body(t, dst, src, mid, text)
                items.append((system_id, n, t[0], body))
            elif cid == _DELIVER_SM_RESP and ((length == 17 and not frame[16]) or length == 16):
                if status:
                    rec.other["DeliverSmResp"] += 1
                    self._deliver_resp(status, seq)
                else:
                    acked += 1
                    if receipt_pop(seq, None) is None:  # not a receipt (counted below)
                        not_receipts += 1
                        entry = self.unacked.pop(seq, None)
                        if entry is not None:
                            if entry[0] == "receipt":
                                rec.receipts_acked += 1
                            else:
                                rec.mo_acked += 1
            else:
                sim._ids = n
                if n != marked:  # a query_sm may ask about them
                    sim._mark_enroute(marked + 1, n)
                    marked = n
                resp = self._other(frame, cid, seq)
                others += sim._ids - n  # ids of data_sm / submit_multi (counted there)
                marked = n = sim._ids
                if resp is not None:
                    out.append(resp)
                if self.unbound:
                    break
                can_submit = self.bind_type == "tx" or self.bind_type == "trx"
                system_id = self.system_id or ""
        if acked:
            rec.deliver_resp_statuses[0] += acked
            rec.other["DeliverSmResp"] += acked
            rec.receipts_acked += acked - not_receipts
        if n != n0:
            sim._ids = n
            if n != marked:
                sim._mark_enroute(marked + 1, n)
            submits = n - n0 - others
            rec.submit_count += submits
            # Responses owed right now: the client cannot have more than its window
            # outstanding, and it has at least these.
            if self.outstanding + submits > rec.max_outstanding:
                rec.max_outstanding = self.outstanding + submits
            if items:
                sim._push_receipts(items, time.monotonic())
        self._end_read(out, bad)

    def _end_read(self, out: list[bytes], bad: Any) -> None:
        """The end of a no-fault read: what it answered, then the close an unbind asked
        for; or, after a fatal framing error, the generic_nack and the close."""
        if bad is not None:
            self._fatal(out, bad)
            return
        self._write(out)
        if self.unbound:
            self.close()

    def _fatal(self, out: list[bytes], err: Any) -> None:
        """A framing error (bad command_length): generic_nack, then close."""
        out.append(P.encode(P.GenericNack(sequence_number=err.sequence_number or 0, command_status=err.status)))
        self._write(out)
        self.abort()

    def _record_submit(self, mid: str, frame: bytes, answered: bool, now: float) -> None:
        sim = self.sim
        rec = sim.record
        body = frame[16:]
        system_id = self.system_id or ""
        key = (system_id, body)
        seen = rec._seen
        if key in seen:
            rec.duplicates += 1
        seen[key] = seen.get(key, 0) + 1
        rec.submits.append(SubmitRecord(mid, system_id, self.id, body, now, answered))

    # -- with faults --
    def _data_faults(self, frames: list) -> None:
        sim = self.sim
        faults = sim.faults
        out: list[bytes] = []
        delayed: list[bytes] = []
        items: list[tuple] = []
        now = time.monotonic()
        rec = sim.record
        owed = 0
        for frame in frames:
            if not isinstance(frame, bytes):  # fatal framing error
                if items:
                    sim._push_receipts(items, now)
                self._fatal(out, frame)
                return
            self.pdus += 1
            length, cid, status, seq = _HEADER_UNPACK(frame)
            if cid == _SUBMIT_SM and self.bind_type in ("tx", "trx"):
                resp = self._submit(frame, seq, now, items)
                if resp is not None:
                    # Responses owed right now: the client cannot have more than its
                    # window outstanding, and it has at least these.
                    owed += 1
                    if self.outstanding + owed > rec.max_outstanding:
                        rec.max_outstanding = self.outstanding + owed
                    if faults.delay > 0:
                        delayed.append(resp)
                    else:
                        out.append(resp)
            else:
                resp = self._other(frame, cid, seq)
                if resp is not None:
                    out.append(resp)
                if self.unbound:
                    break
            if faults.malformed_after is not None and self.pdus == faults.malformed_after:
                # A deliver_sm whose TLV length runs past the end of the body.
                bad = bytearray(P.encode(P.DeliverSm(sequence_number=self.next_seq(), source_addr="1", destination_addr="2")))
                bad += struct.pack(">HH", Tag.MESSAGE_PAYLOAD, 40) + b"xx"
                struct.pack_into(">I", bad, 0, len(bad))
                out.append(bytes(bad))
            if faults.disconnect_after is not None and self.pdus >= faults.disconnect_after:
                if items:
                    sim._push_receipts(items, now)
                self._write(out)
                self.abort()
                return
        if items:
            sim._push_receipts(items, now)
        if faults.reorder and len(out) > 1:
            out.reverse()
        self._write(out)
        if self.unbound:
            self.close()
            return
        if delayed:
            if faults.reorder:
                delayed.reverse()
            self.outstanding += len(delayed)
            sim._loop.call_later(faults.delay, self._send_delayed, delayed)

    def _send_delayed(self, resps: list[bytes]) -> None:
        if not self.closed:
            self.outstanding -= len(resps)
            self.transport.write(b"".join(resps))  # type: ignore[union-attr]

    def _write(self, out: list[bytes]) -> None:
        if out and not self.closed:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))  # type: ignore[union-attr]

    def _submit(self, frame: bytes, seq: int, now: float, items: list[tuple]) -> bytes | None:
        """One submit_sm from a transmitter with faults configured (see _data_quiet
        for the path without)."""
        sim = self.sim
        faults = sim.faults
        rec = sim.record
        rnd = sim._random.random
        status = 0
        if faults.max_tps is not None:
            second = int(now)
            if second != self.tps_second:
                self.tps_second, self.tps_count = second, 0
            self.tps_count += 1
            if self.tps_count > faults.max_tps:
                status = CommandStatus.ESME_RTHROTTLED
        if not status:
            if faults.throttle_rate and rnd() < faults.throttle_rate:
                status = CommandStatus.ESME_RTHROTTLED
            elif faults.queue_full_rate and rnd() < faults.queue_full_rate:
                status = CommandStatus.ESME_RMSGQFUL
            elif faults.fail_rate and rnd() < faults.fail_rate:
                status = faults.fail_status
        if status:
            if status in (CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL):
                rec.throttled += 1
            else:
                rec.rejected += 1
            return _HEADER_PACK(16, _SUBMIT_SM_RESP, status, seq)
        n = sim._new_id()
        mid = sim._id_fmt % n
        rec.submit_count += 1
        dropped = bool(faults.drop_rate) and rnd() < faults.drop_rate
        if sim.recording:
            self._record_submit(mid.decode("ascii"), frame, not dropped, now)
        if sim.receipt_delay is not None:
            item = sim._receipt_item(self.system_id or "", n, mid, frame)
            if item is not None:
                items.append(item)
        if dropped:
            rec.dropped += 1
            return None
        return _HEADER_PACK(17 + len(mid), _SUBMIT_SM_RESP, 0, seq) + mid + b"\0"

    # -- everything else --
    def _other(self, frame: bytes, cid: int, seq: int) -> bytes | None:
        sim = self.sim
        rec = sim.record
        try:
            pdu: Any = _native.decode(frame)
        except PduError as exc:
            rec.other["malformed"] += 1
            if exc.command_id is not None and not exc.command_id & 0x80000000 and exc.command_id in P._BY_ID:
                cls = P._BY_ID[exc.command_id]
                if cls._response_class is not None:
                    return P.encode(cls._response_class(sequence_number=seq, command_status=exc.status))
            return P.encode(P.GenericNack(sequence_number=seq, command_status=exc.status))
        rec.other[type(pdu).__name__] += 1
        if cid in (CommandId.BIND_TRANSMITTER, CommandId.BIND_RECEIVER, CommandId.BIND_TRANSCEIVER):
            return self._bind(pdu)
        if cid == CommandId.ENQUIRE_LINK:
            rec.enquire_links += 1
            if sim.faults.ignore_enquire_link:
                return None
            return P.encode(P.EnquireLinkResp(sequence_number=seq))
        if cid == CommandId.UNBIND:
            rec.unbinds += 1
            self.unbound = True  # answered, then closed after this read's responses
            return P.encode(P.UnbindResp(sequence_number=seq))
        if cid == CommandId.GENERIC_NACK:
            rec.generic_nacks_received += 1
            return None
        if cid & 0x80000000:
            if cid in (CommandId.DELIVER_SM_RESP, CommandId.DATA_SM_RESP):
                self._deliver_resp(pdu.command_status, seq)
            return None
        if self.bind_type is None:
            return self._nack_state(pdu)
        if cid == CommandId.SUBMIT_SM:  # from a receiver bind
            return self._nack_state(pdu)
        if cid == CommandId.DATA_SM:
            if self.bind_type == "rx":
                return self._nack_state(pdu)
            mid = sim._next_id()
            rec.submit_count += 1
            return P.encode(P.DataSmResp(sequence_number=seq, message_id=mid))
        if cid == CommandId.SUBMIT_MULTI:
            if self.bind_type == "rx":
                return self._nack_state(pdu)
            mid = sim._next_id()
            rec.submit_count += 1
            return P.encode(P.SubmitMultiResp(sequence_number=seq, message_id=mid))
        if cid == CommandId.QUERY_SM:
            state = sim._state_of(pdu.message_id)
            if state is None:
                return P.encode(P.QuerySmResp(sequence_number=seq, command_status=CommandStatus.ESME_RQUERYFAIL))
            return P.encode(
                P.QuerySmResp(sequence_number=seq, message_id=pdu.message_id, message_state=state, final_date="")
            )
        if cid in (CommandId.CANCEL_SM, CommandId.REPLACE_SM):
            return P.encode(pdu.response())
        return P.encode(P.GenericNack(sequence_number=seq, command_status=CommandStatus.ESME_RINVCMDID))

    def _deliver_resp(self, status: int, seq: int) -> None:
        """A deliver_sm_resp / data_sm_resp: the deliver_sm it answers is done, or
        (an error status) offered again shortly."""
        sim = self.sim
        rec = sim.record
        rec.deliver_resp_statuses[status] += 1
        item: Any = self.unacked_receipts.pop(seq, None)
        if item is not None:
            kind, data = "receipt", b""
        else:
            entry = self.unacked.pop(seq, None)
            if entry is None:
                return
            kind, item, data = entry
        if status == 0:
            if kind == "receipt":
                rec.receipts_acked += 1
            else:
                rec.mo_acked += 1
            return
        # Refused (ESME_RX_T_APPN: not stored yet): keep it and offer it again
        # shortly, as an SMSC retries.
        if kind == "receipt":
            rec.receipts_refused += 1
            rec.receipt_refusal_statuses[status] += 1
        else:
            rec.mo_refused += 1
        system_id = self.system_id or ""
        sim._requeue(system_id, kind, item, data)
        sim._loop.call_later(_REDELIVERY_DELAY, sim._flush_waiting, system_id)

    def _nack_state(self, pdu: Any) -> bytes:
        cls = type(pdu)._response_class
        if cls is None:
            return P.encode(P.GenericNack(sequence_number=pdu.sequence_number, command_status=CommandStatus.ESME_RINVBNDSTS))
        return P.encode(cls(sequence_number=pdu.sequence_number, command_status=CommandStatus.ESME_RINVBNDSTS))

    def _bind(self, pdu: Any) -> bytes:
        sim = self.sim
        kind = {CommandId.BIND_TRANSMITTER: "tx", CommandId.BIND_RECEIVER: "rx", CommandId.BIND_TRANSCEIVER: "trx"}[
            pdu.command_id
        ]
        resp_cls = type(pdu)._response_class
        status = 0
        if self.bind_type is not None:
            status = CommandStatus.ESME_RALYBND
        elif sim.users is not None:
            if pdu.system_id not in sim.users:
                status = CommandStatus.ESME_RINVSYSID
            elif sim.users[pdu.system_id] != pdu.password:
                status = CommandStatus.ESME_RINVPASWD
        if status:
            sim.record.bind_failures += 1
            return P.encode(resp_cls(sequence_number=pdu.sequence_number, command_status=status))
        self.system_id = pdu.system_id
        self.bind_type = kind
        sim.record.binds.append((pdu.system_id, kind))
        resp = P.encode(resp_cls(sequence_number=pdu.sequence_number, system_id=SMSC_SYSTEM_ID))
        if self.can_receive:
            sim._loop.call_soon(sim._flush_waiting, pdu.system_id)
        return resp

    def send_deliver(self, items: list[tuple[str, Any, bytes]]) -> None:
        """Write deliver_sm PDUs (already encoded with seq 0) and remember them until acked."""
        out = []
        for kind, item, data in items:
            seq = self.next_seq()
            buf = bytearray(data)
            struct.pack_into(">I", buf, 12, seq)
            self.unacked[seq] = (kind, item, data)
            out.append(bytes(buf))
        self._write(out)

    def send_receipts(self, items: list[tuple]) -> None:
        """Write delivery receipts (items of Simulator._receipt_item: their body is
        built) in one write and remember them until acked."""
        sim = self.sim
        if sim._lane is not None:
            data, self.seq = sim._lane.write_receipts(items, self.seq, self.unacked_receipts, sim._ids - _STATE_SLOTS)
            if items and not self.closed:
                self.transport.write(data)  # type: ignore[union-attr]
            return
        states = sim._state_ring
        oldest = sim._ids - _STATE_SLOTS
        first = self.seq + 1
        if first + len(items) > 0x80000000:  # the sequence numbers wrap: one by one
            seqs: Any = [self.next_seq() for _ in items]
        else:
            seqs = range(first, first + len(items))
            self.seq = first + len(items) - 1
        self.unacked_receipts.update(zip(seqs, items))
        out = []
        for seq, item in zip(seqs, items):
            body = item[3]
            out.append(_HEADER_PACK(16 + len(body), _DELIVER_SM, 0, seq))
            out.append(body)
            n = item[1]
            if n > oldest:
                states[n & _STATE_MASK] = item[2]
        if out and not self.closed:
            self.transport.write(b"".join(out))  # type: ignore[union-attr]


class Simulator:
    """The SMSC simulator. ``async with Simulator() as sim:`` then connect to ``sim.port``.

    users: ``{system_id: password}`` to check, or None to accept any credentials.
    id_format: "hex" (``"%08x"``) or "dec" message ids.
    receipt_delay: seconds from submit to receipt; None sends no receipts.
    receipt_states: ``{stat word: weight}``, e.g. ``{"DELIVRD": 9, "UNDELIV": 1}``.
    record: keep every submit_sm (for tests); False keeps only the counters.
    ssl: an ``ssl.SSLContext`` to serve TLS.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        users: dict[str, str] | None = None,
        id_format: str = "hex",
        receipt_delay: float | None = 0.0,
        receipt_states: dict[str, float] | None = None,
        faults: Faults | None = None,
        record: bool = True,
        seed: int = 1,
        id_start: int = 0,
        ssl: Any = None,
    ) -> None:
        if id_format not in ("hex", "dec"):
            raise ValueError(f"id_format must be hex or dec, got {id_format!r}")
        states = receipt_states or {"DELIVRD": 1.0}
        for s, w in states.items():
            if s not in RECEIPT_STATES:
                raise ValueError(f"receipt state {s!r} is not one of {', '.join(RECEIPT_STATES)}")
            if not (isinstance(w, (int, float)) and 0 <= w < math.inf):
                raise ValueError(f"weight of receipt state {s} must be a finite number >= 0, got {w!r}")
        if not any(states.values()):
            raise ValueError("receipt_states needs at least one state with a weight above 0")
        if not (isinstance(id_start, int) and 0 <= id_start <= _MAX_ID_START):
            raise ValueError(f"id_start must be an integer within 0..2**63-1, got {id_start!r}")
        self.host = host
        self.port = port
        self.users = users
        self.id_format = id_format
        self.receipt_delay = receipt_delay
        self.receipt_states = states
        self.faults = faults or Faults()
        self.recording = record
        self.ssl = ssl
        self.record = Record()
        self._random = random.Random(seed)
        self._ids = id_start
        self._id_fmt = b"%08x" if id_format == "hex" else b"%d"
        self._server: asyncio.AbstractServer | None = None
        self._conns: dict[int, _Conn] = {}
        self._conn_ids = 0
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        # (due, n, [receipt item, ...]): one entry per read that asked for receipts.
        self._receipt_heap: list[tuple[float, int, list]] = []
        self._receipt_n = 0
        self._pending_receipts: dict[str, deque] = {}
        self._pending_mo: dict[str, deque] = {}  # refused or unanswered MO: (kind, item, frame)
        self._state_ring = bytearray(_STATE_SLOTS)
        self._tick_handle: asyncio.TimerHandle | None = None
        self._stamp_second = 0
        self._stamps = ("", "")  # submit date, done date of the templates
        self._templates: dict[str, tuple[int, int, bytes, bytes]] = {}
        self._state_names = list(states)
        self._state_weights = [states[s] for s in self._state_names]
        # The state of every receipt when there is one (no draw from the RNG), else None.
        self._single_state = self._state_names[0] if len(self._state_names) == 1 else None
        # The no-fault lane in Rust (None without the extension: _Conn._data_quiet).
        # It draws receipt states as random.choices does, over these cumulative
        # weights as floats: when one of them is not exactly a float (an int weight
        # beyond 2**53), the comparisons could differ, and the Python path is kept.
        self._lane: Any = None
        self._lane_templates: dict | None = None
        cum = list(itertools.accumulate(self._state_weights))
        self._lane_cum = [] if self._single_state else [float(c) for c in cum]
        if _native.SimLane is not None and all(float(c) == c for c in cum):
            self._lane = _native.SimLane(id_format == "hex", self._state_ring)

    @property
    def receipts_enabled(self) -> bool:
        return self.receipt_delay is not None

    def _new_id(self) -> int:
        """The next message id as a number (ENROUTE from now on)."""
        n = self._ids = self._ids + 1
        self._state_ring[n & _STATE_MASK] = MessageState.ENROUTE
        return n

    def _next_id(self) -> str:
        return (self._id_fmt % self._new_id()).decode("ascii")

    def _mark_enroute(self, first: int, last: int) -> None:
        """Ids first..last were given out: ENROUTE until their receipt (if any)."""
        k = last - first + 1
        ring = self._state_ring
        if k >= _STATE_SLOTS:
            ring[:] = _ENROUTE_RUN * (_STATE_SLOTS // len(_ENROUTE_RUN))
            return
        a = first & _STATE_MASK
        b = a + k
        if b <= _STATE_SLOTS:
            ring[a:b] = _ENROUTE_RUN[:k] if k <= len(_ENROUTE_RUN) else bytes((MessageState.ENROUTE,)) * k
        else:
            ring[a:] = bytes((MessageState.ENROUTE,)) * (_STATE_SLOTS - a)
            ring[: b - _STATE_SLOTS] = bytes((MessageState.ENROUTE,)) * (b - _STATE_SLOTS)

    def _state_of(self, message_id: str) -> int | None:
        """message_state of one of our message ids (query_sm), None when unknown."""
        try:
            n = int(message_id, 16) if self.id_format == "hex" else int(message_id, 10)
        except ValueError:
            return None
        if not (self._ids - _STATE_SLOTS < n <= self._ids) or n < 0:
            return None
        if (self._id_fmt % n).decode("ascii") != message_id:  # "0a" is not our "0000000a"
            return None
        return self._state_ring[n & _STATE_MASK] or None

    # -- lifecycle --
    async def start(self) -> Simulator:
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            self._make_conn, self.host, self.port, reuse_address=True, ssl=self.ssl
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _make_conn(self) -> _Conn:
        self._conn_ids += 1
        return _Conn(self, self._conn_ids)

    async def stop(self) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        if self._server is not None:
            self._server.close()
            for c in list(self._conns.values()):
                c.abort()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        await self._server.serve_forever()  # type: ignore[union-attr]

    @property
    def connections(self) -> list[_Conn]:
        return list(self._conns.values())

    def disconnect_all(self) -> int:
        """Drop every connection now (as a crashing SMSC would). Returns how many."""
        conns = list(self._conns.values())
        for c in conns:
            c.abort()
        return len(conns)

    # -- receipts --
    def _draw_state(self) -> str:
        return self._random.choices(self._state_names, self._state_weights)[0]

    def _receipt_item(self, system_id: str, n: int, mid: bytes, frame: bytes) -> tuple | None:
        """The receipt a submit_sm asks for, decoded in full: None when it asks for none
        (or does not decode). An item is (system_id, id number, message_state, the
        deliver_sm body); the body is built now, with the submit date of now and the
        done date of now + receipt_delay, and kept for redeliveries."""
        try:
            pdu: Any = _native.decode(frame)
        except PduError:
            return None
        rd = pdu.registered_delivery & 0x03
        if rd == 0:
            return None
        t = self._receipt_templates()[self._single_state or self._draw_state()]
        if rd == 2 and t[0] == _DELIVERED:  # receipt on failure only
            return None
        # The receipt goes from the handset (the original destination) to the sender.
        dst = bytes((pdu.dest_addr_ton, pdu.dest_addr_npi)) + pdu.destination_addr.encode("latin-1") + b"\0"
        src = bytes((pdu.source_addr_ton, pdu.source_addr_npi)) + pdu.source_addr.encode("latin-1") + b"\0"
        return (system_id, n, t[0], _receipt_body(t, dst, src, mid, _text_of(pdu)[:20]))

    def _push_receipts(self, items: list[tuple], now: float) -> None:
        self._receipt_n += 1
        heapq.heappush(self._receipt_heap, (now + (self.receipt_delay or 0.0), self._receipt_n, items))
        if self._tick_handle is None:
            self._tick_handle = self._loop.call_later(max(self.receipt_delay or 0.0, 0.0) + _RECEIPT_TICK / 2, self._receipt_tick)

    def _receipt_tick(self) -> None:
        self._tick_handle = None
        now = time.monotonic()
        heap = self._receipt_heap
        due: dict[str, list] = {}
        while heap and heap[0][0] <= now:
            # The items of one entry come from one read of one bound connection:
            # one system_id.
            items = heapq.heappop(heap)[2]
            system_id = items[0][0]
            batch = due.get(system_id)
            if batch is None:
                due[system_id] = items
            else:
                batch.extend(items)
        for system_id, items in due.items():
            self._pending_receipts.setdefault(system_id, deque()).extend(items)
            self._flush_waiting(system_id)
        if heap:
            delay = max(_RECEIPT_TICK, heap[0][0] - now)
            self._tick_handle = self._loop.call_later(delay, self._receipt_tick)

    def _receipt_templates(self) -> dict[str, tuple[int, int, bytes, bytes]]:
        """stat word -> _receipt_template for a submit now (cached for a second)."""
        now = time.time()
        second = int(now)
        if second != self._stamp_second:
            self._stamp_second = second
            stamps = (_stamp(now), _stamp(now + (self.receipt_delay or 0.0)))
            if stamps != self._stamps or not self._templates:
                self._stamps = stamps
                self._templates = {s: _receipt_template(s, *stamps) for s in RECEIPT_STATES}
        return self._templates

    def _lane_set_templates(self, templates: dict[str, tuple[int, int, bytes, bytes]]) -> None:
        """Gives the lane the receipt texts of these templates (state order of
        _state_names, as the draws index them)."""
        texts = []
        for name in self._state_names:
            state, _, _, text = templates[name]
            prefix, middle, tail = text.split(b"%s")  # "id:%s ... text:%s"
            assert not tail, "the quoted text ends the receipt text"
            texts.append((state, prefix, middle))
        self._lane.set_receipts(texts, self._lane_cum)
        self._lane_templates = templates

    def _receivers(self, system_id: str) -> list[_Conn]:
        return [c for c in self._conns.values() if c.system_id == system_id and c.can_receive and not c.closed]

    def _requeue(self, system_id: str, kind: str, item: Any, data: bytes) -> None:
        """A deliver_sm that was refused or never answered: offered again later."""
        if kind == "receipt":
            self._pending_receipts.setdefault(item[0], deque()).append(item)
        else:
            self._pending_mo.setdefault(system_id, deque()).append((kind, item, data))

    def _flush_waiting(self, system_id: str) -> None:
        """Send queued receipts (and MO offered again) of this system_id to its
        receiver binds, round-robin."""
        q = self._pending_receipts.get(system_id)
        mo = self._pending_mo.get(system_id)
        if not q and not mo:
            return
        receivers = self._receivers(system_id)
        if not receivers:
            return  # kept until an rx/trx bind of this system_id appears
        if mo:
            batch = list(mo)
            mo.clear()
            self.record.mo_sent += len(batch)
            receivers[0].send_deliver(batch)
        if not q:
            return
        items = list(q)
        q.clear()
        self.record.receipts_sent += len(items)
        k = len(receivers)
        if k == 1:
            receivers[0].send_receipts(items)
            return
        for i, conn in enumerate(receivers):  # round-robin
            batch = items[i::k]
            if batch:
                conn.send_receipts(batch)

    def _receipt_pdu(self, item: tuple, seq: int = 0) -> bytes:
        """The deliver_sm of a receipt item, as send_receipts writes it."""
        return _HEADER_PACK(16 + len(item[3]), _DELIVER_SM, 0, seq) + item[3]

    # -- MO --
    def send_mo(
        self,
        source: str,
        destination: str,
        text: str,
        *,
        system_id: str | None = None,
        concat: str = "udh8",
        encoding: str = "auto",
        reverse: bool = False,
        duplicate_part: int | None = None,
    ) -> int:
        """Send an MO message (split and concatenated as needed) to a receiver bind.

        ``reverse`` sends the parts last-first; ``duplicate_part`` sends that part twice
        (index), to exercise reassembly. Returns the number of deliver_sm written;
        raises LookupError when no rx/trx bind (of ``system_id``) is connected.
        """
        from engine.client.smsc import _encoder  # the encoding facade (Rust or reference)
        from engine.smpp.tlv import Tlv, sar_tlvs

        receivers = [
            c for c in self._conns.values()
            if c.can_receive and not c.closed and (system_id is None or c.system_id == system_id)
        ]
        if not receivers:
            raise LookupError(f"no receiver bind connected{' for ' + system_id if system_id else ''}")
        enc = _encoder()(text, encoding=encoding, concat=concat)
        datas = []
        for i, part in enumerate(enc.parts):
            tlvs: tuple = ()
            if enc.sar is not None:
                tlvs = sar_tlvs(*enc.sar[i])
            body = part
            if concat == "payload":
                tlvs = (Tlv(Tag.MESSAGE_PAYLOAD, part),)
                body = b""
            pdu = P.DeliverSm(
                source_addr_ton=1, source_addr_npi=1, source_addr=source,
                dest_addr_ton=0, dest_addr_npi=1, destination_addr=destination,
                esm_class=EsmClass.UDHI if enc.udhi else 0,
                data_coding=enc.data_coding, short_message=body, tlvs=tlvs,
            )
            datas.append(("mo", (source, destination, i), P.encode(pdu)))
        if reverse:
            datas.reverse()
        if duplicate_part is not None:
            datas.append(datas[duplicate_part if not reverse else len(datas) - 1 - duplicate_part])
        self.record.mo_sent += len(datas)
        receivers[0].send_deliver(datas)
        return len(datas)

    async def wait_for(self, predicate, timeout: float = 5.0, interval: float = 0.01) -> bool:
        """Poll ``predicate(self)`` until true (test helper). Returns its last value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            await asyncio.sleep(interval)
        return bool(predicate(self))


_RECEIPT_FIXED = struct.Struct(">10B")  # see _receipt_frame
_TLV_HEADER = struct.Struct(">HH")
_ENROUTE_RUN = bytes((MessageState.ENROUTE,)) * 4096


def _stamp(t: float) -> str:
    """A receipt date (YYMMDDhhmm, local time)."""
    return time.strftime("%y%m%d%H%M", time.localtime(t))


def _receipt_template(stat: str, submit_date: str, done_date: str) -> tuple[int, int, bytes, bytes]:
    """(message_state, fixed length of the text, body template, text template) of a
    receipt with this final state and these dates; see _receipt_body.

    The body is what _receipt_frame writes: service_type "", the addresses (``%s%s``:
    destination then source, each ton, npi, C-string), esm_class 0x04, zeros,
    sm_length (``%c``), the text (``%s`` id, ``%s`` quoted text), then the TLVs
    receipted_message_id (``%c%s``: length and id, its NUL in the template) and
    message_state.
    """
    state, err = RECEIPT_STATES[stat]
    text = (
        f"id:%s sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} submit date:{submit_date} "
        f"done date:{done_date} stat:{stat} err:{err:03d} text:%s"
    ).encode("latin-1")
    fixed = len(text) - 4
    body = b"".join((
        b"\0%s%s",
        _RECEIPT_FIXED.pack(EsmClass.TYPE_DELIVERY_RECEIPT, 0, 0, 0, 0, 0, 0, 0, 0, 0)[:-1], b"%c",
        text,
        _TLV_HEADER.pack(Tag.RECEIPTED_MESSAGE_ID, 0)[:-1], b"%c%s\0",
        _TLV_HEADER.pack(Tag.MESSAGE_STATE, 1), bytes((state,)),
    ))
    return int(state), fixed, body, text


def _receipt_body(template: tuple, dst: bytes, src: bytes, mid: bytes, text: bytes) -> bytes:
    """A receipt's deliver_sm body (from the handset ``dst``, ton + npi + C-string, to
    the sender ``src``) with a template of _receipt_template; the receipt text is cut
    to 254 octets when longer. data_received inlines the first case."""
    ln = template[1] + len(mid) + len(text)
    if ln <= 254:
        return template[2] % (dst, src, ln, mid, text, len(mid) + 1, mid)
    sm = (template[3] % (mid, text))[:254]
    return b"".join((
        b"\0", dst, src,
        _RECEIPT_FIXED.pack(EsmClass.TYPE_DELIVERY_RECEIPT, 0, 0, 0, 0, 0, 0, 0, 0, len(sm)), sm,
        _TLV_HEADER.pack(Tag.RECEIPTED_MESSAGE_ID, len(mid) + 1), mid, b"\0",
        _TLV_HEADER.pack(Tag.MESSAGE_STATE, 1), bytes((template[0],)),
    ))


def _receipt_frame(src_ton: int, src_npi: int, src: str, dst_ton: int, dst_npi: int, dst: str,
                   short_message: bytes, mid: str, state: int) -> bytes:
    """A delivery receipt deliver_sm (sequence number 0), built directly.

    The generic encoder costs ~12 us per PDU, most of the simulator's work per
    receipt; this writes the same octets (tests/simulator checks it against
    ``engine.smpp.pdu.encode`` of the equivalent DeliverSm): service_type "",
    addresses, esm_class 0x04, every other field 0 or empty, then the
    receipted_message_id and message_state TLVs.
    """
    mid_raw = mid.encode("latin-1") + b"\0"
    body = b"".join((
        b"\0",  # service_type
        bytes((src_ton, src_npi)), src.encode("latin-1"), b"\0",
        bytes((dst_ton, dst_npi)), dst.encode("latin-1"), b"\0",
        # esm_class, protocol_id, priority_flag, schedule_delivery_time "", validity_period "",
        # registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id, sm_length
        _RECEIPT_FIXED.pack(EsmClass.TYPE_DELIVERY_RECEIPT, 0, 0, 0, 0, 0, 0, 0, 0, len(short_message)),
        short_message,
        _TLV_HEADER.pack(Tag.RECEIPTED_MESSAGE_ID, len(mid_raw)), mid_raw,
        _TLV_HEADER.pack(Tag.MESSAGE_STATE, 1), bytes((state,)),
    ))
    return _HEADER.pack(16 + len(body), CommandId.DELIVER_SM, 0, 0) + body


def _text_of(pdu: Any) -> bytes:
    """The message octets without their UDH (receipts quote the first 20 of them)."""
    data = pdu.payload
    if pdu.esm_class & EsmClass.UDHI and data:
        return data[1 + data[0] :]
    return data
