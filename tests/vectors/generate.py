"""Writes encode.json, decode.json and gsm_alphabet.json (format: README.md here).

    .venv/bin/python tests/vectors/generate.py

Two kinds of vectors:

* hand vectors: the expected bytes are written here from the specifications (the hex
  is spelled out, or built from a tiny bit-string packer below that shares no code
  with the reference); the script refuses to write anything if the reference
  disagrees with one of them;
* generated vectors: seeded texts near the limits, the answer taken from the
  reference and then checked independently here (every part decodes to whole
  characters, the parts rebuild the text, each part fits 140 octets, the UDH is
  what the options ask for) before it is written.
"""

from __future__ import annotations

import json
import pathlib
import random
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from engine.encoding import _tables, reference  # noqa: E402
from engine.encoding.errors import TooManyParts, UnencodableCharacter  # noqa: E402


# --- an independent packer: bits as a string, LSB-first (TS 23.038 §6.1.2.1) -------


def bitpack(septets: list[int], fill: int) -> str:
    bits = "0" * fill + "".join(format(s, "07b")[::-1] for s in septets)
    if len(bits) % 8 == 1:  # 7 spare bits: CR pad
        bits += format(0x0D, "07b")[::-1]
    bits += "0" * (-len(bits) % 8)
    return "".join(format(int(bits[i : i + 8][::-1], 2), "02x") for i in range(0, len(bits), 8))


def sept(text: str) -> list[int]:
    """Septets of a text of default-basic characters only."""
    rev = {c: s for s, c in _tables.BASIC.items()}
    return [rev[c] for c in text]


def hx(text: str) -> str:
    """Unpacked hex of a default-basic text."""
    return bytes(sept(text)).hex()


def u16(text: str) -> str:
    return text.encode("utf-16-be").hex()


def ok(name, text, options, encoding, segments, units, parts, *, udhi=False, sar=None, ref=None, national=(None, None), text_hex=None):
    dc = {"gsm7": 0, "ucs2": 8, "latin1": 3, "binary": 4}[encoding]
    v = {"name": name}
    if text_hex is not None:
        v["text_hex"] = text_hex
    else:
        v["text"] = text
    v.update(
        options=options,
        encoding=encoding,
        data_coding=dc,
        segments=segments,
        units=units,
        parts=parts,
        udhi=udhi,
        sar=sar,
        ref=ref,
        national=list(national),
    )
    return v


def err(name, text, options, **error):
    return {"name": name, "text": text, "options": options, "error": error}


def hand_encode_vectors() -> list[dict]:
    A = "a"
    # The bit-string packer against values worked out by hand: the classic example,
    # the 7-spare-bit CR pad, and "hello" after one fill bit (a udh8 header).
    assert bitpack(sept("hellohello"), 0) == "e8329bfd4697d9ec37"
    assert bitpack(sept("1234567"), 0) == "31d98c56b3dd1a"
    assert bitpack(sept("hello"), 1) == "d06536fb0d"
    V = []
    V.append(ok("hellohello_unpacked", "hellohello", {}, "gsm7", 1, 10, ["68656c6c6f68656c6c6f"]))
    V.append(ok("hellohello_packed_classic", "hellohello", {"packed": True}, "gsm7", 1, 10, ["e8329bfd4697d9ec37"]))
    V.append(ok("packed_1234567_cr_pad", "1234567", {"packed": True}, "gsm7", 1, 7, ["31d98c56b3dd1a"]))
    V.append(ok("empty_text", "", {}, "gsm7", 1, 0, [""]))
    V.append(ok("empty_text_ucs2", "", {"encoding": "ucs2"}, "ucs2", 1, 0, [""]))
    V.append(ok("euro_costs_two_septets", "€", {}, "gsm7", 1, 2, ["1b65"]))
    V.append(
        ok(
            "all_default_extension_chars",
            "\f^{}\\[~]|€",
            {},
            "gsm7",
            1,
            20,
            ["1b0a1b141b281b291b2f1b3c1b3d1b3e1b401b65"],
        )
    )
    V.append(ok("capital_c_cedilla_0x09_section_0x5f", "Ç§", {}, "gsm7", 1, 2, ["095f"]))
    V.append(ok("lower_c_cedilla_is_not_gsm", "ç", {}, "ucs2", 1, 1, ["00e7"]))
    V.append(ok("backtick_is_not_gsm", "`", {}, "ucs2", 1, 1, ["0060"]))
    V.append(ok("gsm_160_one_segment", A * 160, {}, "gsm7", 1, 160, [hx(A * 160)]))
    V.append(
        ok(
            "gsm_161_two_segments_153_8",
            A * 161,
            {"ref": 1},
            "gsm7",
            2,
            161,
            ["0500030102 01".replace(" ", "") + hx(A * 153), "050003010202" + hx(A * 8)],
            udhi=True,
            ref=1,
        )
    )
    V.append(
        ok(
            "gsm_306_two_segments",
            A * 306,
            {"ref": 255},
            "gsm7",
            2,
            306,
            ["050003ff0201" + hx(A * 153), "050003ff0202" + hx(A * 153)],
            udhi=True,
            ref=255,
        )
    )
    V.append(
        ok(
            "gsm_307_three_segments",
            A * 307,
            {"ref": 2},
            "gsm7",
            3,
            307,
            ["050003020301" + hx(A * 153), "050003020302" + hx(A * 153), "050003020303" + hx(A)],
            udhi=True,
            ref=2,
        )
    )
    # An extension character never leaves its ESC: at septets 153/154 it moves whole.
    V.append(
        ok(
            "euro_at_septets_153_154_moves_to_part_2",
            A * 152 + "€" + "b" * 10,
            {"ref": 7},
            "gsm7",
            2,
            164,
            ["050003070201" + hx(A * 152), "050003070202" + "1b65" + hx("b" * 10)],
            udhi=True,
            ref=7,
        )
    )
    V.append(
        ok(
            "euro_at_septets_152_153_fits_part_1",
            A * 151 + "€" + "b" * 10,
            {"ref": 7},
            "gsm7",
            2,
            163,
            ["050003070201" + hx(A * 151) + "1b65", "050003070202" + hx("b" * 10)],
            udhi=True,
            ref=7,
        )
    )
    V.append(ok("euro_at_septets_159_160_single", A * 158 + "€", {}, "gsm7", 1, 160, [hx(A * 158) + "1b65"]))
    V.append(
        ok(
            "euro_at_septets_160_161_two_parts",
            A * 159 + "€",
            {"ref": 3},
            "gsm7",
            2,
            161,
            ["050003030201" + hx(A * 153), "050003030202" + hx(A * 6) + "1b65"],
            udhi=True,
            ref=3,
        )
    )
    D = "Д"
    V.append(ok("cyrillic_70_one_segment", D * 70, {}, "ucs2", 1, 70, [u16(D * 70)]))
    V.append(
        ok(
            "cyrillic_71_two_segments",
            D * 71,
            {"ref": 9},
            "ucs2",
            2,
            71,
            ["050003090201" + u16(D * 67), "050003090202" + u16(D * 4)],
            udhi=True,
            ref=9,
        )
    )
    E = "😀"  # U+1F600 = D83D DE00
    V.append(
        ok(
            "emoji_at_units_67_68_moves_to_part_2",
            A * 66 + E + "b" * 5,
            {"ref": 9},
            "ucs2",
            2,
            73,
            ["050003090201" + u16(A * 66), "050003090202" + "d83dde00" + u16("b" * 5)],
            udhi=True,
            ref=9,
        )
    )
    V.append(
        ok(
            "emoji_at_units_66_67_fits_part_1",
            A * 65 + E + "b" * 5,
            {"ref": 9},
            "ucs2",
            2,
            72,
            ["050003090201" + u16(A * 65) + "d83dde00", "050003090202" + u16("b" * 5)],
            udhi=True,
            ref=9,
        )
    )
    V.append(
        ok(
            "emoji_at_units_66_67_udh16_moves",
            A * 65 + E + "b" * 5,
            {"ref": 0x1234, "concat": "udh16"},
            "ucs2",
            2,
            72,
            ["06080412340201" + u16(A * 65), "06080412340202" + "d83dde00" + u16("b" * 5)],
            udhi=True,
            ref=0x1234,
        )
    )
    V.append(ok("emoji_70_units_single", A * 68 + E, {}, "ucs2", 1, 70, [u16(A * 68) + "d83dde00"]))
    V.append(
        ok(
            "udh16_gsm_200",
            A * 200,
            {"ref": 0x1234, "concat": "udh16"},
            "gsm7",
            2,
            200,
            ["06080412340201" + hx(A * 152), "06080412340202" + hx(A * 48)],
            udhi=True,
            ref=0x1234,
        )
    )
    V.append(
        ok(
            "sar_gsm_200",
            A * 200,
            {"ref": 0x1234, "concat": "sar"},
            "gsm7",
            2,
            200,
            [hx(A * 153), hx(A * 47)],
            sar=[[0x1234, 2, 1], [0x1234, 2, 2]],
            ref=0x1234,
        )
    )
    V.append(ok("sar_single_segment_no_ref", "hi", {"ref": 5, "concat": "sar"}, "gsm7", 1, 2, [hx("hi")]))
    V.append(ok("payload_gsm_200", A * 200, {"ref": 5, "concat": "payload"}, "gsm7", 2, 200, [hx(A * 200)]))
    V.append(ok("udh8_single_segment_no_udh", "hi", {"ref": 5}, "gsm7", 1, 2, [hx("hi")]))
    # Packed with a UDH: 1 fill bit after the 6-octet udh8 header.
    V.append(
        ok(
            "packed_udh8_fill_bit",
            A * 153 + "hello" * 2,
            {"ref": 1, "packed": True},
            "gsm7",
            2,
            163,
            ["050003010201" + bitpack(sept(A * 153), 1), "050003010202" + bitpack(sept("hello" * 2), 1)],
            udhi=True,
            ref=1,
        )
    )
    # udh16: 7 octets = 56 bits, already on a septet boundary: no fill.
    V.append(
        ok(
            "packed_udh16_no_fill",
            A * 152 + "hellohello",
            {"ref": 0x0102, "packed": True, "concat": "udh16"},
            "gsm7",
            2,
            162,
            ["06080401020201" + bitpack(sept(A * 152), 0), "06080401020202" + "e8329bfd4697d9ec37"],
            udhi=True,
            ref=0x0102,
        )
    )
    # A packed text whose CR ends on an octet boundary gets one more CR.
    V.append(ok("packed_final_cr_on_boundary_doubled", "abcdefg\r", {"packed": True}, "gsm7", 1, 8, [bitpack(sept("abcdefg\r\r"), 0)]))
    # 160 packed septets ending in CR need 161 with the extra CR: two segments.
    V.append(
        ok(
            "packed_160_ending_cr_two_segments",
            A * 159 + "\r",
            {"packed": True, "ref": 4},
            "gsm7",
            2,
            160,
            ["050003040201" + bitpack(sept(A * 153), 1), "050003040202" + bitpack(sept(A * 6 + "\r"), 1)],
            udhi=True,
            ref=4,
        )
    )
    # Part 1 of a udh8 message: 1 fill bit + 153 septets end on an octet boundary, so a
    # CR there would need a 154th septet: the CR moves to part 2.
    V.append(
        ok(
            "packed_udh8_cr_at_153_moves_to_part_2",
            A * 152 + "\r" + "b" * 10,
            {"packed": True, "ref": 6},
            "gsm7",
            2,
            163,
            ["050003060201" + bitpack(sept(A * 152), 1), "050003060202" + bitpack(sept("\r" + "b" * 10), 1)],
            udhi=True,
            ref=6,
        )
    )
    V.append(
        ok(
            "unpacked_udh8_cr_at_153_stays",
            A * 152 + "\r" + "b" * 10,
            {"ref": 6},
            "gsm7",
            2,
            163,
            ["050003060201" + hx(A * 152 + "\r"), "050003060202" + hx("b" * 10)],
            udhi=True,
            ref=6,
        )
    )
    V.append(ok("unpacked_160_ending_cr_one_segment", A * 159 + "\r", {"ref": 4}, "gsm7", 1, 160, [hx(A * 159 + "\r")]))
    # National language tables (TS 23.038 annex A; UDH IEs 0x25 locking, 0x24 single).
    V.append(
        ok(
            "turkish_locking_beats_ucs2",
            "ş" * 100,
            {"national": ["turkish"]},
            "gsm7",
            1,
            100,
            ["03250101" + "1d" * 100],
            udhi=True,
            national=("turkish", None),
        )
    )
    V.append(
        ok(
            "turkish_single_preferred_on_tie",
            "ğ" + A * 90,
            {"national": ["turkish"]},
            "gsm7",
            1,
            92,
            ["03240101" + "1b67" + hx(A * 90)],
            udhi=True,
            national=(None, "turkish"),
        )
    )
    V.append(ok("turkish_not_cheaper_than_ucs2_short", "ğ" + A * 5, {"national": ["turkish"]}, "ucs2", 1, 6, [u16("ğ" + A * 5)]))
    V.append(
        ok(
            "turkish_forced_gsm7_short",
            "ğ" + A * 5,
            {"national": ["turkish"], "encoding": "gsm7"},
            "gsm7",
            1,
            7,
            ["03240101" + "1b67" + hx(A * 5)],
            udhi=True,
            national=(None, "turkish"),
        )
    )
    V.append(
        ok(
            "turkish_locking_three_parts",
            "ş" * 300,
            {"national": ["turkish"], "ref": 0x42},
            "gsm7",
            3,
            300,
            [
                "080003420301250101" + "1d" * 149,
                "080003420302250101" + "1d" * 149,
                "080003420303250101" + "1d" * 2,
            ],
            udhi=True,
            ref=0x42,
            national=("turkish", None),
        )
    )
    V.append(
        ok(
            "turkish_not_enabled_is_ucs2",
            "ş" * 100,
            {"ref": 1},
            "ucs2",
            2,
            100,
            ["050003010201" + u16("ş" * 67), "050003010202" + u16("ş" * 33)],
            udhi=True,
            ref=1,
        )
    )
    V.append(
        ok(
            "spanish_single_shift_c_cedilla",
            "ç" + A * 80,
            {"national": ["spanish"]},
            "gsm7",
            1,
            82,
            ["03240102" + "1b09" + hx(A * 80)],
            udhi=True,
            national=(None, "spanish"),
        )
    )
    V.append(
        ok(
            "spanish_accents",
            "Canción aquí, ÁÍÓÚ áíóú ç " + A * 60,
            {"national": ["spanish"]},
            "gsm7",
            1,
            97,
            [
                "03240102"
                + hx("Canci")
                + "1b6f"
                + hx("n aqu")
                + "1b69"
                + hx(", ")
                + "1b411b491b4f1b55"
                + hx(" ")
                + "1b611b691b6f1b75"
                + hx(" ")
                + "1b09"
                + hx(" ")
                + hx(A * 60)
            ],
            udhi=True,
            national=(None, "spanish"),
        )
    )
    V.append(
        ok(
            "portuguese_locking",
            "ã" * 80,
            {"national": ["portuguese"]},
            "gsm7",
            1,
            80,
            ["03250103" + "7b" * 80],
            udhi=True,
            national=("portuguese", None),
        )
    )
    V.append(
        ok(
            "portuguese_locking_and_single",
            "ªΦ" + A * 80,
            {"national": ["portuguese"]},
            "gsm7",
            1,
            83,
            ["06250103240103" + "12" + "1b12" + hx(A * 80)],
            udhi=True,
            national=("portuguese", "portuguese"),
        )
    )
    # 'ç' + 80 'a': every one-IE candidate fits one segment (PT locking: 81 units; a
    # single shift: 82); single-only beats locking-only, then the order of `national`.
    V.append(
        ok(
            "language_order_breaks_ties_pt_first",
            "ç" + A * 80,
            {"national": ["portuguese", "spanish"]},
            "gsm7",
            1,
            82,
            ["03240103" + "1b09" + hx(A * 80)],
            udhi=True,
            national=(None, "portuguese"),
        )
    )
    V.append(
        ok(
            "language_order_breaks_ties_es_first",
            "ç" + A * 80,
            {"national": ["spanish", "portuguese"]},
            "gsm7",
            1,
            82,
            ["03240102" + "1b09" + hx(A * 80)],
            udhi=True,
            national=(None, "spanish"),
        )
    )
    # 'ª' exists only in the PT locking table: locking-only, one septet each.
    V.append(
        ok(
            "portuguese_locking_only_char",
            "ª" + A * 80,
            {"national": ["spanish", "portuguese"]},
            "gsm7",
            1,
            81,
            ["03250103" + "12" + hx(A * 80)],
            udhi=True,
            national=("portuguese", None),
        )
    )
    V.append(
        ok(
            "latin1_forced",
            "café",
            {"encoding": "latin1"},
            "latin1",
            1,
            4,
            ["636166e9"],
        )
    )
    V.append(
        ok(
            "latin1_141_two_parts",
            "é" * 141,
            {"encoding": "latin1", "ref": 1},
            "latin1",
            2,
            141,
            ["050003010201" + "e9" * 134, "050003010202" + "e9" * 7],
            udhi=True,
            ref=1,
        )
    )
    V.append(ok("binary_140", None, {"encoding": "binary"}, "binary", 1, 140, ["00ff" * 70], text_hex="00ff" * 70))
    V.append(
        ok(
            "binary_141_udh16",
            None,
            {"encoding": "binary", "ref": 0xBEEF, "concat": "udh16"},
            "binary",
            2,
            141,
            ["060804beef0201" + "ab" * 133, "060804beef0202" + "ab" * 8],
            udhi=True,
            ref=0xBEEF,
            text_hex="ab" * 141,
        )
    )
    # Errors.
    V.append(err("forced_gsm7_chinese", "abc中d", {"encoding": "gsm7"}, type="UnencodableCharacter", char="中", index=3))
    V.append(err("forced_gsm7_first_bad_char", "a€ç中", {"encoding": "gsm7"}, type="UnencodableCharacter", char="ç", index=2))
    V.append(err("forced_latin1_euro", "aé€", {"encoding": "latin1"}, type="UnencodableCharacter", char="€", index=2))
    V.append(
        err(
            "forced_gsm7_national_no_table_has_it",
            "ş中",
            {"encoding": "gsm7", "national": ["turkish"]},
            type="UnencodableCharacter",
            char="中",
            index=1,
        )
    )
    V.append(
        err(
            "forced_gsm7_national_conflict",
            "ªÄ",
            {"encoding": "gsm7", "national": ["portuguese"]},
            type="UnencodableCharacter",
            char="Ä",
            index=1,
        )
    )
    V.append(err("too_many_parts_256", A * (153 * 255 + 1), {}, type="TooManyParts", actual=256, max=255))
    V.append(err("too_many_parts_max_2", A * 400, {"max_parts": 2}, type="TooManyParts", actual=3, max=2))
    V.append(err("too_many_parts_payload", A * 400, {"max_parts": 2, "concat": "payload"}, type="TooManyParts", actual=3, max=2))
    V.append(err("bad_encoding", "hi", {"encoding": "utf8"}, type="ValueError"))
    V.append(err("bad_concat", "hi", {"concat": "udh"}, type="ValueError"))
    V.append(err("max_parts_0", "hi", {"max_parts": 0}, type="ValueError"))
    V.append(err("max_parts_256", "hi", {"max_parts": 256}, type="ValueError"))
    V.append(err("ref_256_udh8", "hi", {"ref": 256}, type="ValueError"))
    V.append(err("ref_negative", "hi", {"ref": -1}, type="ValueError"))
    V.append(err("ref_65536_udh16", "hi", {"ref": 65536, "concat": "udh16"}, type="ValueError"))
    V.append(err("unknown_national", "hi", {"national": ["klingon"]}, type="ValueError"))
    V.append(err("binary_given_str", "hi", {"encoding": "binary"}, type="ValueError"))
    V.append({"name": "bytes_given_auto", "text_hex": "6869", "options": {}, "error": {"type": "ValueError"}})
    return V


# --- generated vectors -------------------------------------------------------------

POOLS = {
    "gsm": "".join(c for c in _tables.BASIC.values()),
    "ext": "".join(_tables.EXTENSION.values()),
    "cyr": "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдежзийклмнопрстуфхцчшщъыьэюя",
    "emoji": "😀🎉👍🚀❤",
    "cjk": "中文字符测试",
    "tr": "çğıİşŞĞÇöüÖÜ",
    "es": "áéíóúÁÉÍÓÚñÑçü¿¡",
    "pt": "ãõâêôÃÕÂÊÔáéíóúçÁÍÓÚàÀªº",
}


def check_generated(text, options, m) -> None:
    """Independent checks of a generated answer (raises AssertionError)."""
    concat = options.get("concat", "udh8")
    if concat == "payload":
        assert len(m.parts) == 1
    else:
        assert len(m.parts) == m.segments
        for p in m.parts:
            u = p[0] + 1 if m.udhi else 0
            if m.encoding == "gsm7" and not options.get("packed"):
                # unpacked: one septet per octet here, packed into 140 octets on the air
                assert len(p) - u <= (140 - u) * 8 // 7, "a part has too many septets"
            else:
                assert len(p) <= 140, "a part is longer than 140 octets"
    packed = options.get("packed", False) and m.encoding == "gsm7"
    pieces = []
    for i, part in enumerate(m.parts, start=1):
        d = reference.decode(part, m.data_coding, m.udhi, packed=packed)
        if m.segments > 1 and concat in ("udh8", "udh16") and m.udhi:
            assert d.udh.concat == (m.ref, m.segments, i)
            assert d.udh.ref_bits == (8 if concat == "udh8" else 16)
        if m.udhi:
            assert d.udh.national == tuple(m.national)
        pieces.append(d.text if d.text is not None else d.data)
    if isinstance(text, bytes):
        assert b"".join(pieces) == text
    elif not (packed and "\r" in text):
        assert "".join(pieces) == text, "parts do not rebuild the text"
        for p in pieces:  # whole characters: no lone surrogate, no lost ESC
            assert "\ufffd" not in p or "\ufffd" in text


def generated_encode_vectors() -> list[dict]:
    rng = random.Random(20261122)
    out = []
    lengths = [0, 1, 66, 67, 68, 69, 70, 71, 72, 133, 134, 135, 140, 141, 146, 149, 151, 152, 153, 154, 155, 159, 160, 161, 162, 298, 305, 306, 307, 400]
    common = [{}, {"concat": "udh16"}, {"concat": "sar"}, {"concat": "payload"}, {"packed": True}, {"packed": True, "concat": "udh16"}, {"encoding": "ucs2"}]
    tr = [{"national": ["turkish"]}, {"national": ["turkish"], "packed": True}, {"national": ["turkish"], "concat": "udh16"}, {"national": ["spanish", "turkish"], "concat": "sar"}, {"national": ["turkish"], "encoding": "gsm7"}]
    es = [{"national": ["spanish"]}, {"national": ["spanish"], "packed": True}, {"national": ["spanish"], "concat": "udh16", "packed": True}, {"national": ["portuguese", "spanish"]}, {"national": ["spanish"], "encoding": "gsm7"}]
    pt = [{"national": ["portuguese"]}, {"national": ["portuguese"], "packed": True}, {"national": ["portuguese"], "concat": "payload"}, {"national": ["turkish", "spanish", "portuguese"]}, {"national": ["portuguese"], "encoding": "gsm7", "concat": "udh16"}]
    mixes = [
        (("gsm",), common),
        (("gsm", "ext"), common),
        (("cyr",), common),
        (("gsm", "emoji"), common),
        (("cyr", "emoji"), common),
        (("gsm", "cjk"), common),
        (("gsm", "tr"), tr),
        (("gsm", "ext", "tr"), tr),
        (("gsm", "es"), es),
        (("gsm", "pt"), pt),
        (("gsm", "ext", "pt"), pt),
        (("gsm", "ext", "tr", "es", "pt"), tr + es + pt),
        (("tr", "gsm"), tr),
        (("pt", "gsm"), pt),
    ]
    n = 0
    for mix, option_sets in mixes:
        for i, length in enumerate(rng.sample(lengths, 10)):
            weights = [8 if j == 0 else 1 for j in range(len(mix))]
            chars = [rng.choice(POOLS[rng.choices(mix, weights)[0]]) for _ in range(length)]
            text = "".join(chars)
            options = dict(option_sets[i % len(option_sets)])
            options["ref"] = rng.randrange(256)
            try:
                m = reference.encode(text, **options)
            except UnencodableCharacter:
                continue
            check_generated(text, options, m)
            v = ok(f"gen_{n:03d}_{'_'.join(mix)}_{length}", text, options, m.encoding, m.segments, m.units, [p.hex() for p in m.parts], udhi=m.udhi, sar=[list(t) for t in m.sar] if m.sar else None, ref=m.ref, national=m.national)
            add_count(v, text, options)
            out.append(v)
            n += 1
    return out


def add_count(v: dict, text, options) -> None:
    copts = {k: val for k, val in options.items() if k not in ("ref", "packed")}
    c = reference.count(text, **copts)
    v["count"] = {
        "encoding": c.encoding,
        "data_coding": c.data_coding,
        "segments": c.segments,
        "units": c.units,
        "chars": c.chars,
        "per_segment": c.per_segment,
        "national": list(c.national),
    }


# --- decode vectors ----------------------------------------------------------------


def dv(name, payload, dc, udhi=False, packed=False, **expect):
    v = {"name": name, "payload": payload, "data_coding": dc, "udhi": udhi, "packed": packed}
    v.update(expect)
    return v


def udh(concat=None, ref_bits=None, national=(None, None), elements=()):
    return {"concat": concat, "ref_bits": ref_bits, "national": list(national), "elements": [list(e) for e in elements]}


def decode_vectors() -> list[dict]:
    B = "DecodeError"
    return [
        dv("gsm_unpacked", "68656c6c6f", 0, text="hello", data="68656c6c6f", encoding="gsm7", udh=None),
        dv("gsm_packed_hellohello", "e8329bfd4697d9ec37", 0, packed=True, text="hellohello", data="e8329bfd4697d9ec37", encoding="gsm7", udh=None),
        dv("gsm_packed_cr_pad_dropped", "31d98c56b3dd1a", 0, packed=True, text="1234567", data="31d98c56b3dd1a", encoding="gsm7", udh=None),
        dv("gsm_packed_7_zero_bits_are_at", "31d98c56b3dd00", 0, packed=True, text="1234567@", data="31d98c56b3dd00", encoding="gsm7", udh=None),
        dv("gsm_packed_doubled_cr_keeps_both", bitpack(sept("abcdefg\r\r"), 0), 0, packed=True, text="abcdefg\r\r", data=bitpack(sept("abcdefg\r\r"), 0), encoding="gsm7", udh=None),
        dv(
            "gsm_packed_udh8_fill_bit",
            "050003010202d06536fb0d",
            0,
            udhi=True,
            packed=True,
            text="hello",
            data="d06536fb0d",
            encoding="gsm7",
            udh=udh((1, 2, 2), 8, elements=[(0, "010202")]),
        ),
        dv("gsm_extension", "1b651b28", 0, text="€{", data="1b651b28", encoding="gsm7", udh=None),
        dv("gsm_esc_esc_is_space", "611b1b62", 0, text="a b", data="611b1b62", encoding="gsm7", udh=None),
        dv("gsm_trailing_esc_is_space", "611b", 0, text="a ", data="611b", encoding="gsm7", udh=None),
        dv("gsm_esc_unknown_code_is_basic", "1b41", 0, text="A", data="1b41", encoding="gsm7", udh=None),
        dv("gsm_unpacked_octet_0x80", "6180", 0, error={"type": B}),
        dv(
            "udh8_concat",
            "050003aa0201" + "68656c6c6f",
            0,
            udhi=True,
            text="hello",
            data="68656c6c6f",
            encoding="gsm7",
            udh=udh((0xAA, 2, 1), 8, elements=[(0, "aa0201")]),
        ),
        dv(
            "udh16_concat_ucs2",
            "06080412340301" + "0041",
            8,
            udhi=True,
            text="A",
            data="0041",
            encoding="ucs2",
            udh=udh((0x1234, 3, 1), 16, elements=[(8, "12340301")]),
        ),
        dv(
            "udh_unknown_ie_kept",
            "050a03010203" + "61",
            0,
            udhi=True,
            text="a",
            data="61",
            encoding="gsm7",
            udh=udh(elements=[(0x0A, "010203")]),
        ),
        dv("udh_empty", "00" + "61", 0, udhi=True, text="a", data="61", encoding="gsm7", udh=udh()),
        dv(
            "turkish_locking_decode",
            "03250101" + "1d07",
            0,
            udhi=True,
            text="şı",
            data="1d07",
            encoding="gsm7",
            udh=udh(national=("turkish", None), elements=[(0x25, "01")]),
        ),
        dv(
            "portuguese_both_decode",
            "06250103240103" + "12" + "1b12",
            0,
            udhi=True,
            text="ªΦ",
            data="121b12",
            encoding="gsm7",
            udh=udh(national=("portuguese", "portuguese"), elements=[(0x25, "03"), (0x24, "03")]),
        ),
        dv(
            "spanish_single_decode",
            "03240102" + "1b09",
            0,
            udhi=True,
            text="ç",
            data="1b09",
            encoding="gsm7",
            udh=udh(national=(None, "spanish"), elements=[(0x24, "02")]),
        ),
        dv("udh_longer_than_payload", "0500030102", 0, udhi=True, error={"type": B}),
        dv("udh_ie_past_udh", "03000301" + "61", 0, udhi=True, error={"type": B}),
        dv("udhi_empty_payload", "", 0, udhi=True, error={"type": B}),
        dv("concat_ie_bad_length", "0400020102" + "61", 0, udhi=True, error={"type": B}),
        dv("shift_ie_unknown_language", "03250109" + "61", 0, udhi=True, error={"type": B}),
        dv("spanish_locking_does_not_exist", "03250102" + "61", 0, udhi=True, error={"type": B}),
        dv("ucs2", u16("Привет😀"), 8, text="Привет😀", data=u16("Привет😀"), encoding="ucs2", udh=None),
        dv("ucs2_lone_surrogate", "d83d0041", 8, text="\ufffdA", data="d83d0041", encoding="ucs2", udh=None),
        dv("ucs2_odd_octet", "004100", 8, text="A\ufffd", data="004100", encoding="ucs2", udh=None),
        dv("ascii", "6869", 1, text="hi", data="6869", encoding="ascii", udh=None),
        dv("ascii_high_octet", "68e9", 1, error={"type": B}),
        dv("latin1", "636166e9", 3, text="café", data="636166e9", encoding="latin1", udh=None),
        dv("binary_0x04", "00ff", 4, text=None, data="00ff", encoding="binary", udh=None),
        dv("binary_0x02", "00ff", 2, text=None, data="00ff", encoding="binary", udh=None),
        dv("group_0x11_gsm7", "6869", 0x11, text="hi", data="6869", encoding="gsm7", udh=None),
        dv("group_0x18_ucs2", "0041", 0x18, text="A", data="0041", encoding="ucs2", udh=None),
        dv("group_0x15_binary", "0041", 0x15, text=None, data="0041", encoding="binary", udh=None),
        dv("group_0x1c_reserved", "0041", 0x1C, error={"type": B}),
        dv("group_0xf0_gsm7", "6869", 0xF0, text="hi", data="6869", encoding="gsm7", udh=None),
        dv("group_0xf4_binary", "6869", 0xF4, text=None, data="6869", encoding="binary", udh=None),
        dv("reserved_0x0f", "6869", 0x0F, error={"type": B}),
        dv("reserved_0x80", "6869", 0x80, error={"type": B}),
    ]


def alphabet() -> dict:
    tables = [
        ("default", 0, "basic", _tables.BASIC),
        ("default", 0, "extension", _tables.EXTENSION),
    ]
    for lang, lid in _tables.LANGUAGE_IDS.items():
        if lang in _tables.LOCKING:
            tables.append((lang, lid, "locking", _tables.LOCKING[lang]))
        tables.append((lang, lid, "single", _tables.SINGLE[lang]))
    return {
        "tables": [
            {"language": lang, "language_id": lid, "kind": kind, "entries": [[s, c] for s, c in sorted(t.items())]}
            for lang, lid, kind, t in tables
        ]
    }


# --- check the hand vectors against the reference, then write ----------------------


def run_encode(v):
    text = bytes.fromhex(v["text_hex"]) if "text_hex" in v else v["text"]
    return reference.encode(text, **v["options"])


def verify_encode(v) -> list[str]:
    problems = []
    try:
        m = run_encode(v)
    except (UnencodableCharacter, TooManyParts, ValueError, TypeError) as exc:
        e = v.get("error")
        if e is None:
            return [f"{v['name']}: raised {exc!r}"]
        if type(exc).__name__ != e["type"] and not (e["type"] == "ValueError" and type(exc) is ValueError):
            return [f"{v['name']}: raised {type(exc).__name__}, expected {e['type']}"]
        if isinstance(exc, UnencodableCharacter) and (exc.char, exc.index) != (e["char"], e["index"]):
            problems.append(f"{v['name']}: {exc!r} != {e}")
        if isinstance(exc, TooManyParts) and (exc.actual, exc.max) != (e["actual"], e["max"]):
            problems.append(f"{v['name']}: {exc!r} != {e}")
        return problems
    if "error" in v:
        return [f"{v['name']}: no error, expected {v['error']}"]
    got = {
        "encoding": m.encoding,
        "data_coding": m.data_coding,
        "segments": m.segments,
        "units": m.units,
        "parts": [p.hex() for p in m.parts],
        "udhi": m.udhi,
        "sar": [list(t) for t in m.sar] if m.sar else None,
        "ref": m.ref,
        "national": list(m.national),
    }
    for k, val in got.items():
        if v[k] != val:
            problems.append(f"{v['name']}: {k} = {val!r}, expected {v[k]!r}")
    return problems


def main() -> int:
    hand = hand_encode_vectors()
    problems = [p for v in hand for p in verify_encode(v)]
    for v in hand:
        if "error" not in v and not v["options"].get("packed"):
            text = bytes.fromhex(v["text_hex"]) if "text_hex" in v else v["text"]
            add_count(v, text, v["options"])
    from engine.encoding.reference import decode

    dvs = decode_vectors()
    for v in dvs:
        try:
            d = decode(bytes.fromhex(v["payload"]), v["data_coding"], v["udhi"], packed=v["packed"])
        except ValueError as exc:
            if "error" not in v or type(exc).__name__ != v["error"]["type"]:
                problems.append(f"{v['name']}: raised {exc!r}")
            continue
        if "error" in v:
            problems.append(f"{v['name']}: no error")
            continue
        got_udh = None
        if d.udh is not None:
            got_udh = udh(d.udh.concat and list(d.udh.concat), d.udh.ref_bits, d.udh.national, [(i, b.hex()) for i, b in d.udh.elements])
        exp_udh = v["udh"]
        if exp_udh is not None and exp_udh["concat"] is not None:
            exp_udh["concat"] = list(exp_udh["concat"])
        if (d.text, d.data.hex(), d.encoding, got_udh) != (v["text"], v["data"], v["encoding"], exp_udh):
            problems.append(f"{v['name']}: got {d}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    encode_vectors = hand + generated_encode_vectors()
    names = [v["name"] for v in encode_vectors]
    assert len(names) == len(set(names)), "duplicate vector names"
    dump = lambda obj, name: (HERE / name).write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")  # noqa: E731
    dump(encode_vectors, "encode.json")
    dump(dvs, "decode.json")
    dump(alphabet(), "gsm_alphabet.json")
    print(f"encode.json: {len(encode_vectors)} vectors ({len(hand)} by hand), decode.json: {len(dvs)}, gsm_alphabet.json: 7 tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
