"""The SMSC simulator: an independent client (smpplib) against it, its faults and records,
and the send / load / simulate commands against each other as subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.simulator import Faults, Simulator
from engine.smpp import pdu as P
from engine.smpp.constants import CommandStatus
from engine.simulator import server as S

pytestmark = pytest.mark.timeout(60)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMPP_ENGINE = [sys.executable, "-m", "engine"]


class SimThread:
    """The simulator on its own loop in a thread, for synchronous clients (smpplib)."""

    def __init__(self, **kw):
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(**kw)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(5)
        return self.sim

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


# --- the fast path (no faults) against the general one (faults on) and the codec -----

def _submits():
    """submit_sm covering the fast path's cases and its fall-backs to the full decoder."""
    from engine.smpp.constants import Tag
    from engine.smpp.tlv import Tlv

    udh = bytes((5, 0, 3, 7, 2, 1))
    return [
        P.SubmitSm(source_addr="ACME", source_addr_ton=5, destination_addr="4915112345678", dest_addr_ton=1,
                   dest_addr_npi=1, short_message=b"Your code is 123456. It expires in 10 minutes.", registered_delivery=1),
        P.SubmitSm(source_addr="", destination_addr="", short_message=b"", registered_delivery=1),  # all empty
        P.SubmitSm(service_type="CMT", source_addr="x" * 20, destination_addr="9" * 20, short_message=b"m" * 254,
                   registered_delivery=1, data_coding=8),  # the longest fields
        P.SubmitSm(destination_addr="49", esm_class=0x40, short_message=udh + b"after the header, quoted", registered_delivery=1),
        P.SubmitSm(destination_addr="49", esm_class=0x40, short_message=bytes((200, 1, 2)), registered_delivery=1),  # UDHL past the end
        P.SubmitSm(destination_addr="49", short_message=b"no receipt", registered_delivery=0),
        P.SubmitSm(destination_addr="49", short_message=b"failure only", registered_delivery=2),
        P.SubmitSm(destination_addr="49", short_message=b"rd with other bits", registered_delivery=0x11),
        P.SubmitSm(destination_addr="49", tlvs=(Tlv(Tag.MESSAGE_PAYLOAD, b"in the payload TLV " * 3),), registered_delivery=1),
        P.SubmitSm(destination_addr="49", short_message=b"with a TLV", tlvs=(Tlv(Tag.USER_MESSAGE_REFERENCE, b"\0\7"),),
                   registered_delivery=1),
        P.SubmitSm(destination_addr="49", short_message=b"scheduled", schedule_delivery_time="261122120000000+",
                   validity_period="000001000000000R", registered_delivery=1),
        P.SubmitSm(destination_addr="49", short_message=b"\x00\xff binary \x80", registered_delivery=1, data_coding=4),
        P.SubmitSm(source_addr="\xe9t\xe9", destination_addr="49", short_message=b"latin-1 address", registered_delivery=1),
    ]


def _bad_submits():
    """submit_sm frames the full decoder rejects: answered, accepted, no receipt."""
    good = P.encode(P.SubmitSm(destination_addr="49", short_message=b"abc", registered_delivery=1))
    frames = []
    sm_len_at = len(good) - 4
    for body in (
        good[16:sm_len_at] + bytes((40,)) + b"abc",  # sm_length past the end
        good[16:sm_len_at] + bytes((255,)) + b"x" * 255,  # sm_length 255
        good[16:sm_len_at] + bytes((3,)) + b"abc" + b"\0\x04\0",  # a torn TLV header
        b"\0\1\1" + b"7" * 30,  # source_addr without its NUL
        b"",  # no body
    ):
        frames.append(S._HEADER.pack(16 + len(body), 4, 0, 0) + body)
    return frames


async def _exchange(sim, frames: list[bytes], expect: int) -> list[bytes]:
    """Bind a transceiver, write the frames in one write, read until ``expect`` PDUs
    came back; acknowledge every deliver_sm. Returns the frames received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    writer.write(P.encode(P.BindTransceiver(sequence_number=1, system_id="a")))
    framer = S._native.Framer()
    got: list[bytes] = []
    while not got:
        got += framer.feed_frames(await asyncio.wait_for(reader.read(65536), 3))
    writer.write(b"".join(frames))
    while len(got) < expect:
        new = framer.feed_frames(await asyncio.wait_for(reader.read(65536), 3))
        for f in new:
            if f[4:8] == b"\0\0\0\5":  # deliver_sm: ack it
                writer.write(P.encode(P.DeliverSmResp(sequence_number=int.from_bytes(f[12:16], "big"))))
        got += new
    await asyncio.sleep(0.05)  # the last acks
    writer.close()
    return got


def _run_both(frames: list[bytes], expect: int, **kw):
    """The same input through the fast path and through the general one."""
    async def one(faults):
        async with Simulator(receipt_delay=0.0, faults=faults, **kw) as sim:
            got = await _exchange(sim, frames, expect)
            await sim.wait_for(lambda s: s.record.receipts_acked == s.record.receipts_sent, 2)
            return sim, got

    fast = asyncio.run(one(Faults()))
    # max_tps far above the load: the fault path, with no fault drawn.
    general = asyncio.run(one(Faults(max_tps=1e9)))
    return fast, general


def _record_view(sim):
    r = sim.record
    return dict(
        submits=[(x.message_id, x.system_id, x.body, x.answered) for x in r.submits], submit_count=r.submit_count,
        duplicates=r.duplicates, receipts_sent=r.receipts_sent, receipts_acked=r.receipts_acked,
        deliver_resp_statuses=dict(r.deliver_resp_statuses), other=dict(r.other), max_outstanding=r.max_outstanding,
    )


def test_fast_path_gives_the_octets_and_records_of_the_general_path_and_the_codec(monkeypatch):
    monkeypatch.setattr(S, "_stamp", lambda t: "2611220644")
    subs = _submits()
    frames = [P.encode(p.__class__(**{**{f: getattr(p, f) for f in p.__dataclass_fields__}, "sequence_number": i + 2}))
              for i, p in enumerate(subs)]
    frames += [f[:12] + (100 + i).to_bytes(4, "big") + f[16:] for i, f in enumerate(_bad_submits())]
    frames.append(frames[0][:12] + (200).to_bytes(4, "big") + frames[0][16:])  # a duplicate body
    frames.append(P.encode(P.EnquireLink(sequence_number=300)))
    # receipts: all but registered_delivery 0, 2 (DELIVRD only: none) and the rejected
    # ones; the duplicate has one
    n_receipts = len(subs) - 2 + 1
    expect = 1 + len(frames) + n_receipts
    (fast_sim, fast), (gen_sim, general) = _run_both(frames, expect)
    assert sorted(fast) == sorted(general)
    assert _record_view(fast_sim) == _record_view(gen_sim)
    assert fast_sim.record.submit_count == len(subs) + len(_bad_submits()) + 1
    assert fast_sim.record.duplicates == 1 and fast_sim.record.receipts_acked == n_receipts

    # and they are what the codec encodes
    resps = {int.from_bytes(f[12:16], "big"): f for f in fast if f[4:8] == b"\x80\0\0\4"}
    receipts = [P.decode(f) for f in fast if f[4:8] == b"\0\0\0\5"]
    ids = []
    for seq, f in resps.items():
        r = P.decode(f)
        assert P.encode(r) == f and r.command_status == 0
        ids.append(r.message_id)
    assert len(ids) == len(set(ids)) == len(frames) - 1
    assert sorted(ids) == [f"{i:08x}" for i in range(1, len(frames))]
    by_id = {P.decode(resps[i + 2]).message_id: p for i, p in enumerate(subs)}
    by_id[P.decode(resps[200]).message_id] = subs[0]
    assert len(receipts) == n_receipts
    from engine.smpp.constants import Tag
    from engine.smpp.receipts import parse_receipt
    from engine.smpp.tlv import Tlv

    for d in receipts:
        mid = d.receipted_message_id
        sub = by_id[mid]
        text = sub.payload
        if sub.esm_class & 0x40 and text:
            text = text[1 + text[0]:]
        sm = (f"id:{mid} sub:001 dlvrd:001 submit date:2611220644 done date:2611220644 stat:DELIVRD err:000 text:"
              .encode() + text[:20])
        expected = P.DeliverSm(
            sequence_number=d.sequence_number, source_addr_ton=sub.dest_addr_ton, source_addr_npi=sub.dest_addr_npi,
            source_addr=sub.destination_addr, dest_addr_ton=sub.source_addr_ton, dest_addr_npi=sub.source_addr_npi,
            destination_addr=sub.source_addr, esm_class=0x04, short_message=sm,
            tlvs=(Tlv(Tag.RECEIPTED_MESSAGE_ID, mid.encode() + b"\0"), Tlv(Tag.MESSAGE_STATE, b"\2")),
        )
        assert P.encode(d) == P.encode(expected)
        # the engine's own parser reads them
        rc = parse_receipt(d)
        assert (rc.message_id, rc.state, rc.stat, rc.error, rc.submit_date) == (mid, "delivered", "DELIVRD", "000", "2611220644")
        assert rc.message_state == 2 and rc.fields["done_date"] == "2611220644" and rc.submitted == rc.delivered == "001"


def test_fast_path_state_mix_draws_like_the_general_path(monkeypatch):
    monkeypatch.setattr(S, "_stamp", lambda t: "2611220644")
    frames = [P.encode(P.SubmitSm(sequence_number=i + 2, destination_addr=f"49{i}", short_message=b"m%d" % i,
                                  registered_delivery=1 if i % 3 else 2)) for i in range(60)]
    kw = dict(receipt_states={"DELIVRD": 2, "UNDELIV": 1, "EXPIRED": 1}, seed=7, id_format="dec", id_start=10**12)
    async def count(faults):
        async with Simulator(receipt_delay=0.0, faults=faults, **kw) as sim:
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
            writer.write(P.encode(P.BindTransmitter(sequence_number=1, system_id="a")) + b"".join(frames))
            await sim.wait_for(lambda s: s.record.submit_count == 60, 3)
            await asyncio.sleep(0.05)
            writer.close()
            q = list(sim._pending_receipts["a"])  # no receiver: kept
            return q, _record_view(sim)

    fast = asyncio.run(count(Faults()))
    general = asyncio.run(count(Faults(max_tps=1e9)))
    assert fast == general
    states = {x[2] for x in fast[0]}
    assert states == {2, 5, 3}  # DELIVRD, UNDELIV, EXPIRED
    assert [x[1] for x in fast[0]] == sorted(x[1] for x in fast[0]) and fast[0][0][1] > 10**12
    for system_id, n, state, body in fast[0]:
        r = P.decode(S._HEADER.pack(16 + len(body), 5, 0, 1) + body)
        assert system_id == "a" and r.receipted_message_id == str(n) and r.message_state == state
        assert f"id:{n} ".encode() in r.short_message


def test_submit_sm_resp_ids_unique_across_formats_and_the_8_digit_edge():
    async def main(id_format, id_start, n):
        async with Simulator(receipt_delay=None, id_format=id_format, id_start=id_start) as sim:
            frames = [P.encode(P.SubmitSm(sequence_number=i + 2, destination_addr="49", short_message=b"x"))
                      for i in range(n)]
            got = await _exchange(sim, frames, n + 1)
            resps = [P.decode(f) for f in got[1:]]
            assert all(P.encode(r) == f for r, f in zip(resps, got[1:]))
            assert [r.sequence_number for r in resps] == list(range(2, n + 2))
            return [r.message_id for r in resps], sim

    ids, sim = asyncio.run(main("hex", 0xFFFFFFF0, 40))
    assert ids == [f"{i:08x}" for i in range(0xFFFFFFF1, 0xFFFFFFF1 + 40)] and len(ids[-1]) == 9
    assert [s.message_id for s in sim.record.submits] == ids
    ids, _ = asyncio.run(main("dec", 99, 30))
    assert ids == [str(i) for i in range(100, 130)]


def test_query_sm_states_follow_the_receipts():
    async def main():
        async with Simulator(receipt_delay=0.3, id_format="dec") as sim:
            subs = [P.SubmitSm(sequence_number=2, destination_addr="1", short_message=b"x", registered_delivery=1),
                    P.SubmitSm(sequence_number=3, destination_addr="1", short_message=b"y", registered_delivery=0)]
            q = lambda seq, mid: P.QuerySm(sequence_number=seq, message_id=mid)  # noqa: E731
            got = await _raw(sim.port, P.BindTransceiver(sequence_number=1, system_id="a"), *subs,
                             q(4, "1"), q(5, "2"), q(6, "3"), q(7, "01"), read=7)
            assert [(p.sequence_number, None if p.command_status else p.message_state, p.command_status)
                    for p in got[3:]] == [
                (4, 1, 0), (5, 1, 0), (6, None, CommandStatus.ESME_RQUERYFAIL), (7, None, CommandStatus.ESME_RQUERYFAIL)]
            # the receipt is written (to nobody acknowledging): DELIVERED from then on
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
            writer.write(P.encode(P.BindReceiver(sequence_number=1, system_id="a")))
            await sim.wait_for(lambda s: s.record.receipts_sent == 1, 3)
            assert sim._state_of("1") == 2 and sim._state_of("2") == 1 and sim._state_of("x") is None
            writer.close()

    asyncio.run(main())


def test_state_ring_wraps_and_forgets_old_ids():
    sim = Simulator(id_format="hex")
    slots = S._STATE_SLOTS
    sim._ids = slots - 3
    sim._mark_enroute(slots - 3 - 9, slots - 3)
    for _ in range(8):
        sim._new_id()
    sim._mark_enroute(slots + 6, slots + 9)  # wraps past the end of the ring
    sim._ids = slots + 9
    assert all(sim._state_of(f"{n:08x}") == 1 for n in range(slots - 12, slots + 10))
    assert sim._state_of(f"{slots + 10:08x}") is None  # not given yet
    sim._state_ring[(slots + 9) & S._STATE_MASK] = 5
    assert sim._state_of(f"{slots + 9:08x}") == 5
    sim._ids = 3 * slots
    assert sim._state_of(f"{slots + 9:08x}") is None  # older than the ring


def test_faults_changed_at_run_time_switch_paths():
    f = Faults()
    assert f._quiet is None and f._compute_quiet() is True and f._quiet is True
    f.throttle_rate = 0.5
    assert f._quiet is None and f._compute_quiet() is False
    f.throttle_rate = 0.0
    assert f._compute_quiet() is True
    f.ignore_enquire_link = True  # not a submit_sm fault
    assert f._compute_quiet() is True
    for name, value in [("queue_full_rate", 0.1), ("fail_rate", 0.1), ("max_tps", 5), ("drop_rate", 0.1),
                        ("delay", 0.1), ("reorder", True), ("disconnect_after", 3), ("malformed_after", 3)]:
        g = Faults(**{name: value})
        assert g._compute_quiet() is False, name
    assert Faults() == Faults() and "_quiet" not in repr(Faults())

    async def main():
        async with Simulator(receipt_delay=None) as sim:
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
            writer.write(P.encode(P.BindTransmitter(sequence_number=1, system_id="a")))
            framer = P.Framer()
            async def submit(seq):
                writer.write(P.encode(P.SubmitSm(sequence_number=seq, destination_addr="1")))
                out = []
                while not out:
                    out += framer.feed(await asyncio.wait_for(reader.read(4096), 3))
                return out
            await asyncio.wait_for(reader.read(4096), 3)  # bind_resp
            assert (await submit(2))[0].command_status == 0
            sim.faults.throttle_rate = 1.0
            assert (await submit(3))[0].command_status == CommandStatus.ESME_RTHROTTLED
            sim.faults.throttle_rate = 0.0
            assert (await submit(4))[0].command_status == 0
            writer.close()
            assert sim.record.throttled == 1 and sim.record.submit_count == 2

    asyncio.run(main())


@settings(max_examples=150, deadline=None)
@given(
    stat=st.sampled_from(sorted(S.RECEIPT_STATES)), ton=st.integers(0, 255), npi=st.integers(0, 255),
    src=st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=20),
    dst=st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=20),
    text=st.binary(max_size=20), mid=st.text(st.characters(min_codepoint=1, max_codepoint=255), min_size=1, max_size=200),
    t=st.floats(0, 4e9),
)
def test_receipt_templates_are_what_the_codec_encodes(stat, ton, npi, src, dst, text, mid, t):
    """_receipt_body (the text cut past 254 octets included) against _receipt_frame
    (itself checked against the codec)."""
    mid_b = mid.encode("latin-1")
    dst_b, src_b = bytes((npi, ton)) + dst.encode("latin-1") + b"\0", bytes((ton, npi)) + src.encode("latin-1") + b"\0"
    submit, done = S._stamp(t), S._stamp(t + 0.2)
    template = S._receipt_template(stat, submit, done)
    state, err = S.RECEIPT_STATES[stat]
    sm = (f"id:{mid} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} submit date:{submit} done date:{done} "
          f"stat:{stat} err:{err:03d} text:").encode("latin-1") + text
    expected = S._receipt_frame(npi, ton, dst, ton, npi, src, sm[:254], mid, state)
    body = S._receipt_body(template, dst_b, src_b, mid_b, text)
    assert S._HEADER.pack(16 + len(body), 5, 0, 0) + body == expected
    assert template[0] == state and len(submit) == len(done) == 10 and submit.isdigit()


def test_receipt_dates_are_submit_time_and_submit_time_plus_the_delay(monkeypatch):
    sim = Simulator(receipt_delay=90.0)
    monkeypatch.setattr(S.time, "time", lambda: 1_700_000_000.0)
    t = sim._receipt_templates()["UNDELIV"]
    text = t[3] % (b"ab", b"q")
    assert text == (f"id:ab sub:001 dlvrd:000 submit date:{S._stamp(1_700_000_000.0)} "
                    f"done date:{S._stamp(1_700_000_090.0)} stat:UNDELIV err:001 text:q").encode()
    assert S._stamp(1_700_000_000.0) != S._stamp(1_700_000_090.0)


@settings(max_examples=150, deadline=None)
@given(
    ton=st.integers(0, 255), npi=st.integers(0, 255),
    src=st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=20),
    dst=st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=20),
    sm=st.binary(max_size=254), mid=st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=64),
    state=st.integers(0, 255),
)
def test_fast_receipt_frame_is_what_the_codec_encodes(ton, npi, src, dst, sm, mid, state):
    from engine.simulator.server import _receipt_frame
    from engine.smpp.constants import Tag
    from engine.smpp.tlv import Tlv

    expected = P.encode(P.DeliverSm(
        source_addr_ton=ton, source_addr_npi=npi, source_addr=src, dest_addr_ton=npi, dest_addr_npi=ton,
        destination_addr=dst, esm_class=0x04, short_message=sm,
        tlvs=(Tlv(Tag.RECEIPTED_MESSAGE_ID, mid.encode("latin-1") + b"\0"), Tlv(Tag.MESSAGE_STATE, bytes((state,)))),
    ))
    assert _receipt_frame(ton, npi, src, npi, ton, dst, sm, mid, state) == expected


def test_smpplib_binds_submits_and_gets_the_receipt():
    import smpplib.client
    import smpplib.consts
    import smpplib.gsm

    with SimThread(users={"smpplib": "secret"}, receipt_delay=0.05) as sim:
        client = smpplib.client.Client("127.0.0.1", sim.port, timeout=5)
        sent, received = [], []
        client.set_message_sent_handler(lambda pdu: sent.append(pdu))
        client.set_message_received_handler(lambda pdu: received.append(pdu))
        client.connect()
        client.bind_transceiver(system_id="smpplib", password="secret")
        parts, coding, esm = smpplib.gsm.make_parts("Hello from smpplib")
        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="ACME",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL, destination_addr="4915112345678",
            short_message=parts[0], data_coding=coding, esm_class=esm, registered_delivery=True,
        )
        deadline = time.monotonic() + 5
        while (not sent or not received) and time.monotonic() < deadline:
            client.read_once()
        client.unbind()
        client.disconnect()
        assert len(sent) == 1 and sent[0].status == 0
        mid = sent[0].message_id.decode()
        assert mid == sim.record.submits[0].message_id == "00000001"
        receipt = received[0]
        assert receipt.receipted_message_id.decode() == mid
        assert b"stat:DELIVRD" in receipt.short_message and f"id:{mid}".encode() in receipt.short_message
        assert sim.record.submits[0].short_message == b"Hello from smpplib"
        assert sim.record.receipts_acked == 1 and sim.record.unbinds == 1


def test_smpplib_wrong_password_gets_esme_rinvpaswd():
    import smpplib.client
    import smpplib.exceptions

    with SimThread(users={"smpplib": "secret"}) as sim:
        client = smpplib.client.Client("127.0.0.1", sim.port, timeout=5)
        client.connect()
        with pytest.raises(smpplib.exceptions.PDUError) as e:
            client.bind_transmitter(system_id="smpplib", password="wrong")
        assert e.value.args[1] == CommandStatus.ESME_RINVPASWD
        client.disconnect()
        client = smpplib.client.Client("127.0.0.1", sim.port, timeout=5)
        client.connect()
        with pytest.raises(smpplib.exceptions.PDUError) as e:
            client.bind_transmitter(system_id="nobody", password="secret")
        assert e.value.args[1] == CommandStatus.ESME_RINVSYSID
        client.disconnect()
        assert sim.record.bind_failures == 2 and sim.record.binds == []


async def _raw(port: int, *pdus, read: int = 1, timeout: float = 3.0):
    """Send PDUs over a raw socket; return the first ``read`` PDUs that come back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(P.encode(p) for p in pdus))
    framer, out = P.Framer(), []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(out) < read:
        data = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - asyncio.get_running_loop().time()))
        if not data:
            break
        out += framer.feed(data)
    writer.close()
    return out


def test_operation_matrix_and_other_commands():
    async def main():
        async with Simulator(receipt_delay=0.0, id_format="dec", id_start=99) as sim:
            # submit_sm before binding: ESME_RINVBNDSTS, not accepted
            (r,) = await _raw(sim.port, P.SubmitSm(sequence_number=5, destination_addr="1", short_message=b"x"))
            assert isinstance(r, P.SubmitSmResp) and r.command_status == CommandStatus.ESME_RINVBNDSTS and r.sequence_number == 5
            # a receiver may not submit
            _, r = await _raw(sim.port, P.BindReceiver(sequence_number=1, system_id="a"),
                              P.SubmitSm(sequence_number=2, destination_addr="1"), read=2)
            assert r.command_status == CommandStatus.ESME_RINVBNDSTS
            # a transmitter: submit_sm, data_sm, submit_multi, query_sm, cancel_sm, enquire_link, unbind
            got = await _raw(
                sim.port,
                P.BindTransmitter(sequence_number=1, system_id="a"),
                P.SubmitSm(sequence_number=2, destination_addr="1", short_message=b"x", registered_delivery=0),
                P.DataSm(sequence_number=3, destination_addr="1"),
                P.SubmitMulti(sequence_number=4, dest_addresses=(P.SmeAddress(1, 1, "2"),)),
                P.QuerySm(sequence_number=5, message_id="100"),
                P.QuerySm(sequence_number=6, message_id="nope"),
                P.CancelSm(sequence_number=7, message_id="100"),
                P.EnquireLink(sequence_number=8),
                P.BindTransmitter(sequence_number=9, system_id="a"),
                P.Unbind(sequence_number=10),
                read=10,
            )
            kinds = [(type(p).__name__, p.sequence_number, p.command_status) for p in got]
            assert kinds == [
                ("BindTransmitterResp", 1, 0), ("SubmitSmResp", 2, 0), ("DataSmResp", 3, 0),
                ("SubmitMultiResp", 4, 0), ("QuerySmResp", 5, 0),
                ("QuerySmResp", 6, CommandStatus.ESME_RQUERYFAIL), ("CancelSmResp", 7, 0),
                ("EnquireLinkResp", 8, 0), ("BindTransmitterResp", 9, CommandStatus.ESME_RALYBND), ("UnbindResp", 10, 0),
            ]
            assert got[1].message_id == "100"  # decimal ids from id_start + 1
            assert got[4].message_id == "100" and got[4].message_state == 1  # ENROUTE: no receipt asked

    asyncio.run(main())


def test_malformed_input_gets_generic_nack_or_the_right_status():
    async def main():
        async with Simulator() as sim:
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
            # unknown command_id, sane length: generic_nack ESME_RINVCMDID, the stream goes on
            writer.write(bytes.fromhex("00000010" "000000ff" "00000000" "00000007"))
            writer.write(P.encode(P.EnquireLink(sequence_number=8)))
            framer, out = P.Framer(), []
            while len(out) < 2:
                out += framer.feed(await asyncio.wait_for(reader.read(4096), 3))
            assert isinstance(out[0], P.GenericNack) and out[0].command_status == CommandStatus.ESME_RINVCMDID
            assert out[0].sequence_number == 7 and isinstance(out[1], P.EnquireLinkResp)
            # command_length below 16: cannot resynchronise: generic_nack then close
            writer.write(bytes.fromhex("00000008" "00000015" "00000000" "00000009"))
            data = await asyncio.wait_for(reader.read(4096), 3)
            (nack,) = framer.feed(data)
            assert nack.command_status == CommandStatus.ESME_RINVCMDLEN
            assert await asyncio.wait_for(reader.read(4096), 3) == b""
            writer.close()

    asyncio.run(main())


def test_receipt_state_mix_and_tlvs():
    from engine.client import SmscClient, OutboundMessage
    from engine.config import parse_config

    async def main():
        states = {"DELIVRD": 2, "UNDELIV": 1, "EXPIRED": 1}
        async with Simulator(receipt_delay=0.01, receipt_states=states, seed=2) as sim:
            cfg = parse_config({"smscs": [{"name": "s", "host": "127.0.0.1", "port": sim.port, "system_id": "a",
                                           "password_env": "P", "window": 50}]}, {"P": ""}).smscs[0]
            receipts = []
            async with SmscClient(cfg, on_receipt=receipts.append) as c:
                rs = await asyncio.gather(*(c.submit(OutboundMessage("A", "49", f"m{i}", registered_delivery=1)) for i in range(200)))
                assert await sim.wait_for(lambda s: len(receipts) == 200, 5)
            seen = {r.state for r in receipts}
            assert seen == set(states)
            counts = {s: sum(r.state == s for r in receipts) for s in states}
            assert 70 <= counts["DELIVRD"] <= 130, counts
            code = {"DELIVRD": 2, "UNDELIV": 5, "EXPIRED": 3}
            assert all(r.message_state == code[r.state] for r in receipts)
            assert sorted(r.message_id for r in receipts) == sorted(x.parts[0].message_id for x in rs)

    asyncio.run(main())


def test_receipts_wait_for_a_receiver_bind_and_failure_only_receipts():
    from engine.client import SmscClient, OutboundMessage
    from engine.config import parse_config

    async def main():
        async with Simulator(receipt_delay=0.0, receipt_states={"DELIVRD": 1, "UNDELIV": 1}, seed=4) as sim:
            base = {"name": "s", "host": "127.0.0.1", "port": sim.port, "system_id": "a", "password_env": "P"}
            tx = parse_config({"smscs": [dict(base, bind_type="tx")]}, {"P": ""}).smscs[0]
            async with SmscClient(tx) as c:
                rs = await asyncio.gather(*(c.submit(OutboundMessage("A", "49", f"m{i}", registered_delivery=1)) for i in range(20)))
                fo = await asyncio.gather(*(c.submit(OutboundMessage("A", "49", f"f{i}", registered_delivery=2)) for i in range(20)))
            await asyncio.sleep(0.05)
            assert sim.record.receipts_sent == 0  # nobody to send them to yet
            receipts = []
            rx = parse_config({"smscs": [dict(base, bind_type="rx")]}, {"P": ""}).smscs[0]
            async with SmscClient(rx, on_receipt=receipts.append):
                assert await sim.wait_for(lambda s: len(receipts) >= 20, 3)
                await asyncio.sleep(0.05)
            ids = {r.message_id for r in receipts}
            assert {x.parts[0].message_id for x in rs} <= ids
            failure_only = {x.parts[0].message_id for x in fo} & ids
            assert failure_only and all(r.state == "UNDELIV" for r in receipts if r.message_id in failure_only)
            assert len(receipts) == 20 + len(failure_only) < 40

    asyncio.run(main())


@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar"])
def test_concatenated_mo_is_reassembled_out_of_order_and_deduplicated(concat):
    from engine.client import SmscClient
    from engine.config import parse_config

    async def main():
        async with Simulator(receipt_delay=None) as sim:
            cfg = parse_config({"smscs": [{"name": "s", "host": "127.0.0.1", "port": sim.port, "system_id": "a",
                                           "password_env": "P"}]}, {"P": ""}).smscs[0]
            async with SmscClient(cfg) as c:
                q = c.enable_inbound_queue()
                text = "A long mobile-originated message, Ελληνικά too. " * 4
                n = sim.send_mo("4915112345678", "12345", text, concat=concat, reverse=True, duplicate_part=0)
                event = await asyncio.wait_for(q.get(), 3)
                await sim.wait_for(lambda s: s.record.mo_acked == n, 3)
                assert q.empty()  # one message, the duplicate part swallowed
                assert c._reassembler.duplicates == 1
            assert event.complete and event.text == text and event.parts == n - 1 >= 3
            assert event.source == "4915112345678" and event.destination == "12345"
            assert event.message.method == concat
            assert sim.record.mo_acked == n

    asyncio.run(main())


def test_incomplete_mo_is_handed_over_with_what_arrived():
    from engine.client import SmscClient
    from engine.config import parse_config
    async def main():
        async with Simulator(receipt_delay=None) as sim:
            cfg = parse_config({"smscs": [{"name": "s", "host": "127.0.0.1", "port": sim.port, "system_id": "a",
                                           "password_env": "P", "mo_reassembly_timeout": 0.2}]}, {"P": ""}).smscs[0]
            async with SmscClient(cfg) as c:
                assert c._reassembler.timeout == 0.2
                q = c.enable_inbound_queue()
                conn = sim.connections[0]
                from engine.client.smsc import _encoder

                enc = _encoder()("x" * 200 + "y" * 200, concat="udh8")
                first = P.DeliverSm(source_addr="49151", destination_addr="12345", esm_class=0x40,
                                    short_message=enc.parts[0])
                conn.send_deliver([("mo", None, P.encode(first))])
                event = await asyncio.wait_for(q.get(), 3)
            assert not event.complete and event.missing == (2, 3) and event.text == "x" * 153

    asyncio.run(main())


# --- the commands, as subprocesses --------------------------------------------------


def _start_simulate(*extra: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [*SMPP_ENGINE, "simulate", "--port", "0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    return proc, json.loads(line)["port"]


def _stop(proc: subprocess.Popen) -> dict:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    return json.loads(out.strip().splitlines()[-1])["summary"]


def _run(*args: str, password: str = "pw", timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, SMPP_PASSWORD=password)
    return subprocess.run([*SMPP_ENGINE, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)


def test_cli_send_with_receipt_against_simulate():
    proc, port = _start_simulate("--system-id", "cli", "--password", "pw", "--receipt-delay", "0.05")
    try:
        r = _run("send", "--port", str(port), "--system-id", "cli", "--source", "ACME", "--dest", "+4915112345678",
                 "--text", "Hello " * 40, "--wait-receipt", "5", "--json")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["outcome"] == "ok" and out["segments"] == 2 and out["encoding"] == "gsm7"
        assert out["message_ids"] == ["00000001", "00000002"] and out["final_state"] == "DELIVRD"
        bad = _run("send", "--port", str(port), "--system-id", "cli", "--source", "ACME", "--dest", "49",
                   "--text", "x", password="wrong-pw")
        assert bad.returncode == 3 and "ESME_RINVPASWD" in bad.stderr
        assert "wrong-pw" not in bad.stderr + bad.stdout
    finally:
        summary = _stop(proc)
    assert summary["submits"] == 2 and summary["receipts_acked"] == 2 and summary["bind_failures"] == 1


def test_cli_load_against_simulate_reports_its_json():
    proc, port = _start_simulate("--no-receipts", "--throttle-rate", "0.05", "--record")
    try:
        r = _run("load", "--port", str(port), "--system-id", "cli", "--count", "3000", "--window", "50",
                 "--binds", "2", "--text", "load {i}")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert {"sent", "ok", "failed", "seconds", "rate", "latency_ms"} <= set(out)
        assert out["sent"] == out["ok"] == 3000 and out["failed"] == 0
        # Speed belongs to bench/; here the figures must only be consistent with each other.
        assert out["seconds"] > 0 and abs(out["rate"] - out["sent"] / out["seconds"]) <= 0.1 * out["rate"]
        assert 0 < out["latency_ms"]["p50"] <= out["latency_ms"]["p99"]
        assert out["throttled"] > 0
        bad = _run("load", "--port", str(port), "--system-id", "cli", "--count", "10", "--window", "0")
        assert bad.returncode == 2 and "--window" in bad.stderr

    finally:
        summary = _stop(proc)
    assert summary["submits"] == 3000 and summary["duplicates"] == 0 and summary["max_outstanding"] <= 50


def test_cli_simulate_rejects_bad_options():
    r = _run("simulate", "--throttle-rate", "1.5")
    assert r.returncode == 2 and "--throttle-rate" in r.stderr and "fraction" in r.stderr
    r = _run("simulate", "--states", "DELIVERED=1")
    assert r.returncode == 2 and "unknown state 'DELIVERED'" in r.stderr


def test_cli_load_with_receipts_and_send_over_a_transmitter():
    proc, port = _start_simulate("--receipt-delay", "0.01", "--states", "DELIVRD=1", "--id-format", "dec")
    try:
        r = _run("load", "--port", str(port), "--system-id", "cli", "--count", "300", "--window", "20",
                 "--receipt", "--unique", "--text", "receipt {i}")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["ok"] == 300 and out["receipts"] == 300 and out["receipt_rate"] > 0
        slow = _run("load", "--port", str(port), "--system-id", "cli", "--count", "400", "--window", "50",
                    "--binds", "2", "--tps", "400", "--text", "paced {i}")
        paced = json.loads(slow.stdout)
        assert paced["ok"] == 400 and 0.8 <= paced["seconds"] <= 2.0 and paced["rate"] <= 500, paced
        # A transmitter cannot receive: send opens a receiver bind beside it to wait.
        s = _run("send", "--port", str(port), "--system-id", "cli", "--bind", "tx", "--source", "12345",
                 "--dest", "4915112345678", "--text", "via tx", "--wait-receipt", "5", "--json")
        assert s.returncode == 0, s.stderr
        sent = json.loads(s.stdout)
        assert sent["final_state"] == "DELIVRD" and sent["message_ids"] == ["701"]
    finally:
        summary = _stop(proc)
    assert summary["submits"] == 701 and summary["receipts_acked"] == 301


def test_cli_simulate_sends_the_requested_mo_to_a_receiver():
    from engine.client import SmscClient
    from engine.config import parse_config

    proc, port = _start_simulate("--mo", "4915112345678,12345,Hello from the simulator, a, b")
    try:
        async def main():
            cfg = parse_config({"smscs": [{"name": "s", "host": "127.0.0.1", "port": port, "system_id": "a",
                                           "password_env": "P", "bind_type": "rx"}]}, {"P": ""}).smscs[0]
            async with SmscClient(cfg) as c:
                q = c.enable_inbound_queue()
                return await asyncio.wait_for(q.get(), 5)

        mo = asyncio.run(main())
    finally:
        summary = _stop(proc)
    assert mo.text == "Hello from the simulator, a, b" and mo.source == "4915112345678"
    assert summary["mo_sent"] == 1 and summary["mo_acked"] == 1


def test_cli_send_over_tls_to_simulate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=30,
    )
    proc, port = _start_simulate("--tls-cert", str(cert), "--tls-key", str(key), "--no-receipts")
    try:
        ok = _run("send", "--port", str(port), "--system-id", "cli", "--tls", "--tls-ca-file", str(cert),
                  "--source", "ACME", "--dest", "4915112345678", "--text", "over TLS", "--json")
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["message_ids"] == ["00000001"]
        plain = _run("send", "--port", str(port), "--system-id", "cli", "--connect-timeout", "1",
                     "--bind-timeout", "1", "--source", "ACME", "--dest", "49", "--text", "plain")
        assert plain.returncode == 3  # a TLS server does not answer a plain bind
    finally:
        summary = _stop(proc)
    assert summary["submits"] == 1
    bad = _run("simulate", "--tls-cert", str(cert))
    assert bad.returncode == 2 and "go together" in bad.stderr


def test_simulate_collects_garbage_rarely():
    import gc

    from engine.cli.simulate import _quiet_gc

    before = gc.get_threshold()
    try:
        _quiet_gc()
        assert gc.get_threshold() == (100_000, 50, 100) and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


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


def _feed(faults, frames):
    """frames through one transceiver connection, without a network: what it wrote,
    the receipts it scheduled, its record."""
    loop = asyncio.new_event_loop()
    try:
        sim = Simulator(receipt_delay=5.0, faults=faults, receipt_states={"DELIVRD": 3, "UNDELIV": 1}, seed=9)
        sim._loop = loop
        conn = sim._make_conn()
        sink = _Sink()
        conn.connection_made(sink)
        conn.data_received(P.encode(P.BindTransceiver(sequence_number=1, system_id="h")))
        conn.data_received(b"".join(frames))
        items = [item for entry in sim._receipt_heap for item in entry[2]]
        if sim._tick_handle is not None:
            sim._tick_handle.cancel()
        return b"".join(sink.data), items, _record_view(sim)
    finally:
        loop.close()


_cstr = lambda n: st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=n)  # noqa: E731


@settings(max_examples=200, deadline=None)
@given(
    subs=st.lists(st.builds(
        P.SubmitSm,
        sequence_number=st.integers(1, 0x7FFFFFFF), service_type=_cstr(5),
        source_addr_ton=st.integers(0, 255), source_addr_npi=st.integers(0, 255), source_addr=_cstr(20),
        dest_addr_ton=st.integers(0, 255), dest_addr_npi=st.integers(0, 255), destination_addr=_cstr(20),
        esm_class=st.sampled_from([0, 0x40, 0x43, 0xFF]), schedule_delivery_time=st.sampled_from(["", "261122120000000+"]),
        registered_delivery=st.integers(0, 255), data_coding=st.integers(0, 255), short_message=st.binary(max_size=254),
    ), min_size=1, max_size=6),
    cuts=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=3),
)
def test_fast_path_equals_the_general_path_on_any_submit_sm(subs, cuts):
    """Valid submit_sm with any field values (NULs in strings make them shorter or
    malformed), then the same with a few octets of the body changed: byte-identical
    responses and receipts, the same records, with and without the fast path."""
    from unittest import mock

    frames = []
    for p in subs:
        try:
            frames.append(P.encode(p))
        except Exception:  # a NUL inside a C-string: not encodable, skip it
            continue
    for pos, value in cuts:
        if frames:
            f = bytearray(frames[pos % len(frames)])
            if len(f) > 16:
                f[16 + pos % (len(f) - 16)] = value
                frames.append(bytes(f))
    with mock.patch.object(S, "_stamp", lambda t: "2611220644"):
        fast = _feed(Faults(), frames)
        general = _feed(Faults(max_tps=1e9), frames)
    assert fast == general


def test_receipt_sequence_numbers_wrap_and_are_remembered():
    loop = asyncio.new_event_loop()
    try:
        sim = Simulator(receipt_delay=5.0)
        sim._loop = loop
        conn = sim._make_conn()
        sink = _Sink()
        conn.connection_made(sink)
        conn.data_received(P.encode(P.BindTransceiver(sequence_number=1, system_id="w")))
        conn.data_received(b"".join(P.encode(P.SubmitSm(sequence_number=i + 2, destination_addr="49", short_message=b"w",
                                                         registered_delivery=1)) for i in range(4)))
        items = [item for entry in sim._receipt_heap for item in entry[2]]
        sim._tick_handle.cancel()
        sink.data.clear()
        for start, want in [(0x7FFFFFFD, [0x7FFFFFFE, 0x7FFFFFFF, 1, 2]), (10, [11, 12, 13, 14])]:
            conn.seq = start
            conn.unacked_receipts.clear()
            conn.send_receipts(items)
            got = S._native.Framer().feed_frames(sink.data.pop())
            assert [int.from_bytes(f[12:16], "big") for f in got] == want == sorted(conn.unacked_receipts, key=want.index)
            assert [f[16:] for f in got] == [i[3] for i in items] and conn.seq == want[-1]
            assert [conn.unacked_receipts[s] for s in want] == items
    finally:
        loop.close()


def test_framing_error_after_submits_in_one_read_answers_them_then_nacks_and_closes():
    loop = asyncio.new_event_loop()
    try:
        sim = Simulator(receipt_delay=None)
        sim._loop = loop
        conn = sim._make_conn()
        sink = _Sink()
        conn.connection_made(sink)
        conn.data_received(P.encode(P.BindTransmitter(sequence_number=1, system_id="f")))
        sink.data.clear()
        subs = b"".join(P.encode(P.SubmitSm(sequence_number=i + 2, destination_addr="49")) for i in range(3))
        conn.data_received(subs + bytes.fromhex("00000008" "00000004" "00000000" "00000009"))
        got = P.Framer().feed(b"".join(sink.data))
        assert [(type(p).__name__, p.sequence_number, p.command_status) for p in got] == [
            ("SubmitSmResp", 2, 0), ("SubmitSmResp", 3, 0), ("SubmitSmResp", 4, 0),
            ("GenericNack", 9, CommandStatus.ESME_RINVCMDLEN)]
        assert conn.closed and sim.record.submit_count == 3 and sim.record.disconnects == 1
    finally:
        loop.close()
