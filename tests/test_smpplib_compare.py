"""Our reference against smpplib's ``gsm.make_parts``, an independent peer.

Where smpplib is right (plain GSM texts, UCS-2 texts inside the BMP) our parts carry
the same text and the same bytes after the UDH (smpplib's reference is random, so the
UDH's reference octet is not compared). Where it is wrong — it cuts at a fixed octet
count, so it splits an ESC pair or a surrogate pair, and its table has a backtick where
GSM 03.38 has '§' — the tests show smpplib's broken parts and that ours are whole.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smpplib import consts as smpp_consts
from smpplib import gsm as smpp_gsm

from engine.encoding import _tables
from engine.encoding.reference import decode, encode

pytestmark = pytest.mark.timeout(120)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The basic table without '§' (0x5F), where smpplib's table is wrong.
BASIC_OK = sorted(c for c in _tables.BASIC.values() if c != "§")
# smpplib wrongly takes the backtick for GSM (test_smpplib_backtick_and_section_sign), so a
# text whose only non-GSM character is a backtick is not one where smpplib is right.
SMPPLIB_THINKS_GSM = "`"
BMP_NON_GSM = "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдежзийклмнопрстуфхцчшщъыьэюя中文字ç`ĞşΩ"


def smpplib_parts(text: str):
    parts, encoding, esm_class = smpp_gsm.make_parts(text)
    udhi = bool(esm_class & smpp_consts.SMPP_GSMFEAT_UDHI)
    data_coding = {smpp_consts.SMPP_ENCODING_DEFAULT: 0x00, smpp_consts.SMPP_ENCODING_ISO10646: 0x08}[encoding]
    return parts, data_coding, udhi


def texts_of(parts, data_coding, udhi) -> list[str]:
    return [decode(p, data_coding, udhi).text for p in parts]


def bodies(parts, udhi) -> list[bytes]:
    return [p[p[0] + 1 :] if udhi else p for p in parts]


def _agree(text: str) -> None:
    theirs, dc, udhi = smpplib_parts(text)
    ours = encode(text, ref=1)
    assert ours.data_coding == dc
    assert ours.udhi == udhi
    assert ours.segments == len(theirs)
    assert "".join(texts_of(theirs, dc, udhi)) == text
    assert "".join(texts_of(ours.parts, ours.data_coding, ours.udhi)) == text
    assert bodies(ours.parts, ours.udhi) == bodies(theirs, udhi)
    if udhi:  # same UDH shape: 05 00 03 ref total seq
        for seq, (a, b) in enumerate(zip(ours.parts, theirs), start=1):
            assert a[:3] == b[:3] == b"\x05\x00\x03"
            assert a[4:6] == b[4:6] == bytes([len(theirs), seq])


@SETTINGS
@given(st.lists(st.sampled_from(BASIC_OK), max_size=500).map("".join))
def test_plain_gsm_agrees_with_smpplib(text):
    _agree(text)


@SETTINGS
@given(st.lists(st.sampled_from(BASIC_OK + list(BMP_NON_GSM)), min_size=1, max_size=300).map("".join).filter(lambda t: any(c in BMP_NON_GSM and c not in SMPPLIB_THINKS_GSM for c in t)))
def test_ucs2_bmp_agrees_with_smpplib(text):
    _agree(text)


@pytest.mark.parametrize("n", [1, 70, 71, 134, 135, 200])
def test_cyrillic_lengths_agree(n):
    _agree("Ж" * n)


@pytest.mark.parametrize("n", [1, 159, 160, 161, 306, 307])
def test_gsm_lengths_agree(n):
    _agree("x" * n)


def test_extension_chars_in_one_part_agree():
    _agree("Price: 5€ {promo} [ok] ~ | ^ \\")


def test_smpplib_splits_an_escape_pair_and_we_do_not():
    text = "a" * 152 + "€" + "b" * 10
    theirs, dc, udhi = smpplib_parts(text)
    # smpplib cuts at 153 octets: part 1 ends with a lone ESC, part 2 starts with 0x65.
    assert bodies(theirs, udhi)[0].endswith(b"\x1b")
    assert bodies(theirs, udhi)[1].startswith(b"\x65")
    broken = texts_of(theirs, dc, udhi)
    assert broken[0] == "a" * 152 + " "  # a trailing ESC shows as a space
    assert broken[1].startswith("e")  # and the euro sign became an 'e'
    assert "".join(broken) != text
    ours = encode(text, ref=1)
    assert bodies(ours.parts, ours.udhi)[0] == b"a" * 152
    assert bodies(ours.parts, ours.udhi)[1].startswith(b"\x1b\x65")
    assert texts_of(ours.parts, 0, True) == ["a" * 152, "€" + "b" * 10]


def test_smpplib_splits_a_surrogate_pair_and_we_do_not():
    text = "a" * 66 + "😀" + "b" * 10
    theirs, dc, udhi = smpplib_parts(text)
    assert dc == 0x08
    # smpplib cuts at 134 octets: the emoji's high surrogate ends part 1.
    assert bodies(theirs, udhi)[0].endswith(b"\xd8\x3d")
    broken = texts_of(theirs, dc, udhi)
    assert broken[0].endswith("\ufffd") and broken[1].startswith("\ufffd")
    assert "".join(broken) != text
    ours = encode(text, ref=1)
    whole = texts_of(ours.parts, ours.data_coding, ours.udhi)
    assert whole == ["a" * 66, "😀" + "b" * 10]
    assert "".join(whole) == text


def test_smpplib_backtick_and_section_sign():
    # GSM 03.38 has '§' at 0x5F and no backtick; smpplib's table has them the other way.
    theirs, dc, _ = smpplib_parts("`")
    assert (theirs, dc) == ([b"\x5f"], 0x00)
    assert decode(theirs[0], dc).text == "§"  # what a handset shows: wrong
    ours = encode("`")
    assert (ours.encoding, ours.parts) == ("ucs2", [b"\x00\x60"])
    theirs, dc, _ = smpplib_parts("§")
    assert dc == 0x08  # smpplib pays for UCS-2
    assert encode("§").parts == [b"\x5f"]
