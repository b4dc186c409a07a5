"""Reassembly of concatenated MO messages: UDH 8/16-bit, SAR, order, duplicates, timeouts."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.encoding import reference as R
from engine.smpp import pdu as P
from engine.smpp.constants import EsmClass, Tag
from engine.smpp.reassembly import Reassembler, split_udh
from engine.smpp.tlv import Tlv, sar_tlvs

pytestmark = pytest.mark.timeout(120)

LONG_GSM = "Reassembly test: " + "the quick brown fox {jumps} over the lazy dog. " * 6
LONG_UCS2 = "Привет, мир! 😀 " * 12


def mo_parts(text, *, concat="udh8", ref=42, packed=False, source="447700900123", dest="12345", encoding="auto"):
    enc = R.encode(text, encoding=encoding, concat=concat, ref=ref, packed=packed)
    pdus = []
    for i, body in enumerate(enc.parts):
        tlvs = sar_tlvs(*enc.sar[i]) if enc.sar else ()
        pdus.append(
            P.DeliverSm(
                source_addr=source,
                destination_addr=dest,
                esm_class=EsmClass.UDHI if enc.udhi else 0,
                data_coding=enc.data_coding,
                short_message=body,
                tlvs=tlvs,
            )
        )
    return pdus


def feed(r, pdus, now=0.0):
    done = [m for m in (r.add(p, now) for p in pdus) if m is not None]
    return done


@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar"])
@pytest.mark.parametrize("text", [LONG_GSM, LONG_UCS2], ids=["gsm", "ucs2"])
def test_out_of_order_parts_reassemble(concat, text):
    pdus = mo_parts(text, concat=concat)
    assert len(pdus) >= 3
    r = Reassembler()
    order = list(reversed(pdus))
    results = [r.add(p, 1.0) for p in order]
    assert results[:-1] == [None] * (len(pdus) - 1)
    msg = results[-1]
    assert msg.text == text
    assert (msg.method, msg.ref, msg.total) == (concat, 42, len(pdus))
    assert [p.seq for p in msg.parts] == list(range(1, len(pdus) + 1))
    assert r.pending == 0


def test_packed_gsm_decodes_part_by_part():
    pdus = mo_parts(LONG_GSM, packed=True)
    r = Reassembler(packed=True)
    (msg,) = feed(r, [pdus[1], pdus[0], pdus[2], *pdus[3:]])
    assert msg.text == LONG_GSM


def test_an_incomplete_packed_message_keeps_the_text_of_what_arrived():
    pdus = mo_parts(LONG_GSM, packed=True)
    whole = feed(Reassembler(packed=True), pdus)[0]
    r = Reassembler(packed=True, timeout=60.0)
    r.add(pdus[0], 0.0)
    r.add(pdus[2], 1.0)
    (gone,) = r.expire(60.0)
    # Part by part, as the whole message is decoded: parts 1 and 3 of its text.
    per_part = [R.decode(p.short_message, p.data_coding, True, packed=True).text for p in pdus]
    assert "".join(per_part) == whole.text == LONG_GSM
    assert gone.text == per_part[0] + per_part[2]
    # Unpacked, the joined payload is decoded, as before.
    plain = mo_parts(LONG_GSM)
    r = Reassembler(timeout=60.0)
    r.add(plain[0], 0.0)
    (gone,) = r.expire(60.0)
    first = R.decode(plain[0].short_message, plain[0].data_coding, True).text
    assert gone.text == first and LONG_GSM.startswith(first) and len(first) > 100


def test_duplicated_parts_are_ignored():
    pdus = mo_parts(LONG_GSM)
    r = Reassembler()
    assert r.add(pdus[0], 0.0) is None
    assert r.add(pdus[0], 0.1) is None
    (msg,) = feed(r, pdus[1:])
    assert msg.text == LONG_GSM and msg.duplicates == 1
    assert r.duplicates == 1 and r.pending == 0
    # An SMSC re-sending a part after the message completed: recognised as a repeat.
    assert r.add(pdus[1], 2.0) is None
    assert r.duplicates == 2 and r.pending == 0
    assert r.expire(1000.0) == []
    # After the timeout the key is forgotten: the same ref starts a new message.
    assert r.add(pdus[1], 1000.0) is None and r.pending == 1


def test_same_ref_from_two_sources_stays_apart():
    a = mo_parts(LONG_GSM, source="111")
    b = mo_parts(LONG_UCS2, source="222")
    r = Reassembler()
    results = feed(r, [x for pair in zip(a, b) for x in pair] + a[len(b):] + b[len(a):])
    assert sorted(m.text for m in results) == sorted([LONG_GSM, LONG_UCS2])


def test_missing_part_expires_with_what_arrived():
    pdus = mo_parts(LONG_GSM)
    r = Reassembler(timeout=60.0)
    assert r.next_deadline() is None
    r.add(pdus[0], 10.0)
    r.add(pdus[2], 20.0)
    assert r.next_deadline() == 70.0
    assert r.expire(69.9) == []
    (gone,) = r.expire(70.0)
    assert gone.missing == (2,) + tuple(range(4, len(pdus) + 1))
    assert [p.seq for p in gone.parts] == [1, 3]
    assert gone.parts[0].data == pdus[0].short_message[6:]  # the UDH is 6 octets
    assert (gone.reason, gone.first_at, gone.expired_at) == ("timeout", 10.0, 70.0)
    assert r.pending == 0 and r.next_deadline() is None


def test_single_part_message_comes_back_at_once():
    r = Reassembler()
    msg = r.add(P.DeliverSm(source_addr="1", destination_addr="2", short_message=b"Hello"), 5.0)
    assert (msg.method, msg.text, msg.total, msg.data) == ("single", "Hello", 1, b"Hello")


def test_message_payload_is_used():
    r = Reassembler()
    text = "x" * 300
    msg = r.add(P.DataSm(source_addr="1", destination_addr="2", tlvs=(Tlv(Tag.MESSAGE_PAYLOAD, text.encode()),)), 0.0)
    assert msg.text == text


def test_malformed_udh_is_delivered_whole_with_a_note():
    r = Reassembler()
    msg = r.add(P.DeliverSm(esm_class=EsmClass.UDHI, short_message=b"\x09\x00\x03abc"), 0.0)
    assert msg.method == "single" and "malformed UDH" in msg.note
    assert msg.data == b"\x09\x00\x03abc"


def test_invalid_sequence_is_delivered_as_single():
    r = Reassembler()
    udh = bytes([5, 0, 3, 9, 3, 0])  # seq 0 of 3
    msg = r.add(P.DeliverSm(esm_class=EsmClass.UDHI, short_message=udh + b"hi"), 0.0)
    assert msg.method == "single" and "seq 0 of 3" in msg.note and msg.text == "hi"


def test_binary_parts_keep_their_octets():
    data = bytes(range(256)) * 2
    pdus = mo_parts(data, encoding="binary")
    (msg,) = feed(Reassembler(), pdus)
    assert msg.text is None and msg.data == data


def test_undecodable_text_keeps_data_and_says_why():
    udh = bytes([5, 0, 3, 1, 2])  # ref 1, 2 parts; the sequence number follows
    r = Reassembler()
    r.add(P.DeliverSm(esm_class=EsmClass.UDHI, short_message=udh + b"\x01" + b"\x01\xff"), 0.0)  # 0xFF: no GSM septet
    msg = r.add(P.DeliverSm(esm_class=EsmClass.UDHI, short_message=udh + b"\x02" + b"ok"), 0.0)
    assert msg.text is None and "DecodeError" in msg.decode_error
    assert msg.data == b"\x01\xffok"  # part 1's payload then part 2's, UDHs removed


def test_too_many_pending_evicts_the_oldest():
    r = Reassembler(max_pending=2)
    for ref in (1, 2, 3):
        r.add(mo_parts(LONG_GSM, ref=ref)[0], float(ref))
    assert r.pending == 2
    assert r.next_deadline() == float("-inf")
    (gone,) = r.expire(3.0)
    assert (gone.reason, gone.ref) == ("evicted", 1)


def test_split_udh():
    assert split_udh(b"\x05\x00\x03\x01\x02\x01hi") == (b"\x05\x00\x03\x01\x02\x01", b"hi", [(0, b"\x01\x02\x01")])
    assert split_udh(b"\x05\x00\x09\x01") is None
    assert split_udh(b"") is None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(min_size=1, max_size=700),
    st.sampled_from(["udh8", "udh16", "sar"]),
    st.randoms(use_true_random=False),
    st.integers(0, 3),
)
def test_any_text_any_order_with_duplicates(text, concat, rnd, dups):
    pdus = mo_parts(text, concat=concat)
    stream = pdus + [rnd.choice(pdus) for _ in range(dups)]
    rnd.shuffle(stream)
    r = Reassembler()
    done = feed(r, stream)
    assert len(done) >= 1
    first = done[0]
    assert first.text == text
    if len(pdus) > 1:
        assert len(done) == 1 and r.pending == 0  # repeats, before or after completion, are ignored
        assert r.duplicates == dups


# -- concat_part / assemble: parts kept outside the reassembler (Redis) ---------------------


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar"])
@pytest.mark.parametrize("text", [LONG_GSM, LONG_UCS2], ids=["gsm", "ucs2"])
def test_assemble_from_concat_parts_equals_add(concat, text, packed):
    """Parts read with concat_part and assembled give what add() gives, text included."""
    from engine.smpp.reassembly import Part, concat_part

    pdus = mo_parts(text, concat=concat, packed=packed)
    expected = feed(Reassembler(packed=packed), pdus, 5.0)[0]
    parts = [concat_part(p, packed) for p in reversed(pdus)]
    assert all(c is not None for c in parts)
    assert {c.seq for c in parts} == set(range(1, len(pdus) + 1))
    c0 = parts[0]
    got = Reassembler().assemble(
        source=c0.source, destination=c0.destination, method=c0.method, ref=c0.ref, total=c0.total,
        data_coding=c0.data_coding, parts=[Part(c.seq, c.data, c.short_message, 1.0) for c in parts],
        per_part=any(c.per_part for c in parts), packed=packed, first_at=1.0, now=5.0,
    )
    assert got.text == text == expected.text
    assert (got.method, got.ref, got.total, got.data, got.data_coding) == (
        expected.method, expected.ref, expected.total, expected.data, expected.data_coding)
    assert got.first_at == 1.0 and got.completed_at == 5.0


def test_assemble_with_a_part_missing_is_incomplete():
    from engine.smpp.reassembly import Incomplete, Part, concat_part

    pdus = mo_parts(LONG_GSM)
    parts = [concat_part(p) for p in pdus]
    del parts[1]
    c0 = parts[0]
    got = Reassembler().assemble(
        source=c0.source, destination=c0.destination, method=c0.method, ref=c0.ref, total=c0.total,
        data_coding=c0.data_coding, parts=[Part(c.seq, c.data, c.short_message, 1.0) for c in parts],
        per_part=False, packed=False, first_at=1.0, now=9.0,
    )
    assert isinstance(got, Incomplete)
    assert got.missing == (2,) and [p.seq for p in got.parts] == [1, 3] + list(range(4, len(pdus) + 1))
    assert got.reason == "timeout" and got.expired_at == 9.0


def test_concat_part_is_none_for_what_add_delivers_at_once():
    from engine.smpp.reassembly import concat_part

    plain = P.DeliverSm(source_addr="1", destination_addr="2", short_message=b"hi")
    assert concat_part(plain) is None
    malformed = P.DeliverSm(source_addr="1", destination_addr="2", esm_class=EsmClass.UDHI, short_message=b"\x09\x00")
    assert concat_part(malformed) is None
    for total, seq in ((1, 1), (0, 1), (3, 0), (3, 4)):
        pdu = P.DeliverSm(source_addr="1", destination_addr="2", esm_class=EsmClass.UDHI,
                          short_message=bytes([5, 0, 3, 7, total, seq]) + b"abc")
        assert concat_part(pdu) is None, (total, seq)
        assert Reassembler().add(pdu, 0.0) is not None  # and add() gives it back whole
    pdu = P.DeliverSm(source_addr="1", destination_addr="2", esm_class=EsmClass.UDHI,
                      short_message=bytes([5, 0, 3, 7, 3, 2]) + b"abc")
    c = concat_part(pdu)
    assert (c.method, c.ref, c.total, c.seq, c.data, c.short_message) == ("udh8", 7, 3, 2, b"abc", pdu.short_message)
