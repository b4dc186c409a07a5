"""The simulator's Rust lane (``engine.smpp._native.SimLane``) against its Python
paths: the same reads through a connection with the lane, with the Python no-fault
path (``_data_quiet``) and with the general path (``_data_faults``, every fault off,
receipts written by Python) give the same octets, the same receipts scheduled, the
same records, unacknowledged entries and query_sm states."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.simulator import Faults, Simulator
from engine.simulator import server as S
from engine.smpp import _native
from engine.smpp import pdu as P
from engine.smpp.constants import CommandStatus, Tag
from engine.smpp.tlv import Tlv

pytestmark = pytest.mark.skipif(not _native.NATIVE, reason="the Rust extension is not built")


class _Sink:
    """A transport that keeps what is written."""

    def __init__(self):
        self.data = []

    def write(self, b):
        self.data.append(bytes(b))

    def get_extra_info(self, name):
        return None

    def close(self):
        pass

    def abort(self):
        pass


PATHS = ("lane", "quiet", "general")


def _drive(path: str, reads: list[bytes], *, mo: int = 0, ticks: str = "each", **kw):
    """The reads through one transceiver connection on ``path``, the receipt tick run
    after each read (``ticks="each"``), before the last one ("last") or never
    (receipt_delay 0: every receipt due at the tick): everything observable."""
    loop = asyncio.new_event_loop()
    try:
        faults = Faults(max_tps=1e9) if path == "general" else Faults()
        sim = Simulator(receipt_delay=kw.pop("receipt_delay", 0.0), faults=faults, **kw)
        if path != "lane":
            sim._lane = None
        else:
            assert sim._lane is not None
        sim._loop = loop
        conn = sim._make_conn()
        sink = _Sink()
        conn.connection_made(sink)
        conn.data_received(P.encode(P.BindTransceiver(sequence_number=1, system_id="h")))
        for i in range(mo):
            sim.send_mo("4915", "ACME", f"mo {i}")
        scheduled = []
        seen: set[int] = set()  # heap entries already taken into ``scheduled``
        for k, data in enumerate(reads):
            if ticks == "last" and k == len(reads) - 1 and sim.receipt_delay is not None:
                sim._receipt_tick()
            conn.data_received(data)
            scheduled += [item for entry in sorted(sim._receipt_heap) if entry[1] not in seen for item in entry[2]]
            seen.update(entry[1] for entry in sim._receipt_heap)
            if ticks == "each" and sim.receipt_delay is not None:
                sim._receipt_tick()
            if sim._tick_handle is not None:
                sim._tick_handle.cancel()
                sim._tick_handle = None
        r = sim.record
        view = dict(
            submits=[(x.message_id, x.system_id, x.connection, x.body, x.answered) for x in r.submits],
            counts=(r.submit_count, r.duplicates, r.receipts_sent, r.receipts_acked, r.receipts_refused,
                    r.mo_sent, r.mo_acked, r.max_outstanding, r.enquire_links, r.unbinds),
            statuses=dict(r.deliver_resp_statuses), refusals=dict(r.receipt_refusal_statuses), other=dict(r.other),
        )
        pending = {k: list(v) for k, v in sim._pending_receipts.items() if v}
        return (b"".join(sink.data), scheduled, view, dict(conn.unacked_receipts), sorted(conn.unacked), pending,
                bytes(sim._state_ring), sim._ids, conn.seq, conn.closed)
    finally:
        loop.close()


def _all_equal(reads, **kw):
    got = {p: _drive(p, reads, **kw) for p in PATHS}
    names = ("octets", "scheduled", "record", "unacked_receipts", "unacked", "pending", "ring", "ids", "seq", "closed")
    for p in ("quiet", "general"):
        for name, a, b in zip(names, got["lane"], got[p]):
            assert a == b, f"lane != {p}: {name}"
    return got["lane"]


def _ack(seq: int, status: int = 0, body: bytes = b"\0") -> bytes:
    return S._HEADER.pack(16 + len(body), 0x80000005, status, seq) + body


def _submit(i: int, **kw) -> bytes:
    fields = dict(sequence_number=i + 2, source_addr="BENCH", source_addr_ton=5, destination_addr=f"4915{i:09d}",
                  dest_addr_ton=1, dest_addr_npi=1, short_message=b"Your code is %06d." % i, registered_delivery=1)
    fields.update(kw)
    return P.encode(P.SubmitSm(**fields))


def test_a_bench_like_exchange_is_the_same_on_every_path():
    subs = [_submit(i) for i in range(30)]
    reads = [b"".join(subs[:10]), b"".join(subs[10:30]),
             b"".join(_ack(s) for s in range(1, 31))]  # every receipt acknowledged
    for ticks in ("each", "last"):  # "last": one tick writes the receipts of two reads
        octets, scheduled, view, unacked, *_ = _all_equal(reads, ticks=ticks)
        assert len(scheduled) == 30 and not unacked
        assert view["counts"][:4] == (30, 0, 30, 30) and view["counts"][7] == 20
        assert len(P.Framer().feed(octets)) == 1 + 30 + 30


def test_receipt_states_drawn_like_random_choices_and_failure_only_receipts():
    subs = [_submit(i, registered_delivery=(1, 2, 0, 3, 0x11)[i % 5]) for i in range(80)]
    for kw in ({"receipt_states": {"DELIVRD": 2, "UNDELIV": 1, "EXPIRED": 1}, "seed": 7},
               {"receipt_states": {"DELIVRD": 0.5, "REJECTD": 0.25, "UNKNOWN": 0.0, "ACCEPTD": 0.25}, "seed": 3},
               {"receipt_states": {"UNDELIV": 1}}):
        _, scheduled, *_ = _all_equal([b"".join(subs[:41]), b"".join(subs[41:])], **kw)
        states = {x[2] for x in scheduled}
        assert states <= {S.RECEIPT_STATES[s][0] for s, w in kw["receipt_states"].items() if w}
        if len(kw["receipt_states"]) > 1:
            assert len(states) > 1
    # DELIVRD only: "failure only" (2) asks for none
    _, scheduled, *_ = _all_equal([b"".join(subs)])
    assert len(scheduled) == sum(1 for i in range(80) if i % 5 in (0, 3, 4))


def test_ids_dec_and_past_eight_hex_digits_and_query_sm_between_submits():
    for id_format, start in (("hex", 0xFFFFFFF8), ("dec", 10**12 - 3)):
        fmt = "%08x" if id_format == "hex" else "%d"
        reads = [
            b"".join(_submit(i) for i in range(5))
            + P.encode(P.QuerySm(sequence_number=90, message_id=fmt % (start + 2)))
            + P.encode(P.DataSm(sequence_number=91, destination_addr="49"))
            + b"".join(_submit(i) for i in range(5, 12))
            + P.encode(P.QuerySm(sequence_number=92, message_id=fmt % (start + 7))),
        ]
        octets, _, view, *_ = _all_equal(reads, id_format=id_format, id_start=start, receipt_delay=5.0, ticks="never")
        got = P.Framer().feed(octets)
        queries = [p for p in got if isinstance(p, P.QuerySmResp)]
        assert [q.message_state for q in queries] == [1, 1]  # ENROUTE until the receipt
        ids = [p.message_id for p in got if isinstance(p, P.SubmitSmResp) and p.command_status == 0]
        assert ids == [fmt % n for n in range(start + 1, start + 14) if n != start + 6]
        assert view["counts"][0] == 13  # 12 submit_sm and the data_sm


def test_acks_of_receipts_mo_unknown_and_refused_in_one_read():
    subs = b"".join(_submit(i) for i in range(6))
    # the MO deliver_sm go out first (seq 1..2), then the receipts (3..8)
    acks = b"".join((
        _ack(1), _ack(3, body=b""), _ack(4, status=CommandStatus.ESME_RX_T_APPN), _ack(5, body=b"x\0"),
        _ack(6, status=0x58, body=b""), _ack(77), _ack(2, body=b""), P.encode(P.EnquireLink(sequence_number=50)),
        _ack(8), P.encode(P.GenericNack(sequence_number=51, command_status=3)),
    ))
    _, _, view, unacked, mo_unacked, pending, *_ = _all_equal([subs, acks], mo=2)
    assert sorted(unacked) == [7] and mo_unacked == []
    assert view["statuses"] == {0: 6, CommandStatus.ESME_RX_T_APPN: 1, 0x58: 1}
    assert view["counts"][4] == 2 and view["counts"][6] == 2  # refused, mo acked
    assert [x[1] for x in pending["h"]] == [2, 4]  # offered again


def test_unbind_and_framing_error_stop_the_read_as_the_python_paths_do():
    subs = [_submit(i) for i in range(4)]
    _all_equal([b"".join(subs[:2]) + P.encode(P.Unbind(sequence_number=60)) + b"".join(subs[2:])])
    bad = bytes.fromhex("00000008" "00000004" "00000000" "00000009")
    _, _, view, *rest = _all_equal([b"".join(subs[:3]) + bad])
    assert view["counts"][0] == 3 and rest[-1] is True


def test_a_receiver_gets_nacks_and_a_transmitter_no_receipt_writes():
    reads = [b"".join(_submit(i) for i in range(3))]
    for bind in (P.BindReceiver, P.BindTransmitter):
        outs = []
        for path in PATHS:
            loop = asyncio.new_event_loop()
            try:
                sim = Simulator(receipt_delay=0.0, faults=Faults(max_tps=1e9) if path == "general" else Faults())
                if path != "lane":
                    sim._lane = None
                sim._loop = loop
                conn = sim._make_conn()
                sink = _Sink()
                conn.connection_made(sink)
                conn.data_received(P.encode(bind(sequence_number=1, system_id="r")))
                for data in reads:
                    conn.data_received(data)
                if sim._tick_handle is not None:
                    sim._tick_handle.cancel()
                outs.append((b"".join(sink.data), sim.record.submit_count, [i for e in sim._receipt_heap for i in e[2]]))
            finally:
                loop.close()
        assert outs[0] == outs[1] == outs[2]
        assert (outs[0][1] == 0) is (bind is P.BindReceiver)


_cstr = lambda n: st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=n)  # noqa: E731
_submits = st.builds(
    P.SubmitSm,
    sequence_number=st.integers(1, 0x7FFFFFFF), service_type=_cstr(5),
    source_addr_ton=st.integers(0, 255), source_addr_npi=st.integers(0, 255), source_addr=_cstr(20),
    dest_addr_ton=st.integers(0, 255), dest_addr_npi=st.integers(0, 255), destination_addr=_cstr(20),
    esm_class=st.sampled_from([0, 0x40, 0x43, 0xFF]), schedule_delivery_time=st.sampled_from(["", "261122120000000+"]),
    registered_delivery=st.integers(0, 255), data_coding=st.integers(0, 255), short_message=st.binary(max_size=254),
    tlvs=st.sampled_from([(), (Tlv(Tag.MESSAGE_PAYLOAD, b"payload quoted instead " * 2),),
                          (Tlv(Tag.USER_MESSAGE_REFERENCE, b"\0\7"),)]),
)
_others = st.sampled_from([
    P.encode(P.EnquireLink(sequence_number=70)),
    P.encode(P.QuerySm(sequence_number=71, message_id="00000003")),
    P.encode(P.DataSm(sequence_number=72, destination_addr="49")),
    P.encode(P.CancelSm(sequence_number=73, message_id="00000001", destination_addr="49")),
    bytes.fromhex("00000010" "00000004" "00000000" "00000074"),  # submit_sm without a body
])


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(st.one_of(
        _submits.map(P.encode),
        st.tuples(st.integers(0, 12), st.sampled_from([0, 0, 0, 0x58, 8]), st.sampled_from([b"", b"\0", b"a\0"]))
        .map(lambda t: _ack(*t)),
        _others,
    ), min_size=1, max_size=14),
    cuts=st.lists(st.integers(0, 3000), max_size=3),
    flips=st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 255)), max_size=2),
    states=st.sampled_from([{"DELIVRD": 1}, {"DELIVRD": 3, "UNDELIV": 1}, {"EXPIRED": 1, "DELETED": 2}]),
    id_format=st.sampled_from(["hex", "dec"]),
    stamp=st.sampled_from(["2611220644", "26112206", "x" * 150]),  # the last makes receipts past 254 octets
    mo=st.integers(0, 2),
)
def test_any_reads_give_the_same_on_every_path(items, cuts, flips, states, id_format, stamp, mo):
    """Frames of any kind (changed octets included, which may make a frame malformed
    or its length unframeable) in reads cut anywhere."""
    stream = bytearray(b"".join(items))
    for pos, value in flips:
        if len(stream) > 16:
            stream[16 + pos % (len(stream) - 16)] = value
    stream = bytes(stream)
    bounds = sorted({c % (len(stream) + 1) for c in cuts})
    reads = [stream[a:b] for a, b in zip([0, *bounds], [*bounds, len(stream)])]
    with mock.patch.object(S, "_stamp", lambda t: stamp):
        _all_equal(reads, receipt_states=states, id_format=id_format, seed=5, mo=mo)


def test_write_receipts_is_send_receipts_with_the_sequence_wrap():
    items = [("w", n, state, b"body %d" % n) for n, state in ((5, 2), (6, 5), (2**20 + 7, 3), (1, 2))]
    got = []
    for use_lane in (True, False):
        loop = asyncio.new_event_loop()
        try:
            sim = Simulator(receipt_delay=5.0, id_start=2**20 + 9)
            if not use_lane:
                sim._lane = None
            sim._loop = loop
            conn = sim._make_conn()
            sink = _Sink()
            conn.connection_made(sink)
            conn.seq = 0x7FFFFFFE
            conn.send_receipts(items)
            ring = sim._state_ring
            got.append((sink.data, dict(conn.unacked_receipts), conn.seq, ring[5], ring[6], ring[7], ring[1]))
        finally:
            loop.close()
    assert got[0] == got[1]
    data, unacked, seq, *ring = got[0]
    assert list(unacked) == [0x7FFFFFFF, 1, 2, 3] and seq == 3
    # the ring holds the last 2**20 ids (up to 2**20 + 9 given out): 5, 6 and 1 are
    # older, only 2**20 + 7 (slot 7) is written
    assert ring == [0, 0, 3, 0]


def test_lane_arguments_are_checked():
    ring = bytearray(16)
    with pytest.raises(ValueError, match="power-of-two"):
        _native.SimLane(True, bytearray(10))
    lane = _native.SimLane(True, ring)

    def reader(*frames):
        r = _native.SimReader()
        r.load(b"".join(frames))
        return r

    with pytest.raises(ValueError, match="set_receipts first"):
        lane.run(reader(_submit(1)), 0, True, "s", [], {}, {}, [], None, None)
    with pytest.raises(ValueError, match="at least one"):
        lane.set_receipts([], [])
    with pytest.raises(ValueError, match="one per text"):
        lane.set_receipts([(2, b"id:", b" text:")], [1.0, 2.0])
    lane.set_receipts([(2, b"id:", b" text:"), (5, b"id:", b" text:")], [1.0, 2.0])
    with pytest.raises(ValueError, match="random is needed"):
        lane.run(reader(_submit(1)), 0, True, "s", [], {}, {}, [], None, None)
    with pytest.raises(TypeError, match="data must be bytes or bytearray, not str"):
        _native.SimReader().load("x")
    with pytest.raises(TypeError, match=r"items\[0\] must be a tuple"):
        lane.write_receipts([("s", 1, 2)], 0, {}, 0)
    with pytest.raises(TypeError, match=r"items\[0\]\[3\]"):
        lane.write_receipts([("s", 1, 2, "body")], 0, {}, 0)
    # without receipts: ids, responses and ENROUTE only; the enquire_link is left to Python
    out: list[bytes] = []
    r = reader(_submit(1), _submit(2), P.encode(P.EnquireLink(sequence_number=9)), _submit(3))
    assert lane.run(r, 0xF, True, "s", None, {}, {}, out, None, None) == (
        P.encode(P.EnquireLink(sequence_number=9)), 0x11, 2, 0, 0, 0)
    assert out == [P.encode(P.SubmitSmResp(sequence_number=3, message_id="00000010"))
                   + P.encode(P.SubmitSmResp(sequence_number=4, message_id="00000011"))]
    assert lane.run(r, 0x11, True, "s", None, {}, {}, out, None, None) == (None, 0x12, 1, 0, 0, 0)
    assert lane.run(r, 0x12, True, "s", None, {}, {}, out, None, None) == (None, 0x12, 0, 0, 0, 0)
    assert ring[0] == ring[1] == ring[2] == 1 and ring[3] == 0


@settings(max_examples=200, deadline=None)
@given(
    frames=st.lists(st.sampled_from([_submit(1), _ack(3), P.encode(P.EnquireLink(sequence_number=4))]), max_size=6),
    tail=st.sampled_from([b"", bytes.fromhex("00000008" "00000004" "00000000" "00000009"),
                          bytes.fromhex("00100000" "00000015" "00000000" "0000000a"), b"\0\0\0\x20\0"]),
    cuts=st.lists(st.integers(0, 1000), max_size=4),
)
def test_reader_frames_as_the_framer_does(frames, tail, cuts):
    """SimReader.feed_frames and load/take_fatal against PduFramer.feed_frames,
    fed the same chunks (a bad command_length included): the same frames, the same
    PduError, the same state after."""
    stream = b"".join(frames) + tail
    bounds = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *bounds], [*bounds, len(stream)])]
    ref, by_feed, by_load = _native.Framer(), _native.SimReader(), _native.SimReader()
    for chunk in chunks:
        want = ref.feed_frames(chunk)
        got = by_feed.feed_frames(chunk)
        count = by_load.load(chunk)
        lane = _native.SimLane(True, bytearray(16))
        taken = []
        while (f := lane.run(by_load, 0, False, "", None, {}, {}, [], None, None)[0]) is not None:
            taken.append(f)  # nothing is a submit_sm here (can_submit False) or a plain ack
        acks = [f for f in want if isinstance(f, bytes) and f[4:8] == b"\x80\0\0\x05"]
        fatal = by_load.take_fatal()
        assert by_load.take_fatal() is None
        for a, b in zip(want, got):
            if isinstance(a, bytes):
                assert a == b
            else:
                assert (type(a), str(a), a.status, a.command_id, a.sequence_number, a.fatal) == (
                    type(b), str(b), b.status, b.command_id, b.sequence_number, b.fatal)
        assert len(want) == len(got) == count
        frames_want = [f for f in want if isinstance(f, bytes)]
        assert taken == [f for f in frames_want if f not in acks]
        errors = [f for f in want if not isinstance(f, bytes)]
        assert (fatal is None) == (not errors)
        if fatal is not None:
            assert (str(fatal), fatal.status, fatal.sequence_number) == (str(errors[0]), errors[0].status,
                                                                           errors[0].sequence_number)
        assert (ref.broken, ref.buffered) == (by_feed.broken, by_feed.buffered) == (by_load.broken, by_load.buffered)


def test_simulator_rejects_what_the_lane_cannot_count():
    with pytest.raises(ValueError, match="id_start"):
        Simulator(id_start=-1)
    with pytest.raises(ValueError, match="id_start"):
        Simulator(id_start=2**63)
    with pytest.raises(ValueError, match="finite"):
        Simulator(receipt_states={"DELIVRD": float("inf")})
    # a weight no float holds exactly: draws as random.choices does, in Python
    assert Simulator(receipt_states={"DELIVRD": 2**60 + 1, "UNDELIV": 1})._lane is None
    assert Simulator(receipt_states={"DELIVRD": 2**60, "UNDELIV": 2**60})._lane is not None
