"""The intake lane (``engine.queue._native.intake_entries``) against the reference,
``Message.from_fields``: wherever the lane makes an Entry it equals the consumer's own,
field for field and type for type; everywhere else it says None and the reference
gives the message or the MalformedEntry."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.queue._native import intake_entries
from engine.queue.consumer import Entry
from engine.queue.message import MalformedEntry, Message

pytestmark = pytest.mark.skipif(intake_entries is None, reason="the Rust extension is not built")

NOW = 1234.5


def reference(stream: str, entry_id: str, fields, reclaimed: bool = False):
    try:
        return Entry(stream, entry_id, Message.from_fields(fields, entry_id), reclaimed, read_at=NOW)
    except MalformedEntry as exc:
        return exc


def same(got: Entry, ref) -> None:
    assert isinstance(ref, Entry), (got, ref)
    assert got == ref
    for name in Message.__dataclass_fields__:
        a, b = getattr(got.message, name), getattr(ref.message, name)
        assert type(a) is type(b), (name, a, b)


def plain(i: int = 0, **over) -> dict:
    d = Message(id=f"01KAB3Y0Z6Q8J2M4N6P8R0T{i:03d}", destination="+79031234567", text="Your order has shipped",
                source="SHOP", campaign="c1", created=1763800000.25).to_dict()
    d.update(over)
    return d


def test_plain_records_take_the_lane_and_equal_the_reference():
    records = [plain(0), plain(1, enc="ucs2", concat="sar", nat=["turkish"], prio="transactional", rd=0),
               plain(2, text="Привет ✓ 😀 \\\"q\"\n", camp="", seg=3, ts=7)]
    items = [(f"1-{i}", {"m": json.dumps(r, ensure_ascii=i % 2 == 0)}) for i, r in enumerate(records)]
    got = intake_entries(items, "smpp:in:bulk", True, NOW)
    assert all(g is not None for g in got)
    for (eid, fields), g in zip(items, got):
        same(g, reference("smpp:in:bulk", eid, fields, True))
    assert got[1].message.national == ("turkish",) and got[2].message.campaign is None
    assert got[2].message.created == 7.0 and type(got[2].message.created) is float


def test_times_and_escapes_read_as_python_reads_them():
    import random

    rng = random.Random(7)
    texts = ["a\"b\\c/\b\f\n\r\t", "\u00e9\u20ac\U0001F600", "ends with a backslash \\", "x" * 300]
    records = [plain(i, ts=rng.uniform(1.7e9, 1.8e9), text=texts[i % len(texts)]) for i in range(400)]
    records += [plain(1, ts=10**20), plain(2, ts=-0.0), plain(3, ts=1e-7), plain(4, ts=2**53 + 1)]
    items = [(f"{i}-0", {"m": json.dumps(r, ensure_ascii=i % 2 == 0)}) for i, r in enumerate(records)]
    items.append(("x-0", {"m": r'{"id":"A","to":"+1","text":"\u00e9\ud83d\ude00/\/","from":"S","ts":1E3}'}))
    got = intake_entries(items, "s", False, NOW)
    assert None not in got
    for (eid, fields), g in zip(items, got):
        same(g, reference("s", eid, fields))
    assert got[-1].message.text == "é😀//" and got[-1].message.created == 1000.0


@pytest.mark.parametrize("record", [
    plain(to="79031234567"), plain(to="+7903 123"), plain(to="+٧٩٠"), plain(prio="urgent"), plain(enc="utf8"),
    plain(concat="udh7"), plain(rd=256), plain(rd=-1), plain(id=""), plain(id="a\nb"), plain(id="a\x1fb"), plain(id=12),
    plain(ton=5.0), plain(ton=True), plain(ton="5"), plain(rd=None), plain(nat="turkish"), plain(nat=[1]),
    plain(camp=7), plain(ts="now"), plain(text=5), plain(ton=10**30),
    {k: v for k, v in plain().items() if k != "to"},
])
def test_anything_but_the_plain_case_is_left_to_the_reference(record):
    items = [("1-0", {"m": json.dumps(record)})]
    assert intake_entries(items, "s", False, NOW) == [None]


@pytest.mark.parametrize("fields", [None, {}, {"m": 5}, {b"m": b"{}"}, {"m": "[1]"}, {"m": "{"}, {"m": "NaN"},
                                    {"m": '{"id": "\\ud800"}'}, {"m": '{"id": "\\udc00x"}'},
                                    {"m": '{"id": "a\tb"}'}, {"m": '{"ton": 01}'}, {"m": '{"ton": 1.}'},
                                    {"m": '{"ts": Infinity}'}, {"m": '{"x": {"y": 1}}'}, {"m": '{"a": 1,}'},
                                    {"m": '{"a": 1} {}'}, {"m": '{"nat": ["a", 1]}'}, {"m": '{"a": "\\x"}'}])
def test_odd_entries_are_left_to_the_reference(fields):
    assert intake_entries([("1-0", fields)], "s", False, NOW) == [None]


_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(max_size=8), st.lists(st.text(max_size=4), max_size=2),
                   st.sampled_from(["", "+79031234567", "+1", "+", "bulk", "transactional", "auto", "gsm7", "ucs2",
                                    "latin1", "udh8", "udh16", "sar", "payload", "turkish", "x\ny", "x\x1fy"]))


@st.composite
def records(draw):
    d = plain(draw(st.integers(0, 999)))
    for key in draw(st.lists(st.sampled_from(["id", "to", "text", "from", "ton", "npi", "prio", "rd", "seg", "ts",
                                               "camp", "enc", "concat", "nat", "extra"]), max_size=3)):
        if draw(st.integers(0, 4)) == 0:
            d.pop(key, None)
        else:
            d[key] = draw(_VALUE)
    text = json.dumps(d, ensure_ascii=draw(st.booleans()), allow_nan=False)
    if draw(st.integers(0, 9)) == 0:
        text = draw(st.sampled_from([" " + text, text + " ", text[:-1], text + "x", text.replace(":", ": ")]))
    return text


SEEN = [0, 0]


@settings(max_examples=500, deadline=None)
@given(st.lists(records(), min_size=1, max_size=6))
def test_the_lane_agrees_with_the_reference_wherever_it_answers(texts):
    items = [(f"{i}-0", {"m": t}) for i, t in enumerate(texts)]
    got = intake_entries(items, "smpp:in:tx", False, NOW)
    assert len(got) == len(items)
    for (eid, fields), g in zip(items, got):
        SEEN[g is not None] += 1
        if g is not None:
            same(g, reference("smpp:in:tx", eid, fields))


def test_the_generated_records_exercise_both_paths():
    if sum(SEEN) < 100:
        pytest.skip("the property test did not run first")
    assert SEEN[0] > 50 and SEEN[1] > 50, SEEN


def test_the_raw_replys_flat_field_lists_read_as_the_dicts_redis_py_makes():
    text = json.dumps(plain(5))
    other = json.dumps(plain(6))
    flat = [["1-0", ["m", text]], ["2-0", ["x", "1", "m", other, "m", text]], ["3-0", ["m"]], ["4-0", None],
            ["5-0", [b"m", text.encode()]]]
    got = intake_entries(flat, "s", False, NOW)
    assert got[2:] == [None, None, None]
    same(got[0], reference("s", "1-0", {"m": text}))
    same(got[1], reference("s", "2-0", {"x": "1", "m": text}))  # the last "m" wins, as in a dict
