"""The session's fast-transport entry points: ``send_encoded`` (a request encoded
beforehand, sequence number written by the session) and ``receive_pdus`` (PDUs cut by
the transport's own framer). Same rules as ``send``/``receive_data``; no sockets."""

from __future__ import annotations

import struct

import pytest

from engine.smpp import _native
from engine.smpp import pdu as P
from engine.smpp.constants import MAX_SEQUENCE_NUMBER, CommandStatus
from engine.smpp.errors import PduError, ProtocolError
from engine.smpp.pdu import decode, encode
from engine.smpp.session import MalformedPdu, RequestReceived, ResponseReceived, Session, StateChanged, Unanswered
from engine.smpp.states import State

pytestmark = pytest.mark.timeout(60)


def bound(window=10, **kw):
    """An ESME session bound as a transceiver through real bind/bind_resp bytes."""
    s = Session(window=window, enquire_link_interval=None, **kw)
    req = decode(s.send(P.BindTransceiver(system_id="u", password="p"), 0.0))
    events = s.receive_data(encode(P.BindTransceiverResp(sequence_number=req.sequence_number, system_id="X")), 0.0)
    assert [type(e) for e in events] == [StateChanged, ResponseReceived] and s.state is State.BOUND_TRX
    return s


def submit_frame(dest="4915112345678", text=b"hi") -> bytes:
    return encode(P.SubmitSm(destination_addr=dest, short_message=text))  # sequence number 0


def test_send_encoded_writes_the_sequence_number_and_keeps_the_rest():
    s = bound()
    frame = submit_frame()
    out = s.send_encoded(frame, 1.0, context="m1")
    assert struct.unpack_from(">I", out, 12)[0] == 2  # 1 was the bind
    assert out[:12] == frame[:12] and out[16:] == frame[16:]
    assert struct.unpack_from(">I", frame, 12)[0] == 0, "the caller's frame must not change (it may be resent)"
    assert decode(out).destination_addr == "4915112345678"
    assert s.in_flight == 1 and s.outstanding_sequence_numbers() == [2]
    (ev,) = s.receive_data(encode(P.SubmitSmResp(sequence_number=2, message_id="abc")), 1.25)
    assert isinstance(ev, ResponseReceived)
    assert ev.request == out and ev.response.message_id == "abc"
    assert (ev.sent_at, ev.now, ev.context) == (1.0, 1.25, "m1")
    assert s.in_flight == 0


def test_send_encoded_keeps_the_window_and_the_matrix():
    s = bound(window=2)
    s.send_encoded(submit_frame())
    s.send_encoded(bytearray(submit_frame()))  # a bytearray works too
    assert not s.can_send()
    with pytest.raises(ProtocolError, match="window full: 2 requests outstanding, window 2"):
        s.send_encoded(submit_frame())
    assert s.outstanding_sequence_numbers() == [2, 3]  # the refused one took no number
    # enquire_link is outside the window, as with send().
    el = s.send_encoded(encode(P.EnquireLink()))
    assert struct.unpack_from(">I", el, 12)[0] == 4 and s.in_flight == 2 and s.outstanding == 3
    # Before a bind the matrix forbids a submit_sm.
    fresh = Session()
    with pytest.raises(ProtocolError, match="may not send submit_sm in state OPEN"):
        fresh.send_encoded(submit_frame())
    assert fresh.outstanding == 0
    # A receiver may not submit.
    rx = Session(enquire_link_interval=None)
    req = decode(rx.send(P.BindReceiver(system_id="u", password="p")))
    rx.receive_data(encode(P.BindReceiverResp(sequence_number=req.sequence_number)))
    assert rx.state is State.BOUND_RX
    with pytest.raises(ProtocolError, match="may not send submit_sm in state BOUND_RX"):
        rx.send_encoded(submit_frame())


def test_send_encoded_refuses_responses_requests_without_one_and_short_frames():
    s = bound()
    with pytest.raises(ProtocolError, match="is a response"):
        s.send_encoded(encode(P.EnquireLinkResp(sequence_number=0)))
    # An SMSC's alert_notification has no response: it goes through send().
    smsc = Session("smsc", enquire_link_interval=None)
    (req,) = smsc.receive_data(encode(P.BindReceiver(system_id="u", password="p", sequence_number=1)))[-1:]
    smsc.send(req.pdu.response(system_id="X"))
    assert smsc.state is State.BOUND_RX
    with pytest.raises(ProtocolError, match="has none"):
        smsc.send_encoded(encode(P.AlertNotification(source_addr="1", esme_addr="2")))
    assert smsc.outstanding == 0
    with pytest.raises(ValueError, match="at least 16 octets, got 5"):
        s.send_encoded(b"\0" * 5)
    assert s.outstanding == 0 and s.in_flight == 0


def test_send_encoded_times_out_and_comes_back_on_close_with_its_frame():
    s = bound()
    a = s.send_encoded(submit_frame("1"), 10.0, context="a")
    b = s.send_encoded(submit_frame("2"), 11.0, timeout=100.0, context="b")
    assert s.next_deadline() == 40.0  # default response_timeout 30
    (gone,) = s.expire(40.0)
    assert isinstance(gone, Unanswered) and (gone.request, gone.context, gone.reason) == (a, "a", "timeout")
    # Its late response is unexpected, not a second outcome.
    (late,) = s.receive_data(encode(P.SubmitSmResp(sequence_number=2, message_id="x")), 41.0)
    assert late.__class__.__name__ == "UnexpectedPdu"
    (closed,) = s.close(42.0)
    assert (closed.request, closed.context, closed.reason) == (b, "b", "closed")


def test_send_encoded_sequence_numbers_wrap_and_skip_outstanding():
    s = bound(first_sequence_number=MAX_SEQUENCE_NUMBER)
    # The bind took MAX; the next wrap to 1.
    seqs = [struct.unpack_from(">I", s.send_encoded(submit_frame()), 12)[0] for _ in range(2)]
    assert seqs == [1, 2]
    s._next_seq = 1  # force the collision a wrap would cause
    assert struct.unpack_from(">I", s.send_encoded(submit_frame()), 12)[0] == 3


def test_malformed_response_to_an_encoded_request_hands_its_frame_back():
    s = bound()
    out = s.send_encoded(submit_frame(), context="m")
    bad = bytearray(encode(P.SubmitSmResp(sequence_number=2, message_id="abc")))
    bad = bad[:-1]  # message_id without its NUL
    struct.pack_into(">I", bad, 0, len(bad))
    (ev,) = s.receive_data(bytes(bad))
    assert isinstance(ev, MalformedPdu) and ev.request == out and ev.context == "m"
    assert s.in_flight == 0


def test_receive_pdus_gives_the_events_of_receive_data():
    """The native framer's PDUs through receive_pdus == the same bytes through receive_data."""
    chunk = b"".join([
        encode(P.SubmitSmResp(sequence_number=2, message_id="a1")),
        encode(P.DeliverSm(sequence_number=77, source_addr="1", destination_addr="2", esm_class=4,
                           short_message=b"id:a1 stat:DELIVRD")),
        encode(P.EnquireLink(sequence_number=78)),
        encode(P.GenericNack(sequence_number=3, command_status=CommandStatus.ESME_RTHROTTLED)),
    ])
    results = []
    for feed in ("bytes", "pdus"):
        s = bound()
        s.send_encoded(submit_frame(), 1.0, context="x")
        s.send_encoded(submit_frame(), 1.0, context="y")
        if feed == "bytes":
            events = s.receive_data(chunk, 2.0)
        else:
            events = s.receive_pdus(_native.Framer().feed(chunk), 2.0)
        results.append((events, s.data_to_send(), s.in_flight, s.peer_outstanding))
    (ev_b, out_b, fl_b, po_b), (ev_p, out_p, fl_p, po_p) = results
    assert ev_b == ev_p
    assert [type(e) for e in ev_p] == [ResponseReceived, RequestReceived, ResponseReceived]
    assert out_b == out_p == encode(P.EnquireLinkResp(sequence_number=78))
    assert fl_b == fl_p == 0 and po_b == po_p == 1
    # The deliver_sm is answered through send() with its own sequence number.
    s = bound()
    (req,) = s.receive_pdus(_native.Framer().feed(chunk[len(encode(P.SubmitSmResp(sequence_number=2, message_id="a1"))):])[:1])
    resp = s.send(req.pdu.response(command_status=CommandStatus.ESME_RX_T_APPN))
    assert decode(resp).sequence_number == 77 and decode(resp).command_status == 0x64
    assert s.peer_outstanding == 0


def test_receive_pdus_takes_errors_in_the_stream():
    s = bound()
    err = PduError("bad TLV", status=CommandStatus.ESME_RINVOPTPARSTREAM, command_id=0x00000005, sequence_number=9)
    events = s.receive_pdus([err])
    assert isinstance(events[0], MalformedPdu)
    answer = decode(s.data_to_send())
    assert (answer.command_id, answer.sequence_number, answer.command_status) == (0x80000005, 9, 0xC0)


# ---------------------------------------------------------------------------
# The batch lane: send_encoded_many / receive_responses


def test_send_encoded_many_numbers_tracks_and_the_fast_lane_answers_them():
    s = bound(window=5)
    frames = [submit_frame(str(i)) for i in range(4)]
    out = s.send_encoded_many(frames, ["a", "b", "c", "d"], 2.0)
    assert [struct.unpack_from(">I", f, 12)[0] for f in out] == [2, 3, 4, 5]
    assert [decode(f).destination_addr for f in out] == ["0", "1", "2", "3"]
    assert s.in_flight == 4 and s.can_send() and s.next_deadline() == 32.0
    with pytest.raises(ProtocolError, match="window full: 4 requests outstanding, window 5, 2 more asked"):
        s.send_encoded_many(frames[:2], [1, 2])
    assert s.in_flight == 4  # all or nothing
    chunk = b"".join([
        encode(P.SubmitSmResp(sequence_number=4, message_id="m4")),
        encode(P.EnquireLink(sequence_number=90)),
        encode(P.SubmitSmResp(sequence_number=2, command_status=CommandStatus.ESME_RTHROTTLED)),
        encode(P.SubmitSmResp(sequence_number=99, message_id="nobody")),  # answers nothing
        encode(P.GenericNack(sequence_number=3, command_status=CommandStatus.ESME_RSYSERR)),
    ])
    answered, events = s.receive_responses(_native.Framer().feed(chunk), 2.5)
    assert [(c, r.sequence_number, r.command_status, t) for c, r, t in answered] == [
        ("c", 4, 0, 2.0), ("a", 2, CommandStatus.ESME_RTHROTTLED, 2.0)]
    # Everything else took the ordinary path: the unexpected response, the generic_nack
    # for "b" (an event with its context), and enquire_link answered automatically.
    assert [type(e).__name__ for e in events] == ["UnexpectedPdu", "ResponseReceived"]
    assert events[1].context == "b" and events[1].request == out[1]
    assert decode(s.data_to_send()) == P.EnquireLinkResp(sequence_number=90)
    assert s.in_flight == 1 and s.outstanding_sequence_numbers() == [5]
    # The last one times out, found in send order (not in the heap).
    assert s.next_deadline() == 32.0
    assert s.expire(31.9) == []
    (late,) = s.expire(32.0)
    assert (late.context, late.reason, late.request) == ("d", "timeout", out[3])
    assert s.in_flight == 0 and s.next_deadline() is None


def test_send_encoded_many_refuses_what_the_matrix_or_the_batch_forbids():
    s = bound()
    with pytest.raises(ValueError, match="one command_id"):
        s.send_encoded_many([submit_frame(), encode(P.QuerySm(message_id="1"))], [1, 2])
    with pytest.raises(ProtocolError, match="count against the window, not enquire_link"):
        s.send_encoded_many([encode(P.EnquireLink())], [None])
    with pytest.raises(ValueError, match="2 frames but 1 contexts"):
        s.send_encoded_many([submit_frame(), submit_frame()], [1])
    assert s.outstanding == 0
    rx = Session(enquire_link_interval=None)
    req = decode(rx.send(P.BindReceiver(system_id="u", password="p")))
    rx.receive_data(encode(P.BindReceiverResp(sequence_number=req.sequence_number)))
    with pytest.raises(ProtocolError, match="may not send submit_sm in state BOUND_RX"):
        rx.send_encoded_many([submit_frame()], [None])
    assert s.send_encoded_many([], []) == []


def test_fast_lane_follows_the_matrix_and_close_gives_everything_back_in_order():
    s = bound()
    out = s.send_encoded_many([submit_frame("1"), submit_frame("2"), submit_frame("3")], ["x", "y", "z"], 1.0)
    el = decode(s.send(P.EnquireLink(), 1.5))
    # The peer unbinds, then a response arrives: legal in UNBOUND (states.py), answered.
    chunk = encode(P.Unbind(sequence_number=50)) + encode(P.SubmitSmResp(sequence_number=2, message_id="m"))
    answered, events = s.receive_responses(_native.Framer().feed(chunk), 2.0)
    assert [(c, r.message_id) for c, r, _ in answered] == [("x", "m")]
    assert [(type(e).__name__, e.new) for e in events] == [("StateChanged", State.UNBINDING), ("StateChanged", State.UNBOUND)]
    back = s.close(3.0)
    assert [(u.context, u.reason) for u in back] == [("y", "closed"), ("z", "closed"), (None, "closed")]
    assert back[0].request == out[1] and back[2].request.sequence_number == el.sequence_number
    assert s.in_flight == 0 and s.next_deadline() is None
    # Closed: nothing more is taken, not even a response to something handed back.
    resp = encode(P.SubmitSmResp(sequence_number=3, message_id="n"))
    assert s.receive_responses(_native.Framer().feed(resp)) == ([], [])


def test_sequence_wrap_in_a_batch_skips_outstanding_numbers():
    s = bound(first_sequence_number=MAX_SEQUENCE_NUMBER - 1)  # the bind took MAX - 1
    out = s.send_encoded_many([submit_frame()] * 3, [1, 2, 3])
    assert [struct.unpack_from(">I", f, 12)[0] for f in out] == [MAX_SEQUENCE_NUMBER, 1, 2]
    s._next_seq = 1  # force the collision a wrap would cause
    out = s.send_encoded_many([submit_frame()] * 2, [4, 5])
    assert [struct.unpack_from(">I", f, 12)[0] for f in out] == [3, 4]


def test_respond_answers_a_deliver_sm_once_with_the_bytes_send_would_give():
    s = bound()
    chunk = encode(P.DeliverSm(sequence_number=41, source_addr="1", destination_addr="2")) + encode(
        P.DataSm(sequence_number=42, source_addr="1", destination_addr="2"))
    events = s.receive_data(chunk)
    assert [type(e) for e in events] == [RequestReceived, RequestReceived] and s.peer_outstanding == 2
    assert s.respond(42, CommandStatus.ESME_RX_T_APPN) == encode(
        P.DataSmResp(sequence_number=42, command_status=CommandStatus.ESME_RX_T_APPN))
    assert s.respond(41) == encode(events[0].pdu.response())
    assert s.peer_outstanding == 0
    with pytest.raises(ProtocolError, match="sequence_number 41 awaits an answer"):
        s.respond(41)  # answered already
    s.close()
    with pytest.raises(ProtocolError):
        s.respond(41)


def test_receive_many_takes_deliver_sm_in_a_lane_of_their_own_and_respond_many_answers_them():
    s = bound(window=5)
    out = s.send_encoded_many([submit_frame("1"), submit_frame("2")], ["a", "b"], 2.0)
    seqs = [struct.unpack_from(">I", f, 12)[0] for f in out]
    chunk = b"".join([
        encode(P.DeliverSm(sequence_number=41, source_addr="1", destination_addr="2", esm_class=4)),
        encode(P.SubmitSmResp(sequence_number=seqs[1], message_id="m2")),
        encode(P.EnquireLink(sequence_number=90)),
        encode(P.DataSm(sequence_number=42, source_addr="1", destination_addr="2")),
        encode(P.SubmitSmResp(sequence_number=77, message_id="nobody")),
    ])
    answered, requests, events = s.receive_many(_native.Framer().feed(chunk), 2.5)
    assert [(c, r.message_id) for c, r, _ in answered] == [("b", "m2")]
    assert [(type(p).__name__, p.sequence_number) for p in requests] == [("DeliverSm", 41), ("DataSm", 42)]
    # Everything else took the ordinary path, exactly as receive_responses gives it.
    assert [type(e).__name__ for e in events] == ["UnexpectedPdu"]
    assert decode(s.data_to_send()) == P.EnquireLinkResp(sequence_number=90)
    assert s.peer_outstanding == 2
    data, refused = s.respond_many([(42, CommandStatus.ESME_RX_T_APPN), (41, 0), (41, 0), (7, 0)])
    assert data == encode(P.DataSmResp(sequence_number=42, command_status=CommandStatus.ESME_RX_T_APPN)) + encode(
        P.DeliverSmResp(sequence_number=41))
    assert [(q, st) for q, st, _ in refused] == [(41, 0), (7, 0)]  # answered already; never asked
    assert "sequence_number 41 awaits an answer" in refused[0][2]
    assert s.peer_outstanding == 0


def test_receive_many_leaves_requests_the_state_forbids_to_the_ordinary_path():
    s = bound()
    # The peer unbinds, then sends a deliver_sm: not legal in UNBOUND, refused by the
    # ordinary path (an event and the refusal on the wire), not taken by the lane.
    chunk = encode(P.Unbind(sequence_number=50)) + encode(
        P.DeliverSm(sequence_number=51, source_addr="1", destination_addr="2"))
    answered, requests, events = s.receive_many(_native.Framer().feed(chunk), 2.0)
    assert answered == [] and requests == []
    assert [type(e).__name__ for e in events] == ["StateChanged", "StateChanged", "UnexpectedPdu"]
    sent = _native.Framer().feed(s.data_to_send())
    assert [(p.command_id, p.sequence_number) for p in sent][0] == (0x80000006, 50)  # unbind_resp
    assert sent[1].sequence_number == 51 and sent[1].command_status != 0  # the refusal
    assert s.peer_outstanding == 0
    # A receiver-only session in BOUND_TX may not take deliver_sm either.
    tx = Session(enquire_link_interval=None)
    req = decode(tx.send(P.BindTransmitter(system_id="u", password="p")))
    tx.receive_data(encode(P.BindTransmitterResp(sequence_number=req.sequence_number)))
    _, requests, events = tx.receive_many(_native.Framer().feed(
        encode(P.DeliverSm(sequence_number=9, source_addr="1", destination_addr="2"))))
    assert requests == [] and [type(e).__name__ for e in events] == ["UnexpectedPdu"]
    data, refused = tx.respond_many([(9, 0)])
    assert data == b"" and len(refused) == 1
