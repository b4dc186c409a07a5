"""A hypothesis state machine drives an ESME session against an SMSC session.

Bytes travel through two in-memory pipes that the machine delivers in arbitrary
slices (partial PDUs included), so requests, responses, unbinds and enquire_links
cross on the wire. Invariants after every step:
- in flight <= window, on both sides;
- the ESME's outstanding requests are exactly those the machine saw it send and not
  yet answered, timed out or handed back (so sequence numbers are unique among them,
  and nothing is lost or invented);
- nothing the ESME put on the wire is forbidden by the operation matrix (checked
  against the state it was in when it produced the bytes), and independently: it
  never sends an SMSC-only PDU except as a refusal, and sends submit_sm only while
  bound as a transmitter or transceiver.

Some runs use the fast transport's lane instead (``send_encoded_many`` for bursts of
pre-encoded submit_sm, and ``receive_responses`` over an outside framer): the same
invariants hold.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from engine.smpp import _native
from engine.smpp import pdu as P
from engine.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus
from engine.smpp.errors import ProtocolError
from engine.smpp.pdu import Framer, decode, encode
from engine.smpp.session import MalformedPdu, RequestReceived, ResponseReceived, Session, StateChanged
from engine.smpp.states import BOUND_STATES, State, may_send

pytestmark = pytest.mark.timeout(240)

WINDOW = 3
ESME_REQUESTS = [
    P.BindTransmitter,
    P.BindReceiver,
    P.BindTransceiver,
    P.SubmitSm,
    P.SubmitSm,
    P.SubmitSm,
    P.SubmitMulti,
    P.DataSm,
    P.QuerySm,
    P.CancelSm,
    P.ReplaceSm,
    P.EnquireLink,
    P.Unbind,
    P.DeliverSm,  # never legal for an ESME: must be refused by send()
]
SMSC_REQUESTS = [P.DeliverSm, P.DeliverSm, P.DeliverSm, P.DataSm, P.AlertNotification, P.Outbind, P.EnquireLink, P.Unbind, P.SubmitSm]
SMSC_ONLY = {
    CommandId.DELIVER_SM,
    CommandId.ALERT_NOTIFICATION,
    CommandId.OUTBIND,
    CommandId.SUBMIT_SM_RESP,
    CommandId.SUBMIT_MULTI_RESP,
    CommandId.QUERY_SM_RESP,
    CommandId.CANCEL_SM_RESP,
    CommandId.REPLACE_SM_RESP,
    CommandId.BIND_TRANSMITTER_RESP,
    CommandId.BIND_RECEIVER_RESP,
    CommandId.BIND_TRANSCEIVER_RESP,
}
_SUBMIT_FRAME = encode(P.SubmitSm())  # sequence number 0, as a fast transport queues it


def _seq(request) -> int:
    """A request's sequence number: a Pdu, or a frame from send_encoded(_many)."""
    if isinstance(request, (bytes, bytearray)):
        return struct.unpack_from(">I", request, 12)[0]
    return request.sequence_number


STATUSES = st.sampled_from([0, 0, 0, CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RINVPASWD])


class SessionMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.now = 0.0
        self.fast = False  # the fast transport's receive lane (set by start)
        self._connect()

    def _connect(self):
        self.esme = Session("esme", window=WINDOW, response_timeout=5.0, enquire_link_interval=7.0)
        self.smsc = Session("smsc", window=WINDOW, response_timeout=5.0, enquire_link_interval=None)
        self.to_smsc = bytearray()
        self.to_esme = bytearray()
        self.esme_inbox: list = []  # requests the ESME application must answer
        self.smsc_inbox: list = []
        self.model_outstanding: set[int] = set()
        self.closed = False
        self.esme_framer = _native.Framer()  # for the fast lane: the transport cuts the stream

    # -- plumbing -----------------------------------------------------------

    def _check_esme_frames(self, data: bytes, state: State, bound: State | None, *, automatic: bool) -> None:
        for pdu in Framer().feed(data):
            assert isinstance(pdu, P.Pdu), pdu
            cid, refusal = pdu.command_id, pdu.command_status != 0
            assert may_send("esme", state, cid, bound, refusal=refusal), (state, pdu)
            if cid in SMSC_ONLY:
                assert refusal, pdu
            if cid == CommandId.SUBMIT_SM:
                assert state in (State.BOUND_TX, State.BOUND_TRX)
            if automatic and not cid & RESPONSE_BIT:
                assert cid == CommandId.ENQUIRE_LINK and state in BOUND_STATES, pdu
            if not cid & RESPONSE_BIT:
                assert pdu.sequence_number not in self.model_outstanding, "sequence number reused while outstanding"
                assert 1 <= pdu.sequence_number <= 0x7FFFFFFF
                self.model_outstanding.add(pdu.sequence_number)

    def _flush_esme(self) -> None:
        data = self.esme.data_to_send()
        # Automatic bytes were produced in the state before the last receive/expire;
        # every automatic PDU is legal in that state, which the session also still
        # holds unless the same step changed it: check against the bound state then.
        self._check_esme_frames(data, self._esme_state_before, self._esme_bound_before, automatic=True)
        self.to_smsc += data
        self.to_esme += self.smsc.data_to_send()

    def _esme_events(self, events) -> None:
        for e in events:
            if isinstance(e, RequestReceived):
                if e.pdu._response_class is not None:
                    self.esme_inbox.append(e.pdu)
            elif isinstance(e, ResponseReceived):
                self.model_outstanding.discard(_seq(e.request))
            elif isinstance(e, MalformedPdu) and e.request is not None:
                self.model_outstanding.discard(_seq(e.request))

    def _remember_esme_state(self) -> None:
        self._esme_state_before = self.esme.state
        self._esme_bound_before = self.esme.bound_state

    # -- rules ----------------------------------------------------------------

    @precondition(lambda self: not self.closed)
    @rule(cls=st.sampled_from(ESME_REQUESTS), timeout=st.sampled_from([None, 1.0, 20.0]))
    def esme_sends(self, cls, timeout):
        state, bound = self.esme.state, self.esme.bound_state
        legal = may_send("esme", state, cls.command_id, bound)
        room = cls.command_id in (CommandId.ENQUIRE_LINK, CommandId.UNBIND) or self.esme.in_flight < WINDOW
        try:
            data = self.esme.send(cls(), self.now, timeout=timeout)
        except ProtocolError:
            assert not (legal and room), (state, cls)
            return
        assert legal and room, (state, cls)
        self._check_esme_frames(data, state, bound, automatic=False)
        self.to_smsc += data

    @initialize(cls=st.sampled_from([P.BindTransceiver, P.BindTransceiver, P.BindTransmitter, P.BindReceiver, None]),
                fast=st.booleans())
    def start(self, cls, fast):
        """Most runs start bound; some start from OPEN and bind (or not) by the rules."""
        self.fast = fast
        if cls is not None:
            self.bind_handshake(cls)

    @precondition(lambda self: self.esme.state is State.OPEN and not self.to_smsc and not self.to_esme)
    @rule(cls=st.sampled_from([P.BindTransmitter, P.BindReceiver, P.BindTransceiver]))
    def bind_handshake(self, cls):
        """A whole successful bind, so that most runs spend their steps bound."""
        self.esme_sends(cls, None)
        self.deliver_to_smsc(len(self.to_smsc))
        bind = next(p for p in self.smsc_inbox if isinstance(p, cls))
        self.smsc_inbox.remove(bind)
        self.to_esme += self.smsc.send(bind.response(system_id="SMSC"), self.now)
        self.deliver_to_esme(len(self.to_esme))
        assert self.esme.state in BOUND_STATES and self.smsc.state is self.esme.state

    @rule(n=st.integers(1, WINDOW + 2))
    def esme_submit_burst(self, n):
        for _ in range(n):
            self.esme_sends(P.SubmitSm, None)

    @precondition(lambda self: not self.closed)
    @rule(n=st.integers(1, WINDOW + 1))
    def esme_submit_batch(self, n):
        """The fast transport's pump: n pre-encoded submit_sm in one call, all or none."""
        state, bound = self.esme.state, self.esme.bound_state
        legal = may_send("esme", state, CommandId.SUBMIT_SM, bound)
        room = self.esme.in_flight + n <= WINDOW
        before = self.esme.outstanding
        try:
            frames = self.esme.send_encoded_many([_SUBMIT_FRAME] * n, [None] * n, self.now)
        except ProtocolError:
            assert not (legal and room), (state, n)
            assert self.esme.outstanding == before
            return
        assert legal and room, (state, n)
        assert len(frames) == n
        data = b"".join(frames)
        self._check_esme_frames(data, state, bound, automatic=False)
        self.to_smsc += data

    @precondition(lambda self: self.smsc_inbox)
    @rule(status=STATUSES)
    def smsc_answers_all(self, status):
        while self.smsc_inbox:
            self.smsc_answers(0, status, False)

    @rule(answer=st.booleans(), status=STATUSES)
    def pump(self, answer, status):
        """Deliver everything in flight both ways until both pipes are empty; with
        ``answer``, the SMSC answers every request it has read (the common path)."""
        for _ in range(10):
            if answer:
                while self.smsc_inbox:
                    self.smsc_answers(0, status, False)
            if not (self.to_smsc or self.to_esme):
                return
            if self.to_smsc:
                self.deliver_to_smsc(len(self.to_smsc))
            if self.to_esme:
                self.deliver_to_esme(len(self.to_esme))

    @precondition(lambda self: not self.closed)
    @rule(cls=st.sampled_from(SMSC_REQUESTS))
    def smsc_sends(self, cls):
        state, bound = self.smsc.state, self.smsc.bound_state
        try:
            data = self.smsc.send(cls(), self.now)
        except ProtocolError:
            assert not self.smsc.can_send(cls.command_id)
            return
        assert may_send("smsc", state, cls.command_id, bound)
        assert cls.command_id != CommandId.SUBMIT_SM  # never from an SMSC
        if cls.command_id == CommandId.DELIVER_SM:
            assert state in (State.BOUND_RX, State.BOUND_TRX)
        self.to_esme += data

    @precondition(lambda self: self.smsc_inbox and not self.closed)
    @rule(index=st.integers(0, 10), status=STATUSES, drop=st.sampled_from([False, False, False, True]))
    def smsc_answers(self, index, status, drop):
        request = self.smsc_inbox.pop(index % len(self.smsc_inbox))
        if drop:
            return  # a response the SMSC never sends: the ESME's deadline takes over
        state, bound = self.smsc.state, self.smsc.bound_state
        resp_id = request.command_id | RESPONSE_BIT
        try:
            self.to_esme += self.smsc.send(request.response(command_status=status), self.now)
        except ProtocolError:
            assert not may_send("smsc", state, resp_id, bound, refusal=status != 0)
            return
        assert may_send("smsc", state, resp_id, bound, refusal=status != 0)

    @precondition(lambda self: self.esme_inbox and not self.closed)
    @rule(index=st.integers(0, 10), status=STATUSES)
    def esme_answers(self, index, status):
        request = self.esme_inbox.pop(index % len(self.esme_inbox))
        state, bound = self.esme.state, self.esme.bound_state
        try:
            data = self.esme.send(request.response(command_status=status), self.now)
        except ProtocolError:
            assert not may_send("esme", state, request.command_id | RESPONSE_BIT, bound, refusal=status != 0)
            return
        self._check_esme_frames(data, state, bound, automatic=False)
        self.to_smsc += data

    @precondition(lambda self: self.to_smsc and not self.closed)
    @rule(size=st.integers(1, 200))
    def deliver_to_smsc(self, size):
        chunk, self.to_smsc[:] = bytes(self.to_smsc[:size]), self.to_smsc[size:]
        for e in self.smsc.receive_data(chunk, self.now):
            if isinstance(e, RequestReceived) and e.pdu._response_class is not None:
                self.smsc_inbox.append(e.pdu)
        self._remember_esme_state()
        self._flush_esme()

    @precondition(lambda self: self.to_esme and not self.closed)
    @rule(size=st.integers(1, 200))
    def deliver_to_esme(self, size):
        chunk, self.to_esme[:] = bytes(self.to_esme[:size]), self.to_esme[size:]
        self._remember_esme_state()
        if self.fast:
            answered, events = self.esme.receive_responses(self.esme_framer.feed(chunk), self.now)
            for _, response, _ in answered:
                assert response.sequence_number in self.model_outstanding
                self.model_outstanding.discard(response.sequence_number)
        else:
            events = self.esme.receive_data(chunk, self.now)
        # Automatic answers are queued as each PDU is read: check them against the
        # state the ESME was in when its last state change happened or before.
        states = [self._esme_state_before] + [e.new for e in events if isinstance(e, StateChanged)]
        data = self.esme.data_to_send()
        for pdu in Framer().feed(data):
            cid, refusal = pdu.command_id, pdu.command_status != 0
            assert any(may_send("esme", s, cid, self.esme.bound_state or self._esme_bound_before, refusal=refusal) for s in states), (states, pdu)
            if cid in SMSC_ONLY:
                assert refusal
            assert cid in (CommandId.ENQUIRE_LINK_RESP, CommandId.UNBIND_RESP, CommandId.GENERIC_NACK) or refusal, pdu
        self.to_smsc += data
        self._esme_events(events)

    @precondition(lambda self: not self.closed)
    @rule(frame=st.sampled_from(["unknown", "bad_body"]))
    def garbage_to_esme(self, frame):
        # Appended at a frame boundary, so the stream stays in sync.
        if frame == "unknown":
            self.to_esme += bytes.fromhex("00000010 00000077 00000000 00000063")
        else:
            self.to_esme += bytes.fromhex("00000013 00000005 00000000 00000064 414243")  # deliver_sm cut short

    @precondition(lambda self: not self.closed)
    @rule(dt=st.sampled_from([0.5, 2.0, 6.0]))
    def tick(self, dt):
        self.now += dt
        self._remember_esme_state()
        for gone in self.esme.expire(self.now):
            assert gone.reason == "timeout" and _seq(gone.request) in self.model_outstanding
            self.model_outstanding.discard(_seq(gone.request))
        self.smsc.expire(self.now)
        self._flush_esme()

    @rule()
    def reconnect(self):
        """The transport closes the connection and opens a new one."""
        back = self.esme.close(self.now)
        assert {_seq(u.request) for u in back} == self.model_outstanding
        assert all(u.reason == "closed" for u in back)
        assert self.esme.state is State.CLOSED and self.esme.outstanding == 0 and self.esme.next_deadline() is None
        self.smsc.close(self.now)
        self._connect()

    # -- invariants -------------------------------------------------------------

    @invariant()
    def window_respected(self):
        assert 0 <= self.esme.in_flight <= WINDOW
        assert 0 <= self.smsc.in_flight <= WINDOW

    @invariant()
    def outstanding_matches_the_model(self):
        seqs = self.esme.outstanding_sequence_numbers()
        assert len(seqs) == len(set(seqs))
        assert set(seqs) == self.model_outstanding
        assert self.esme.in_flight <= len(seqs)

    @invariant()
    def deadline_is_consistent(self):
        deadline = self.esme.next_deadline()
        if self.esme.outstanding and self.esme.state is not State.CLOSED:
            assert deadline is not None


SessionMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestSessionMachine = SessionMachine.TestCase
