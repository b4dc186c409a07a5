"""Campaign files: per-row checks, bad rows reported with their numbers, good rows queued
with the right E.164 numbers and rendered text (real redis-server)."""

from __future__ import annotations

import json

import pytest

from engine.campaign import (
    CampaignError,
    CampaignOptions,
    RowError,
    RowPreparer,
    Template,
    campaign_info,
    read_rows,
    submit_campaign,
)
from engine.queue import Consumer, Message, set_campaign_rate, stream_stats

pytestmark = pytest.mark.timeout(60)

CSV = """phone,name,code,sender
+7 903 123-45-67,Ivan,111,
8-903-765-43-21,Мария,222,
900,Short,333,
7 (903) 000-11-22,Pyotr,444,Bank One
abc,Bad,555,
+7(495) 981-12-10,Office,666,Very Long Sender
8 903 555 66 77,Olga,777,
"""

EXPECTED_GOOD = {
    1: ("+79031234567", "Hi Ivan, your code is 111", "MyShop", 5),
    2: ("+79037654321", "Hi Мария, your code is 222", "MyShop", 5),
    4: ("+79030001122", "Hi Pyotr, your code is 444", "Bank One", 5),
    7: ("+79035556677", "Hi Olga, your code is 777", "MyShop", 5),
}
EXPECTED_BAD = {
    3: (4, "short code"),
    5: (6, "not part of a phone number"),
    6: (7, "16 characters"),
}


def opts(**kw):
    base = dict(sender="MyShop", text="Hi {name}, your code is {code}", region="RU")
    base.update(kw)
    return CampaignOptions(**base)


def test_template_fields_and_rendering():
    t = Template("Hi {name}, {{literal}} {code}{name}")
    assert t.fields == ("name", "code")
    assert t.render({"name": "A", "code": 5}) == "Hi A, {literal} 5A"
    with pytest.raises(KeyError):
        t.render({"name": "A"})
    for bad in ("{x.__class__}", "{x[0]}", "{x!r}", "{x:>10}", "{0}x{", "}"):
        with pytest.raises(CampaignError):
            Template(bad)


def test_campaign_file_good_and_bad_rows(arun, keys, tmp_path):
    f = tmp_path / "people.csv"
    f.write_text(CSV, encoding="utf-8")

    async def go(r):
        seen = []
        result = await submit_campaign(r, f, opts(rate=0), keys=keys, progress=lambda res: seen.append(res.total))
        assert (result.total, result.accepted, result.rejected) == (7, 4, 3)
        assert seen and seen[-1] == 7
        bad = {e.row: e for e in result.errors}
        assert set(bad) == set(EXPECTED_BAD)
        for row, (line, reason) in EXPECTED_BAD.items():
            assert bad[row].line == line and reason in bad[row].reason, bad[row]
        c = Consumer(r, keys, name="t", block_ms=50)
        entries = await c.read()
        got = {int(e.message.id.split(":")[1]): e.message for e in entries}
        assert set(got) == set(EXPECTED_GOOD)
        for row, (dest, text, source, ton) in EXPECTED_GOOD.items():
            m = got[row]
            assert (m.destination, m.text, m.source, m.source_ton) == (dest, text, source, ton)
            assert m.campaign == result.id and m.priority == "bulk" and m.segments == 1
        info = await campaign_info(r, result.id, keys=keys)
        assert info["state"] == "queued" and info["name"] == "people"
        assert (info["total"], info["accepted"], info["rejected"], info["segments"]) == (7, 4, 3, 4)
        assert [b["row"] for b in info["bad_rows"]] == [3, 5, 6]
        assert await campaign_info(r, "no-such", keys=keys) is None

    arun(go)


def test_encoding_limits_are_honoured_per_row(arun, keys, tmp_path):
    f = tmp_path / "c.jsonl"
    lines = [
        {"msisdn": "+447911123456", "body": "plain text"},
        {"msisdn": "+447911123457", "body": "Привет"},  # not GSM: refused by the forced encoding
        {"msisdn": "+447911123458", "body": "x" * 400},  # 3 segments > max 2
        {"msisdn": "+447911123459", "body": "y" * 300},  # 2 segments: fine
        {"msisdn": "+447911123460"},  # template field missing
        "not an object",
        {"msisdn": 447911123461, "body": "number as a JSON number"},
    ]
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n{broken json\n", encoding="utf-8")

    async def go(r):
        result = await submit_campaign(r, f, opts(text="{body}", encoding="gsm7", max_parts=2, region="GB"),
                                       keys=keys)
        reasons = {e.row: e.reason for e in result.errors}
        assert "'П' at position 0" in reasons[2] and "gsm7" in reasons[2]
        assert "3 segments" in reasons[3] and "maximum of 2" in reasons[3]
        assert reasons[5] == "template field {body} missing from the row"
        assert "not an object" in reasons[6]
        assert "not valid JSON" in reasons[8]
        assert result.errors[-1].line == 9  # the blank line is counted as a line, not a row
        assert (result.accepted, result.rejected, result.segments) == (3, 5, 1 + 2 + 1)
        entries = await Consumer(r, keys, name="t", block_ms=50).read()
        assert sorted(e.message.destination for e in entries) == ["+447911123456", "+447911123459",
                                                                  "+447911123461"]
        assert {e.message.encoding for e in entries} == {"gsm7"}

    arun(go)


def test_campaign_level_errors_stop_before_any_row(arun, keys, tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("phone,name\n+79031234567,A\n", encoding="utf-8")

    async def go(r):
        with pytest.raises(CampaignError, match="template field.*{code}.*not among the columns"):
            await submit_campaign(r, f, opts(), keys=keys)
        with pytest.raises(CampaignError, match="invalid sender"):
            await submit_campaign(r, f, opts(sender="Shop!", text="{name}"), keys=keys)
        nocol = tmp_path / "n.csv"
        nocol.write_text("who,name\n+79031234567,A\n", encoding="utf-8")
        with pytest.raises(CampaignError, match="no destination column"):
            await submit_campaign(r, nocol, opts(text="{name}"), keys=keys)
        ok = await submit_campaign(r, nocol, opts(text="{name}", column="who"), keys=keys)
        assert ok.accepted == 1
        with pytest.raises(CampaignError, match="not UTF-8"):
            bad = tmp_path / "latin.csv"
            bad.write_bytes("phone,name\n+79031234567,caf\xe9\n".encode("latin-1"))
            await submit_campaign(r, bad, opts(text="{name}"), keys=keys)
        arr = tmp_path / "a.json"
        arr.write_text('[{"phone": "+79031234567"}]', encoding="utf-8")
        with pytest.raises(CampaignError, match="one JSON array"):
            await submit_campaign(r, arr, opts(text="x"), keys=keys)
        assert (await stream_stats(r, keys))[1].length == 1  # only the --column campaign's row

    arun(go)


def test_semicolon_csv_and_wrong_value_count(tmp_path):
    f = tmp_path / "eu.csv"
    f.write_text("\ufefftelefon;Name;phone\n+7 903 123 45 67;Иван, Петров;8903\n1;2\n", encoding="utf-8")
    header, rows = read_rows(f)
    assert header == ["telefon", "Name", "phone"]
    rows = list(rows)
    assert rows[0] == (1, 2, {"telefon": "+7 903 123 45 67", "Name": "Иван, Петров", "phone": "8903"})
    assert rows[1] == (2, 3, "2 values for 3 columns")


def test_row_preparer_without_redis():
    p = RowPreparer("cid", opts(text="{name}"))
    m = p.prepare(10, 11, {"Phone": "8 903 123 45 67", "name": "x"})
    assert m.id == "cid:10" and m.destination == "+79031234567"
    e = p.prepare(1, 2, {"name": "x"})
    assert isinstance(e, RowError) and (e.row, e.line) == (1, 2)
    assert "no destination column" in e.reason
    assert "no number" in p.prepare(3, 4, {"phone": "", "name": "x"}).reason


def test_rate_limit_is_stored_for_the_consumers(arun, keys, tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("phone\n" + "".join(f"+7903{i:07d}\n" for i in range(30)), encoding="utf-8")

    async def go(r):
        res = await submit_campaign(r, f, opts(text="hello", rate=10), keys=keys)
        info = await campaign_info(r, res.id, keys=keys)
        assert info["rate"] == 10.0
        # a rate-limited campaign has its own stream: other traffic is never behind it
        assert info["stream"] == keys.campaign_stream(res.id)
        assert await r.xlen(keys.campaign_stream(res.id)) == 30 and await r.xlen(keys.bulk_stream) == 0
        c = Consumer(r, keys, name="t", block_ms=50)
        first = await c.read()
        assert len(first) == 10 and c.held == 0  # one second's burst; the rest stay unread
        each = await stream_stats(r, keys, campaigns="each")
        assert [q.lag for q in each if q.stream == keys.campaign_stream(res.id)] == [20]
        agg = await stream_stats(r, keys)
        assert [(q.stream, q.lag, q.pending) for q in agg[2:]] == [(keys.campaign_stream("*"), 20, 10)]
        assert len(await stream_stats(r, keys, campaigns="none")) == 2
        await set_campaign_rate(r, keys, res.id, 0)  # lifting the limit lets the rest go
        rest = await c.read()
        assert len(rest) == 20
        await c.ack(first + rest)
        # finished (intake done, all acked): the stream is removed on the next read
        assert await c.read(block_ms=10) == []
        assert await r.exists(keys.campaign_stream(res.id)) == 0
        assert await r.sismember(keys.campaign_streams, res.id) == 0

    arun(go)


def test_tracking_records_are_created_when_asked(arun, keys, tmp_path):
    from engine.tracking import Tracker

    f = tmp_path / "c.csv"
    f.write_text("phone\n+79031234567\n+79031234568\n", encoding="utf-8")

    async def go(r):
        t = Tracker(r, prefix=keys.prefix)
        res = await submit_campaign(r, f, opts(text="x" * 200), keys=keys, tracker=t)
        counts = await t.campaign_counts(res.id)
        assert counts.get("queued") == 2
        st = await t.status(f"{res.id}:1")
        assert st is not None and st.state == "queued"
        info = await campaign_info(r, res.id, keys=keys)
        assert info["states"] == {"queued": 2}

    arun(go)


def test_a_rate_limited_campaign_never_holds_up_others(arun, keys, tmp_path, redis_url):
    import asyncio
    import time

    from engine.queue import connect

    slow_file = tmp_path / "slow.csv"
    slow_file.write_text("phone\n" + "".join(f"+7903{i:07d}\n" for i in range(60)), encoding="utf-8")
    fast_file = tmp_path / "fast.csv"
    fast_file.write_text("phone\n" + "".join(f"+7904{i:07d}\n" for i in range(300)), encoding="utf-8")

    async def go(r):
        slow = await submit_campaign(r, slow_file, opts(text="slow", rate=20), keys=keys)
        fast = await submit_campaign(r, fast_file, opts(text="fast"), keys=keys)  # queued behind it
        times: dict[str, float] = {}
        t0 = time.monotonic()

        async def consumer(name):
            rc = connect(redis_url)
            c = Consumer(rc, keys, name=name, count=50, block_ms=100)
            try:
                while len(times) < 360 and time.monotonic() - t0 < 10:
                    batch = await c.read()
                    for e in batch:
                        assert e.message.id not in times
                        times[e.message.id] = time.monotonic() - t0
                    await c.ack(batch)
            finally:
                await rc.aclose()

        await asyncio.gather(consumer("one"), consumer("two"))
        s = sorted(v for k, v in times.items() if k.startswith(slow.id))
        f = [v for k, v in times.items() if k.startswith(fast.id)]
        assert len(s) == 60 and len(f) == 300
        assert max(f) < 1.0  # the unlimited campaign went at once
        assert 1.6 <= s[-1] <= 3.5, s[-1]  # 20 at once, then 20/s, shared by both consumers
        assert sum(1 for t in s if t < 1.0) <= 41

    arun(go)


def test_enqueue_message_python_api(arun, keys):
    from engine.campaign import enqueue_message
    from engine.encoding.errors import TooManyParts
    from engine.numbers import InvalidNumber, InvalidSender

    async def go(r):
        m = await enqueue_message(r, to="8 903 123 45 67", sender="MyShop", text="x" * 200, keys=keys)
        assert m.destination == "+79031234567" and m.segments == 2 and m.priority == "transactional"
        (entry,) = await Consumer(r, keys, name="c", block_ms=50).read()
        assert entry.message == m
        for kwargs, exc in [({"to": "900"}, InvalidNumber), ({"sender": "Bad!"}, InvalidSender),
                            ({"text": "x" * 400, "max_parts": 2}, TooManyParts),
                            ({"text": "bad \ud800 text"}, ValueError)]:
            args = dict(to="+79031234567", sender="MyShop", text="hi", keys=keys) | kwargs
            with pytest.raises(exc):
                await enqueue_message(r, **args)
        assert await r.xlen(keys.transactional_stream) == 1  # nothing written for the bad ones

    arun(go)


def test_lone_surrogate_in_a_json_row_is_a_bad_row(arun, keys, tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text('{"to": "+79031234567", "t": "ok"}\n{"to": "+79031234568", "t": "bad \\ud800"}\n',
                 encoding="utf-8")

    async def go(r):
        res = await submit_campaign(r, f, opts(text="{t}"), keys=keys)
        assert res.accepted == 1 and [e.row for e in res.errors] == [2]
        assert "lone surrogate U+D800" in res.errors[0].reason

    arun(go)


def test_transactional_goes_first_even_beside_a_fast_limited_campaign(arun, keys, tmp_path):
    from engine.queue import Producer

    f = tmp_path / "c.csv"
    f.write_text("phone\n" + "".join(f"+7903{i:07d}\n" for i in range(100)), encoding="utf-8")

    async def go(r):
        await submit_campaign(r, f, opts(text="bulk", rate=10_000), keys=keys)
        c = Consumer(r, keys, name="c", count=20, block_ms=50)
        first = await c.read()
        assert len(first) == 20 and {e.message.priority for e in first} == {"bulk"}
        await Producer(r, keys).enqueue_many(
            Message(id=f"tx:{i}", destination="+79031234567", text="otp", source="Bank", priority="transactional")
            for i in range(5))
        nxt = await c.read()
        assert [e.message.id for e in nxt[:5]] == [f"tx:{i}" for i in range(5)]
        assert len(nxt) == 20 and all(e.message.priority == "bulk" for e in nxt[5:])

    arun(go)


def test_a_running_engine_counts_every_message_in_the_campaign(arun, keys, tmp_path, redis_url):
    import asyncio

    from engine.queue import connect
    from engine.tracking import Submitted, Tracker

    f = tmp_path / "c.csv"
    n = 3000
    f.write_text("phone\n" + "".join(f"+7903{i:07d}\n" for i in range(n)), encoding="utf-8")

    async def go(r):
        stop = asyncio.Event()
        recorded = 0

        async def engine():
            # stands in for the service: read, record the submit_sm_resp at once, ack
            nonlocal recorded
            rc = connect(redis_url)
            c = Consumer(rc, keys, name="eng", count=200, block_ms=20)
            t = Tracker(rc, prefix=keys.prefix)
            try:
                while not (stop.is_set() and recorded >= n):
                    batch = await c.read()
                    await t.record_submitted([Submitted(e.message.id, 1, f"id{e.message.id}", "acct")
                                              for e in batch])
                    await c.ack(batch)
                    recorded += len(batch)
            finally:
                await rc.aclose()

        class SlowTracker(Tracker):
            # a slow moment in the intake, so that the engine is surely quicker
            async def record_queued(self, batch, **kw):
                await asyncio.sleep(0.05)
                return await super().record_queued(batch, **kw)

        task = asyncio.create_task(engine())
        res = await submit_campaign(r, f, opts(text="hi"), keys=keys, tracker=SlowTracker(r, prefix=keys.prefix),
                                    chunk=500)
        stop.set()
        await asyncio.wait_for(task, 30)
        counts = await Tracker(r, prefix=keys.prefix).campaign_counts(res.id)
        assert counts.get("submitted") == n and counts.get("queued", 0) == 0, counts

    arun(go)
