"""Delivery receipt parsing and message id normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.smpp import pdu as P
from engine.smpp.constants import MessageState, Tag
from engine.smpp.errors import PduError
from engine.smpp.pdu import Tlv
from engine.smpp.receipts import (
    STATES,
    ReceiptError,
    message_id_forms,
    normalize_message_id,
    parse_receipt,
    parse_receipt_date,
    parse_receipt_text,
    state_from_stat,
)
from engine.smpp.tlv import int_tlv, str_tlv

pytestmark = pytest.mark.timeout(60)

SPEC = "id:0123456789 sub:001 dlvrd:001 submit date:0610191018 done date:0610191018 stat:DELIVRD err:000 text:Hello"


def test_appendix_b_text():
    r = parse_receipt(text=SPEC)
    assert r.message_id == "0123456789"
    assert (r.state, r.stat, r.error, r.error_code) == ("delivered", "DELIVRD", "000", 0)
    assert (r.submitted, r.delivered) == ("001", "001")
    assert (r.submit_date, r.done_date, r.text) == ("0610191018", "0610191018", "Hello")
    assert parse_receipt_date(r.done_date) == (2006, 10, 19, 10, 18, 0)
    assert r.is_final


@pytest.mark.parametrize(
    "text,expected",
    [
        # upper-case keys, 12-digit dates
        (
            "ID:abc SUB:1 DLVRD:1 SUBMIT DATE:261122040507 DONE DATE:261122040609 STAT:UNDELIV ERR:034 TEXT:x",
            {"message_id": "abc", "state": "undeliverable", "error": "034", "submit_date": "261122040507"},
        ),
        # missing fields: only id and stat
        ("id:77 stat:EXPIRED", {"message_id": "77", "state": "expired", "text": None, "error": None}),
        # extra vendor fields kept in .fields
        (
            "id:5 sub:001 dlvrd:000 submit date:2611220400 done date:2611220401 stat:REJECTD err:0x0B mccmnc:25001 text:",
            {"state": "rejected", "error": "0x0B", "text": ""},
        ),
        # text with colons and key-like words inside
        (
            "id:9 stat:DELIVRD err:0 text:Meet at 10:30 id:fake stat:EXPIRED",
            {"message_id": "9", "state": "delivered", "text": "Meet at 10:30 id:fake stat:EXPIRED"},
        ),
        # submit_date with underscores, lower-case stat, odd spacing
        ("id: 42  submit_date:2611220400 stat: delivrd", {"message_id": "42", "state": "delivered"}),
        # an id containing a colon
        ("id:ab:cd stat:ACCEPTD", {"message_id": "ab:cd", "state": "accepted"}),
        # spelled-out states several SMSCs send
        ("id:1 stat:DELIVERED", {"state": "delivered"}),
        ("id:1 stat:FAILED", {"state": "undeliverable"}),
        ("id:1 stat:ENROUTE", {"state": "enroute"}),
        ("id:1 stat:DELETED", {"state": "deleted"}),
        ("id:1 stat:UNKNOWN", {"state": "unknown"}),
        ("id:1 stat:WEIRD", {"state": "unknown", "stat": "WEIRD"}),
        ("id:1", {"state": "unknown", "stat": None}),
    ],
)
def test_tolerant_text_parsing(text, expected):
    r = parse_receipt(text=text)
    for name, value in expected.items():
        assert getattr(r, name) == value, (name, r)


def test_extra_fields_are_kept():
    r = parse_receipt(text="id:5 stat:DELIVRD mccmnc:25001 text:hi")
    assert r.fields["mccmnc"] == "25001"


def test_tlvs_win_over_text():
    pdu = P.DeliverSm(
        esm_class=0x04,
        short_message=b"id:999 stat:UNDELIV err:001 text:x",
        tlvs=(
            str_tlv(Tag.RECEIPTED_MESSAGE_ID, "3E7"),
            int_tlv(Tag.MESSAGE_STATE, MessageState.DELIVERED),
            Tlv(Tag.NETWORK_ERROR_CODE, b"\x03\x00\x22"),
        ),
    )
    r = parse_receipt(pdu)
    assert (r.message_id, r.state, r.message_state, r.stat) == ("3E7", "delivered", 2, "UNDELIV")
    assert r.network_error_code == (3, 0x22)


def test_tlvs_alone_are_a_receipt():
    pdu = P.DataSm(esm_class=0x04, tlvs=(str_tlv(Tag.RECEIPTED_MESSAGE_ID, "m1"), int_tlv(Tag.MESSAGE_STATE, 5)))
    r = parse_receipt(pdu)
    assert (r.message_id, r.state) == ("m1", "undeliverable")


def test_receipted_message_id_without_nul_is_accepted():
    pdu = P.DeliverSm(esm_class=0x04, tlvs=(Tlv(Tag.RECEIPTED_MESSAGE_ID, b"abc"),))
    assert parse_receipt(pdu).message_id == "abc"


def test_message_payload_and_ucs2_text():
    pdu = P.DeliverSm(
        esm_class=0x04, data_coding=0x08, tlvs=(Tlv(Tag.MESSAGE_PAYLOAD, "id:12 stat:DELIVRD".encode("utf-16-be")),)
    )
    assert (parse_receipt(pdu).message_id, parse_receipt(pdu).state) == ("12", "delivered")


def test_every_message_state_maps():
    got = {parse_receipt(tlvs=(str_tlv(Tag.RECEIPTED_MESSAGE_ID, "x"), int_tlv(Tag.MESSAGE_STATE, v))).state for v in range(1, 9)}
    assert got == set(STATES)
    bad = parse_receipt(tlvs=(str_tlv(Tag.RECEIPTED_MESSAGE_ID, "x"), int_tlv(Tag.MESSAGE_STATE, 0)))
    assert bad.state == "unknown"


def test_no_id_is_an_error_naming_the_problem():
    with pytest.raises(ReceiptError, match="no message id"):
        parse_receipt(text="sub:001 stat:DELIVRD")


def test_bad_message_state_length_raises():
    with pytest.raises(PduError):
        parse_receipt(tlvs=(str_tlv(Tag.RECEIPTED_MESSAGE_ID, "x"), Tlv(Tag.MESSAGE_STATE, b"")))


@pytest.mark.parametrize(
    "value,expected",
    [("2611220405", (2026, 11, 22, 4, 5, 0)), ("261122040507", (2026, 11, 22, 4, 5, 7)), ("2613220405", None), ("26112204", None), ("", None), (None, None)],
)
def test_receipt_dates(value, expected):
    assert parse_receipt_date(value) == expected


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=200))
def test_text_parser_never_crashes(text):
    fields = parse_receipt_text(text)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
    assert state_from_stat(fields.get("stat")) in STATES


@settings(deadline=None, max_examples=200)
@given(
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20).filter(lambda s: ":" not in s),
    st.sampled_from(["DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "ENROUTE"]),
    st.text(max_size=40),
)
def test_generated_receipts_round_trip(mid, stat, body):
    text = f"id:{mid} sub:001 dlvrd:001 submit date:2611220400 done date:2611220401 stat:{stat} err:000 text:{body}"
    r = parse_receipt(text=text)
    assert r.message_id == mid
    assert r.state == state_from_stat(stat) != "unknown" or stat == "UNKNOWN"
    assert r.text == body


# ---------------------------------------------------------------------------
# Message ids


@pytest.mark.parametrize(
    "raw,fmt,canonical",
    [
        ("0A1B", "hex", "2587"),
        ("0a1b", "hex", "2587"),
        ("0x0A1B", "hex", "2587"),
        ("2587", "dec", "2587"),
        ("0002587", "dec", "2587"),
        ("000", "dec", "0"),
        (" 2587\0", "auto", "2587"),
        ("0A1B", "auto", "2587"),
        ("1234", "auto", "1234"),
        ("AbC-12", "auto", "abc-12"),
        ("AbC-12", "str", "abc-12"),
        (b"0A1B", "hex", "2587"),
        ("c0ffee00c0ffee00c0ffee00c0ffee00", "hex", str(int("c0ffee00c0ffee00c0ffee00c0ffee00", 16))),
    ],
)
def test_normalize_message_id(raw, fmt, canonical):
    assert normalize_message_id(raw, fmt) == canonical


def test_hex_resp_and_decimal_receipt_match():
    assert normalize_message_id("0A1B", "hex") == normalize_message_id("2587", "dec")


@pytest.mark.parametrize("raw,fmt", [("12x", "dec"), ("xyz", "hex"), ("", "auto"), ("  ", "str"), ("12", "base64")])
def test_normalize_rejects_what_it_cannot_read(raw, fmt):
    with pytest.raises(ValueError):
        normalize_message_id(raw, fmt)


def test_message_id_forms():
    assert message_id_forms("1234") == {"dec": "1234", "hex": "4660", "str": "1234"}
    assert message_id_forms("0A1B") == {"hex": "2587", "str": "0a1b"}
    assert message_id_forms("msg-1") == {"str": "msg-1"}


@settings(deadline=None, max_examples=200)
@given(st.integers(0, 2**64))
def test_hex_and_decimal_renderings_of_one_number_agree(n):
    for rendering in (f"{n:X}", f"{n:x}", f"{n:016X}", f"0x{n:x}"):
        assert normalize_message_id(rendering, "hex") == normalize_message_id(str(n), "dec") == str(n)
    assert normalize_message_id(f"{n:010d}", "dec") == str(n)


@settings(deadline=None, max_examples=300)
@given(
    st.lists(st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=12), min_size=3, max_size=3),
    st.lists(st.text("0123456789", min_size=1, max_size=12), min_size=2, max_size=2),
    st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=8),
    st.text(max_size=40),
    st.booleans(),
)
def test_standard_layout_fast_path_agrees_with_the_scan(values, dates, stat, body, upper):
    from engine.smpp.receipts import _scan_receipt_text

    mid, sub, dlvrd = values
    text = f"id:{mid} sub:{sub} dlvrd:{dlvrd} submit date:{dates[0]} done date:{dates[1]} stat:{stat} err:{sub} text:{body}"
    if upper:
        text = text.upper()
    assert parse_receipt_text(text) == _scan_receipt_text(text)
