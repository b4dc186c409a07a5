"""``submit_batch`` and ``build_submits_many``: the batch submit the Redis service uses.

The batch builder must give, message for message, the bytes (or the error) of
``build_submits``; the batch submit the same outcomes as ``submit_nowait``, with the
same backpressure. Over TCP against the simulator where it sends.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.client import Outcome, SmscClient
from engine.client.smsc import build_submits, build_submits_many
from engine.client.types import OutboundMessage, PlainMessage
from engine.encoding.refs import RefCounter
from engine.simulator import Simulator
from engine.smpp.constants import Tag
from engine.smpp.tlv import Tlv

from .conftest import PASSWORD, arun, smsc_config

pytestmark = pytest.mark.timeout(120)
USERS = {"esme": PASSWORD}

TEXTS = [
    "Your code is 123456.",
    "Ваш код: 123456",
    "x" * 161,  # two GSM parts
    "Ж" * 71,  # two UCS-2 parts
    "€ [extension] {chars} ~ ^ | \\",
    "Şifre: 1234 ğüşıöç",  # Turkish shift tables when the bind allows them
    "",
]


def _fresh_refs():
    counters: dict[str, RefCounter] = {}

    def refs_for(dest: str) -> RefCounter:
        return counters.setdefault(dest, RefCounter())

    return refs_for


def _check_same(messages: list[OutboundMessage], cfg) -> list:
    """build_submits_many against build_submits, message by message, each with fresh
    per-destination counters: both take a reference only for a message with parts."""
    got = build_submits_many(messages, cfg, _fresh_refs(), {})
    want_refs = _fresh_refs()
    assert len(got) == len(messages)
    for m, g in zip(messages, got):
        try:
            want = build_submits(m, cfg, want_refs(m.destination))
        except (ValueError, TypeError) as exc:
            assert isinstance(g, type(exc)), (m, g, exc)
            assert str(g) == str(exc)
            continue
        assert not isinstance(g, Exception), (m, g)
        assert g == want, m
    return got


@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar", "payload"])
def test_batch_builder_gives_the_bytes_of_build_submits(concat):
    cfg = smsc_config(1, concat=concat, national=["turkish"]).binds[0]
    messages = []
    sources = ["ACME", "+4915112345678", "12345", "Bank Alert"]
    for i, text in enumerate(TEXTS * 3):
        messages.append(OutboundMessage(
            sources[i % len(sources)], f"+49151{i:08d}", text, reference=i,
            registered_delivery=(None, 0, 1)[i % 3], priority=i % 2, esm_class=(0, 3)[i % 2],
            encoding=("auto", "ucs2")[i % 7 == 3]))
    got = _check_same(messages, cfg)
    assert all(not isinstance(g, Exception) for g in got)
    # The two-part texts really are two parts (the fast path is exercised, not skipped);
    # message_payload carries the whole text in one PDU.
    parts = 1 if concat == "payload" else 2
    assert len(got[2][0]) == parts and len(got[3][0]) == parts


@pytest.mark.parametrize("concat", ["udh8", "sar", "payload"])
def test_a_plain_message_tuple_is_built_as_the_outbound_message_it_stands_for(concat):
    cfg = smsc_config(1, concat=concat).binds[0]
    outbound = [OutboundMessage(("ACME", "12345")[i % 2], f"+49151{i % 3:08d}", text, reference=i,
                                registered_delivery=(None, 0, 1)[i % 3], priority=i % 2,
                                encoding=("auto", "ucs2", "gsm7")[i % 3], concat=(None, "udh16")[i % 4 == 1])
                for i, text in enumerate(TEXTS)]
    outbound += [OutboundMessage("ACME", "+4915100000001", "Привет", encoding="gsm7"),
                 OutboundMessage("ACME", "+4915100000002", "x" * 40_000)]
    plain = [PlainMessage(m.source, m.destination, m.text, m.encoding, m.concat, m.registered_delivery, m.priority,
                          m.reference) for m in outbound]
    # PlainMessage reads as an OutboundMessage with every other field at its default.
    for name in OutboundMessage.__dataclass_fields__:
        assert getattr(plain[0], name) == getattr(outbound[0], name), name
    got = build_submits_many(plain, cfg, _fresh_refs(), {})
    want = _check_same(outbound, cfg)
    assert [str(g) if isinstance(g, Exception) else g for g in got] == \
        [str(w) if isinstance(w, Exception) else w for w in want]
    assert [isinstance(g, Exception) for g in got][-2:] == [True, True]  # unencodable in GSM, too many parts


def test_batch_builder_messages_with_fields_of_their_own_and_bad_ones():
    cfg = smsc_config(1).binds[0]
    messages = [
        OutboundMessage("ACME", "+4915100000001", "plain one", reference=0),
        OutboundMessage("ACME", "+4915100000002", "has a TLV", tlvs=(Tlv(Tag.USER_MESSAGE_REFERENCE, b"\x00\x07"),)),
        OutboundMessage("ACME", "+4915100000003", "valid for an hour", validity_period="000000010000000R"),
        OutboundMessage("ACME", "+4915100000004", "national number", national=True),
        OutboundMessage("ACME", "+4915100000005", "x" * 40_000),  # too many parts
        OutboundMessage("ACME", "+4915100000006", "Привет", encoding="gsm7"),  # unencodable
        OutboundMessage("ACME", "+4915100000007", parts=[b"raw"], data_coding=4),
        OutboundMessage("ACME", "+4915100000008", "S" * 22),  # fine, after the bad ones
        OutboundMessage("A" * 30, "+4915100000009", "sender too long for the PDU field"),
    ]
    got = _check_same(messages, cfg)
    assert [isinstance(g, Exception) for g in got] == [False, False, False, False, True, True, False, False, True]
    assert "part" in str(got[4]).lower()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=st.sampled_from("aZ09 @€[]^ЖЯ😀\nşğ"), max_size=200), min_size=1, max_size=12),
       st.sampled_from(["udh8", "udh16", "sar", "payload"]), st.sampled_from(["auto", "gsm7", "ucs2"]))
def test_batch_builder_agrees_on_any_texts(texts, concat, encoding):
    cfg = smsc_config(1, concat=concat).binds[0]
    # Three destinations: several long messages to one destination take 1, 2, 3...
    messages = [OutboundMessage("ACME", f"+49151{i % 3:08d}", t, encoding=encoding) for i, t in enumerate(texts)]
    _check_same(messages, cfg)


def test_submit_batch_backpressure_results_once_each_and_in_order():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            cfg = smsc_config(sim.port, window=5)
            async with SmscClient(cfg) as client:
                results = []
                messages = [OutboundMessage("ACME", "+4915112345678", f"message number {i}", reference=i)
                            for i in range(300)]
                messages[7] = OutboundMessage("ACME", "+4915112345678", "x" * 40_000, reference=7)
                i = 0
                stops = 0
                assert client.room() == 5 * 2  # window x QUEUE_FACTOR, one bind
                while i < len(messages):
                    i = client.submit_batch(messages, results.append, i)
                    assert client.room() == 5 * 2 - client.binds[0].queued
                    # The queue bound holds: at most window x QUEUE_FACTOR plus one pick.
                    assert client.binds[0].queued <= 5 * 2
                    if i < len(messages):
                        stops += 1
                        await client.wait_space()
                while len(results) < 300:
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.05)
            assert stops > 10  # it did stop for room
            assert len(results) == 300 and sorted(r.reference for r in results) == list(range(300))
            bad = next(r for r in results if r.reference == 7)
            assert bad.outcome is Outcome.FAILED and bad.segments == 0 and "part" in (bad.error or "").lower()
            good = [r for r in results if r.reference != 7]
            assert all(r.outcome is Outcome.OK and r.segments == 1 for r in good)
            # Sent in order, each once, and each result carries its own message id.
            by_ref = {r.reference: r.parts[0].message_id for r in good}
            assert [by_ref[k] for k in sorted(by_ref)] == sim.record.ids()
            assert sim.record.max_outstanding <= 5 and sim.record.duplicates == 0

    arun(main())


def test_submit_batch_long_messages_go_out_whole_over_two_binds():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            cfg = smsc_config(sim.port, window=4, binds=[{"bind_type": "trx", "count": 2}])
            async with SmscClient(cfg) as client:
                results = []
                messages = [OutboundMessage("ACME", f"+49151000000{i:02d}", f"{i:03d} " + "y" * 320, reference=i)
                            for i in range(40)]
                i = 0
                while i < len(messages):
                    i = client.submit_batch(messages, results.append, i)
                    if i < len(messages):
                        await client.wait_space()
                while len(results) < 40:
                    await asyncio.sleep(0.01)
            assert all(r.ok and r.segments == 3 and len(r.parts) == 3 for r in results)
            # All parts of one message through one bind; both binds used.
            binds = {r.reference: {p.bind for p in r.parts} for r in results}
            assert all(len(b) == 1 for b in binds.values())
            assert len(set().union(*binds.values())) == 2
            assert sim.record.submit_count == 120

    arun(main())


def test_reference_counters_start_at_random_so_two_engines_do_not_share_references():
    # Two engine processes (or machines) on one account each keep their own counters: a
    # long message from each to the same handset must not carry the same reference.
    cfg = smsc_config(1, concat="udh16")
    firsts = []
    for _ in range(5):
        client = SmscClient(cfg)
        m = OutboundMessage("ACME", "+4915100000001", "z" * 200)
        ((datas, _, _),) = build_submits_many([m], cfg.binds[0], client.ref_counter_for, {})
        # The UDH's 16-bit reference: after the submit_sm header and fields, the short
        # message starts with UDHL 6, IEI 8, IEDL 4, then the reference.
        sm = datas[0]
        i = sm.index(bytes([6, 8, 4]))
        firsts.append(int.from_bytes(sm[i + 3:i + 5], "big"))
    assert len(set(firsts)) > 1, firsts


def test_loop_run_paces_the_collector_only_when_it_has_cpythons_defaults():
    import gc

    from engine.client.loop import GC_THRESHOLDS, run, tune_gc

    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)

        async def probe():
            return gc.get_threshold()

        assert run(probe(), use_uvloop=False) == GC_THRESHOLDS
        gc.set_threshold(700, 10, 10)
        assert run(probe(), use_uvloop=False, gc_tuning=False) == (700, 10, 10)
        gc.set_threshold(5000, 5, 5)  # the application's own choice stays
        tune_gc()
        assert gc.get_threshold() == (5000, 5, 5)
    finally:
        gc.set_threshold(*saved)
