"""The pure-Python reference (engine.encoding.reference) against the golden vectors,
the edges of issue 2, round trips and its own invariants."""

from __future__ import annotations

import json
import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.encoding import _tables
from engine.encoding.errors import DecodeError, TooManyParts, UnencodableCharacter
from engine.encoding.refs import RefCounter
from engine.encoding.reference import Count, Decoded, EncodedMessage, count, decode, encode, encode_batch

pytestmark = pytest.mark.timeout(120)

VECTORS = pathlib.Path(__file__).resolve().parent / "vectors"
ENCODE_VECTORS = json.loads((VECTORS / "encode.json").read_text(encoding="utf-8"))
DECODE_VECTORS = json.loads((VECTORS / "decode.json").read_text(encoding="utf-8"))
ALPHABET = json.loads((VECTORS / "gsm_alphabet.json").read_text(encoding="utf-8"))

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ERRORS = {
    "UnencodableCharacter": UnencodableCharacter,
    "TooManyParts": TooManyParts,
    "ValueError": ValueError,
    "TypeError": TypeError,
    "DecodeError": DecodeError,
}


def _text(v):
    return bytes.fromhex(v["text_hex"]) if "text_hex" in v else v["text"]


# --- golden vectors ----------------------------------------------------------------


@pytest.mark.parametrize("v", ENCODE_VECTORS, ids=[v["name"] for v in ENCODE_VECTORS])
def test_encode_vector(v):
    text = _text(v)
    if "error" in v:
        expected = ERRORS[v["error"]["type"]]
        with pytest.raises(expected) as info:
            encode(text, **v["options"])
        if v["error"]["type"] == "ValueError":  # a plain bad option, not an EncodingError
            assert not isinstance(info.value, (UnencodableCharacter, TooManyParts))
        if expected is UnencodableCharacter:
            assert (info.value.char, info.value.index) == (v["error"]["char"], v["error"]["index"])
        if expected is TooManyParts:
            assert (info.value.actual, info.value.max) == (v["error"]["actual"], v["error"]["max"])
        return
    m = encode(text, **v["options"])
    assert m.encoding == v["encoding"]
    assert m.data_coding == v["data_coding"]
    assert m.segments == v["segments"]
    assert m.units == v["units"]
    assert [p.hex() for p in m.parts] == v["parts"]
    assert m.udhi == v["udhi"]
    assert m.sar == (None if v["sar"] is None else [tuple(t) for t in v["sar"]])
    assert m.ref == v["ref"]
    assert m.national == tuple(v["national"])
    if "count" in v:
        options = {k: val for k, val in v["options"].items() if k not in ("ref", "packed")}
        c = count(text, **options)
        assert c == Count(**{**v["count"], "national": tuple(v["count"]["national"])})


@pytest.mark.parametrize("v", [v for v in ENCODE_VECTORS if "error" in v and v["error"]["type"] != "ValueError" or "count" in v], ids=lambda v: v["name"])
def test_count_agrees_with_vector(v):
    options = {k: val for k, val in v["options"].items() if k not in ("ref", "packed")}
    if "error" in v:
        with pytest.raises(ERRORS[v["error"]["type"]]):
            count(_text(v), **options)
    else:
        assert count(_text(v), **options).segments == v["count"]["segments"]


@pytest.mark.parametrize("v", DECODE_VECTORS, ids=[v["name"] for v in DECODE_VECTORS])
def test_decode_vector(v):
    payload = bytes.fromhex(v["payload"])
    if "error" in v:
        with pytest.raises(DecodeError):
            decode(payload, v["data_coding"], v["udhi"], packed=v["packed"])
        return
    d = decode(payload, v["data_coding"], v["udhi"], packed=v["packed"])
    assert d.text == v["text"]
    assert d.data.hex() == v["data"]
    assert d.encoding == v["encoding"]
    if v["udh"] is None:
        assert d.udh is None
    else:
        u = v["udh"]
        assert d.udh.concat == (tuple(u["concat"]) if u["concat"] else None)
        assert d.udh.ref_bits == u["ref_bits"]
        assert d.udh.national == tuple(u["national"])
        assert [(i, b.hex()) for i, b in d.udh.elements] == [tuple(e) for e in u["elements"]]


def _table_options(table):
    lang, kind = table["language"], table["kind"]
    if lang == "default":
        return {"encoding": "gsm7"}, (None, None)
    if kind == "locking":
        return {"encoding": "gsm7", "national": [lang]}, (lang, None)
    return {"encoding": "gsm7", "national": [lang]}, (None, lang)


@pytest.mark.parametrize("table", ALPHABET["tables"], ids=lambda t: f"{t['language']}-{t['kind']}")
def test_alphabet_table_byte_by_byte(table):
    """Every entry decodes to its char under that table, and encodes back to it where the
    char has no cheaper home (a char in both tables is taken from the basic/locking one)."""
    expected_count = 127 if table["kind"] in ("basic", "locking") else None
    if expected_count is not None:
        assert len(table["entries"]) == expected_count
        assert 0x1B not in [s for s, _ in table["entries"]]
    national = _table_options(table)[1]
    udh = b""
    ies = b""
    if national[0]:
        ies += bytes([0x25, 1, table["language_id"]])
    if national[1]:
        ies += bytes([0x24, 1, table["language_id"]])
    if ies:
        udh = bytes([len(ies)]) + ies
    shifted = table["kind"] in ("extension", "single")
    for septet, char in table["entries"]:
        body = bytes([0x1B, septet]) if shifted else bytes([septet])
        assert decode(udh + body, 0, bool(udh)).text == char, (septet, char)
    if table["language"] == "default":
        for septet, char in table["entries"]:
            m = encode(char)
            assert m.parts == [bytes([0x1B, septet]) if shifted else bytes([septet])]
            assert m.units == (2 if shifted else 1)


def test_alphabet_file_is_the_tables():
    by = {(t["language"], t["kind"]): dict((s, c) for s, c in t["entries"]) for t in ALPHABET["tables"]}
    assert by[("default", "basic")] == _tables.BASIC
    assert by[("default", "extension")] == _tables.EXTENSION
    assert by[("turkish", "locking")] == _tables.LOCKING["turkish"]
    assert by[("portuguese", "locking")] == _tables.LOCKING["portuguese"]
    for lang in ("turkish", "spanish", "portuguese"):
        assert by[(lang, "single")] == _tables.SINGLE[lang]
    assert ("spanish", "locking") not in by


def test_default_alphabet_facts_of_issue_2():
    assert _tables.BASIC[0x09] == "Ç" and "ç" not in _tables.BASIC.values()
    assert "`" not in _tables.BASIC.values() and "`" not in _tables.EXTENSION.values()
    assert _tables.BASIC[0x5F] == "§"
    assert sorted(_tables.EXTENSION) == [0x0A, 0x14, 0x28, 0x29, 0x2F, 0x3C, 0x3D, 0x3E, 0x40, 0x65]


@pytest.mark.parametrize("lang", ["turkish", "spanish", "portuguese"])
def test_every_national_char_encodes_with_its_table(lang):
    """Each char that only a national table has is encoded through it (forced gsm7)."""
    default = set(_tables.BASIC.values()) | set(_tables.EXTENSION.values())
    chars = set(_tables.SINGLE[lang].values()) | set(_tables.LOCKING.get(lang, {}).values())
    for char in sorted(chars - default):
        m = encode(char, encoding="gsm7", national=[lang])
        assert m.encoding == "gsm7" and m.udhi
        assert lang in m.national
        assert decode(m.parts[0], 0, True).text == char
        with pytest.raises(UnencodableCharacter) as info:
            encode("ab" + char, encoding="gsm7")
        assert (info.value.char, info.value.index) == (char, 2)


# --- the edges of issue 2 ----------------------------------------------------------


def _bodies(m: EncodedMessage) -> list[bytes]:
    return [p[p[0] + 1 :] if m.udhi else p for p in m.parts]


def _reassemble(m: EncodedMessage, packed: bool = False) -> str:
    return "".join(decode(p, m.data_coding, m.udhi, packed=packed and m.encoding == "gsm7").text for p in m.parts)


@pytest.mark.parametrize("at", [151, 152, 153, 154, 159, 160, 161])
@pytest.mark.parametrize("char", ["€", "{", "\\", "|"])
def test_extension_char_at_septet(at, char):
    """The extension char's ESC lands on septet `at` (1-based); texts around 153/160."""
    for tail in (0, 1, 10):
        text = "a" * (at - 1) + char + "b" * tail
        m = encode(text, ref=1)
        units = at + 1 + tail
        assert m.units == units
        # Part 1 holds 153 septets, or 152 when the pair would straddle 153/154.
        first = 152 if at == 153 else 153
        assert m.segments == (1 if units <= 160 else 1 + -(-(units - first) // 153))
        for body in _bodies(m):
            assert not body.endswith(b"\x1b"), "ESC split from its char"
        assert _reassemble(m) == text
        if m.segments > 1:
            assert len(_bodies(m)[0]) == first, (at, tail)


@pytest.mark.parametrize("n", range(64, 75))
def test_cyrillic_around_70(n):
    m = encode("Ж" * n, ref=1)
    assert m.encoding == "ucs2" and m.units == n
    assert m.segments == (1 if n <= 70 else 2)
    assert [len(b) // 2 for b in _bodies(m)] == ([n] if n <= 70 else [67, n - 67])
    assert _reassemble(m) == "Ж" * n


@pytest.mark.parametrize("concat,limit", [("udh8", 67), ("udh16", 66)])
@pytest.mark.parametrize("before", [63, 64, 65, 66, 67, 130, 131, 132, 133, 134])
def test_emoji_across_unit_boundaries(concat, limit, before):
    """An emoji whose high surrogate is unit before+1: never split from its low one."""
    text = "a" * before + "😀" + "z" * 80
    m = encode(text, concat=concat, ref=2)
    assert m.units == before + 2 + 80
    for body in _bodies(m):
        assert len(body) // 2 <= limit
        last = int.from_bytes(body[-2:], "big")
        assert not 0xD800 <= last <= 0xDBFF, "surrogate pair split"
    assert _reassemble(m) == text


@pytest.mark.parametrize("concat,limit", [("udh8", 134), ("udh16", 133)])
def test_octet_limits_latin1_binary(concat, limit):
    for n in (139, 140):
        assert encode("é" * n, encoding="latin1", concat=concat).segments == 1
        assert encode(b"\xff" * n, encoding="binary", concat=concat).segments == 1
    for n in (141, 200, 2 * limit, 2 * limit + 1):
        m = encode("é" * n, encoding="latin1", concat=concat, ref=3)
        sizes = [len(b) for b in _bodies(m)]
        assert sizes == [limit] * (n // limit) + ([n % limit] if n % limit else [])
        m = encode(b"\xff" * n, encoding="binary", concat=concat, ref=3)
        assert [len(b) for b in _bodies(m)] == sizes


def test_empty_text():
    m = encode("")
    assert (m.encoding, m.segments, m.units, m.parts, m.udhi, m.ref) == ("gsm7", 1, 0, [b""], False, None)
    assert count("") == Count("gsm7", 0, 1, 0, 0, 160, (None, None))
    assert decode(b"", 0).text == ""


def test_more_than_255_parts():
    with pytest.raises(TooManyParts) as info:
        encode("a" * (153 * 300))
    assert (info.value.actual, info.value.max) == (300, 255)
    with pytest.raises(TooManyParts) as info:
        count("Ж" * (67 * 256 + 1))
    assert (info.value.actual, info.value.max) == (257, 255)
    m = encode("a" * (153 * 255), ref=1)
    assert m.segments == 255 and m.parts[-1][:6] == bytes([5, 0, 3, 1, 255, 255])


def test_udh_headers_byte_by_byte():
    m = encode("a" * 200, ref=0xAB)
    assert [p[:6] for p in m.parts] == [bytes.fromhex("050003ab0201"), bytes.fromhex("050003ab0202")]
    m = encode("a" * 200, concat="udh16", ref=0xABCD)
    assert [p[:7] for p in m.parts] == [bytes.fromhex("060804abcd0201"), bytes.fromhex("060804abcd0202")]
    m = encode("ş" * 300, national=["turkish"], ref=7)
    assert m.parts[0][:9] == bytes.fromhex("080003070301250101")
    m = encode("ş" * 300, national=["turkish"], concat="sar", ref=7)
    assert m.parts[0][:4] == bytes.fromhex("03250101") and m.udhi
    assert m.sar == [(7, 3, 1), (7, 3, 2), (7, 3, 3)]


# --- references --------------------------------------------------------------------


class _Recorder:
    """A caller-owned reference source, as the contract describes (next_ref(bits))."""

    def __init__(self):
        self.calls = []

    def next_ref(self, bits):
        self.calls.append(bits)
        return 40 + len(self.calls)


@pytest.mark.parametrize("concat,bits", [("udh8", 8), ("udh16", 16), ("sar", 16)])
def test_ref_source_called_once_per_multipart_message(concat, bits):
    r = _Recorder()
    assert encode("short", concat=concat, ref=r).ref is None
    assert r.calls == []
    m = encode("a" * 400, concat=concat, ref=r)
    assert r.calls == [bits] and m.ref == 41
    r2 = _Recorder()
    encode("a" * 400, concat="payload", ref=r2)
    assert r2.calls == []


def test_refcounter_and_batch_refs():
    counter = RefCounter(start=254)
    ms = encode_batch(["a" * 200, "hi", "a" * 200, "a" * 200], ref=counter)
    assert [m.ref for m in ms] == [255, None, 1, 2]
    ms = encode_batch(["a" * 200, "a" * 200], ref=[7, 9])
    assert [m.ref for m in ms] == [7, 9]
    assert ms[1].parts[0][:6] == bytes.fromhex("050003090201")
    with pytest.raises(ValueError):
        encode_batch(["a", "b"], ref=[1])
    with pytest.raises(ValueError):
        encode_batch(["a", "b"], ref=[1, 256])
    assert encode_batch([]) == []


def test_batch_equals_single_calls():
    texts = ["hello", "Ж" * 80, "a" * 300, "€" * 90, ""]
    assert encode_batch(texts, ref=5) == [encode(t, ref=5) for t in texts]


# --- errors ------------------------------------------------------------------------


def test_forced_gsm7_chinese():
    with pytest.raises(UnencodableCharacter) as info:
        encode("Hello 世界", encoding="gsm7")
    assert (info.value.char, info.value.index) == ("世", 6)
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnencodableCharacter) as info:
        encode("😀", encoding="gsm7")
    assert info.value.char == "😀" and info.value.index == 0
    with pytest.raises(UnencodableCharacter):
        count("x中", encoding="gsm7")


@pytest.mark.parametrize(
    "kwargs,exc",
    [
        ({"encoding": "gsm8"}, ValueError),
        ({"encoding": None}, TypeError),
        ({"concat": "udh32"}, ValueError),
        ({"max_parts": 0}, ValueError),
        ({"max_parts": 256}, ValueError),
        ({"max_parts": "3"}, TypeError),
        ({"ref": 256}, ValueError),
        ({"ref": 70000, "concat": "sar"}, ValueError),
        ({"ref": "x"}, TypeError),
        ({"national": ["turkish", "turkish"]}, ValueError),
        ({"national": ["french"]}, ValueError),
        ({"national": "turkish"}, TypeError),
        ({"packed": 1}, TypeError),
        ({"encoding": "binary"}, ValueError),
    ],
)
def test_bad_options(kwargs, exc):
    with pytest.raises(exc) as info:
        encode("hello", **kwargs)
    assert not isinstance(info.value, (UnencodableCharacter, TooManyParts))


def test_bad_text_types():
    with pytest.raises(ValueError):
        encode(b"hi")
    with pytest.raises(TypeError):
        encode(42)
    with pytest.raises(TypeError):
        encode(bytearray(b"x"), encoding="binary")
    with pytest.raises(TypeError):
        decode("text", 0)
    with pytest.raises(ValueError):
        decode(b"", 256)


def test_ref_source_returning_garbage():
    class Bad:
        def next_ref(self, bits):
            return 1 << bits

    with pytest.raises(ValueError):
        encode("a" * 200, ref=Bad())


# --- properties --------------------------------------------------------------------

GSM_CHARS = sorted(set(_tables.BASIC.values()) | set(_tables.EXTENSION.values()))
NATIONAL_CHARS = sorted(
    {c for t in _tables.SINGLE.values() for c in t.values()} | {c for t in _tables.LOCKING.values() for c in t.values()}
)
OTHER = list("ЖжДЯ中文😀🎉é") + ["\U0001F600", "\u00ff", "\u0100"]

gsm_texts = st.lists(st.sampled_from(GSM_CHARS), max_size=400).map("".join)
national_texts = st.lists(st.sampled_from(NATIONAL_CHARS + GSM_CHARS[:20]), max_size=400).map("".join)
any_texts = st.lists(
    st.one_of(st.sampled_from(GSM_CHARS), st.sampled_from(OTHER), st.characters(blacklist_categories=("Cs",))),
    max_size=300,
).map("".join)
options = st.fixed_dictionaries(
    {
        "concat": st.sampled_from(["udh8", "udh16", "sar", "payload"]),
        "national": st.sampled_from([(), ("turkish",), ("spanish",), ("portuguese",), ("portuguese", "turkish", "spanish")]),
    }
)


def _check_roundtrip(text, m, packed):
    got = _reassemble(m, packed) if m.sar is not None or m.segments == 1 or True else None
    if packed and "\r" in text:
        # A part ending with CR on an octet boundary carries one more CR (decision 1).
        assert got.replace("\r", "") == text.replace("\r", "")
        assert 0 <= got.count("\r") - text.count("\r") <= len(m.parts)
    else:
        assert got == text


@SETTINGS
@given(text=gsm_texts, opts=options, packed=st.booleans())
def test_roundtrip_gsm(text, opts, packed):
    m = encode(text, packed=packed, ref=1, **opts)
    assert m.encoding == "gsm7" and m.national == (None, None)
    _check_roundtrip(text, m, packed)


@SETTINGS
@given(text=national_texts, opts=options, packed=st.booleans())
def test_roundtrip_national(text, opts, packed):
    try:
        m = encode(text, packed=packed, ref=1, encoding="gsm7", **opts)
    except UnencodableCharacter as exc:
        assert text[exc.index] == exc.char
        return
    _check_roundtrip(text, m, packed)
    auto = encode(text, ref=1, **opts)
    _check_roundtrip(text, auto, False)
    if auto.encoding == "gsm7" and auto.national != (None, None):
        ucs2 = encode(text, encoding="ucs2", concat=opts["concat"], ref=1)
        assert auto.segments < ucs2.segments, "national tables used without being cheaper"


@SETTINGS
@given(text=any_texts, opts=options)
def test_roundtrip_any_and_count_agrees(text, opts):
    m = encode(text, ref=1, **opts)
    _check_roundtrip(text, m, False)
    c = count(text, **opts)
    assert (c.encoding, c.data_coding, c.segments, c.units, c.national) == (
        m.encoding,
        m.data_coding,
        m.segments,
        m.units,
        m.national,
    )
    assert c.chars == len(text)
    if m.encoding == "ucs2":
        assert m.units == len(text.encode("utf-16-be")) // 2
        for body in _bodies(m) if opts["concat"] != "payload" else []:
            assert not 0xD800 <= int.from_bytes(body[-2:] or b"\0\0", "big") <= 0xDBFF
    if m.encoding == "gsm7" and opts["concat"] != "payload":
        for body in _bodies(m):
            assert not body.endswith(b"\x1b")
            assert len(body) <= c.per_segment


@SETTINGS
@given(data=st.binary(max_size=600), concat=st.sampled_from(["udh8", "udh16", "sar", "payload"]))
def test_roundtrip_binary(data, concat):
    m = encode(data, encoding="binary", concat=concat, ref=1)
    assert m.data_coding == 4 and m.units == len(data)
    assert b"".join(decode(p, 4, m.udhi).data for p in m.parts) == data
    assert all(decode(p, 4, m.udhi).text is None for p in m.parts)


@SETTINGS
@given(text=st.text(alphabet=st.characters(max_codepoint=0xFF, blacklist_categories=("Cs",)), max_size=400))
def test_roundtrip_latin1(text):
    m = encode(text, encoding="latin1", ref=1)
    assert m.data_coding == 3 and m.units == len(text)
    assert _reassemble(m) == text


@SETTINGS
@given(payload=st.binary(max_size=200), dc=st.integers(0, 255), udhi=st.booleans(), packed=st.booleans())
def test_decode_arbitrary_bytes_never_crashes(payload, dc, udhi, packed):
    try:
        d = decode(payload, dc, udhi, packed=packed)
    except DecodeError:
        return
    assert isinstance(d, Decoded)
    assert d.text is None or isinstance(d.text, str)


def test_packed_cr_rules():
    # 7 spare bits: the CR pad, dropped by decode.
    m = encode("1234567", packed=True)
    assert m.parts == [bytes.fromhex("31d98c56b3dd1a")]
    assert decode(m.parts[0], 0, packed=True).text == "1234567"
    # The text's own CR on an octet boundary: one more CR; decode keeps both (decision 1).
    m = encode("abcdefg\r", packed=True)
    assert len(m.parts[0]) == 8
    assert decode(m.parts[0], 0, packed=True).text == "abcdefg\r\r"
    # Not on a boundary: nothing added.
    m = encode("abcdef\r", packed=True)
    assert decode(m.parts[0], 0, packed=True).text == "abcdef\r"
    assert m.units == 7 and encode("abcdefg\r", packed=True).units == 8
