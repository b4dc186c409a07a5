"""Differential tests: the Rust core (engine.encoding) against the pure-Python reference
(engine.encoding.reference) on inputs aimed at the edges of issue 2.

Either both raise the same exception class (with the same .char/.index or
.actual/.max), or both return the same attributes, bytes included. Two independent
transcriptions of the GSM tables meet here, so a table error on either side fails.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import engine.encoding as rust
from engine.encoding import RefCounter, _tables
from engine.encoding import reference as ref_impl

pytestmark = pytest.mark.timeout(300)

EXAMPLES = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ENCODED_ATTRS = ("encoding", "data_coding", "segments", "units", "parts", "udhi", "sar", "ref", "national")
COUNT_ATTRS = ("encoding", "data_coding", "segments", "units", "chars", "per_segment", "national")

BASIC = "".join(sorted(set(_tables.BASIC.values())))
EXTENSION = "".join(sorted(set(_tables.EXTENSION.values())))
NATIONAL = "".join(
    sorted(
        {c for t in list(_tables.LOCKING.values()) + list(_tables.SINGLE.values()) for c in t.values()}
        - set(BASIC)
        - set(EXTENSION)
    )
)
CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяЖЩЯ"
EMOJI = "😀🚀👍🏽🇷🇺"
OTHER = "中文ç`çÇ\u00a0é\r\n\x00\x1b\ufffd"
LANGS = ["turkish", "spanish", "portuguese"]


def outcome(fn, *args, **kwargs):
    """What a call did, as comparable data: the attributes or the error's identity."""
    try:
        value = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the class is what we compare
        return ("raised", type(exc), getattr(exc, "char", None), getattr(exc, "index", None),
                getattr(exc, "actual", None), getattr(exc, "max", None))
    return ("ok", attrs(value))


def attrs(value):
    if isinstance(value, list):
        return [attrs(v) for v in value]
    name = type(value).__name__
    if name == "EncodedMessage":
        return tuple(getattr(value, a) for a in ENCODED_ATTRS)
    if name == "Count":
        return tuple(getattr(value, a) for a in COUNT_ATTRS)
    if name == "Decoded":
        udh = value.udh
        u = None if udh is None else (udh.concat, udh.ref_bits, udh.national, udh.elements)
        return (value.text, value.data, value.encoding, u)
    raise AssertionError(f"unexpected result type {name}")


def same(fn_name, *args, ref_start=None, **kwargs):
    """Call both backends (each with its own RefCounter when ref_start is given)."""
    results = []
    counters = []
    for mod in (rust, ref_impl):
        kw = dict(kwargs)
        if ref_start is not None:
            counter = RefCounter(ref_start)
            kw["ref"] = counter
            counters.append(counter)
        results.append(outcome(getattr(mod, fn_name), *args, **kw))
    assert results[0] == results[1], f"rust={results[0]!r}\nreference={results[1]!r}"
    if counters:  # the counters were consulted the same number of times
        assert counters[0].next_ref(16) == counters[1].next_ref(16)
    return results[0]


# --- strategies aimed at the edges -----------------------------------------------------

pool = st.sampled_from(BASIC + EXTENSION + NATIONAL + CYRILLIC + EMOJI + OTHER)
national_opt = st.one_of(
    st.just(()),
    st.permutations(LANGS).flatmap(lambda p: st.integers(1, 3).map(lambda n: tuple(p[:n]))),
)
options = st.fixed_dictionaries(
    {},
    optional={
        "encoding": st.sampled_from(["auto", "auto", "gsm7", "ucs2", "latin1"]),
        "concat": st.sampled_from(["udh8", "udh16", "sar", "payload"]),
        "max_parts": st.sampled_from([1, 2, 3, 255]),
        "packed": st.booleans(),
        "national": national_opt,
    },
)


@st.composite
def edge_text(draw):
    """Text whose interesting character lands near a segment boundary."""
    kind = draw(st.sampled_from(["ext", "cyrillic", "emoji", "national", "cr", "mixed"]))
    if kind == "ext":  # extension characters at septets 151-154 and 159-161
        n = draw(st.sampled_from(list(range(148, 156)) + list(range(157, 163)) + list(range(300, 310))))
        return "a" * n + draw(st.text(st.sampled_from(EXTENSION), min_size=1, max_size=3)) + "b" * draw(st.integers(0, 10))
    if kind == "cyrillic":  # around 66-71 and 133/134 UTF-16 units
        return draw(st.sampled_from(CYRILLIC)) * draw(st.sampled_from(list(range(64, 73)) + list(range(130, 137))))
    if kind == "emoji":  # a surrogate pair across 66/67 and 133/134
        n = draw(st.sampled_from(list(range(64, 70)) + list(range(130, 136))))
        return "ж" * n + draw(st.sampled_from(EMOJI)) + "ж" * draw(st.integers(0, 80))
    if kind == "national":
        chars = draw(st.sampled_from([NATIONAL, "ıİşŞğĞç", "áíóúÁÍÓÚç", "ãõêôâÃÕÊÔÂ`∞ªº"]))
        return draw(st.text(st.sampled_from(chars + "abc €"), min_size=60, max_size=330))
    if kind == "cr":  # packed: CR at octet boundaries near the limits
        n = draw(st.sampled_from([7, 15, 150, 151, 152, 153, 159, 160, 303, 304, 305, 306]))
        return "x" * n + "\r" * draw(st.integers(1, 2)) + "y" * draw(st.integers(0, 3))
    return draw(st.text(pool, max_size=400))


@EXAMPLES
@given(text=edge_text(), opts=options, start=st.integers(0, 300))
def test_encode_edges(text, opts, start):
    same("encode", text, ref_start=start, **opts)


@EXAMPLES
@given(text=st.text(pool, max_size=500), opts=options, start=st.integers(0, 70000))
def test_encode_random(text, opts, start):
    same("encode", text, ref_start=start, **opts)


@EXAMPLES
@given(text=st.one_of(edge_text(), st.text(pool, max_size=400)), opts=options)
def test_count(text, opts):
    opts.pop("packed", None)
    same("count", text, **opts)


@EXAMPLES
@given(
    texts=st.lists(st.one_of(edge_text(), st.text(pool, max_size=200)), max_size=8),
    opts=options,
    start=st.integers(0, 300),
)
def test_encode_batch(texts, opts, start):
    same("encode_batch", texts, ref_start=start, **opts)


@EXAMPLES
@given(texts=st.lists(st.text(pool, max_size=400), min_size=1, max_size=6), data=st.data())
def test_encode_batch_ref_sequence(texts, data):
    concat = data.draw(st.sampled_from(["udh8", "udh16", "sar"]))
    top = 255 if concat == "udh8" else 65535
    refs = data.draw(st.lists(st.integers(0, top), min_size=len(texts), max_size=len(texts)))
    same("encode_batch", texts, ref=refs, concat=concat)
    same("encode_batch", texts, ref=refs + [1], concat=concat)  # wrong length


@EXAMPLES
@given(data=st.binary(max_size=600), concat=st.sampled_from(["udh8", "udh16", "sar", "payload"]), start=st.integers(0, 300))
def test_binary(data, concat, start):
    same("encode", data, encoding="binary", concat=concat, ref_start=start)
    same("count", data, encoding="binary", concat=concat)


def test_more_than_255_parts_everywhere():
    for text in ["a" * (153 * 255 + 1), "ж" * (67 * 255 + 1), "€" * 20000]:
        for concat in ["udh8", "udh16", "sar", "payload"]:
            r = same("encode", text, concat=concat, ref=1)
            assert r[0] == "raised" and r[4] > 255
            same("count", text, concat=concat)


def test_every_national_combination_and_order():
    texts = ["ıİşŞğĞ" * 30, "áíóú" * 50, "ãõ∞ªº`" * 30, "Işık ş ç á ã" * 12, "Çç" * 80]
    import itertools

    for n in range(1, 4):
        for langs in itertools.permutations(LANGS, n):
            for text in texts:
                for encoding in ["auto", "gsm7"]:
                    for packed in [False, True]:
                        same("encode", text, national=langs, encoding=encoding, packed=packed, ref=9)
                        same("count", text, national=langs, encoding=encoding)


@EXAMPLES
@given(
    payload=st.one_of(
        st.binary(max_size=200),
        st.builds(lambda ies, body: bytes([len(ies)]) + ies + body,
                  st.lists(st.sampled_from([b"\x00\x03\x07\x02\x01", b"\x08\x04\x01\x02\x03\x01",
                                            b"\x24\x01\x01", b"\x25\x01\x03", b"\x24\x01\x02", b"\x25\x01\x02",
                                            b"\x70\x00", b"\x24\x01\x09", b"\x00\x02\x01\x01"]),
                           max_size=3).map(b"".join),
                  st.binary(max_size=160)),
    ),
    data_coding=st.one_of(st.sampled_from([0, 1, 2, 3, 4, 8, 0x11, 0x18, 0x1C, 0xF0, 0xF4, 0x05, 0x0B, 0x20, 0xC0]),
                          st.integers(0, 255)),
    udhi=st.booleans(),
    packed=st.booleans(),
)
def test_decode(payload, data_coding, udhi, packed):
    same("decode", payload, data_coding, udhi, packed=packed)


@EXAMPLES
@given(text=st.text(pool, max_size=400), opts=options)
def test_decode_of_encoded(text, opts):
    r = outcome(rust.encode, text, ref=3, **opts)
    assume(r[0] == "ok")
    m = rust.encode(text, ref=3, **opts)
    for part in m.parts:
        same("decode", part, m.data_coding, m.udhi, packed=bool(opts.get("packed")) and m.encoding == "gsm7")


BAD_OPTIONS = [
    {"encoding": "utf8"}, {"encoding": 7}, {"concat": "udh"}, {"concat": None}, {"max_parts": 0},
    {"max_parts": 256}, {"max_parts": "3"}, {"max_parts": 2**80}, {"packed": 1}, {"national": "turkish"},
    {"national": ["klingon"]}, {"national": ["turkish", "turkish"]}, {"national": [1]}, {"national": None},
    {"ref": 256}, {"ref": -1}, {"ref": 256, "concat": "udh16"}, {"ref": 70000, "concat": "sar"},
    {"ref": 70000, "concat": "payload"}, {"ref": "x"}, {"ref": 1.5}, {"ref": True}, {"ref": 2**70},
    {"encoding": "binary"}, {"encoding": "bogus", "max_parts": "x"},
]


@pytest.mark.parametrize("opts", BAD_OPTIONS, ids=[repr(o) for o in BAD_OPTIONS])
@pytest.mark.parametrize("text", ["hi", "€" * 200, b"\x01\x02", bytearray(b"x"), 5])
def test_bad_options_raise_the_same_class(opts, text):
    start = None if "ref" in opts else 0  # never the shared DEFAULT_REFS: both would draw from it
    same("encode", text, ref_start=start, **opts)
    same("encode_batch", [text], ref_start=start, **opts)
    count_opts = {k: v for k, v in opts.items() if k not in ("ref", "packed")}
    same("count", text, **count_opts)


class BadCounter:
    def __init__(self, value):
        self.value = value
        self.calls = 0

    def next_ref(self, bits):
        self.calls += 1
        return self.value


@pytest.mark.parametrize("value", [300, -1, "7", None, 70000])
def test_next_ref_results_are_checked(value):
    for concat in ["udh8", "udh16", "sar"]:
        counters = [BadCounter(value), BadCounter(value)]
        a = outcome(rust.encode, "x" * 400, concat=concat, ref=counters[0])
        b = outcome(ref_impl.encode, "x" * 400, concat=concat, ref=counters[1])
        assert a == b
        assert counters[0].calls == counters[1].calls == 1


def test_counter_consulted_only_when_needed():
    for text, calls in [("short", 0), ("x" * 161, 1), ("", 0), ("中" * 71, 1)]:
        for concat, expected in [("udh8", calls), ("sar", calls), ("payload", 0)]:
            counter = BadCounter(5)
            rust.encode(text, concat=concat, ref=counter)
            assert counter.calls == expected, (text[:5], concat)
    counter = BadCounter(5)
    rust.encode_batch(["x" * 400, "y", "z" * 400], ref=counter)
    assert counter.calls == 2


def test_default_refs_used_when_ref_is_none():
    from engine.encoding import DEFAULT_REFS

    first = rust.encode("x" * 200).ref
    second = ref_impl.encode("x" * 200).ref
    third = rust.encode("x" * 200, concat="udh16").ref
    assert second == first % 255 + 1
    assert third == second + 1  # one counter, whatever the width
    assert DEFAULT_REFS.next_ref(16) == third + 1


@pytest.mark.parametrize("encoding", ["auto", "gsm7", "ucs2", "latin1"])
@pytest.mark.parametrize(
    "text",
    ["ab\ud800c", "\udfff", "é\udc00" * 40, "ж" * 66 + "\ud800" + "ж" * 10, "x\ud83d"],
)
def test_lone_surrogates_like_the_reference(text, encoding):
    """A Python str may hold a lone surrogate: both backends carry it as one UCS-2 unit
    (auto/ucs2) or name it as unencodable (gsm7/latin1)."""
    same("encode", text, encoding=encoding, ref=1)
    same("count", text, encoding=encoding)
