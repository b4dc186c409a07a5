"""The Rust PDU hot path against the pure-Python codec (engine/smpp/pdu.py), the reference.

Same input to both: either the same bytes / the same PDU objects, or the same error
(``PduError`` compared whole: message, status, command_id, sequence_number, fatal;
``TypeError`` by class and message). Streams are cut at random points; malformed
frames are made by mutating valid ones so that every decode check is reached.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.smpp import _native as N
from engine.smpp import pdu as P
from engine.smpp.constants import MAX_COMMAND_LENGTH, Tag
from engine.smpp.errors import PduError
from engine.smpp.tlv import Tlv

from smpp.strategies import pdus  # tests/ is on sys.path (rootdir without __init__.py)

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(not N.NATIVE, reason="the Rust extension is not built"),
]

EXAMPLES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
VECTORS = json.loads((pathlib.Path(__file__).resolve().parents[1] / "smpp" / "vectors" / "pdus.json").read_text("ascii"))


def outcome(fn, *args):
    """What a call gives: ("ok", value) or ("error", class, comparable error)."""
    try:
        return ("ok", fn(*args))
    except PduError as exc:
        return ("error", PduError, exc)
    except (TypeError, ValueError) as exc:
        return ("error", type(exc), str(exc))


# ---------------------------------------------------------------------------
# building submit_sm

_bad_str = st.one_of(
    st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), min_size=21, max_size=30),  # too long
    st.text(st.characters(min_codepoint=0x100, max_codepoint=0x10FFFF, exclude_categories=["Cs"]), min_size=1, max_size=3),
    st.just("a\0b"),
    st.just("ok\ud800"),  # a lone surrogate
    st.integers(0, 3),
    st.binary(max_size=3),
)
_bad_int = st.one_of(st.integers(256, 2**70), st.integers(-(2**70), -1), st.just(1.0), st.just("1"), st.just(None))
_bad_u32 = st.one_of(st.integers(2**32, 2**40), st.integers(-5, -1), st.just(None), st.just("7"))
_bad_tlvs = st.one_of(
    st.just((Tlv(0x10000, b"x"),)),
    st.just((Tlv(-1, b"x"),)),
    st.just((Tlv(Tag.MESSAGE_PAYLOAD, b"x" * 0x10000),)),
    st.just((Tlv(Tag.MESSAGE_PAYLOAD, "text"),)),
    st.just(((1, 2, 3),)),
    # Not ("ab",): Python unpacks a 2-character str as (tag, value), and then the
    # reference's tlv_name() fails formatting the str tag (a ValueError from
    # format(), reported to the codec's owner); the Rust side says TypeError.
    st.just(("abc",)),
    st.just(([0x1401, b"list pair"],)),
    st.just((Tlv(Tag.MESSAGE_PAYLOAD, b"x" * 0xFFFF), Tlv(Tag.MESSAGE_PAYLOAD, b"y" * 0xFFFF))),  # over the maximum length
)

_SM_STR_FIELDS = ["service_type", "source_addr", "destination_addr", "schedule_delivery_time", "validity_period"]
_SM_INT_FIELDS = [
    "source_addr_ton", "source_addr_npi", "dest_addr_ton", "dest_addr_npi", "esm_class", "protocol_id",
    "priority_flag", "registered_delivery", "replace_if_present_flag", "data_coding", "sm_default_msg_id",
]


@st.composite
def maybe_bad_submit_sm(draw):
    """A SubmitSm, valid or with one or two fields the wire cannot carry."""
    pdu = draw(pdus(P.SubmitSm))
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["str", "int", "u32", "sm", "tlvs"]))
        if kind == "str":
            pdu = replace(pdu, **{draw(st.sampled_from(_SM_STR_FIELDS)): draw(_bad_str)})
        elif kind == "int":
            pdu = replace(pdu, **{draw(st.sampled_from(_SM_INT_FIELDS)): draw(_bad_int)})
        elif kind == "u32":
            pdu = replace(pdu, **{draw(st.sampled_from(["command_status", "sequence_number"])): draw(_bad_u32)})
        elif kind == "sm":
            pdu = replace(pdu, short_message=draw(st.one_of(st.binary(min_size=255, max_size=300), st.just("text"), st.just(bytearray(b"ba")), st.just(memoryview(b"mv")))))
        else:
            pdu = replace(pdu, tlvs=draw(_bad_tlvs))
    return pdu


@EXAMPLES
@given(st.lists(pdus(P.SubmitSm), max_size=8))
def test_submit_sm_batch_is_byte_identical(batch):
    assert N.encode_submit_sm_batch(batch) == [P.encode(p) for p in batch]


@EXAMPLES
@given(maybe_bad_submit_sm())
def test_submit_sm_with_bad_fields_gives_the_same_error(pdu):
    assert outcome(lambda p: N.encode_submit_sm_batch([p])[0], pdu) == outcome(P.encode, pdu)


_item = st.one_of(
    st.tuples(st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=20), st.binary(max_size=254)),
    st.tuples(
        st.one_of(st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=20), _bad_str),
        st.one_of(st.binary(max_size=254), st.binary(min_size=255, max_size=260)),
        st.one_of(st.integers(0, 255), _bad_int),
        st.one_of(st.integers(0, 255), _bad_int),
        st.one_of(st.lists(st.builds(Tlv, st.integers(0, 0xFFFF), st.binary(max_size=20)), max_size=3).map(tuple), _bad_tlvs),
    ),
)


@EXAMPLES
@given(pdus(P.SubmitSm), st.lists(_item, max_size=6))
def test_build_batch_is_encode_of_replace(template, items):
    def expected(items):
        out = []
        for item in items:
            if len(item) == 2:
                p = replace(template, destination_addr=item[0], short_message=item[1])
            else:
                p = replace(template, destination_addr=item[0], short_message=item[1], esm_class=item[2],
                            data_coding=item[3], tlvs=item[4])
            out.append(P.encode(p))
        return out

    want = outcome(expected, items)
    assert outcome(N.build_submit_sm_batch, template, items) == want
    # The pure-Python fallback of the facade says the same.
    assert outcome(N._py_build_submit_sm_batch, template, items) == want


@EXAMPLES
@given(pdus(P.SubmitSm),
       st.lists(st.tuples(st.text(st.sampled_from("+0123456789aé"), max_size=24),
                          st.text(st.sampled_from("aZ09 @€[ЖЯ😀\n"), max_size=400)), max_size=5),
       st.sampled_from(["udh8", "udh16", "sar", "payload"]), st.sampled_from(["auto", "gsm7", "ucs2"]),
       st.integers(0, 255))
def test_build_encoded_is_the_python_builder(template, messages, concat, encoding, gsm_dc):
    from engine.encoding import encode

    encoded, dests = [], []
    for i, (dest, text) in enumerate(messages):
        try:
            encoded.append(encode(text, encoding=encoding, concat=concat, ref=None if concat == "payload" else i))
        except ValueError:
            continue
        dests.append(dest)
    payload = concat == "payload"
    want = outcome(N._py_build_submit_sm_encoded, template, dests, encoded, gsm_dc, payload)
    assert outcome(N.build_submit_sm_encoded, template, dests, encoded, gsm_dc, payload) == want


def test_batch_arguments_of_the_wrong_kind_are_named():
    with pytest.raises(TypeError, match=r"pdus\[1\] must be a SubmitSm, not DeliverSm"):
        N.encode_submit_sm_batch([P.SubmitSm(), P.DeliverSm()])
    with pytest.raises(TypeError, match="template must be a SubmitSm"):
        N.build_submit_sm_batch(P.DeliverSm(), [])
    with pytest.raises(TypeError, match=r"items\[0\] must be \(destination_addr, short_message\)"):
        N.build_submit_sm_batch(P.SubmitSm(), [("1", b"x", 3)])
    with pytest.raises(TypeError, match="must be bytes, bytearray or memoryview"):
        N.Framer().feed("text")
    with pytest.raises(ValueError, match="max_command_length must be within 16"):
        N.Framer(15)
    with pytest.raises(ValueError, match="max_command_length must be within 16"):
        N.Framer(MAX_COMMAND_LENGTH + 1)


# ---------------------------------------------------------------------------
# framing and decoding

# What an ESME receives on the hot path, plus a few other PDUs that go to the
# Python decoder through the Rust framer.
_HOT = (P.SubmitSmResp, P.DeliverSm, P.EnquireLink, P.EnquireLinkResp, P.GenericNack, P.DeliverSmResp,
        P.SubmitSm, P.DataSmResp, P.Unbind, P.UnbindResp, P.CancelSmResp, P.ReplaceSmResp)
_OTHER = (P.BindTransceiverResp, P.QuerySmResp, P.DataSm, P.SubmitMultiResp, P.AlertNotification)


@st.composite
def frames(draw):
    """One frame: a valid PDU, or one mutated into a malformed PDU whose length is sane."""
    pdu = draw(st.one_of(pdus(*_HOT), pdus(*_HOT), pdus(*_OTHER)))
    raw = bytearray(P.encode(pdu))
    how = draw(st.sampled_from(["valid", "valid", "truncate", "flip", "append", "unknown_id", "empty_body"]))
    if how == "truncate" and len(raw) > 16:
        del raw[draw(st.integers(16, len(raw) - 1)):]
    elif how == "flip" and len(raw) > 16:
        for _ in range(draw(st.integers(1, 3))):
            raw[draw(st.integers(16, len(raw) - 1))] = draw(st.sampled_from([0, 0xFF, 0x20, 0x41, draw(st.integers(0, 255))]))
    elif how == "append":
        raw += draw(st.binary(min_size=1, max_size=6))
    elif how == "unknown_id":
        raw[4:8] = draw(st.sampled_from([0x99, 0x80000099, 0x0A, 0x80000102])).to_bytes(4, "big")
    elif how == "empty_body":
        del raw[16:]
    raw[0:4] = len(raw).to_bytes(4, "big")
    return bytes(raw)


@st.composite
def streams(draw):
    """Frames joined, maybe ending in a fatal command_length, and cut at random points."""
    data = b"".join(draw(st.lists(frames(), min_size=1, max_size=8)))
    if draw(st.integers(0, 4)) == 0:
        length = draw(st.sampled_from([0, 15, MAX_COMMAND_LENGTH + 1, 0xFFFFFFFF]))
        data += length.to_bytes(4, "big") + draw(st.binary(min_size=12, max_size=20)) + draw(frames())
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    chunks, last = [], 0
    for c in cuts + [len(data)]:
        chunks.append(data[last:c])
        last = c
    return chunks


def _same_framers(chunks, method: str, max_command_length: int = MAX_COMMAND_LENGTH) -> list:
    rust, ref = N.Framer(max_command_length), P.Framer(max_command_length)
    everything = []
    for chunk in chunks:
        got = getattr(rust, method)(chunk)
        want = getattr(ref, method)(chunk)
        assert got == want
        assert [type(x) for x in got] == [type(x) for x in want]
        assert (rust.broken, rust.buffered) == (ref.broken, ref.buffered)
        everything += got
    return everything


@EXAMPLES
@given(streams())
def test_stream_cut_anywhere_decodes_to_the_same_pdus_and_errors(chunks):
    _same_framers(chunks, "feed")


@EXAMPLES
@given(streams())
def test_stream_cut_anywhere_gives_the_same_frames(chunks):
    _same_framers(chunks, "feed_frames")


@EXAMPLES
@given(frames())
def test_one_frame_decodes_the_same(frame):
    assert outcome(N.decode, frame) == outcome(P.decode, frame)


@EXAMPLES
@given(st.lists(st.binary(max_size=80), max_size=6), st.integers(16, 200))
def test_arbitrary_bytes_never_crash_and_agree(chunks, max_command_length):
    items = _same_framers(chunks, "feed", max_command_length)
    assert all(isinstance(x, (P.Pdu, PduError)) for x in items)
    for chunk in chunks:
        assert outcome(N.decode, chunk) == outcome(P.decode, chunk)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_golden_vectors(vector):
    frame = bytes.fromhex(vector["hex"])
    got = outcome(N.decode, frame)
    assert got == outcome(P.decode, frame)
    if "error" in vector:
        assert got[0] == "error"
        err = got[2]
        assert (err.status, err.command_id, err.sequence_number) == (
            vector["error"]["status"], vector["error"]["command_id"], vector["error"]["sequence_number"])
    else:
        assert got[0] == "ok"
        assert type(got[1]).__name__ == vector["pdu"]["type"]


def test_decoded_pdus_are_the_reference_dataclasses():
    """Built without __init__ (see src/python/pdu.rs), they must still be whole dataclasses."""
    assert sorted(N.fast_classes()) == sorted(c.__name__ for c in _HOT)
    receipt = P.DeliverSm(
        sequence_number=9, source_addr="447700900123", destination_addr="Acme", esm_class=4,
        short_message=b"id:0A1B stat:DELIVRD", tlvs=(Tlv(Tag.RECEIPTED_MESSAGE_ID, b"0A1B\0"), Tlv(Tag.MESSAGE_STATE, b"\2")),
    )
    (got,) = N.Framer().feed(P.encode(receipt))
    assert got == receipt and hash(got.tlvs) == hash(receipt.tlvs)
    assert (got.receipted_message_id, got.message_state, got.is_receipt) == ("0A1B", 2, True)
    assert type(got.tlvs[0]) is Tlv and got.tlvs[0].tag == Tag.RECEIPTED_MESSAGE_ID
    assert got.response() == P.DeliverSmResp(sequence_number=9)
    with pytest.raises(AttributeError):
        got.esm_class = 0  # still frozen
    (resp,) = N.Framer().feed(P.encode(P.SubmitSmResp(sequence_number=3, message_id="Caf\xe9")))
    assert resp.message_id == "Caf\xe9" and resp.with_sequence(4).sequence_number == 4


def test_pdu_error_is_raised_not_returned_by_decode():
    with pytest.raises(PduError) as info:
        N.decode(bytes.fromhex("0000001000000099 00000000 00000004".replace(" ", "")))
    assert info.value.status == 3 and info.value.sequence_number == 4


def test_memoryview_and_bytearray_chunks():
    data = P.encode(P.EnquireLink(sequence_number=1)) + P.encode(P.SubmitSmResp(sequence_number=2, message_id="7"))
    f = N.Framer()
    got = f.feed(bytearray(data[:20])) + f.feed(memoryview(data)[20:])
    assert got == P.Framer().feed(data)


# ---------------------------------------------------------------------------
# deliver_sm and the encode() drop-in


@st.composite
def maybe_bad_deliver_sm(draw):
    """A DeliverSm built from a (maybe bad) SubmitSm's fields: the same body."""
    s = draw(maybe_bad_submit_sm())
    return P.DeliverSm(**{f: getattr(s, f) for f in s.__dataclass_fields__})


@EXAMPLES
@given(st.lists(st.one_of(maybe_bad_submit_sm(), maybe_bad_deliver_sm()), max_size=4))
def test_sm_batch_of_submit_and_deliver_sm_gives_the_same_bytes_or_error(batch):
    want = outcome(lambda b: [P.encode(p) for p in b], batch)
    assert outcome(N.encode_sm_batch, batch) == want
    assert outcome(N._py_encode_sm_batch, batch) == want


@EXAMPLES
@given(st.one_of(pdus(), maybe_bad_deliver_sm()))
def test_encode_is_a_drop_in_for_every_pdu_type(pdu):
    assert outcome(N.encode, pdu) == outcome(P.encode, pdu)


def test_sm_batch_names_other_objects():
    with pytest.raises(TypeError, match=r"pdus\[0\] must be a SubmitSm or DeliverSm, not EnquireLink"):
        N.encode_sm_batch([P.EnquireLink()])


def test_golden_stream_cut_at_every_position():
    """Every golden vector whose length field is sane (valid and malformed bodies) in
    one stream, cut in two at every octet: the same PDUs and errors as Python's."""
    stream = b"".join(bytes.fromhex(v["hex"]) for v in VECTORS if len(bytes.fromhex(v["hex"])) >= 16
                      and int.from_bytes(bytes.fromhex(v["hex"])[:4], "big") == len(bytes.fromhex(v["hex"])))
    want = P.Framer().feed(stream)
    assert len(want) > 40 and any(isinstance(x, PduError) for x in want)
    for cut in range(len(stream) + 1):
        f = N.Framer()
        assert f.feed(stream[:cut]) + f.feed(stream[cut:]) == want, cut
    assert N.Framer().feed(stream) == want
