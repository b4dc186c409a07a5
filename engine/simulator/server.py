"""An SMSC simulator for demos, tests and benchmarks: asyncio TCP server speaking SMPP 3.4.

It accepts binds (checking credentials when given), answers submit_sm, data_sm,
submit_multi, query_sm, cancel_sm, replace_sm, enquire_link and unbind, sends delivery
receipts after a delay with a configurable mix of final states, sends MO messages on
request, and injects faults (``Faults``): throttling, queue full, failures, slow,
missing and out-of-order responses, disconnects, malformed PDUs.

It is built not to be the bottleneck of a benchmark: every PDU of one read is
answered in one write, submit_sm_resp is written from a precomputed header, and a
submit_sm is decoded in full only when it asks for a receipt or is recorded.

``Record`` keeps what it received for test assertions: every accepted submit_sm with
its message id, duplicates (same body on the same system_id), the most responses it
ever owed a connection at once (the client's window as seen from here).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
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
_SUBMIT_SM = int(CommandId.SUBMIT_SM)
_SUBMIT_SM_RESP = int(CommandId.SUBMIT_SM_RESP)

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
        # Cuts each read in one Rust call (pure Python without the extension).
        self.framer = _native.Framer()
        self.system_id: str | None = None
        self.bind_type: str | None = None
        self.pdus = 0
        self.outstanding = 0
        self.tps_second = 0
        self.tps_count = 0
        self.seq = 0
        self.unacked: dict[int, tuple[str, Any, bytes]] = {}  # seq -> ("receipt"|"mo", item, frame)
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
        sim = self.sim
        faults = sim.faults
        out: list[bytes] = []
        delayed: list[bytes] = []
        now = time.monotonic()
        rec = sim.record
        owed = 0
        for frame in self.framer.feed_frames(data):
            if not isinstance(frame, bytes):  # fatal framing error
                out.append(P.encode(P.GenericNack(sequence_number=frame.sequence_number or 0, command_status=frame.status)))
                self._write(out)
                self.abort()
                return
            self.pdus += 1
            length, cid, status, seq = _HEADER.unpack_from(frame)
            if cid == _SUBMIT_SM and self.bind_type in ("tx", "trx"):
                resp = self._submit(frame, seq, now)
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
                self._write(out)
                self.abort()
                return
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

    # -- submit_sm: the hot path --
    def _submit(self, frame: bytes, seq: int, now: float) -> bytes | None:
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
            return _HEADER.pack(16, _SUBMIT_SM_RESP, status, seq)
        mid = sim._next_id()
        rec.submit_count += 1
        body = frame[16:]
        key = (self.system_id or "", body)
        if sim.recording:
            seen = rec._seen
            if key in seen:
                rec.duplicates += 1
            seen[key] = seen.get(key, 0) + 1
        dropped = bool(faults.drop_rate) and rnd() < faults.drop_rate
        if sim.recording:
            rec.submits.append(SubmitRecord(mid, self.system_id or "", self.id, body, now, not dropped))
        if sim.receipts_enabled:
            sim._schedule_receipt(self.system_id or "", mid, frame, now)
        if dropped:
            rec.dropped += 1
            return None
        return _resp(seq, mid)

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
                rec.deliver_resp_statuses[pdu.command_status] += 1
                item = self.unacked.pop(seq, None)
                if item is not None:
                    kind = item[0]
                    if pdu.command_status == 0:
                        if kind == "receipt":
                            rec.receipts_acked += 1
                        else:
                            rec.mo_acked += 1
                    else:
                        # Refused (ESME_RX_T_APPN: not stored yet): keep it and offer it
                        # again shortly, as an SMSC retries.
                        if kind == "receipt":
                            rec.receipts_refused += 1
                            rec.receipt_refusal_statuses[pdu.command_status] += 1
                        else:
                            rec.mo_refused += 1
                        system_id = self.system_id or ""
                        sim._requeue(system_id, kind, item[1], item[2])
                        sim._loop.call_later(_REDELIVERY_DELAY, sim._flush_waiting, system_id)
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
            state = sim._states.get(pdu.message_id)
            if state is None:
                return P.encode(P.QuerySmResp(sequence_number=seq, command_status=CommandStatus.ESME_RQUERYFAIL))
            return P.encode(
                P.QuerySmResp(sequence_number=seq, message_id=pdu.message_id, message_state=state, final_date="")
            )
        if cid in (CommandId.CANCEL_SM, CommandId.REPLACE_SM):
            return P.encode(pdu.response())
        return P.encode(P.GenericNack(sequence_number=seq, command_status=CommandStatus.ESME_RINVCMDID))

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


def _resp(seq: int, mid: str) -> bytes:
    # submit_sm_resp is header + message_id C-string: built here without the generic
    # encoder because it is a third of the simulator's per-message work under load.
    # tests/simulator checks it against engine.smpp.pdu.encode.
    body = mid.encode("latin-1") + b"\0"
    return _HEADER.pack(16 + len(body), _SUBMIT_SM_RESP, 0, seq) + body


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
            if not (isinstance(w, (int, float)) and w >= 0):
                raise ValueError(f"weight of receipt state {s} must be a number >= 0, got {w!r}")
        if not any(states.values()):
            raise ValueError("receipt_states needs at least one state with a weight above 0")
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
        self._server: asyncio.AbstractServer | None = None
        self._conns: dict[int, _Conn] = {}
        self._conn_ids = 0
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._receipt_heap: list[tuple[float, int, str, tuple]] = []
        self._receipt_n = 0
        self._pending_receipts: dict[str, deque] = {}
        self._pending_mo: dict[str, deque] = {}  # refused or unanswered MO: (kind, item, frame)
        self._states: dict[str, int] = {}
        self._tick_handle: asyncio.TimerHandle | None = None
        self._stamp_second = 0
        self._stamp = ""
        self._state_names = list(states)
        self._state_weights = [states[s] for s in self._state_names]

    @property
    def receipts_enabled(self) -> bool:
        return self.receipt_delay is not None

    def _next_id(self) -> str:
        self._ids += 1
        return f"{self._ids:08x}" if self.id_format == "hex" else str(self._ids)

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
    def _schedule_receipt(self, system_id: str, mid: str, frame: bytes, now: float) -> None:
        # registered_delivery sits after variable C-strings: a full decode is needed
        # (in Rust when the extension is built).
        try:
            pdu: Any = _native.decode(frame)
        except PduError:
            return
        rd = pdu.registered_delivery & 0x03
        if rd == 0:
            self._states[mid] = MessageState.ENROUTE if len(self._states) < 1_000_000 else 0
            return
        stat = self._random.choices(self._state_names, self._state_weights)[0] if len(self._state_names) > 1 else self._state_names[0]
        if rd == 2 and stat == "DELIVRD":  # receipt on failure only
            return
        self._receipt_n += 1
        item = (system_id, mid, stat, pdu.source_addr, pdu.destination_addr, _text_of(pdu)[:20], pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.source_addr_ton, pdu.source_addr_npi)
        heapq.heappush(self._receipt_heap, (now + (self.receipt_delay or 0.0), self._receipt_n, system_id, item))
        if self._tick_handle is None:
            self._tick_handle = self._loop.call_later(max(self.receipt_delay or 0.0, 0.0) + _RECEIPT_TICK / 2, self._receipt_tick)

    def _receipt_tick(self) -> None:
        self._tick_handle = None
        now = time.monotonic()
        heap = self._receipt_heap
        due: dict[str, list] = {}
        while heap and heap[0][0] <= now:
            _, _, system_id, item = heapq.heappop(heap)
            due.setdefault(system_id, []).append(item)
        for system_id, items in due.items():
            self._pending_receipts.setdefault(system_id, deque()).extend(items)
            self._flush_waiting(system_id)
        if heap:
            delay = max(_RECEIPT_TICK, heap[0][0] - now)
            self._tick_handle = self._loop.call_later(delay, self._receipt_tick)

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
        batches: list[list] = [[] for _ in receivers]
        i = 0
        while q:
            item = q.popleft()
            batches[i % len(receivers)].append(("receipt", item, self._receipt_pdu(item)))
            i += 1
        for conn, batch in zip(receivers, batches):
            if batch:
                self.record.receipts_sent += len(batch)
                conn.send_deliver(batch)

    def _receipt_pdu(self, item: tuple) -> bytes:
        system_id, mid, stat, src, dst, text, dton, dnpi, ston, snpi = item
        state, err = RECEIPT_STATES[stat]
        self._states[mid] = state
        now = int(time.time())
        if now != self._stamp_second:
            self._stamp_second, self._stamp = now, time.strftime("%y%m%d%H%M")
        stamp = self._stamp
        body = (
            f"id:{mid} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} submit date:{stamp} "
            f"done date:{stamp} stat:{stat} err:{err:03d} text:"
        ).encode("latin-1") + bytes(text)
        # The receipt goes from the handset (the original destination) to the sender.
        return _receipt_frame(dton, dnpi, dst, ston, snpi, src, body[:254], mid, state)

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
