"""The sans-IO session: an ESME session wired to an in-memory SMSC session (no sockets)."""

from __future__ import annotations

import pytest

from engine.smpp import pdu as P
from engine.smpp.constants import MAX_SEQUENCE_NUMBER, CommandId, CommandStatus
from engine.smpp.errors import PduError, ProtocolError
from engine.smpp.pdu import Framer, decode, encode
from engine.smpp.session import (
    MalformedPdu,
    RequestReceived,
    ResponseReceived,
    Session,
    StateChanged,
    Unanswered,
    UnexpectedPdu,
)
from engine.smpp.states import State

pytestmark = pytest.mark.timeout(60)
S = CommandStatus


class ConnectionPair:
    """Two sessions joined by memory, like h11's ConnectionPair: what one side's
    send() or data_to_send() produces is fed to the other side's receive_data()."""

    def __init__(self, **kwargs):
        self.esme = Session("esme", **kwargs)
        self.smsc = Session("smsc", **kwargs)
        self.wire: list[tuple[str, bytes]] = []  # everything sent, for inspection

    def peer(self, side):
        return self.smsc if side is self.esme else self.esme

    def send(self, side, pdu, now=0.0, **kw):
        """``side`` sends ``pdu``; returns the other side's events (after automatic answers settle)."""
        data = side.send(pdu, now, **kw)
        self.wire.append(("esme" if side is self.esme else "smsc", data))
        events = self.peer(side).receive_data(data, now)
        return events + self.settle(now)[self.peer(side)]

    def settle(self, now=0.0):
        """Deliver data_to_send() both ways until both are quiet; events per receiving side."""
        got = {self.esme: [], self.smsc: []}
        for _ in range(20):
            moved = False
            for side in (self.esme, self.smsc):
                data = side.data_to_send()
                if data:
                    moved = True
                    self.wire.append(("esme" if side is self.esme else "smsc", data))
                    got[self.peer(side)] += self.peer(side).receive_data(data, now)
            if not moved:
                return got
        raise AssertionError("the sessions never went quiet")

    def bind(self, cls=P.BindTransceiver, now=0.0):
        changed, req = self.send(self.esme, cls(system_id="acme", password="pw"), now)
        assert changed.new is State.BINDING and self.smsc.state is State.BINDING
        assert isinstance(req, RequestReceived) and isinstance(req.pdu, cls)
        events = self.send(self.smsc, req.pdu.response(system_id="SMSC"), now)
        return events


def sent_pdus(pair, side_name):
    framer = Framer()
    out = []
    for who, data in pair.wire:
        if who == side_name:
            out += framer.feed(data)
    return out


# ---------------------------------------------------------------------------
# Binds


def test_bind_transceiver_both_sides_bound():
    pair = ConnectionPair()
    assert pair.esme.state is State.OPEN
    events = pair.bind()
    assert [type(e) for e in events] == [StateChanged, ResponseReceived]
    assert (events[0].old, events[0].new) == (State.BINDING, State.BOUND_TRX)
    assert isinstance(events[1].request, P.BindTransceiver) and events[1].request.sequence_number == 1
    assert events[1].response.system_id == "SMSC"
    assert pair.esme.state is State.BOUND_TRX and pair.smsc.state is State.BOUND_TRX


def test_bind_refused_goes_back_to_open():
    pair = ConnectionPair()
    _, req = pair.send(pair.esme, P.BindTransmitter(system_id="acme", password="bad"))
    assert pair.esme.state is State.BINDING
    with pytest.raises(ProtocolError, match="bind_transmitter in state BINDING"):
        pair.esme.send(P.BindTransmitter(system_id="again"))
    events = pair.send(pair.smsc, req.pdu.response(command_status=S.ESME_RINVPASWD))
    assert events[0] == StateChanged(State.BINDING, State.OPEN, 0.0)
    assert events[1].response.command_status == S.ESME_RINVPASWD
    assert pair.esme.state is State.OPEN and pair.smsc.state is State.OPEN


def test_second_bind_when_bound_is_refused_with_already_bound():
    pair = ConnectionPair()
    pair.bind()
    # A buggy ESME bypassing its session sends another bind on the wire.
    data = encode(P.BindTransmitter(sequence_number=77, system_id="x"))
    events = pair.smsc.receive_data(data, 1.0)
    assert isinstance(events[0], UnexpectedPdu)
    assert decode(pair.smsc.data_to_send()) == P.BindTransmitterResp(
        command_status=S.ESME_RALYBND, sequence_number=77
    )


def test_outbind_then_bind_receiver():
    pair = ConnectionPair()
    changed, outbind = pair.send(pair.smsc, P.Outbind(system_id="SMSC", password="pw"))
    assert changed == StateChanged(State.OPEN, State.OUTBOUND, 0.0)
    assert isinstance(outbind.pdu, P.Outbind)
    assert pair.esme.state is State.OUTBOUND and pair.smsc.state is State.OUTBOUND
    with pytest.raises(ProtocolError):
        pair.esme.send(P.BindTransmitter())  # outbind asks for a receiver
    pair.bind(P.BindReceiver)
    assert pair.esme.state is State.BOUND_RX and pair.smsc.state is State.BOUND_RX


def test_outbind_reaches_the_esme_application():
    esme = Session("esme")
    events = esme.receive_data(encode(P.Outbind(sequence_number=1, system_id="SMSC")))
    assert [type(e) for e in events] == [StateChanged, RequestReceived]
    assert events[1].pdu.system_id == "SMSC"


# ---------------------------------------------------------------------------
# Operation matrix


def test_submit_before_bind_is_a_protocol_error():
    s = Session()
    with pytest.raises(ProtocolError, match="submit_sm in state OPEN"):
        s.send(P.SubmitSm(destination_addr="1"))
    assert s.outstanding == 0


def test_receiver_cannot_submit_and_transmitter_refuses_deliver_sm():
    pair = ConnectionPair()
    pair.bind(P.BindReceiver)
    with pytest.raises(ProtocolError, match="submit_sm in state BOUND_RX"):
        pair.esme.send(P.SubmitSm())
    tx = ConnectionPair()
    tx.bind(P.BindTransmitter)
    with pytest.raises(ProtocolError, match="smsc may not send deliver_sm in state BOUND_TX"):
        tx.smsc.send(P.DeliverSm())
    events = tx.esme.receive_data(encode(P.DeliverSm(sequence_number=9)), 2.0)
    assert isinstance(events[0], UnexpectedPdu)
    assert decode(tx.esme.data_to_send()) == P.DeliverSmResp(command_status=S.ESME_RINVBNDSTS, sequence_number=9)


def test_response_to_nothing_is_refused():
    pair = ConnectionPair()
    pair.bind()
    with pytest.raises(ProtocolError, match="no deliver_sm from the peer with sequence_number 5"):
        pair.esme.send(P.DeliverSmResp(sequence_number=5))


# ---------------------------------------------------------------------------
# Window, sequence numbers, responses


def test_window_bounds_in_flight_and_responses_free_it():
    pair = ConnectionPair(window=3)
    pair.bind()
    reqs = []
    for i in range(3):
        (ev,) = pair.send(pair.esme, P.SubmitSm(destination_addr=f"{i}"), now=1.0, context=f"msg{i}")
        reqs.append(ev.pdu)
    assert pair.esme.in_flight == 3 and not pair.esme.can_send()
    with pytest.raises(ProtocolError, match="window full: 3 requests outstanding, window 3"):
        pair.esme.send(P.SubmitSm())
    # Out of order responses match their requests.
    events = pair.send(pair.smsc, reqs[2].response(message_id="c"), now=1.5)
    (resp,) = events
    assert resp.request.destination_addr == "2" and resp.response.message_id == "c"
    assert (resp.sent_at, resp.now, resp.context) == (1.0, 1.5, "msg2")
    assert pair.esme.in_flight == 2 and pair.esme.can_send()
    assert [r.sequence_number for r in reqs] == [2, 3, 4]  # 1 was the bind


def test_generic_nack_answers_its_request():
    pair = ConnectionPair()
    pair.bind()
    (ev,) = pair.send(pair.esme, P.SubmitSm())
    (resp,) = pair.send(pair.smsc, P.GenericNack(command_status=S.ESME_RINVCMDID, sequence_number=ev.pdu.sequence_number))
    assert isinstance(resp, ResponseReceived) and isinstance(resp.response, P.GenericNack)
    assert pair.esme.in_flight == 0


def test_wrong_response_type_is_unexpected_and_request_stays():
    pair = ConnectionPair()
    pair.bind()
    (ev,) = pair.send(pair.esme, P.SubmitSm())
    seq = ev.pdu.sequence_number
    events = pair.esme.receive_data(encode(P.QuerySmResp(sequence_number=seq)))
    assert isinstance(events[0], UnexpectedPdu) and "belongs to our submit_sm" in events[0].reason
    assert pair.esme.outstanding_sequence_numbers() == [seq]


def test_sequence_numbers_wrap_and_skip_outstanding():
    s = Session(window=10, first_sequence_number=MAX_SEQUENCE_NUMBER - 1, enquire_link_interval=None)
    s.state = State.BOUND_TX  # shortcut for this unit test: the bind itself is tested above
    s.bound_state = State.BOUND_TX
    seqs = [decode(s.send(P.SubmitSm())).sequence_number for _ in range(3)]
    assert seqs == [MAX_SEQUENCE_NUMBER - 1, MAX_SEQUENCE_NUMBER, 1]
    # 1 and 2.. are outstanding; wrap again onto them: they are skipped.
    s2 = Session(window=10, first_sequence_number=1, enquire_link_interval=None)
    s2.state = s2.bound_state = State.BOUND_TX
    first = decode(s2.send(P.SubmitSm())).sequence_number
    s2._next_seq = 1  # force the collision a wrap would cause
    second = decode(s2.send(P.SubmitSm())).sequence_number
    assert (first, second) == (1, 2)


def test_request_that_cannot_be_encoded_changes_nothing():
    pair = ConnectionPair()
    pair.bind()
    with pytest.raises(PduError):
        pair.esme.send(P.SubmitSm(source_addr="x" * 40))
    assert pair.esme.outstanding == 0
    (ev,) = pair.send(pair.esme, P.SubmitSm())
    assert ev.pdu.sequence_number == 2


# ---------------------------------------------------------------------------
# Time: deadlines, expiry, enquire_link


def test_response_timeout_and_late_response():
    pair = ConnectionPair(response_timeout=5.0, enquire_link_interval=None)
    pair.bind(now=0.0)
    (ev,) = pair.send(pair.esme, P.SubmitSm(), now=10.0, context="m1")
    (ev2,) = pair.send(pair.esme, P.SubmitSm(), now=11.0, timeout=1.0, context="m2")
    assert pair.esme.next_deadline() == 12.0
    assert pair.esme.expire(11.9) == []
    (gone,) = pair.esme.expire(12.0)
    assert gone == Unanswered(ev2.pdu, 11.0, 12.0, "m2", "timeout")
    assert pair.esme.next_deadline() == 15.0
    (gone,) = pair.esme.expire(20.0)
    assert gone.context == "m1" and pair.esme.in_flight == 0
    events = pair.send(pair.smsc, ev.pdu.response(message_id="late"), now=21.0)
    assert isinstance(events[0], UnexpectedPdu) and "no request of ours" in events[0].reason


def test_enquire_link_sent_when_idle_and_answered_automatically():
    pair = ConnectionPair(enquire_link_interval=30.0, response_timeout=10.0)
    pair.bind(now=0.0)
    assert pair.esme.next_deadline() == 30.0
    assert pair.esme.expire(29.0) == [] and pair.esme.data_to_send() == b""
    assert pair.esme.expire(30.0) == []
    data = pair.esme.data_to_send()
    assert decode(data) == P.EnquireLink(sequence_number=2)
    assert pair.smsc.receive_data(data, 30.5) == []  # answered by the SMSC session itself
    answer = pair.smsc.data_to_send()
    assert decode(answer) == P.EnquireLinkResp(sequence_number=2)
    (ev,) = pair.esme.receive_data(answer, 31.0)
    assert isinstance(ev.request, P.EnquireLink)
    assert pair.esme.next_deadline() == 61.0


def test_enquire_link_not_blocked_by_a_full_window_and_its_timeout_is_reported():
    pair = ConnectionPair(window=1, enquire_link_interval=5.0, response_timeout=3.0)
    pair.bind(now=0.0)
    pair.send(pair.esme, P.SubmitSm(), now=0.0, timeout=100.0)
    assert not pair.esme.can_send()
    pair.esme.expire(5.0)
    assert decode(pair.esme.data_to_send()).command_id == CommandId.ENQUIRE_LINK
    (dead,) = pair.esme.expire(8.0)
    assert isinstance(dead.request, P.EnquireLink) and dead.reason == "timeout"


# ---------------------------------------------------------------------------
# Malformed input


def test_malformed_request_answered_with_its_response_and_status():
    pair = ConnectionPair()
    pair.bind()
    bad = encode(P.SubmitSm(sequence_number=40, source_addr="A" * 20))
    bad = bad.replace(b"A" * 20 + b"\0", b"A" * 21)  # no NUL within 21 octets
    bad = len(bad).to_bytes(4, "big") + bad[4:]
    (ev,) = pair.smsc.receive_data(bad)
    assert isinstance(ev, MalformedPdu) and ev.error.status == S.ESME_RINVSRCADR
    assert decode(pair.smsc.data_to_send()) == P.SubmitSmResp(command_status=S.ESME_RINVSRCADR, sequence_number=40)
    # the session goes on
    (ev,) = pair.send(pair.esme, P.SubmitSm())
    assert isinstance(ev, RequestReceived)


def test_unknown_command_gets_generic_nack():
    s = Session("smsc")
    frame = bytes.fromhex("00000010 00000099 00000000 0000000C")
    (ev,) = s.receive_data(frame)
    assert isinstance(ev, MalformedPdu)
    assert decode(s.data_to_send()) == P.GenericNack(command_status=S.ESME_RINVCMDID, sequence_number=12)
    assert s.state is State.OPEN


def test_insane_length_nacks_and_closes():
    pair = ConnectionPair()
    pair.bind()
    pair.send(pair.esme, P.SubmitSm(), context="x")
    events = pair.esme.receive_data(bytes.fromhex("FFFFFFFF 80000004 00000000 00000002"))
    assert isinstance(events[0], MalformedPdu) and events[0].error.fatal
    assert events[1] == StateChanged(State.BOUND_TRX, State.CLOSED, 0.0)
    assert decode(pair.esme.data_to_send()) == P.GenericNack(command_status=S.ESME_RINVCMDLEN, sequence_number=2)
    assert pair.esme.receive_data(encode(P.EnquireLink(sequence_number=3))) == []
    (back,) = pair.esme.close()
    assert back.context == "x" and back.reason == "closed"


def test_malformed_response_hands_the_request_back():
    pair = ConnectionPair()
    pair.bind()
    (ev,) = pair.send(pair.esme, P.SubmitSm(), now=3.0, context="m")
    seq = ev.pdu.sequence_number
    frame = bytes.fromhex(f"00000013 80000004 00000000 {seq:08X} 616263")  # message_id without NUL
    (bad,) = pair.esme.receive_data(frame, 4.0)
    assert isinstance(bad, MalformedPdu)
    assert (bad.request.sequence_number, bad.sent_at, bad.context) == (seq, 3.0, "m")
    assert pair.esme.in_flight == 0
    assert pair.esme.data_to_send() == b""  # a response is never nacked


# ---------------------------------------------------------------------------
# Unbind and close


def test_unbind_by_esme_after_draining():
    pair = ConnectionPair()
    pair.bind()
    (dlv,) = pair.send(pair.smsc, P.DeliverSm(short_message=b"mo"))
    (ev,) = pair.send(pair.esme, P.SubmitSm())
    unbind_bytes = pair.esme.unbind(1.0)
    assert decode(unbind_bytes) == P.Unbind(sequence_number=3)
    assert pair.esme.state is State.UNBINDING
    with pytest.raises(ProtocolError, match="submit_sm in state UNBINDING"):
        pair.esme.send(P.SubmitSm())
    # Answers still flow while unbinding: the ESME answers the deliver_sm ...
    dlv_resp = pair.esme.send(dlv.pdu.response(), 1.0)
    # ... and the SMSC answers the submit_sm, then reads the unbind and answers it itself.
    submit_resp = pair.smsc.send(ev.pdu.response(message_id="m"), 1.0)
    assert [type(e) for e in pair.smsc.receive_data(dlv_resp, 1.0)] == [ResponseReceived]
    events = pair.smsc.receive_data(unbind_bytes, 1.0)
    assert events == [
        StateChanged(State.BOUND_TRX, State.UNBINDING, 1.0),
        StateChanged(State.UNBINDING, State.UNBOUND, 1.0),
    ]
    reply = pair.smsc.data_to_send()
    assert decode(reply) == P.UnbindResp(sequence_number=3)
    got = pair.esme.receive_data(submit_resp + reply, 1.5)
    assert isinstance(got[0], ResponseReceived) and got[0].response.message_id == "m"
    assert got[1] == StateChanged(State.UNBINDING, State.UNBOUND, 1.5)
    assert isinstance(got[2], ResponseReceived) and isinstance(got[2].request, P.Unbind)
    assert pair.esme.close() == []


def test_peer_unbind_with_requests_in_flight_then_close_gives_them_back():
    pair = ConnectionPair()
    pair.bind()
    for i in range(3):
        pair.send(pair.esme, P.SubmitSm(destination_addr=str(i)), now=1.0, context=i)
    events = pair.send(pair.smsc, P.Unbind(), now=2.0)
    assert events[-1] == StateChanged(State.UNBINDING, State.UNBOUND, 2.0)
    assert pair.smsc.state is State.UNBOUND
    back = pair.esme.close(3.0)
    assert [u.context for u in back] == [0, 1, 2]
    assert all(u.reason == "closed" and u.now == 3.0 for u in back)
    assert pair.esme.state is State.CLOSED
    with pytest.raises(ProtocolError, match="closed"):
        pair.esme.send(P.EnquireLink())


def test_everything_the_esme_sent_was_legal_in_a_full_conversation():
    pair = ConnectionPair(window=2, enquire_link_interval=5.0)
    pair.bind()
    (a,) = pair.send(pair.esme, P.SubmitSm(), now=1.0)
    pair.send(pair.smsc, a.pdu.response(message_id="1"), now=1.0)
    (d,) = pair.send(pair.smsc, P.DeliverSm(esm_class=4, short_message=b"id:1 stat:DELIVRD"), now=2.0)
    pair.send(pair.esme, d.pdu.response(), now=2.0)
    pair.esme.expire(10.0)
    pair.settle(10.0)
    ids = [p.command_id for p in sent_pdus(pair, "esme")]
    assert ids == [
        CommandId.BIND_TRANSCEIVER,
        CommandId.SUBMIT_SM,
        CommandId.DELIVER_SM_RESP,
        CommandId.ENQUIRE_LINK,
    ]


# ---------------------------------------------------------------------------
# Arbitrary bytes never break a session

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from .strategies import pdus  # noqa: E402


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(pdus().map(encode), st.binary(max_size=40)), max_size=8),
    st.sampled_from(["esme", "smsc"]),
    st.booleans(),
)
def test_any_bytes_give_events_and_valid_answers(chunks, role, bound):
    s = Session(role, window=5)
    if bound:
        s.state = s.bound_state = State.BOUND_TRX
    for chunk in chunks:
        events = s.receive_data(chunk, 1.0)
        assert isinstance(events, list)
        for e in events:
            assert isinstance(e, (RequestReceived, ResponseReceived, StateChanged, MalformedPdu, UnexpectedPdu))
    answers = Framer().feed(s.data_to_send())
    assert all(isinstance(a, P.Pdu) and a.is_response or isinstance(a, P.EnquireLink) for a in answers), answers
    assert s.in_flight == 0


def test_requests_without_a_response_are_not_waited_for():
    pair = ConnectionPair(window=1, response_timeout=1.0)
    pair.send(pair.smsc, P.Outbind(system_id="SMSC"))
    assert pair.smsc.outstanding == 0 and pair.smsc.next_deadline() is None
    pair.bind(P.BindReceiver)
    for _ in range(3):  # not held back by the window either
        (ev,) = pair.send(pair.smsc, P.AlertNotification(source_addr="447700900123", esme_addr="Acme"))
        assert isinstance(ev, RequestReceived) and isinstance(ev.pdu, P.AlertNotification)
    assert pair.smsc.outstanding == 0 and pair.smsc.expire(100.0) == []
    assert pair.smsc.can_send(CommandId.ALERT_NOTIFICATION)
