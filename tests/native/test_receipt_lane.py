"""The framer's receipt lane (``Framer.feed_receipts``) against ``feed`` and the object
path: the rows it takes out are exactly the receipts the object path reads with the
Rust fast lane, before the first PDU that could change the session's state; each row
gives the tracker, the metrics and a ``Receipt`` what the object path gives them; every
other PDU is in ``items``, in order, as ``feed`` gives it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.client.smsc import parse_deliver
from engine.client.types import receipt_from_row
from engine.metrics import _receipt_state, receipt_row_state
from engine.smpp import _native
from engine.smpp import pdu as P
from engine.smpp.constants import CommandId, Tag
from engine.smpp.errors import PduError
from engine.smpp.tlv import Tlv
from engine.tracking.tracker import receipt_fields, receipt_row_fields

from .test_receipt_native import STANDARD, receipts

pytestmark = pytest.mark.skipif(not _native.NATIVE, reason="the Rust extension is not built")

# What keeps the lane open: answers to our submits, the peer's deliver_sm / data_sm,
# enquire_link both ways.
_KEEPS_OPEN = {CommandId.SUBMIT_SM_RESP, CommandId.DELIVER_SM, CommandId.DATA_SM, CommandId.ENQUIRE_LINK,
               CommandId.ENQUIRE_LINK_RESP}


def _lane_takes(item) -> bool:
    """Whether the object path reads this item as a receipt through the Rust fast lane."""
    if isinstance(item, PduError) or item.command_id != CommandId.DELIVER_SM:
        return False
    if item.esm_class & 0x3C not in (0x04, 0x20) or item.data_coding == 0x08:
        return False
    return _native.receipt_standard(item.short_message, item.tlvs) is not None


def _expected(items: list) -> tuple[list, list]:
    """(items, laned PDUs) as the lane must split ``feed``'s output."""
    kept, laned = [], []
    open_ = True
    for item in items:
        if open_ and _lane_takes(item):
            laned.append(item)
            continue
        if isinstance(item, PduError) or item.command_id not in _KEEPS_OPEN:
            open_ = False
        kept.append(item)
    return kept, laned


def _split_per_call(data: bytes, chunks: list[int]):
    """``feed`` and ``feed_receipts`` of two framers, call by call: the lane reopens
    with each call, so the two are compared per call."""
    whole, lane = _native.Framer(), _native.Framer()
    start = 0
    for size in chunks + [len(data)]:
        piece = data[start:start + size]
        start += len(piece)
        yield whole.feed(piece), lane.feed_receipts(piece)
        if start >= len(data):
            break


def _row_agrees(row: tuple, pdu) -> None:
    receipt = parse_deliver("smsc/0", pdu)
    assert row[0] == pdu.sequence_number
    parsed = receipt.parsed
    assert row[1:] == (parsed.message_id, parsed.state, parsed.stat, parsed.error, parsed.message_state)
    assert receipt_row_fields(row) == receipt_fields(receipt)
    assert receipt_row_state("smsc/0", row) == _receipt_state(receipt)
    from_row = receipt_from_row("smsc/0", row)
    assert (from_row.bind, from_row.message_id, from_row.state, from_row.message_state, from_row.error) == (
        receipt.bind, receipt.message_id, receipt.state, receipt.message_state, receipt.error)


def _receipt_pdu(seq: int, sm: bytes = STANDARD, tlvs: tuple = (), esm: int = 4, dc: int = 0) -> P.DeliverSm:
    return P.DeliverSm(sequence_number=seq, source_addr="79031234567", destination_addr="SHOP", esm_class=esm,
                       data_coding=dc, short_message=sm, tlvs=tlvs)


def test_receipts_become_rows_until_a_pdu_that_could_change_the_state():
    tlvs = (Tlv(Tag.RECEIPTED_MESSAGE_ID, b"A1B2\0"), Tlv(Tag.MESSAGE_STATE, b"\x05"))
    stream = [
        _receipt_pdu(1, tlvs=tlvs),
        P.SubmitSmResp(sequence_number=2, message_id="abc"),
        P.DeliverSm(sequence_number=3, source_addr="79031234567", destination_addr="SHOP", short_message=b"bal 0899"),
        _receipt_pdu(4, sm=b"id:7 stat:DELIVRD"),  # another layout: the object path's
        P.EnquireLink(sequence_number=5),
        _receipt_pdu(6, esm=0x20),  # an intermediate notification is a receipt too
        _receipt_pdu(7, dc=8, sm="id:1".encode("utf-16-be")),  # UCS-2: the object path's
        P.Unbind(sequence_number=8),
        _receipt_pdu(9),  # after an unbind: the session must judge it
    ]
    data = b"".join(P.encode(p) for p in stream)
    items, rows = _native.Framer().feed_receipts(data)
    assert [r[0] for r in rows] == [1, 6]
    assert rows[0] == (1, "A1B2", "undeliverable", "DELIVRD", "000", 5)
    assert rows[1] == (6, "0000a1b2", "delivered", "DELIVRD", "000", None)
    assert [p.sequence_number for p in items] == [2, 3, 4, 5, 7, 8, 9]
    assert items == [p for p in _native.Framer().feed(data) if p.sequence_number not in (1, 6)]
    _row_agrees(rows[0], stream[0])
    _row_agrees(rows[1], stream[5])


def test_a_malformed_pdu_closes_the_lane_and_keeps_its_place():
    good = P.encode(_receipt_pdu(1))
    bad = bytearray(P.encode(_receipt_pdu(2)))
    bad[4:8] = (0x77).to_bytes(4, "big")  # no such command_id: generic_nack material
    items, rows = _native.Framer().feed_receipts(good + bytes(bad) + good)
    assert [r[0] for r in rows] == [1]
    assert isinstance(items[0], PduError) and items[1].sequence_number == 1


@st.composite
def streams(draw):
    pdus = []
    seq = 1
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.integers(0, 9))
        if kind <= 5:
            sm, tlvs = draw(receipts())
            try:
                pdu = _receipt_pdu(seq, sm=sm[:254], tlvs=tlvs, esm=draw(st.sampled_from([4, 4, 0x20, 0, 0x08])),
                                   dc=draw(st.sampled_from([0, 0, 0, 3, 8])))
                frame = P.encode(pdu)
            except (PduError, ValueError):
                continue
        elif kind == 6:
            frame = P.encode(P.SubmitSmResp(sequence_number=seq, message_id=draw(st.sampled_from(["", "1f", "x9"]))))
        elif kind == 7:
            frame = P.encode(draw(st.sampled_from([P.EnquireLink(sequence_number=seq),
                                                   P.EnquireLinkResp(sequence_number=seq),
                                                   P.Unbind(sequence_number=seq),
                                                   P.GenericNack(sequence_number=seq)])))
        elif kind == 8:
            frame = P.encode(P.DeliverSm(sequence_number=seq, source_addr="1", destination_addr="2",
                                         short_message=b"stop"))
        else:
            frame = bytearray(P.encode(_receipt_pdu(seq)))
            frame[4:8] = draw(st.sampled_from([0x77, 0x80000077])).to_bytes(4, "big")
            frame = bytes(frame)
        pdus.append(frame)
        seq += 1
    data = b"".join(pdus)
    cuts = draw(st.lists(st.integers(1, max(len(data), 1)), max_size=3))
    return data, cuts


SEEN = [0, 0]


@settings(max_examples=300, deadline=None)
@given(streams())
def test_the_lane_is_feed_minus_the_receipts_it_reads(case):
    data, cuts = case
    for whole, (items, rows) in _split_per_call(data, cuts):
        kept, laned = _expected(whole)
        assert items == kept
        assert len(rows) == len(laned)
        for row, pdu in zip(rows, laned):
            _row_agrees(row, pdu)
        SEEN[0] += len(rows)
        SEEN[1] += len(items)


def test_the_generated_streams_exercise_both_paths():
    if sum(SEEN) < 100:
        pytest.skip("the property test did not run first")
    assert SEEN[0] > 50 and SEEN[1] > 50, SEEN
