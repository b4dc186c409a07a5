"""The Rust fast lane for delivery receipts (``engine.smpp._native.receipt_standard``)
against the reference parser (``engine.smpp.receipts``): where the fast lane answers,
its Receipt is the reference's, field for field; everywhere else it says None and the
reference reads (or refuses) the receipt."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.smpp import _native
from engine.smpp import receipts as R
from engine.smpp.constants import Tag
from engine.smpp.pdu import DeliverSm
from engine.smpp.tlv import Tlv

pytestmark = pytest.mark.skipif(not _native.NATIVE, reason="the Rust extension is not built")

STANDARD = (b"id:0000a1b2 sub:001 dlvrd:001 submit date:2611220705 done date:2611220706 "
            b"stat:DELIVRD err:000 text:Your code is 1")


def reference(sm: bytes, tlvs: tuple, data_coding: int = 0):
    """The reference parser alone (the fast lane switched off), or the exception it raises."""
    saved = R._native_standard
    R._native_standard = None
    try:
        return R.parse_receipt_body(DeliverSm(esm_class=4, short_message=sm, data_coding=data_coding, tlvs=tlvs))
    except ValueError as exc:
        return exc
    finally:
        R._native_standard = saved


def same(fast, ref) -> None:
    assert not isinstance(ref, Exception), (fast, ref)
    receipt, body = ref
    assert fast == receipt
    assert fast.fields == receipt.fields and list(fast.fields) == list(receipt.fields)
    assert type(fast) is R.Receipt


def test_the_common_receipt_is_read_by_the_fast_lane_and_equals_the_reference():
    tlvs = (Tlv(Tag.RECEIPTED_MESSAGE_ID, b"A1B2\0"), Tlv(Tag.MESSAGE_STATE, b"\x02"),
            Tlv(Tag.NETWORK_ERROR_CODE, b"\x03\x00\x0c"))
    fast = _native.receipt_standard(STANDARD, tlvs)
    assert fast is not None
    assert fast.message_id == "A1B2" and fast.state == "delivered" and fast.network_error_code == (3, 12)
    assert fast.text == "Your code is 1" and fast.fields["submit_date"] == "2611220705"
    same(fast, reference(STANDARD, tlvs))
    # And parse_receipt (which the client calls) takes it, giving the same.
    pdu = DeliverSm(esm_class=4, short_message=STANDARD, tlvs=tlvs)
    assert R.parse_receipt(pdu) == fast


@pytest.mark.parametrize("sm, tlvs", [
    (STANDARD, (Tlv(Tag.MESSAGE_PAYLOAD, STANDARD),)),  # the payload TLV carries the text
    (STANDARD, (Tlv(Tag.MESSAGE_STATE, b"\x00\x02"),)),  # wrong length: the reference raises
    (b"id:1 stat:DELIVRD", ()),  # another layout: the reference's scan reads it
    (STANDARD.replace(b" sub:", b"  sub:"), ()),
    (STANDARD.replace(b"0000a1b2", b"\xe9a1"), ()),
    (STANDARD, (Tlv(Tag.RECEIPTED_MESSAGE_ID, b" 12\0"),)),  # the reference strips it
    (b"", ()),  # no id anywhere: the reference raises
])
def test_anything_but_the_plain_case_is_left_to_the_reference(sm, tlvs):
    assert _native.receipt_standard(sm, tlvs) is None
    pdu = DeliverSm(esm_class=4, short_message=sm, tlvs=tlvs)
    ref = reference(sm, tlvs)
    if isinstance(ref, Exception):
        with pytest.raises(type(ref)):
            R.parse_receipt(pdu)
    else:
        assert R.parse_receipt(pdu) == ref[0]


def test_ucs2_receipts_do_not_take_the_fast_lane():
    text = "id:7 sub:001 dlvrd:001 submit date:1 done date:2 stat:DELIVRD err:0 text:x".encode("utf-16-be")
    pdu = DeliverSm(esm_class=4, short_message=text, data_coding=8)
    assert R.parse_receipt(pdu).message_id == "7"


# Mostly clean words (the fast lane's case), sometimes the octets it must leave alone.
CLEAN_WORD = st.text(alphabet=st.sampled_from("aZ09:-_.#"), min_size=1, max_size=8)
WORD = st.text(alphabet=st.sampled_from("aZ09:-_. \t\xe9\x85\xa0\x1f"), min_size=0, max_size=8)
CLEAN_DIGITS = st.text(alphabet=st.sampled_from("0123456789"), min_size=1, max_size=12)
DIGITS = st.text(alphabet=st.sampled_from("0123456789a "), min_size=0, max_size=12)
KEYS = ["id", "sub", "dlvrd", "submit date", "done date", "stat", "err", "text"]


@st.composite
def receipts(draw):
    # Two in three receipts are clean (the fast lane's case); the others carry the
    # octets it must leave to the reference.
    messy = draw(st.integers(0, 2)) == 0
    word, digits = (WORD, DIGITS) if messy else (CLEAN_WORD, CLEAN_DIGITS)
    values = {k: draw(digits if "date" in k else word) for k in KEYS}
    values["stat"] = draw(st.one_of(word, st.sampled_from(["DELIVRD", "undeliv", "Expired", "FAILED", "ENROUTE",
                                                            "REJECTD", "UNKNOWN", "ACCEPTD", "DELETED", "x"])))
    parts = []
    for k in KEYS:
        key = "".join(c.upper() if draw(st.booleans()) else c for c in k) if draw(st.booleans()) else k
        parts.append(f"{key}:{values[k]}")
    sep = draw(st.sampled_from([" ", "  ", "\n"])) if messy else " "
    text = sep.join(parts)
    if draw(st.integers(0, 4)) == 0:
        text = draw(st.text(max_size=60))  # anything at all
    sm = text.encode("latin-1", "replace")
    tlvs = []
    for _ in range(draw(st.integers(0, 3))):
        tag = draw(st.sampled_from([Tag.RECEIPTED_MESSAGE_ID, Tag.MESSAGE_STATE, Tag.NETWORK_ERROR_CODE,
                                    Tag.MESSAGE_PAYLOAD, 0x1401]))
        if tag == Tag.MESSAGE_STATE:
            value = draw(st.binary(min_size=0, max_size=2)) if draw(st.integers(0, 5)) == 0 else bytes([draw(st.integers(0, 9))])
        elif tag == Tag.NETWORK_ERROR_CODE:
            value = draw(st.binary(min_size=2, max_size=4))
        elif tag == Tag.RECEIPTED_MESSAGE_ID:
            value = draw(st.text(alphabet=st.sampled_from("aF09 \t\xe9"), max_size=6)).encode("latin-1") + draw(
                st.sampled_from([b"\0", b"", b"\0junk"]))
        else:
            value = draw(st.binary(max_size=8))
        tlvs.append(Tlv(tag, value))
    if tlvs and draw(st.booleans()):
        tlvs = [t for t in tlvs if t.tag != Tag.MESSAGE_PAYLOAD]
    return sm, tuple(tlvs)


FAST_SEEN = [0, 0]


@settings(max_examples=600, deadline=None)
@given(receipts())
def test_fast_lane_agrees_with_the_reference_wherever_it_answers(case):
    sm, tlvs = case
    fast = _native.receipt_standard(sm, tlvs)
    FAST_SEEN[fast is not None] += 1
    ref = reference(sm, tlvs)
    if fast is not None:
        same(fast, ref)
    # Whichever path parse_receipt takes, it gives the reference's answer.
    pdu = DeliverSm(esm_class=4, short_message=sm, tlvs=tlvs)
    if isinstance(ref, Exception):
        with pytest.raises(type(ref)):
            R.parse_receipt(pdu)
    else:
        assert R.parse_receipt(pdu) == ref[0]


def test_the_generated_receipts_exercise_both_lanes():
    # Runs after the property test (file order): both lanes were taken, often.
    if sum(FAST_SEEN) < 100:
        pytest.skip("the property test did not run first")
    assert FAST_SEEN[1] > 50 and FAST_SEEN[0] > 50, FAST_SEEN
