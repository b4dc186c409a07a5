"""A sans-IO SMPP 3.4 session: bytes in, events out, bytes to send; time is an argument.

One ``Session`` is one SMPP connection seen from one side (``role="esme"``, the
default, or ``role="smsc"``). It owns the protocol state of that connection: the bind
state (legality decided only by ``engine.smpp.states``), sequence numbers, the window
of outstanding requests and their deadlines, the enquire_link schedule, and the
answers the protocol requires without asking the application (enquire_link_resp,
unbind_resp, generic_nack and refusals). It never reads a clock, sleeps or touches a
socket; the asyncio transport around it does that.

Driving it
==========
::

    s = Session(window=10, response_timeout=30.0, enquire_link_interval=30.0)
    sock.write(s.send(BindTransceiver(system_id="u", password="p"), now))
    events = s.receive_data(data_from_socket, now)   # list of events (below)
    sock.write(s.data_to_send())                     # automatic answers, enquire_links
    timed_out = s.expire(now)                        # call at s.next_deadline()
    sock.write(s.data_to_send())
    unanswered = s.close(now)                        # requests never answered

- ``send(pdu, now=None, *, timeout=None, context=None) -> bytes``: the bytes of one PDU.
  A request gets the next sequence number (1..0x7FFFFFFF, wrapping, never one still
  outstanding; a sequence_number set on it is replaced) and joins the outstanding
  requests with deadline ``now + (timeout or response_timeout)``; ``context`` is any
  object of yours, handed back with its response or its timeout. A response must
  answer an outstanding request from the peer (same sequence_number). Raises
  ``ProtocolError`` for what the state forbids (``states.may_send``), for a full window,
  or for a response to nothing, and ``PduError``/``TypeError`` for what cannot be
  encoded; on any error nothing changes. ``now=None`` means the last time the session
  was given. State changes caused by your own send are not reported as events (you
  caused them); read ``state``.
- ``send_encoded(frame, now=None, *, timeout=None, context=None) -> bytes``: ``send``
  for a request encoded beforehand (batch-built submit_sm, sequence number 0): the
  session writes the sequence number into a copy and tracks it the same way; the
  frame stands for the request in the events (it is never decoded again).
- ``send_encoded_many(frames, contexts, now=None) -> list[bytes]``: the same for a batch
  of window requests of one command_id, checked once (the fast transport's pump).
- ``receive_data(data, now=None) -> list[event]``: feed bytes as they arrive.
- ``receive_pdus(items, now=None) -> list[event]``: the same for PDUs (and
  ``PduError``s) already cut and decoded by the transport's own framer;
  ``respond(sequence_number, status=0) -> bytes`` answers the peer's deliver_sm /
  data_sm without building a PDU object;
  ``receive_responses(items, now=None) -> (answered, events)`` with a fast lane that
  gives the answers to ``send_encoded_many`` as ``(context, response, sent_at)``.
- ``data_to_send() -> bytes``: the bytes the session produced by itself since the last
  call (automatic answers, refusals, generic_nack, enquire_link). Write them.
- ``expire(now) -> list[Unanswered]``: requests whose deadline passed (reason
  "timeout"), removed from the window; also sends an enquire_link when the link has
  been idle for ``enquire_link_interval`` in a bound state. A timed-out enquire_link
  means the link is dead: close the connection. ``next_deadline()`` says when to call.
- ``close(now=None) -> list[Unanswered]``: the session is CLOSED; every request still
  outstanding comes back (reason "closed", in the order they were sent): their
  outcome is unknown. Bytes already in ``data_to_send()`` stay there to be flushed.

Constructor: ``Session(role="esme", *, window=10, response_timeout=30.0,
enquire_link_interval=30.0 (None: never), max_command_length=MAX_COMMAND_LENGTH,
now=0.0, first_sequence_number=1)``.

After CLOSED (``close()``, or a fatal framing error) ``receive_data`` ignores what it is
given: the connection is being torn down, and the requests it could have answered
have been handed back by ``close()``. A bind whose response times out comes back from
``expire`` and leaves the session in BINDING: close the connection (SMSCs do not
expect a second bind on it).

Window: ``window`` bounds ``in_flight``, the outstanding requests other than the
session-management ones (enquire_link, unbind), so a full window never blocks the
keep-alive. outbind and alert_notification have no response: they are sent without
waiting, outside the window. ``can_send()`` says whether a submit_sm could be sent now.

Events (frozen, slotted dataclasses)
====================================
``RequestReceived(pdu, now)``
    a request for the application: deliver_sm, data_sm, alert_notification and outbind
    on the ESME side; binds, submit_sm, submit_multi, query_sm, cancel_sm, replace_sm,
    data_sm on the SMSC side. Answer it with ``send(pdu.response(...))`` (alert_notification
    and outbind have no response; after an outbind the ESME binds).
``ResponseReceived(request, response, sent_at, now, context)``
    the response to one of our requests (a generic_nack with its sequence number too).
``StateChanged(old, new, now)``
    caused by what the peer sent: a bind response (BOUND_* or back to OPEN), an
    outbind (OUTBOUND), an unbind (answered by the session: UNBOUND, close the
    connection), an unbind_resp (UNBOUND), an insane command_length (CLOSED).
``MalformedPdu(error, now, request=None, sent_at=None, context=None)``
    bytes that are not a valid PDU (``error`` is the ``PduError``). For a request the
    session has queued its response with ``error.status``; for an unknown command or
    a broken header, generic_nack; after a fatal error (command_length below 16 or above
    MAX_COMMAND_LENGTH) the session is CLOSED. A malformed *response* is not answered;
    when its sequence number matches one of our requests, that request is handed back
    here (``request``, ``sent_at``, ``context``) and leaves the window: its outcome is
    unknown.
``UnexpectedPdu(pdu, reason, now)``
    a valid PDU that does not fit: a request the state forbids (the session has
    refused it with ESME_RINVBNDSTS / ESME_RALYBND), a response to nothing (for example
    one arriving after its request timed out), a response of the wrong type.
``Unanswered(request, sent_at, now, context, reason)``
    from ``expire`` (reason "timeout") and ``close`` (reason "closed").
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
import struct
from typing import Any

from engine.smpp.constants import MAX_COMMAND_LENGTH, MAX_SEQUENCE_NUMBER, RESPONSE_BIT, CommandId, CommandStatus
from engine.smpp.errors import PduError, ProtocolError
from engine.smpp.pdu import PDU_CLASSES, EnquireLink, Framer, GenericNack, Pdu, Unbind, encode
from engine.smpp.states import BOUND_STATES, State, may_receive, may_send, next_state, refusal_status

__all__ = [
    "Session",
    "RequestReceived",
    "ResponseReceived",
    "StateChanged",
    "MalformedPdu",
    "UnexpectedPdu",
    "Unanswered",
    "Event",
]



@dataclass(frozen=True, slots=True)
class RequestReceived:
    pdu: Pdu
    now: float


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    request: Pdu | bytes | bytearray  # bytes: the frame given to send_encoded (a bytearray from send_encoded_many)
    response: Pdu
    sent_at: float
    now: float
    context: Any = None


@dataclass(frozen=True, slots=True)
class StateChanged:
    old: State
    new: State
    now: float


@dataclass(frozen=True, slots=True)
class MalformedPdu:
    error: PduError
    now: float
    request: Pdu | bytes | bytearray | None = None
    sent_at: float | None = None
    context: Any = None


@dataclass(frozen=True, slots=True)
class UnexpectedPdu:
    pdu: Pdu
    reason: str
    now: float


@dataclass(frozen=True, slots=True)
class Unanswered:
    request: Pdu | bytes | bytearray  # the frame given to send_encoded (a bytearray from send_encoded_many)
    sent_at: float
    now: float
    context: Any
    reason: str  # "timeout" or "closed"


Event = RequestReceived | ResponseReceived | StateChanged | MalformedPdu | UnexpectedPdu

# Requests that keep the session itself alive or end it; they never wait for window
# space, so a window full of submits cannot starve the keep-alive or the unbind.
_UNCOUNTED = frozenset({CommandId.ENQUIRE_LINK, CommandId.UNBIND})


_CID = struct.Struct(">I")
_EMPTY_RESP = struct.Struct(">IIII")
# Requests whose response body is one empty C-string (message_id unused): ``respond``.
_EMPTY_ANSWERED = frozenset({CommandId.DELIVER_SM, CommandId.DATA_SM})


class _Pending:
    __slots__ = ("request", "command_id", "sent_at", "deadline", "context", "counted", "ordered")

    def __init__(
        self, request: Pdu | bytes | bytearray, command_id: int, sent_at: float, deadline: float, context: Any,
        counted: bool,
        ordered: bool = False,
    ) -> None:
        self.request = request  # the Pdu, or the frame for send_encoded (never decoded again)
        self.command_id = command_id
        self.sent_at = sent_at
        self.deadline = deadline
        self.context = context
        self.counted = counted
        # True: sent by send_encoded_many with the default timeout, so its deadline is
        # in send order and it is found by walking the outstanding requests (in send
        # order) instead of through the deadline heap.
        self.ordered = ordered


class _OrderedPending(_Pending):
    """A request from ``send_encoded_many``: counted, ordered (class attributes: one
    object per submit_sm, so every attribute not set is time saved)."""

    __slots__ = ()
    counted = True
    ordered = True

    def __init__(self, request: bytearray, command_id: int, sent_at: float, deadline: float, context: Any) -> None:
        self.request = request
        self.command_id = command_id
        self.sent_at = sent_at
        self.deadline = deadline
        self.context = context


def _name(command_id: int) -> str:
    try:
        return CommandId(command_id).name.lower()
    except ValueError:
        return f"0x{command_id:08X}"


class Session:
    """One SMPP connection, one side of it, without I/O. See the module docstring."""

    def __init__(
        self,
        role: str = "esme",
        *,
        window: int = 10,
        response_timeout: float = 30.0,
        enquire_link_interval: float | None = 30.0,
        max_command_length: int = MAX_COMMAND_LENGTH,
        now: float = 0.0,
        first_sequence_number: int = 1,
    ) -> None:
        if role not in ("esme", "smsc"):
            raise ValueError(f"role must be 'esme' or 'smsc', got {role!r}")
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be an int >= 1, got {window!r}")
        if not response_timeout > 0:
            raise ValueError(f"response_timeout must be > 0 seconds, got {response_timeout!r}")
        if enquire_link_interval is not None and not enquire_link_interval > 0:
            raise ValueError(f"enquire_link_interval must be > 0 seconds or None, got {enquire_link_interval!r}")
        self.role = role
        self.window = window
        self.response_timeout = float(response_timeout)
        self.enquire_link_interval = enquire_link_interval
        self.state = State.OPEN
        self.bound_state: State | None = None  # the last bound state (rules 3-4 of states.py)
        self._framer = Framer(max_command_length)
        self._out = bytearray()
        self._outstanding: dict[int, _Pending] = {}  # our requests, by sequence number, in send order
        self._deadlines: list[tuple[float, int, int, _Pending]] = []  # heap; stale entries skipped
        self._heap_counter = 0
        self._peer_outstanding: dict[int, int] = {}  # peer's requests awaiting our answer: seq -> command_id
        self._in_flight = 0
        if not 1 <= first_sequence_number <= MAX_SEQUENCE_NUMBER:
            raise ValueError(f"first_sequence_number must be within 1..0x7FFFFFFF, got {first_sequence_number!r}")
        self._next_seq = first_sequence_number
        self._now = now
        self._last_activity = now
        self._keepalive_seq: int | None = None  # our own enquire_link, while outstanding
        self._ordered = 0  # outstanding requests from send_encoded_many (deadlines in send order)

    # -- introspection --------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Outstanding requests counted against the window."""
        return self._in_flight

    @property
    def outstanding(self) -> int:
        """All outstanding requests, enquire_link and unbind included."""
        return len(self._outstanding)

    @property
    def peer_outstanding(self) -> int:
        """Requests from the peer still waiting for our response."""
        return len(self._peer_outstanding)

    def outstanding_sequence_numbers(self) -> list[int]:
        return list(self._outstanding)

    @property
    def is_bound(self) -> bool:
        return self.state in BOUND_STATES

    def can_send(self, command_id: int = CommandId.SUBMIT_SM) -> bool:
        """Whether a request with this command_id could be sent now (state and window)."""
        if not may_send(self.role, self.state, command_id, self.bound_state):
            return False
        cls = PDU_CLASSES.get(command_id)  # type: ignore[call-overload]
        uncounted = command_id in _UNCOUNTED or cls is None or cls._response_class is None
        return uncounted or self._in_flight < self.window

    # -- sending ----------------------------------------------------------------

    def send(self, pdu: Pdu, now: float | None = None, *, timeout: float | None = None, context: Any = None) -> bytes:
        if now is not None:
            self._now = now
        now = self._now
        if self.state is State.CLOSED:
            raise ProtocolError(f"cannot send {_name(pdu.command_id)}: the session is closed")
        if pdu.command_id & RESPONSE_BIT:
            frame = self._send_response(pdu)
        else:
            frame = self._send_request(pdu, now, timeout, context)
        self._last_activity = now
        return frame

    def _send_request(self, pdu: Pdu, now: float, timeout: float | None, context: Any) -> bytes:
        cid = pdu.command_id
        if not may_send(self.role, self.state, cid, self.bound_state):
            raise ProtocolError(
                f"the {self.role} may not send {_name(cid)} in state {self.state.name} (SMPP 3.4 operation matrix)"
            )
        counted = cid not in _UNCOUNTED and pdu._response_class is not None
        if counted and self._in_flight >= self.window:
            raise ProtocolError(f"window full: {self._in_flight} requests outstanding, window {self.window}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        seq = self._peek_sequence()
        request = pdu if pdu.sequence_number == seq else pdu.with_sequence(seq)
        frame = encode(request)  # may raise: nothing has changed yet
        self._next_seq = 1 if seq >= MAX_SEQUENCE_NUMBER else seq + 1
        if request._response_class is None:
            # outbind and alert_notification have no response: nothing to wait for.
            self._set_state(next_state(self.state, cid), now, None)
            return frame
        self._track(seq, request, cid, now, timeout, context, counted)
        self._set_state(next_state(self.state, cid), now, None)
        return frame

    def send_encoded(
        self, frame: bytes | bytearray, now: float | None = None, *, timeout: float | None = None, context: Any = None
    ) -> bytes:
        """``send`` for a request already encoded (whatever sequence number it carries):
        the session writes the next sequence number into octets 12-15 of a copy and
        tracks it like ``send`` does (legality, window, deadline, ``context``). The frame
        is not decoded, so it must be a valid PDU; only its command_id is read. Meant for
        a fast transport that encodes submit_sm in batches (sequence number 0) before
        their turn comes; ``ResponseReceived.request`` is then this frame (bytes).
        Requests with a response only (binds, submits, enquire_link...): outbind and
        alert_notification go through ``send``.
        """
        if now is not None:
            self._now = now
        now = self._now
        if len(frame) < 16:
            raise ValueError(f"an encoded PDU has at least 16 octets, got {len(frame)}")
        cid = _CID.unpack_from(frame, 4)[0]
        if cid & RESPONSE_BIT:
            raise ProtocolError(f"send_encoded takes requests; {_name(cid)} is a response (use send)")
        if self.state is State.CLOSED:
            raise ProtocolError(f"cannot send {_name(cid)}: the session is closed")
        if not may_send(self.role, self.state, cid, self.bound_state):
            raise ProtocolError(
                f"the {self.role} may not send {_name(cid)} in state {self.state.name} (SMPP 3.4 operation matrix)"
            )
        cls = PDU_CLASSES.get(cid)
        if cls is None or cls._response_class is None:
            raise ProtocolError(f"send_encoded takes requests that have a response; {_name(cid)} has none (use send)")
        counted = cid not in _UNCOUNTED
        if counted and self._in_flight >= self.window:
            raise ProtocolError(f"window full: {self._in_flight} requests outstanding, window {self.window}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        seq = self._peek_sequence()
        out = bytearray(frame)
        _CID.pack_into(out, 12, seq)
        data = bytes(out)
        self._next_seq = 1 if seq >= MAX_SEQUENCE_NUMBER else seq + 1
        self._track(seq, data, cid, now, timeout, context, counted)
        self._set_state(next_state(self.state, cid), now, None)
        self._last_activity = now
        return data

    def send_encoded_many(self, frames: list, contexts: list, now: float | None = None) -> list[bytearray]:
        """``send_encoded`` for several requests of one command_id that count against
        the window (submit_sm, data_sm...), checked once: the fast transport's batch.
        Returns the frames with their sequence numbers (bytearrays, not copied again),
        in order. Each has the default
        ``response_timeout`` (``now`` must not go backwards between calls: these
        deadlines are kept in send order, not in the heap). All or nothing: raises
        ``ProtocolError`` if the state forbids the command or the window cannot take
        them all, ``ValueError`` for frames of mixed command_ids; nothing changes then.
        """
        if now is not None:
            self._now = now
        now = self._now
        n = len(frames)
        if n != len(contexts):
            raise ValueError(f"{n} frames but {len(contexts)} contexts")
        if not n:
            return []
        first = frames[0]
        if len(first) < 16:
            raise ValueError(f"an encoded PDU has at least 16 octets, got {len(first)}")
        cid = _CID.unpack_from(first, 4)[0]
        head = first[4:8]
        if self.state is State.CLOSED:
            raise ProtocolError(f"cannot send {_name(cid)}: the session is closed")
        if cid & RESPONSE_BIT or not may_send(self.role, self.state, cid, self.bound_state):
            raise ProtocolError(
                f"the {self.role} may not send {_name(cid)} in state {self.state.name} (SMPP 3.4 operation matrix)"
            )
        cls = PDU_CLASSES.get(cid)
        if cls is None or cls._response_class is None or cid in _UNCOUNTED:
            raise ProtocolError(f"send_encoded_many takes requests that count against the window, not {_name(cid)}")
        if self._in_flight + n > self.window:
            raise ProtocolError(
                f"window full: {self._in_flight} requests outstanding, window {self.window}, {n} more asked"
            )
        deadline = now + self.response_timeout
        outstanding = self._outstanding
        pack = _CID.pack_into
        seq = self._next_seq
        out: list[bytearray] = []
        append = out.append
        start = self._next_seq
        checked = None
        for frame, ctx in zip(frames, contexts):
            if frame is not checked and (frame[4:8] != head or len(frame) < 16):
                # Checked here rather than in a pass of its own (it costs a tenth of the
                # batch): undo this batch's entries, then refuse it whole.
                for f in out:
                    del outstanding[_CID.unpack_from(f, 12)[0]]
                self._next_seq = start
                raise ValueError("send_encoded_many takes frames of one command_id, of at least 16 octets")
            if seq in outstanding:  # only after a wrap
                self._next_seq = seq
                seq = self._peek_sequence()
            checked = frame  # a batch often repeats one frame (same text, same number)
            data = bytearray(frame)
            pack(data, 12, seq)
            outstanding[seq] = _OrderedPending(data, cid, now, deadline, ctx)
            append(data)
            seq = 1 if seq >= MAX_SEQUENCE_NUMBER else seq + 1
        self._next_seq = seq
        self._in_flight += n
        self._ordered += n
        self._last_activity = now
        return out

    def _track(
        self, seq: int, request: Pdu | bytes, cid: int, now: float, timeout: float | None, context: Any, counted: bool
    ) -> None:
        deadline = now + (self.response_timeout if timeout is None else timeout)
        pending = _Pending(request, cid, now, deadline, context, counted)
        self._outstanding[seq] = pending
        if len(self._deadlines) > 2 * len(self._outstanding) + 1024:
            # Answered requests leave stale heap entries behind an old unanswered one;
            # rebuilding bounds the heap by the outstanding requests, not the traffic.
            self._deadlines = [e for e in self._deadlines if self._outstanding.get(e[2]) is e[3]]
            heapq.heapify(self._deadlines)
        self._heap_counter += 1
        heapq.heappush(self._deadlines, (deadline, self._heap_counter, seq, pending))
        if counted:
            self._in_flight += 1

    def _peek_sequence(self) -> int:
        seq = self._next_seq
        # Never reuse a number still outstanding (possible only after a wrap).
        while seq in self._outstanding:
            seq = 1 if seq >= MAX_SEQUENCE_NUMBER else seq + 1
        return seq

    def _send_response(self, pdu: Pdu) -> bytes:
        cid, seq, status = pdu.command_id, pdu.sequence_number, pdu.command_status
        if cid == CommandId.GENERIC_NACK:
            answers = self._peer_outstanding.get(seq)
        else:
            answers = cid & ~RESPONSE_BIT
            if self._peer_outstanding.get(seq) != answers:
                raise ProtocolError(f"no {_name(answers)} from the peer with sequence_number {seq} awaits an answer")
        if not may_send(self.role, self.state, cid, self.bound_state, refusal=status != 0):
            raise ProtocolError(
                f"the {self.role} may not send {_name(cid)} in state {self.state.name} (SMPP 3.4 operation matrix)"
            )
        frame = encode(pdu)
        self._peer_outstanding.pop(seq, None)
        self._set_state(next_state(self.state, cid, status, answers), self._now, None)
        return frame

    def respond(self, sequence_number: int, status: int = 0) -> bytes:
        """The answer to the peer's deliver_sm / data_sm ``sequence_number``: its response
        with ``status`` and an empty message_id, without building a PDU object (one goes
        out per receipt). Same rules as ``send(pdu.response(...))``: it must be
        outstanding, and the matrix must allow the response in this state
        (``ProtocolError`` otherwise; nothing changes then)."""
        cid = self._peer_outstanding.get(sequence_number)
        if cid not in _EMPTY_ANSWERED:
            raise ProtocolError(
                f"no deliver_sm or data_sm from the peer with sequence_number {sequence_number} awaits an answer"
            )
        resp_id = cid | RESPONSE_BIT
        if self.state is State.CLOSED or not may_send(
            self.role, self.state, resp_id, self.bound_state, refusal=status != 0
        ):
            raise ProtocolError(
                f"the {self.role} may not send {_name(resp_id)} in state {self.state.name} (SMPP 3.4 operation matrix)"
            )
        del self._peer_outstanding[sequence_number]
        self._last_activity = self._now
        return _EMPTY_RESP.pack(17, resp_id, status, sequence_number) + b"\0"

    def respond_many(self, answers: list[tuple[int, int]]) -> tuple[bytes, list[tuple[int, int, str]]]:
        """``respond`` for several ``(sequence_number, status)`` at once: the answers that
        may go, as one bytes, and ``(sequence_number, status, reason)`` for each that may
        not (``respond`` would have raised ProtocolError for it; nothing changed for it)."""
        out = bytearray()
        refused: list[tuple[int, int, str]] = []
        peer = self._peer_outstanding
        pack = _EMPTY_RESP.pack
        last: tuple | None = None
        allowed = False
        for seq, status in answers:
            cid = peer.get(seq)
            if cid not in _EMPTY_ANSWERED:
                refused.append((seq, status, f"no deliver_sm or data_sm from the peer with sequence_number {seq} "
                                             "awaits an answer"))
                continue
            resp_id = cid | RESPONSE_BIT
            key = (resp_id, status != 0)
            if key != last:
                last = key
                allowed = self.state is not State.CLOSED and may_send(
                    self.role, self.state, resp_id, self.bound_state, refusal=status != 0)
            if not allowed:
                refused.append((seq, status, f"the {self.role} may not send {_name(resp_id)} in state "
                                             f"{self.state.name} (SMPP 3.4 operation matrix)"))
                continue
            del peer[seq]
            out += pack(17, resp_id, status, seq)
            out.append(0)
        if out:
            self._last_activity = self._now
        return bytes(out), refused

    def unbind(self, now: float | None = None, *, timeout: float | None = None) -> bytes:
        """Send unbind (the transport should drain the window first)."""
        return self.send(Unbind(), now, timeout=timeout)

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def _queue(self, pdu: Pdu) -> None:
        self._out += encode(pdu)
        self._last_activity = self._now

    # -- receiving --------------------------------------------------------------

    def receive_data(self, data: bytes, now: float | None = None) -> list:
        if now is not None:
            self._now = now
        now = self._now
        if self.state is State.CLOSED:
            return []
        return self._receive(self._framer.feed(data), now)

    def receive_pdus(self, items: list, now: float | None = None) -> list:
        """``receive_data`` for a transport that cuts and decodes the stream itself (one
        Rust call per chunk, ``engine.smpp._native.Framer``): ``items`` are the PDUs and
        ``PduError``s it produced, in order. Same events, same automatic answers."""
        if now is not None:
            self._now = now
        if self.state is State.CLOSED:
            return []
        return self._receive(items, self._now)

    def receive_responses(self, items: list, now: float | None = None) -> tuple[list, list]:
        """``receive_pdus`` with a fast lane for the answers to ``send_encoded_many``:
        returns ``(answered, events)``. ``answered`` holds ``(context, response,
        sent_at)`` for each response of the right type to one of those requests (a
        submit_sm_resp with any status, throttling included), in arrival order, instead
        of a ``ResponseReceived`` each; ``events`` the events of everything else, from
        the same rules, in order. The state's legality is still asked of
        ``engine.smpp.states`` (once per state and command_id of the chunk)."""
        return self._receive_fast(items, now, None)

    def receive_many(self, items: list, now: float | None = None) -> tuple[list, list, list]:
        """``receive_responses`` with a second fast lane, for the peer's deliver_sm /
        data_sm (receipts, MO): returns ``(answered, requests, events)``. ``requests``
        holds each such request the state allows, in arrival order, instead of a
        ``RequestReceived`` each (answer it with ``respond`` / ``respond_many``). A
        request's place relative to the events is not kept: the fast lanes take only
        PDUs that change no state, so nothing in ``events`` depends on them."""
        requests: list = []
        answered, events = self._receive_fast(items, now, requests)
        return answered, requests, events

    def takes_receipt_rows(self) -> bool:
        """Whether a deliver_sm from the peer is legal now and changes no state: then a
        transport may take receipts out of the stream (``Framer.feed_receipts``) and
        hand their sequence numbers to ``accept_requests``."""
        return self._takes_request(CommandId.DELIVER_SM)

    def _takes_request(self, command_id: int) -> bool:
        """A deliver_sm / data_sm is legal from the peer now and changes no state."""
        st = self.state
        return st is not State.CLOSED and command_id in _EMPTY_ANSWERED and \
            may_receive(self.role, st, command_id, self.bound_state) and next_state(st, command_id) is st

    def accept_requests(self, command_id: int, seqs: list[int], now: float | None = None) -> bool:
        """deliver_sm / data_sm the transport took out of the stream itself (before the
        PDUs it passes to ``receive_many`` for the same chunk): each is owed an answer
        (``respond`` / ``respond_many``), as a request in ``receive_many``'s
        ``requests``. False, and nothing taken, when the state does not allow them
        (check ``takes_receipt_rows`` first)."""
        if now is not None:
            self._now = now
        if not self._takes_request(command_id):
            return False
        if seqs:
            peer = self._peer_outstanding
            for seq in seqs:
                peer[seq] = command_id
            self._last_activity = self._now
        return True

    def _receive_fast(self, items: list, now: float | None, requests: list | None) -> tuple[list, list]:
        if now is not None:
            self._now = now
        now = self._now
        answered: list = []
        events: list = []
        if self.state is State.CLOSED:
            return answered, events
        peer = self._peer_outstanding
        last_req_state: State | None = None
        last_req_cid = -1
        req_ok = False
        nreq = 0
        outstanding = self._outstanding
        append = answered.append
        # may_receive asked again only when the state or the command_id changes.
        last_state: State | None = None
        last_cid = -1
        ok = False
        n = 0
        for item in items:
            if type(item) is not PduError:
                cid = item.command_id
                if cid & RESPONSE_BIT:
                    seq = item.sequence_number
                    p = outstanding.get(seq)
                    if p is not None and p.ordered and cid == p.command_id | RESPONSE_BIT:
                        if cid != last_cid or self.state is not last_state:
                            last_cid, last_state = cid, self.state
                            ok = may_receive(self.role, last_state, cid, self.bound_state)
                        if ok:
                            del outstanding[seq]
                            n += 1
                            append((p.context, item, p.sent_at))
                            continue
                elif requests is not None and cid in _EMPTY_ANSWERED:
                    # A deliver_sm / data_sm: legal in this state, and it changes none
                    # (next_state of these is the state itself), so it needs no event.
                    if cid != last_req_cid or self.state is not last_req_state:
                        last_req_cid, last_req_state = cid, self.state
                        req_ok = may_receive(self.role, last_req_state, cid, self.bound_state) and \
                            next_state(last_req_state, cid) is last_req_state
                    if req_ok:
                        peer[item.sequence_number] = cid
                        requests.append(item)
                        nreq += 1
                        continue
            events += self._receive((item,), now)
            if self.state is State.CLOSED:
                break
        if n:
            self._in_flight -= n
            self._ordered -= n
            self._last_activity = now
        elif nreq:
            self._last_activity = now
        return answered, events

    def _receive(self, items: Any, now: float) -> list:
        events: list = []
        for item in items:
            if self.state is State.CLOSED:
                break
            if isinstance(item, PduError):
                self._on_malformed(item, now, events)
                continue
            self._last_activity = now
            if item.command_id & RESPONSE_BIT:
                self._on_response(item, now, events)
            else:
                self._on_request(item, now, events)
        return events

    def _on_request(self, pdu: Pdu, now: float, events: list) -> None:
        cid, seq = pdu.command_id, pdu.sequence_number
        if not may_receive(self.role, self.state, cid, self.bound_state):
            status = refusal_status(self.state, cid)
            self._refuse(cid, seq, status)
            events.append(
                UnexpectedPdu(
                    pdu, f"{_name(cid)} is not legal from the peer in state {self.state.name}; refused", now
                )
            )
            return
        if cid == CommandId.ENQUIRE_LINK:
            self._queue(pdu.response())
            return
        self._set_state(next_state(self.state, cid), now, events)
        if cid == CommandId.UNBIND:
            self._queue(pdu.response())
            self._set_state(next_state(self.state, CommandId.UNBIND_RESP), now, events)
            return
        if pdu._response_class is not None:
            self._peer_outstanding[seq] = cid
        events.append(RequestReceived(pdu, now))

    def _refuse(self, cid: int, seq: int, status: int) -> None:
        cls = PDU_CLASSES.get(cid)  # type: ignore[call-overload]
        resp = getattr(cls, "_response_class", None)
        self._queue(resp(command_status=status, sequence_number=seq) if resp else GenericNack(command_status=status, sequence_number=seq))

    def _on_response(self, pdu: Pdu, now: float, events: list) -> None:
        cid, seq = pdu.command_id, pdu.sequence_number
        pending = self._outstanding.get(seq)
        if pending is None:
            events.append(UnexpectedPdu(pdu, f"no request of ours with sequence_number {seq} is outstanding", now))
            return
        answers = pending.command_id
        if cid != CommandId.GENERIC_NACK and cid != answers | RESPONSE_BIT:
            events.append(
                UnexpectedPdu(pdu, f"sequence_number {seq} belongs to our {_name(answers)}, not to a {_name(cid)}", now)
            )
            return
        if not may_receive(self.role, self.state, cid, self.bound_state):
            # Left outstanding: it times out and comes back as outcome unknown.
            events.append(UnexpectedPdu(pdu, f"{_name(cid)} is not legal from the peer in state {self.state.name}", now))
            return
        self._resolve(seq, pending)
        self._set_state(next_state(self.state, cid, pdu.command_status, answers), now, events)
        events.append(ResponseReceived(pending.request, pdu, pending.sent_at, now, pending.context))

    def _resolve(self, seq: int, pending: _Pending) -> None:
        del self._outstanding[seq]
        if pending.counted:
            self._in_flight -= 1
        if pending.ordered:
            self._ordered -= 1
        if seq == self._keepalive_seq:
            self._keepalive_seq = None

    def _on_malformed(self, err: PduError, now: float, events: list) -> None:
        cid, seq = err.command_id, err.sequence_number
        if err.fatal:
            self._queue(GenericNack(command_status=err.status, sequence_number=seq or 0))
            events.append(MalformedPdu(err, now))
            self._set_state(State.CLOSED, now, events)
            return
        cls = PDU_CLASSES.get(cid) if cid is not None else None  # type: ignore[call-overload]
        if cls is not None and cid & RESPONSE_BIT:  # type: ignore[operator]
            pending = self._outstanding.get(seq)  # type: ignore[arg-type]
            if pending is not None and cid in (CommandId.GENERIC_NACK, pending.command_id | RESPONSE_BIT):
                self._resolve(seq, pending)  # type: ignore[arg-type]
                self._set_state(
                    next_state(self.state, CommandId.GENERIC_NACK, err.status, pending.command_id), now, events
                )
                events.append(MalformedPdu(err, now, pending.request, pending.sent_at, pending.context))
            else:
                events.append(MalformedPdu(err, now))
            return
        if self.state is not State.CLOSED:
            self._refuse(cid if cls is not None else CommandId.GENERIC_NACK, seq or 0, err.status)  # type: ignore[arg-type]
        events.append(MalformedPdu(err, now))

    def _set_state(self, new: State, now: float, events: list | None) -> None:
        old = self.state
        if new is old:
            return
        self.state = new
        if new in BOUND_STATES:
            self.bound_state = new
        if events is not None:
            events.append(StateChanged(old, new, now))

    # -- time -------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When ``expire`` has something to do next: a response deadline or an enquire_link."""
        heap = self._deadlines
        while heap and self._outstanding.get(heap[0][2]) is not heap[0][3]:
            heapq.heappop(heap)  # answered already
        candidates = [heap[0][0]] if heap else []
        if self._ordered:
            for p in self._outstanding.values():  # send order: the first one is due first
                if p.ordered:
                    candidates.append(p.deadline)
                    break
        due = self._keepalive_due()
        if due is not None:
            candidates.append(due)
        return min(candidates) if candidates else None

    def _keepalive_due(self) -> float | None:
        if self.enquire_link_interval is None or self._keepalive_seq is not None or self.state not in BOUND_STATES:
            return None
        return self._last_activity + self.enquire_link_interval

    def expire(self, now: float) -> list[Unanswered]:
        self._now = now
        out: list[Unanswered] = []
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, _, seq, pending = heapq.heappop(heap)
            if self._outstanding.get(seq) is not pending:
                continue
            self._resolve(seq, pending)
            out.append(Unanswered(pending.request, pending.sent_at, now, pending.context, "timeout"))
        if self._ordered:
            late = []
            for seq, pending in self._outstanding.items():  # send order = deadline order
                if pending.ordered:
                    if pending.deadline > now:
                        break
                    late.append((seq, pending))
            for seq, pending in late:
                self._resolve(seq, pending)
                out.append(Unanswered(pending.request, pending.sent_at, now, pending.context, "timeout"))
            if late and len(out) > len(late):
                out.sort(key=lambda u: u.sent_at)  # both kinds came back: in send order
        due = self._keepalive_due()
        if due is not None and due <= now and may_send(self.role, self.state, CommandId.ENQUIRE_LINK, self.bound_state):
            self._out += self._send_request(EnquireLink(), now, None, None)
            self._keepalive_seq = next(reversed(self._outstanding))
            self._last_activity = now
        return out

    def close(self, now: float | None = None) -> list[Unanswered]:
        if now is not None:
            self._now = now
        now = self._now
        out = [Unanswered(p.request, p.sent_at, now, p.context, "closed") for p in self._outstanding.values()]
        self._outstanding.clear()
        self._deadlines.clear()
        self._peer_outstanding.clear()
        self._in_flight = 0
        self._ordered = 0
        self._keepalive_seq = None
        self.state = State.CLOSED
        return out
