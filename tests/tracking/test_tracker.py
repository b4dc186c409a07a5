"""Delivery tracking against a real redis-server: correlation, aggregation, events."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis.asyncio as aredis
from hypothesis import given, settings
from hypothesis import strategies as hs

from engine.tracking import (
    Failed,
    FormatDetector,
    OutcomeUnknown,
    Queued,
    Receipt,
    Submitted,
    Tracker,
    candidates,
    canonical,
)

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


def run(redis_url, body, **tracker_kw):
    """Run ``body(tracker, redis)`` with a tracker on a fresh key prefix."""

    async def main():
        r = aredis.from_url(redis_url)
        try:
            t = Tracker(r, f"test:{uuid.uuid4().hex[:10]}:", **tracker_kw)
            return await body(t, r)
        finally:
            await r.aclose()

    return asyncio.run(main())


# --- id normalisation (pure) ----------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [("00AB12", "ab12"), ("ab12", "ab12"), (" 0042 ", "42"), ("0000", "0"), ("0", "0"), ("", ""),
     ("1F\0", "1f"), ("\0", "")],
)
def test_canonical(raw, expected):
    assert canonical(raw) == expected


def test_candidates_order_and_dedup():
    assert candidates("AB12", ("same", "hex2dec", "dec2hex")) == [("ab12", "same"), ("43794", "hex2dec")]
    assert candidates("43794", ("same", "hex2dec", "dec2hex")) == [
        ("43794", "same"),
        ("276372", "hex2dec"),
        ("ab12", "dec2hex"),
    ]
    # A one-digit id is the same number in every spelling: tried once.
    assert candidates("7", ("same", "hex2dec", "dec2hex")) == [("7", "same")]
    assert candidates("", ("same",)) == []


def test_detector_locks_after_dominant_matches_and_rejects_bad_profile():
    d = FormatDetector("auto")
    assert d.kinds() == ("same", "hex2dec", "dec2hex")
    for _ in range(4):
        d.matched("hex2dec")
    assert d.locked is None
    d.matched("hex2dec")
    assert d.kinds() == ("hex2dec",)
    mixed = FormatDetector("auto", {"same": 50, "hex2dec": 10})
    assert mixed.locked is None  # a genuinely mixed SMSC is never narrowed
    assert FormatDetector("str").kinds() == ("same",)
    with pytest.raises(ValueError, match="message_id_format"):
        FormatDetector("base64")


# --- correlation, table-driven ---------------------------------------------------------

CORRELATION_CASES = [
    # (submit_sm_resp id, receipt id, SMSC profile, matches?, kind)
    ("1a2b3c", "1A2B3C", "auto", True, "same"),  # letter case
    ("0001A2B3C", "1a2b3c", "auto", True, "same"),  # leading zeros in the response
    ("1A2B3C", "00001a2b3c", "auto", True, "same"),  # leading zeros in the receipt
    ("1A2B3C", "1715004", "auto", True, "dec2hex"),  # response hex, receipt decimal
    ("1715004", "1A2B3C", "auto", True, "hex2dec"),  # response decimal, receipt hex
    ("0000001715004", "01a2b3c", "auto", True, "hex2dec"),  # both, with zeros
    ("ff", "255", "dec", True, "dec2hex"),  # profile: receipts spell decimal
    ("255", "FF", "hex", True, "hex2dec"),  # profile: receipts spell hex
    ("000123", "123", "str", True, "same"),
    ("1A2B3C", "1715004", "str", False, None),  # profile forbids the conversion
    ("1715004", "1A2B3C", "dec", False, None),
    ("abc-123-XYZ", "ABC-123-xyz", "auto", True, "same"),  # non-numeric ids
    ("12345", "54321", "auto", False, None),
]


@pytest.mark.parametrize("resp_id, receipt_id, profile, matches, kind", CORRELATION_CASES)
def test_correlation_table(redis_url, resp_id, receipt_id, profile, matches, kind):
    async def body(t, r):
        await t.record_queued([Queued("m1", 1, "", "")])  # the intake did not know the account
        await t.record_submitted([Submitted("m1", 1, resp_id, "acct", "bind-0")])
        res = await t.apply_receipts([Receipt(id=receipt_id, stat="DELIVRD", err="000")], "acct")
        return res, await t.status("m1")

    res, st = run(redis_url, body, id_formats={"acct": profile})
    if matches:
        assert [(m.msg_id, m.part, m.state, m.kind) for m in res.matched] == [("m1", 1, "delivered", kind)]
        assert res.held == 0
        assert st.state == "delivered"
        assert st.part_detail[0].smsc_message_id == resp_id
        assert st.part_detail[0].error == "000"
        assert st.account == "acct"
    else:
        assert res.matched == []
        assert res.held == 1
        assert st.state == "submitted"


def test_tlv_preferred_over_text(redis_url):
    async def body(t, r):
        await t.record_submitted([Submitted("a", 1, "111", "acct"), Submitted("b", 1, "222", "acct")])
        # Text says 111 and DELIVRD; the TLVs say 222 and UNDELIVERABLE (5): TLVs win.
        res = await t.apply_receipts(
            [Receipt(id="111", stat="DELIVRD", receipted_message_id="222", message_state=5)], "acct"
        )
        return res, await t.status("a"), await t.status("b")

    res, a, b = run(redis_url, body)
    assert [(m.msg_id, m.state) for m in res.matched] == [("b", "undeliverable")]
    assert a.state == "submitted"
    assert b.state == "undeliverable"


def test_receipts_from_the_smpp_layer(redis_url):
    """engine.smpp.receipts.Receipt (vocabulary state, vendor words) and
    engine.client.Receipt (raw stat word, with and without ``parsed``)."""
    from engine.client.types import Receipt as ClientReceipt
    from engine.smpp.receipts import parse_receipt

    text = "id:0000A1 sub:001 dlvrd:000 submit date:2611220400 done date:2611220401 stat:FAILED err:034 text:x"

    async def body(t, r):
        await t.record_submitted(
            [Submitted("a", 1, "A1", "acct"), Submitted("b", 1, "B2", "acct"), Submitted("c", 1, "C3", "acct")]
        )
        parsed = parse_receipt(text=text)
        client_raw = ClientReceipt("x/0", "b2", "DELIVRD", None, "000", "", "1", "2")
        client_parsed = ClientReceipt("x/0", "c3", "WHATEVER", None, "000", "", "1", "2",
                                      parsed=parse_receipt(text="id:c3 stat:EXPIRED err:005"))
        res = await t.apply_receipts([parsed, client_raw, client_parsed], "acct")
        return res, [await t.status(m) for m in "abc"]

    res, (a, b, c) = run(redis_url, body)
    assert sorted((m.msg_id, m.state) for m in res.matched) == [("a", "undeliverable"), ("b", "delivered"), ("c", "expired")]
    assert (a.part_detail[0].stat, a.part_detail[0].error) == ("FAILED", "034")
    assert c.part_detail[0].error == "005"


def test_receipt_before_submit_resp_is_held_then_applied(redis_url):
    async def body(t, r):
        await t.record_queued([Queued("m1", 1, "c", "acct")])
        res = await t.apply_receipts([Receipt(id="0BEEF", stat="DELIVRD")], "acct")
        before = await t.status("m1")
        held = await t.held_count()
        late = await t.record_submitted([Submitted("m1", 1, "beef", "acct", "tx-1")])
        after = await t.status("m1")
        return res, before, held, late, after, await t.held_count(), await t.stats()

    res, before, held, late, after, held_after, stats = run(redis_url, body)
    assert (res.held, res.matched, res.unmatched) == (1, [], 0)
    assert before.state == "queued" and held == 1
    assert [(m.msg_id, m.part, m.state, m.kind) for m in late] == [("m1", 1, "delivered", "held")]
    assert after.state == "delivered"
    assert held_after == 0
    assert stats["held"] == 1 and stats["held_applied"] == 1 and stats.get("unmatched", 0) == 0


def test_match_across_binds_of_one_account_but_not_other_accounts(redis_url):
    async def body(t, r):
        await t.record_submitted(
            [Submitted("m1", 1, "A1", "acme", "tx-0"), Submitted("m2", 1, "A2", "acme", "tx-1")]
        )
        await t.record_submitted([Submitted("m3", 1, "A1", "other", "tx-9")])
        # Both receipts arrive on the receiver bind of account "acme".
        res = await t.apply_receipts([Receipt(id="a1", stat="DELIVRD"), Receipt(id="a2", stat="EXPIRED")], "acme")
        return res, [await t.status(m) for m in ("m1", "m2", "m3")]

    res, (m1, m2, m3) = run(redis_url, body)
    assert sorted((m.msg_id, m.state) for m in res.matched) == [("m1", "delivered"), ("m2", "expired")]
    assert (m1.account, m3.account) == ("acme", "other")
    assert (m1.part_detail[0].bind, m2.part_detail[0].bind) == ("tx-0", "tx-1")
    assert m3.state == "submitted"  # same SMSC id, other account: untouched


def test_correlation_ttl_expiry_then_unmatched_kept_and_counted(redis_url):
    async def body(t, r):
        await t.record_submitted([Submitted("m1", 1, "77", "acct")])
        await asyncio.sleep(0.5)  # correlation_ttl 0.3 s has passed
        res = await t.apply_receipts([Receipt(id="77", stat="DELIVRD", err="000")], "acct")
        await asyncio.sleep(0.3)  # early_hold 0.2 s has passed
        swept = await t.sweep()
        return res, swept, await t.unmatched(), await t.stats(), await t.status("m1")

    res, swept, unmatched, stats, st = run(
        redis_url, body, ttl=10, correlation_ttl=0.3, early_hold=0.2
    )
    assert res.matched == [] and res.held == 1
    assert swept == 1
    assert len(unmatched) == 1
    u = unmatched[0]
    assert (u["account"], u["id"], u["state"], u["err"], u["stat"]) == ("acct", "77", "delivered", "000", "DELIVRD")
    assert u["reason"] == "no submit_sm_resp with this id"
    assert stats["unmatched"] == 1
    assert st.state == "submitted"


def test_unmatched_stream_is_capped_but_all_are_counted(redis_url):
    async def body(t, r):
        await t.apply_receipts([Receipt(id=f"{i:x}", stat="DELIVRD") for i in range(1, 1501)], "acct")
        # The hold ends: a sweep moves all of them (in several script calls).
        n = await t.sweep(now=time.time() + 5)
        return n, await t.stats(), await r.xlen(t.prefix + "unmatched"), await t.held_count()

    n, stats, xlen, held = run(redis_url, body, early_hold=1, unmatched_maxlen=100)
    assert n == 1500
    assert stats["unmatched"] == 1500
    assert 100 <= xlen < 1500  # MAXLEN ~ trims in whole nodes: at least the cap is kept
    assert held == 0


def test_empty_receipt_id_goes_straight_to_unmatched(redis_url):
    async def body(t, r):
        res = await t.apply_receipts([Receipt(id="", stat="DELIVRD")], "acct")
        return res, await t.unmatched()

    res, unmatched = run(redis_url, body)
    assert res.unmatched == 1 and res.held == 0
    assert unmatched[0]["reason"] == "empty message id"


def test_known_same_spelling_batches_with_and_without_an_empty_id(redis_url):
    """With the spelling known to be "same" receipts travel in the compact form (one
    candidate each); a batch with an id that has no candidate takes the general form.
    Both correlate alike."""

    async def body(t, r):
        await t.record_submitted([Submitted(f"m{i}", 1, f"00AB{i}", "acct") for i in range(3)])
        a = await t.apply_receipts([Receipt(id="ab0", stat="DELIVRD"), Receipt(id="00Ab1", stat="ENROUTE")], "acct")
        b = await t.apply_receipts([Receipt(id="", stat="DELIVRD"), Receipt(id=" 0ab2 ", stat="EXPIRED"),
                                    Receipt(id="ab1", stat="DELIVRD")], "acct")
        return a, b, [await t.status(f"m{i}") for i in range(3)]

    a, b, st = run(redis_url, body, id_formats={"acct": "str"})
    assert [(m.msg_id, m.state, m.kind) for m in a.matched] == [("m0", "delivered", "same"), ("m1", "enroute", "same")]
    assert sorted((m.msg_id, m.state) for m in b.matched) == [("m1", "delivered"), ("m2", "expired")]
    assert b.unmatched == 1 and b.held == 0
    assert [s.state for s in st] == ["delivered", "delivered", "expired"]


def test_events_stream_is_capped_and_a_swept_receipt_moves_the_campaign_counters(redis_url):
    """The status stream is trimmed (MAXLEN ~ events_maxlen) once per script call; a
    held receipt that a sweep resolves moves its campaign's counters like any other."""

    async def body(t, r):
        await t.record_queued([Queued(f"m{i}", 1, "cx", "") for i in range(300)] + [Queued("late", 1, "cx", "")])
        # Held before anything is learned; the submit under another spelling leaves it
        # held (as in test_held_receipt_skipped_before_learning_is_resolved_...).
        held = await t.apply_receipts([Receipt(id="100", stat="EXPIRED")], "acct")
        await t.record_submitted([Submitted("late", 1, "256", "acct")])
        await t.record_submitted([Submitted(f"m{i}", 1, str(1000 + i), "acct") for i in range(300)])
        await t.apply_receipts([Receipt(id=format(1000 + i, "X"), stat="DELIVRD") for i in range(300)], "acct")
        xlen = await r.xlen(t.events_stream)
        before = await t.campaign_counts("cx")
        got: list = []
        await t.sweep(now=time.time() + 5, matched=got)
        return xlen, held, before, got, await t.campaign_counts("cx")

    xlen, held, before, got, after = run(redis_url, body, events_maxlen=10, early_hold=1,
                                         events_stream=f"test-events-{uuid.uuid4().hex[:8]}")
    assert 10 <= xlen < 300  # 600 events written; trimmed in whole nodes
    assert held.held == 1
    assert before == {"total": 301, "segments": 301, "delivered": 300, "submitted": 1}
    assert [(m.msg_id, m.state) for m in got] == [("late", "expired")]
    assert after == {"total": 301, "segments": 301, "delivered": 300, "expired": 1}


def test_duplicate_receipt_counted_not_unmatched(redis_url):
    async def body(t, r):
        await t.record_submitted([Submitted("m1", 1, "5", "acct")])
        a = await t.apply_receipts([Receipt(id="5", stat="DELIVRD")], "acct")
        b = await t.apply_receipts([Receipt(id="5", stat="UNDELIV")], "acct")
        return a, b, await t.status("m1"), await t.stats()

    a, b, st, stats = run(redis_url, body)
    assert len(a.matched) == 1
    assert (b.matched, b.duplicates, b.held) == ([], 1, 0)
    assert st.state == "delivered"
    assert stats["duplicates"] == 1 and stats.get("unmatched", 0) == 0


def test_detection_locks_and_then_avoids_coincidental_match(redis_url):
    """An SMSC answering in decimal and receipting in hex: after the first receipts
    the tracker tries only hex->dec, so receipt "123" (hex for 291) reaches the message
    whose id is 291, not the one whose id happens to be "123"."""

    async def body(t, r):
        await t.record_submitted([Submitted(f"w{i}", 1, str(1000 + i), "acct") for i in range(6)])
        warm = await t.apply_receipts([Receipt(id=format(1000 + i, "X"), stat="DELIVRD") for i in range(6)], "acct")
        kind = t.id_kind("acct")
        await t.record_submitted([Submitted("x", 1, "291", "acct"), Submitted("y", 1, "123", "acct")])
        res = await t.apply_receipts([Receipt(id="123", stat="DELIVRD")], "acct")
        # A new tracker (restart, or another engine process) starts from what was learned.
        t2 = Tracker(r, t.prefix)
        await t2.apply_receipts([], "acct")
        return warm, kind, res, t2.id_kind("acct"), await t.status("x"), await t.status("y")

    warm, kind, res, kind2, x, y = run(redis_url, body)
    assert {m.kind for m in warm.matched} == {"hex2dec"} and len(warm.matched) == 6
    assert kind == "hex2dec" and kind2 == "hex2dec"
    assert [m.msg_id for m in res.matched] == ["x"]
    assert x.state == "delivered" and y.state == "submitted"


# --- aggregated status of multi-part messages -------------------------------------------

# Each step: ("resp", part) submit ok | ("fail", part, status) | ("unknown", part) |
# ("rcpt", part, stat). The SMSC id of part p is f"{p:x}0".
AGGREGATION_CASES = [
    ("all delivered", [("resp", 1), ("resp", 2), ("resp", 3), ("rcpt", 1, "DELIVRD"), ("rcpt", 2, "DELIVRD"), ("rcpt", 3, "DELIVRD")], "delivered"),
    ("one undeliverable", [("resp", 1), ("resp", 2), ("resp", 3), ("rcpt", 1, "DELIVRD"), ("rcpt", 2, "UNDELIV"), ("rcpt", 3, "DELIVRD")], "undeliverable"),
    ("some pending", [("resp", 1), ("resp", 2), ("rcpt", 1, "DELIVRD")], "submitted"),
    ("intermediate receipt", [("resp", 1), ("resp", 2), ("resp", 3), ("rcpt", 1, "ENROUTE"), ("rcpt", 2, "ACCEPTD")], "submitted"),
    ("first failure sticks", [("resp", 1), ("resp", 2), ("resp", 3), ("rcpt", 2, "EXPIRED"), ("rcpt", 1, "REJECTD"), ("rcpt", 3, "DELIVRD")], "expired"),
    ("submit error", [("resp", 1), ("fail", 2, 0x45), ("resp", 3), ("rcpt", 1, "DELIVRD"), ("rcpt", 3, "DELIVRD")], "failed"),
    ("outcome unknown", [("resp", 1), ("unknown", 2), ("resp", 3)], "outcome_unknown"),
    ("unknown then resubmitted", [("resp", 1), ("unknown", 2), ("resp", 3), ("resp", 2), ("rcpt", 1, "DELIVRD"), ("rcpt", 2, "DELIVRD"), ("rcpt", 3, "DELIVRD")], "delivered"),
    ("queued only", [], "queued"),
]


@pytest.mark.parametrize("name, steps, expected", AGGREGATION_CASES, ids=[c[0] for c in AGGREGATION_CASES])
def test_aggregated_status(redis_url, name, steps, expected):
    async def body(t, r):
        await t.record_queued([Queued("m", 3, "camp", "acct")])
        for step in steps:
            kind, part = step[0], step[1]
            if kind == "resp":
                await t.record_submitted([Submitted("m", part, f"{part:x}0", "acct", "b", 3)])
            elif kind == "fail":
                await t.record_failed([Failed("m", part, step[2], "acct", "b", 3)])
            elif kind == "unknown":
                await t.record_outcome_unknown([OutcomeUnknown("m", part, "acct", "b", 3)])
            else:
                await t.apply_receipts([Receipt(id=f"{part:x}0", stat=step[2])], "acct")
        return await t.status("m"), await t.campaign_counts("camp")

    st, counts = run(redis_url, body)
    assert st.state == expected
    assert st.parts == 3 and len(st.part_detail) == 3
    assert counts == {"total": 1, "segments": 3, expected: 1}
    assert st.history[0][0] == "queued" and st.history[-1][0] == expected
    if name == "submit error":
        assert st.part_detail[1].command_status == 0x45 and st.error == "0x00000045"
    if name == "unknown then resubmitted":
        assert st.outcome_unknown == 1
        assert [s for s, _ in st.history] == ["queued", "submitted", "outcome_unknown", "submitted", "delivered"]
        assert st.part_detail[1].tries == 2
    if name == "intermediate receipt":
        assert [p.state for p in st.part_detail] == ["enroute", "accepted", "submitted"]


def test_history_times_and_a_compact_record(redis_url):
    """The history keeps each state's time (ms after the first, see _lua.hist) and a
    delivered single-part record keeps every value under 64 bytes: Redis keeps it a
    listpack (a hash table is 2.5 times the memory and converting costs a quarter of
    the receipt's time). A record written with absolute times (earlier versions) reads
    the same, and new entries after it count from its first."""

    async def body(t, r):
        t0 = 1_763_790_000.123456
        await t.record_queued([Queued("m1", 1, "c", "acct")], now=t0)
        await t.record_submitted([Submitted("m1", 1, "ABC123", "acct", "b")], now=t0 + 3600.5)
        await t.apply_receipts([Receipt(id="abc123", stat="DELIVRD", err="000")], "acct", now=t0 + 3602.25)
        st = await t.status("m1")
        key = t.prefix + "track:m1"
        raw = await r.hgetall(key)
        enc = await r.object("encoding", key)
        await r.hset(t.prefix + "track:m2", mapping={"state": "submitted", "parts": "1",
                     "h": f"queued@{t0};submitted@{t0 + 1.5}", "p1.st": "submitted"})
        await r.set(t.prefix + "corr:acct:d4", "m2\x1f1\x1f" + str(t0 + 1.5))
        await t.apply_receipts([Receipt(id="D4", stat="EXPIRED")], "acct", now=t0 + 10)
        return st, raw, enc, await t.status("m2")

    st, raw, enc, old = run(redis_url, body)
    t0 = 1_763_790_000.123456
    assert [s for s, _ in st.history] == ["queued", "submitted", "delivered"]
    assert [round(at - t0, 3) for _, at in st.history] == [0.0, 3600.5, 3602.25]
    assert raw[b"h"] == f"queued@{t0:.6f};submitted@+3600500;delivered@+3602250".encode()
    assert max(len(v) for v in raw.values()) <= 64
    assert enc == b"listpack"
    assert [s for s, _ in old.history] == ["queued", "submitted", "expired"]
    assert [round(at - t0, 3) for _, at in old.history] == [0.0, 1.5, 10.0]


def test_single_part_messages_with_and_without_a_queued_record(redis_url):
    """Submits switch between asking EXISTS first (the batch before found no records)
    and reading the record at once; the receipt of a single-part message reads only its
    history and part state (parts and campaign travel with the correlation entry).
    Either way the campaign counters, events and states come out as the rules say."""

    async def body(t, r):
        # Not queued through the tracker: the next batch will ask EXISTS first.
        await t.record_submitted([Submitted(f"n{i}", 1, f"a{i}", "acct") for i in range(4)])
        assert t._submit_hint == "new"
        await t.record_queued([Queued(f"q{i}", 1, "camp1", "") for i in range(4)])
        await t.record_submitted([Submitted(f"q{i}", 1, f"b{i}", "acct", "tx") for i in range(4)])
        assert t._submit_hint == ""
        after_submit = await t.campaign_counts("camp1")
        res = await t.apply_receipts(
            [Receipt(id="b0", stat="DELIVRD", err="000"), Receipt(id="b1", stat="UNDELIV", err="011"),
             Receipt(id="b2", stat="ENROUTE"), Receipt(id="a0", stat="DELIVRD"), Receipt(id="b1", stat="DELIVRD")],
            "acct",
        )
        events = await r.xrange(t.events_stream)
        return (after_submit, res, await t.campaign_counts("camp1"), [await t.status(f"q{i}") for i in range(4)],
                await t.status("n0"), events)

    after_submit, res, counts, q, n0, events = run(redis_url, body, events_stream=f"test-events-{uuid.uuid4().hex[:8]}")
    assert after_submit == {"total": 4, "segments": 4, "submitted": 4}
    assert sorted((m.msg_id, m.state) for m in res.matched) == [
        ("n0", "delivered"), ("q0", "delivered"), ("q1", "undeliverable"), ("q2", "enroute")]
    assert res.duplicates == 1  # b1 was final already
    assert counts == {"total": 4, "segments": 4, "submitted": 2, "delivered": 1, "undeliverable": 1}
    assert [s.state for s in q] == ["delivered", "undeliverable", "submitted", "submitted"]
    assert q[1].error == "011" and q[1].part_detail[0].error == "011"
    assert q[2].part_detail[0].state == "enroute"
    assert [s for s, _ in q[0].history] == ["queued", "submitted", "delivered"]
    assert n0.state == "delivered" and n0.campaign == ""
    rows = [{k.decode(): v.decode() for k, v in f.items()} for _, f in events]
    finals = {e["msg_id"]: e for e in rows if e["state"] != "submitted"}
    assert finals["q1"] == {"msg_id": "q1", "state": "undeliverable", "ts": finals["q1"]["ts"], "part": "1",
                            "campaign": "camp1", "err": "011"}
    assert "campaign" not in finals["n0"] and finals["q0"]["campaign"] == "camp1"
    assert sum(1 for e in rows if e["state"] == "submitted") == 8


def test_record_created_at_submit_holds_what_is_read_in_lookup_order(redis_url):
    """A record first seen at submit: state, history and part state first (a listpack
    lookup scans from the front), no t.<state> times (the history has them) and no
    parts for one part (read as 1). Submitted again, it takes the written-out path
    for a known single-part record; the receipt after that still applies, and its
    match (an id with a separator-free but unusual spelling) comes back intact."""

    async def body(t, r):
        mid = "kampagne:ä/1"
        await t.record_submitted([Submitted(mid, 1, "00AB", "acct", "b0")], now=1000.0)
        key = t.prefix + "track:" + mid
        first = list((await r.hgetall(key)).keys())
        await t.record_submitted([Submitted(mid, 1, "00AC", "acct", "b1")], now=1001.0)
        res = await t.apply_receipts([Receipt(id="ac", stat="DELIVRD", err="000")], "acct", now=1002.5)
        return first, await r.hgetall(key), res, await t.status(mid)

    first, raw, res, st = run(redis_url, body)
    assert first == [b"state", b"h", b"p1.st", b"account", b"p1.id", b"p1.b", b"p1.ts", b"p1.n"]
    assert not any(k.startswith(b"t.") for k in raw) and b"parts" not in raw
    assert raw[b"p1.n"] == b"2" and raw[b"p1.id"] == b"00AC" and raw[b"p1.b"] == b"b1"
    assert [(m.msg_id, m.part, m.state, m.submitted_at, m.kind) for m in res.matched] == [
        ("kampagne:ä/1", 1, "delivered", 1001.0, "same")]
    assert res.matched[0].latency == 1.5
    assert st.parts == 1 and st.state == "delivered"
    assert [s for s, _ in st.history] == ["queued", "submitted", "delivered"]
    assert st.part_detail[0].tries == 2 and st.part_detail[0].done_at == 1002.5


def test_records_copied_from_the_batch_template_are_each_their_own(redis_url):
    """While submits find no records, a new single-part record is a COPY of a template
    made from the batch's first one: each record must still carry its own id, bind,
    account and time, in the same field order, with the records' expiry; a record that
    exists already is updated, not replaced; the template is gone after the call."""

    async def body(t, r):
        await t.record_submitted([Submitted("warm", 1, "1", "acct")], now=999.0)
        assert t._submit_hint == "new"
        await t.record_queued([Queued("old", 1, "camp", "acct")], now=999.5)
        batch = [Submitted("a", 1, "0A", "acct", "b0", 1, 1000.25),
                 Submitted("b", 1, "0B1", "acct", "b0", 1, 1000.5),      # longer id
                 Submitted("old", 1, "0C", "acct", "b1", 1, 1000.75),    # queued already
                 Submitted("c", 1, "D", "acct2", "bind-two", 1, 1001.0),  # other account, bind
                 Submitted("m", 1, "E1", "acct", "b0", 2, 1001.25)]       # two parts: no template
        # (a template pays from eight records on: the rest of the batch is more of them)
        batch += [Submitted(f"x{i}", 1, f"F{i}", "acct", "b0", 1, 1002.0) for i in range(8)]
        await t.record_submitted(batch, now=1000.0)
        out = {}
        for mid in ("a", "b", "old", "c", "m"):
            key = t.prefix + "track:" + mid
            out[mid] = ({k.decode(): v.decode() for k, v in (await r.hgetall(key)).items()},
                        await r.pttl(key), await t.status(mid))
        res = await t.apply_receipts([Receipt(id=x, stat="DELIVRD", err="000") for x in ("a", "b1", "c", "d")],
                                     "acct")
        res2 = await t.apply_receipts([Receipt(id="d", stat="DELIVRD", err="000")], "acct2")
        assert await r.object("encoding", t.prefix + "track:a") == b"listpack"
        return out, await r.exists(t.prefix + "tracking:new-record"), res, res2, await t.campaign_counts("camp")

    out, template_left, res, res2, camp = run(redis_url, body)
    ttl_ms = 7 * 24 * 3600 * 1000
    for mid, sid, acct, bind, ts in (("a", "0A", "acct", "b0", "1000.250"), ("b", "0B1", "acct", "b0", "1000.500"),
                                     ("c", "D", "acct2", "bind-two", "1001.000")):
        fields, pttl, st = out[mid]
        assert list(fields) == ["state", "h", "p1.st", "account", "p1.id", "p1.b", "p1.ts", "p1.n"], mid
        assert (fields["p1.id"], fields["account"], fields["p1.b"], fields["p1.ts"], fields["p1.n"]) == (
            sid, acct, bind, ts, "1"), mid
        assert fields["h"] == "queued@1000.000000;submitted@+0" and fields["state"] == fields["p1.st"] == "submitted"
        assert ttl_ms - 60_000 < pttl <= ttl_ms
        assert st.parts == 1 and st.account == acct
    old, _, old_st = out["old"]
    assert old["campaign"] == "camp" and old["p1.id"] == "0C" and old_st.state == "submitted"
    assert [s for s, _ in old_st.history] == ["queued", "submitted"]
    assert out["m"][0]["parts"] == "2" and out["m"][2].state == "submitted"
    assert template_left == 0
    # "d" is acct2's id: held under acct
    assert sorted(m.msg_id for m in res.matched) == ["a", "b", "old"] and res.held == 1
    assert [m.msg_id for m in res2.matched] == ["c"]
    assert camp == {"total": 1, "segments": 1, "delivered": 1}


def test_histories_of_one_receipt_batch_are_each_their_own(redis_url):
    """The script caches a new history per old history within a call: records with
    different histories in one receipt batch must each get theirs, and records
    sharing one get the same."""

    async def body(t, r):
        await t.record_submitted([Submitted("a", 1, "A1", "acct"), Submitted("b", 1, "B1", "acct")], now=1000.0)
        await t.record_submitted([Submitted("c", 1, "C1", "acct")], now=1010.0)
        await t.record_queued([Queued("d", 1, "", "acct")], now=990.0)
        await t.record_submitted([Submitted("d", 1, "D1", "acct")], now=1000.0)
        await t.apply_receipts([Receipt(id=x, stat=s) for x, s in (("a1", "DELIVRD"), ("b1", "UNDELIV"),
                                                                   ("c1", "DELIVRD"), ("d1", "DELIVRD"))],
                               "acct", now=1020.0)
        return {m: (await r.hget(t.prefix + "track:" + m, "h")).decode() for m in "abcd"}

    h = run(redis_url, body)
    assert h == {"a": "queued@1000.000000;submitted@+0;delivered@+20000",
                 "b": "queued@1000.000000;submitted@+0;undeliverable@+20000",
                 "c": "queued@1010.000000;submitted@+0;delivered@+10000",
                 "d": "queued@990.000000;submitted@+10000;delivered@+30000"}


def test_status_events_on_stream(redis_url):
    async def body(t, r):
        await t.record_queued([Queued("m1", 2, "c9", "acct"), Queued("m2", 1, "c9", "acct")])
        await t.record_submitted(
            [Submitted("m1", 1, "a", "acct", "b", 2), Submitted("m1", 2, "b", "acct", "b", 2), Submitted("m2", 1, "c", "acct", "b")]
        )
        await t.apply_receipts(
            [Receipt(id="a", stat="DELIVRD"), Receipt(id="b", stat="DELIVRD"), Receipt(id="c", stat="UNDELIV", err="011")],
            "acct",
        )
        return await r.xrange(t.events_stream)

    events = run(redis_url, body, events_stream=f"test-events-{uuid.uuid4().hex[:8]}")
    rows = [{k.decode(): v.decode() for k, v in f.items()} for _, f in events]
    assert [(e["msg_id"], e["state"]) for e in rows] == [
        ("m1", "submitted"),
        ("m2", "submitted"),
        ("m1", "delivered"),
        ("m2", "undeliverable"),
    ]
    assert rows[0]["smsc_id"] == "a" and rows[0]["campaign"] == "c9"
    assert rows[3]["err"] == "011"
    assert all(float(e["ts"]) > 1e9 for e in rows)


def test_event_states_narrow_the_stream(redis_url):
    async def body(t, r):
        await t.record_submitted([Submitted("m1", 1, "a", "acct"), Submitted("m2", 1, "b", "acct")])
        await t.apply_receipts([Receipt(id="a", stat="DELIVRD"), Receipt(id="b", stat="EXPIRED")], "acct")
        return await r.xrange(t.events_stream)

    events = run(redis_url, body, events_stream=f"test-events-{uuid.uuid4().hex[:8]}", event_states={"delivered"})
    assert [(f[b"msg_id"], f[b"state"]) for _, f in events] == [(b"m1", b"delivered")]
    with pytest.raises(ValueError, match="event_states: unknown \\['queued'\\]"):
        Tracker(None, event_states={"queued"})


def test_status_of_unknown_message_is_none_and_records_have_ttl(redis_url):
    async def body(t, r):
        await t.record_queued([Queued("m1")])
        await t.record_submitted([Submitted("m1", 1, "x1", "acct")])
        ttl_msg = await r.pttl(t.prefix + "track:m1")
        ttl_corr = await r.pttl(t.prefix + "corr:acct:x1")
        return await t.status("nope"), ttl_msg, ttl_corr

    none, ttl_msg, ttl_corr = run(redis_url, body, ttl=100, correlation_ttl=50)
    assert none is None
    assert 90_000 < ttl_msg <= 100_000
    assert 40_000 < ttl_corr <= 50_000


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda t: t.record_submitted([Submitted("m", 0, "x", "a")]), "part must be an integer from 1"),
        (lambda t: t.record_submitted([Submitted("m", 3, "x", "a", "", 2)]), "part must be an integer from 1 to parts=2"),
        (lambda t: t.record_submitted([Submitted("m", 1, "", "a")]), "smsc_message_id must be a non-empty"),
        (lambda t: t.record_queued([Queued("m", 256)]), "parts must be an integer from 1 to 255"),
        (lambda t: t.record_queued([Queued("", 1)]), "msg_id must be a non-empty string"),
        (lambda t: t.apply_receipts([], ""), "account must be a non-empty"),
    ],
)
def test_bad_input_names_the_problem(redis_url, call, message):
    async def body(t, r):
        with pytest.raises(ValueError, match=message):
            await call(t)
        return True

    assert run(redis_url, body)


def test_bad_configuration_names_the_key():
    with pytest.raises(ValueError, match="ttl .* must be at least correlation_ttl"):
        Tracker(None, ttl=10, correlation_ttl=20)
    with pytest.raises(ValueError, match="early_hold must be a positive"):
        Tracker(None, early_hold=0)
    with pytest.raises(ValueError, match=r"id_formats\['acme'\]: message_id_format must be one of auto, str, hex, dec"):
        Tracker(None, id_formats={"acme": "base36"})


def test_sweep_forever_moves_held_receipts_without_new_receipts(redis_url):
    swept = []

    async def body(t, r):
        await t.apply_receipts([Receipt(id="dead", stat="DELIVRD")], "acct")
        task = asyncio.create_task(t.sweep_forever(0.05, swept.append))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await t.unmatched(), await t.held_count()

    unmatched, held = run(redis_url, body, early_hold=0.1)
    assert swept == [1]
    assert [u["id"] for u in unmatched] == ["dead"] and held == 0


def test_final_receipt_shortens_the_correlation_to_the_duplicate_window(redis_url):
    async def body(t, r):
        await t.record_submitted([Submitted("m1", 1, "a1", "acct"), Submitted("m2", 1, "a2", "acct")])
        await t.apply_receipts([Receipt(id="a1", stat="ENROUTE"), Receipt(id="a2", stat="DELIVRD")], "acct")
        return await r.pttl(t.prefix + "corr:acct:a1"), await r.pttl(t.prefix + "corr:acct:a2")

    enroute, final = run(redis_url, body, ttl=5000, correlation_ttl=3000, duplicate_window=30)
    assert 2_900_000 < enroute <= 3_000_000  # an intermediate receipt keeps waiting
    assert 0 < final <= 30_000


@settings(max_examples=300, deadline=None)
@given(
    n=hs.integers(min_value=0, max_value=2**64),
    resp_fmt=hs.sampled_from(["hex", "dec"]),
    rcpt_fmt=hs.sampled_from(["hex", "dec"]),
    zeros=hs.tuples(hs.integers(0, 4), hs.integers(0, 4)),
    upper=hs.tuples(hs.booleans(), hs.booleans()),
)
def test_receipt_candidates_always_reach_the_response_id(n, resp_fmt, rcpt_fmt, zeros, upper):
    """For any number written by the SMSC in hex or decimal, with zeros and any case,
    on either side: the receipt's candidates contain the response's stored key, and
    engine.smpp.receipts.normalize_message_id (each side with its own format) agrees
    that the two ids are one message."""
    from engine.smpp.receipts import normalize_message_id

    def render(fmt, z, up):
        s = format(n, "x") if fmt == "hex" else str(n)
        s = "0" * z + s
        return s.upper() if up else s

    resp = render(resp_fmt, zeros[0], upper[0])
    rcpt = render(rcpt_fmt, zeros[1], upper[1])
    keys = [c for c, _ in candidates(rcpt, ("same", "hex2dec", "dec2hex"))]
    assert canonical(resp) in keys
    assert normalize_message_id(resp, resp_fmt) == normalize_message_id(rcpt, rcpt_fmt)


# --- held receipts and the id format (all-digit hex ids are decimal ones too) ---------
#
# The simulator answers with "%08x" ids and receipts them in the same spelling. With
# message_id_format "auto", receipt "00000010" (message 16) is also decimal 16 (hex
# "10" -> "16") and hex 0xa (decimal "10" -> "a"). Held receipts used to be applied
# by whichever submit came first under any of those spellings, and a receipt ahead of
# its response was counted as a duplicate of message 10.


def _sim_id(n: int) -> str:
    return f"{n:08x}"


def test_held_receipt_not_applied_to_a_message_under_another_spelling(redis_url):
    async def body(t, r):
        # Receipt for message 16 arrives before its submit_sm_resp is recorded.
        res = await t.apply_receipts([Receipt(id=_sim_id(16), stat="DELIVRD")], "acct")
        # Message 22's id "00000016" is the receipt's id read as decimal: not its message.
        late22 = await t.record_submitted([Submitted("m22", 1, _sim_id(22), "acct")])
        late16 = await t.record_submitted([Submitted("m16", 1, _sim_id(16), "acct")])
        return res, late22, late16, await t.status("m22"), await t.status("m16"), await t.held_count()

    res, late22, late16, m22, m16, held = run(redis_url, body)
    assert res.held == 1
    assert late22 == [] and m22.state == "submitted"
    assert [(m.msg_id, m.state) for m in late16] == [("m16", "delivered")]
    assert m16.state == "delivered" and held == 0


def test_receipt_ahead_of_its_response_is_not_a_duplicate_of_another_spelling(redis_url):
    async def body(t, r):
        await t.record_submitted([Submitted("m10", 1, _sim_id(10), "acct")])
        first = await t.apply_receipts([Receipt(id=_sim_id(10), stat="DELIVRD")], "acct")
        # Message 16's receipt before its response: decimal "10" is hex "a", message
        # 10, already delivered. That is not a resend of message 10's receipt.
        early = await t.apply_receipts([Receipt(id=_sim_id(16), stat="DELIVRD")], "acct")
        late = await t.record_submitted([Submitted("m16", 1, _sim_id(16), "acct")])
        return first, early, late, await t.status("m16"), await t.stats()

    first, early, late, m16, stats = run(redis_url, body)
    assert [m.msg_id for m in first.matched] == ["m10"]
    assert (early.duplicates, early.held, early.matched) == (0, 1, [])
    assert [(m.msg_id, m.state) for m in late] == [("m16", "delivered")]
    assert m16.state == "delivered"
    assert stats.get("duplicates", 0) == 0


def test_held_receipts_sharing_a_spelling_each_reach_their_own_message(redis_url):
    async def body(t, r):
        # "00000010" and "00000016" share candidates ("10" and "16"), both held.
        res = await t.apply_receipts(
            [Receipt(id=_sim_id(16), stat="DELIVRD"), Receipt(id=_sim_id(22), stat="EXPIRED")], "acct"
        )
        late = await t.record_submitted(
            [Submitted("m16", 1, _sim_id(16), "acct"), Submitted("m22", 1, _sim_id(22), "acct")]
        )
        return res, late, await t.status("m16"), await t.status("m22"), await t.held_count()

    res, late, m16, m22, held = run(redis_url, body)
    assert res.held == 2
    assert sorted((m.msg_id, m.state) for m in late) == [("m16", "delivered"), ("m22", "expired")]
    assert (m16.state, m22.state) == ("delivered", "expired")
    assert held == 0


def test_held_receipt_follows_the_learned_format(redis_url):
    """An SMSC answering in decimal and receipting in hex. A receipt "100" (hex for
    256) held before anything is learned: once hex2dec is learned, the message whose
    decimal id is literally "100" does not take it; message 256 does."""

    async def body(t, r):
        held = await t.apply_receipts([Receipt(id="100", stat="DELIVRD")], "acct")
        await t.record_submitted([Submitted(f"w{i}", 1, str(1000 + i), "acct") for i in range(6)])
        await t.apply_receipts([Receipt(id=format(1000 + i, "X"), stat="DELIVRD") for i in range(6)], "acct")
        kind = t.id_kind("acct")
        late_a = await t.record_submitted([Submitted("lit100", 1, "100", "acct")])
        late_b = await t.record_submitted([Submitted("m256", 1, "256", "acct")])
        return held, kind, late_a, late_b, await t.status("lit100"), await t.status("m256")

    held, kind, late_a, late_b, lit, m256 = run(redis_url, body)
    assert held.held == 1 and kind == "hex2dec"
    assert late_a == [] and lit.state == "submitted"
    assert [m.msg_id for m in late_b] == ["m256"] and m256.state == "delivered"


def test_held_receipt_skipped_before_learning_is_resolved_when_its_hold_ends(redis_url):
    async def body(t, r):
        await t.apply_receipts([Receipt(id="100", stat="DELIVRD")], "acct")
        # Submitted while nothing is learned: "256" is not the receipt's literal
        # spelling, so the submit leaves it held ...
        late = await t.record_submitted([Submitted("m256", 1, "256", "acct")])
        await t.record_submitted([Submitted(f"w{i}", 1, str(1000 + i), "acct") for i in range(6)])
        await t.apply_receipts([Receipt(id=format(1000 + i, "X"), stat="DELIVRD") for i in range(6)], "acct")
        # ... and when the hold ends, the learned format (hex2dec) finds message 256.
        got: list = []
        swept = await t.sweep(now=time.time() + 5, matched=got)
        return late, swept, got, await t.status("m256"), await t.held_count()

    late, swept, got, m256, held = run(redis_url, body, early_hold=1)
    assert late == []
    assert swept == 0 and [(m.msg_id, m.kind) for m in got] == [("m256", "held")]
    assert m256.state == "delivered" and held == 0


def test_ambiguous_held_receipt_is_unmatched_not_guessed(redis_url):
    async def body(t, r):
        await t.apply_receipts([Receipt(id="100", stat="DELIVRD")], "acct")
        # Two messages fit two spellings of "100" ("100" itself is taken first when it
        # is submitted, so only the other two spellings are here: 256 and 64).
        await t.record_submitted([Submitted("m256", 1, "256", "acct"), Submitted("m64", 1, "64", "acct")])
        swept = await t.sweep(now=time.time() + 5)
        return swept, await t.unmatched(), await t.status("m256"), await t.status("m64")

    swept, unmatched, m256, m64 = run(redis_url, body, early_hold=1)
    assert swept == 1
    assert unmatched[0]["reason"] == "ambiguous message id: the SMSC id format is not learned"
    assert (m256.state, m64.state) == ("submitted", "submitted")


def test_one_digit_ids_teach_the_detector_nothing(redis_url):
    """An id of one digit is the same in every spelling: matching it must not lock
    the format to "same" (an SMSC that converts would then lose every receipt)."""

    async def body(t, r):
        await t.record_submitted([Submitted(f"m{i}", 1, str(i), "acct") for i in range(1, 10)])
        await t.apply_receipts([Receipt(id=str(i), stat="DELIVRD") for i in range(1, 10)], "acct")
        return t.id_kind("acct")

    assert run(redis_url, body) is None


@settings(max_examples=500, deadline=None)
@given(raw=hs.text(alphabet=hs.sampled_from(list("0123456789abcdefXYZ \0\téß٣")), max_size=70))
def test_canonical_fast_path_agrees_with_the_reference(raw):
    """canonical() and candidates() skip the strips for clean ids: same answers as the
    general rule (blanks and NULs around, case, leading zeros) on any input."""
    t = raw.strip().strip("\0").strip()
    ref = t.lower().lstrip("0") or ("0" if t else "")
    assert canonical(raw) == ref
    if not t:
        assert candidates(raw, ("same",)) == []
    elif len(t) <= 65:
        assert candidates(raw, ("same",)) == [(canonical(t), "same")]


def test_detector_decides_on_a_batch_of_matches_as_a_whole():
    """A receipt batch teaches the detector its counts together: in whatever order the
    kinds come, 30 literal matches and 6 coincidental hex2dec ones lock nothing (30 is
    not 20 times 6), and never the minority kind."""
    for order in (("hex2dec", "same"), ("same", "hex2dec")):
        d = FormatDetector("auto")
        d.learn({k: {"same": 30, "hex2dec": 6}[k] for k in order})
        assert d.locked is None, order
        d.learn({"same": 100})
        assert d.locked == "same", order


def test_unrecorded_simulator_ids_do_not_lock_a_wrong_format(redis_url):
    """Simulator-like hex ids ("00000010"): receipts of submits never recorded read as
    hex give the decimal id of another message still waiting for its receipt ("16" is
    message 0x16), so one batch can hold a few coincidental hex2dec matches among many
    literal ones. The detector must not lock hex2dec from them (it did, when the batch's
    counts reached it one kind at a time, hex2dec first): then no receipt matched again."""

    async def body(t, r):
        # Never recorded: 0x10..0x15. Recorded, receipt not yet in: 0x16..0x19, 0x20, 0x21
        # (the decimal readings 16..21 of the unrecorded ones).
        waiting = [0x16, 0x17, 0x18, 0x19, 0x20, 0x21]
        literal = list(range(0x40, 0x40 + 30))
        await t.record_submitted([Submitted(f"m{n}", 1, _sim_id(n), "acct") for n in waiting + literal])
        first = await t.apply_receipts(
            [Receipt(id=_sim_id(n), stat="DELIVRD") for n in list(range(0x10, 0x16)) + literal], "acct"
        )
        kind = t.id_kind("acct")
        # Later traffic, receipts ahead of and after their responses: still correlated.
        later = list(range(0x100, 0x100 + 40))
        ahead = await t.apply_receipts([Receipt(id=_sim_id(n), stat="DELIVRD") for n in later[:20]], "acct")
        late = await t.record_submitted([Submitted(f"m{n}", 1, _sim_id(n), "acct") for n in later])
        after = await t.apply_receipts([Receipt(id=_sim_id(n), stat="DELIVRD") for n in later[20:]], "acct")
        return first, kind, ahead, late, after, t.id_kind("acct")

    first, kind, ahead, late, after, kind_after = run(redis_url, body)
    assert len(first.matched) == 36  # 30 literal, 6 coincidental (the format is not known yet)
    assert kind is None, kind
    assert ahead.held == 20 and len(late) == 20 and len(after.matched) == 20
    assert kind_after in (None, "same")


def test_submit_time_given_is_the_parts_time_and_where_receipt_latency_counts_from(redis_url):
    """The engine records a part some time after its submit_sm left (the response, then
    a batch); the time it passes is the part's ``ts`` and the start of its
    submit-to-receipt latency, for a new record, a queued one and a multi-part one.
    Without it, the time of the record is used."""

    async def body(t, r):
        now = 1_800_000_000.0
        await t.record_queued([Queued("q", 1, "c", ""), Queued("m", 2, "c", "")], now=now - 10)
        await t.record_submitted([
            Submitted("n", 1, "id-n", "acct", "tx", 1, now - 0.25),
            Submitted("q", 1, "id-q", "acct", "tx", 1, now - 0.5),
            Submitted("m", 1, "id-m1", "acct", "tx", 2, now - 0.75),
            Submitted("m", 2, "id-m2", "acct", "tx", 2, now - 0.7),
            Submitted("x", 1, "id-x", "acct", "tx", 1),  # no submit time: the record's
        ], now=now)
        res = await t.apply_receipts(
            [Receipt(id=i, stat="DELIVRD") for i in ("id-n", "id-q", "id-m1", "id-m2", "id-x")], "acct",
            now=now + 1.0)
        return res, [await t.status(m) for m in ("n", "q", "m", "x")]

    res, (n, q, m, x) = run(redis_url, body)
    lat = {(mt.msg_id, mt.part): round(mt.latency, 3) for mt in res.matched}
    assert lat == {("n", 1): 1.25, ("q", 1): 1.5, ("m", 1): 1.75, ("m", 2): 1.7, ("x", 1): 1.0}
    sub = {(mt.msg_id, mt.part): mt.submitted_at for mt in res.matched}
    assert sub[("n", 1)] == pytest.approx(1_800_000_000.0 - 0.25)
    assert n.part_detail[0].submitted_at == pytest.approx(1_800_000_000.0 - 0.25)
    assert q.part_detail[0].submitted_at == pytest.approx(1_800_000_000.0 - 0.5)
    assert [p.submitted_at for p in m.part_detail] == [pytest.approx(1_800_000_000.0 - 0.75),
                                                       pytest.approx(1_800_000_000.0 - 0.7)]
    assert x.part_detail[0].submitted_at == pytest.approx(1_800_000_000.0)
    assert all(s.state == "delivered" for s in (n, q, m, x))
