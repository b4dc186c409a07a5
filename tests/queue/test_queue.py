"""The Redis Streams intake against a real redis-server: enqueue, consume, ack, reclaim,
hand-off records, priorities, per-campaign rate limits."""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.queue import (
    Attempt,
    Consumer,
    Keys,
    MalformedEntry,
    Message,
    Producer,
    connect,
    new_id,
    resolve_redis_settings,
    set_campaign_rate,
    stream_stats,
)

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


def msg(i: int, *, campaign: str | None = None, priority: str = "bulk", text: str | None = None) -> Message:
    return Message(
        id=f"{campaign or 'single'}:{i}",
        destination=f"+7903{i:07d}",
        text=text if text is not None else f"hello {i}",
        source="MyShop",
        campaign=campaign,
        priority=priority,
        segments=1,
    )


def test_message_fields_round_trip():
    m = Message(id="c:1", destination="+447911123456", text="Привет {x} ✓", source="79031234567",
                source_ton=1, source_npi=1, priority="transactional", campaign="c", encoding="ucs2",
                concat="udh16", national=("turkish", "spanish"), registered_delivery=0, segments=3,
                created=1700000000.25)
    back = Message.from_fields(m.to_fields(), "1-0")
    assert back == m
    # bytes keys and values (a client without decode_responses) parse the same
    raw = {k.encode(): v.encode() for k, v in m.to_fields().items()}
    assert Message.from_fields(raw) == m


@pytest.mark.parametrize(
    "fields, reason",
    [({}, "field 'm'"), ({"m": "{not json"}, "not JSON"), ({"m": "[1]"}, "not a JSON object"),
     ({"m": '{"id": "x", "text": "t", "from": "A"}'}, "'to' missing"),
     ({"m": '{"id": "x", "to": "12", "text": "t", "from": "A"}'}, "E.164"),
     ({"m": '{"id": "a\\u001fb", "to": "+12", "text": "t", "from": "A"}'}, "without newlines or \\x1f")],
)
def test_malformed_entries_are_named(fields, reason):
    with pytest.raises(MalformedEntry) as info:
        Message.from_fields(fields, "5-0")
    assert reason in str(info.value) and "5-0" in str(info.value)


def test_bad_message_options_are_refused():
    with pytest.raises(ValueError, match="priority"):
        msg(1, priority="urgent")
    with pytest.raises(ValueError, match="encoding"):
        Message(id="x", destination="+79031234567", text="t", source="A", encoding="utf8")


def test_ids_are_unique_and_time_ordered():
    ids = [new_id(now_ms=1_700_000_000_000 + i) for i in range(1000)]
    assert len(set(ids)) == 1000 and ids == sorted(ids) and all(len(i) == 26 for i in ids)


def test_enqueue_consume_ack(arun, keys):
    async def go(r):
        p = Producer(r, keys)
        sent = [msg(i, campaign="c1") for i in range(25)]
        await p.enqueue(sent[0])
        ids = await p.enqueue_many(sent[1:], chunk=7)
        assert len(ids) == 24 and len(set(ids)) == 24
        c = Consumer(r, keys, name="a", count=100, block_ms=100)
        got = await c.read()
        assert [e.message for e in got] == sent
        assert all(not e.reclaimed for e in got)
        stats = {s.stream: s for s in await stream_stats(r, keys)}
        assert stats[keys.bulk_stream].pending == 25 and stats[keys.bulk_stream].lag == 0
        await c.begin(got)
        assert {e.attempt for e in got} == {Attempt.FIRST} and {e.attempts for e in got} == {1}
        assert await r.hexists(keys.attempts, "c1:0") == 1
        assert await r.hlen(keys.attempts) == 25 + 1  # and the layout field
        assert await c.ack(got[:10]) == 10
        assert await c.ack(got[:10]) == 0  # already acked: nothing pending
        assert await r.hexists(keys.attempts, "c1:0") == 0
        assert await r.hlen(keys.attempts) == 15 + 1
        assert await c.ack(got[10:]) == 15
        stats = {s.stream: s for s in await stream_stats(r, keys)}
        assert stats[keys.bulk_stream].pending == 0 and stats[keys.bulk_stream].length == 0
        assert await c.read(block_ms=50) == []
        assert [k async for k in r.scan_iter(match=keys.prefix + "attempt*")] == []  # no record left

    arun(go)


def test_two_consumers_never_get_the_same_entry(arun, keys, redis_url):
    n = 3000

    async def go(r):
        await Producer(r, keys).enqueue_many(msg(i) for i in range(n))

        async def drain(name):
            rc = connect(redis_url)
            c = Consumer(rc, keys, name=name, count=50, block_ms=50)
            seen = []
            try:
                while True:
                    batch = await c.read()
                    if not batch:
                        return seen
                    await c.begin(batch)
                    assert all(e.attempt is Attempt.FIRST for e in batch)
                    seen.extend(e.message.id for e in batch)
                    await c.ack(batch)
                    await asyncio.sleep(0)
            finally:
                await rc.aclose()

        a, b = await asyncio.gather(drain("a"), drain("b"))
        assert not set(a) & set(b)
        assert sorted(a + b) == sorted(f"single:{i}" for i in range(n))
        assert len(a) > 0 and len(b) > 0  # both took part

    arun(go)


def test_dead_consumer_entries_are_reclaimed_and_flagged(arun, keys):
    async def go(r):
        await Producer(r, keys).enqueue_many(msg(i, campaign="k") for i in range(10))
        dead = Consumer(r, keys, name="dead", count=10, claim_idle_ms=300)
        taken = await dead.read()
        assert len(taken) == 10
        # The dead consumer handed the first four to SMPP, then died before any response.
        await dead.begin(taken[:4])
        alive = Consumer(r, keys, name="alive", count=100, claim_idle_ms=300, block_ms=50)
        assert await alive.read() == []  # not idle long enough yet
        await asyncio.sleep(0.45)
        alive._next_claim = 0  # do not wait for the next scheduled scan
        back = await alive.read()
        assert sorted(e.message.id for e in back) == sorted(f"k:{i}" for i in range(10))
        assert all(e.reclaimed for e in back)
        await alive.begin(back)
        verdict = {e.message.id: (e.attempt, e.attempts) for e in back}
        for i in range(4):
            assert verdict[f"k:{i}"] == (Attempt.OUTCOME_UNKNOWN, 2)
        for i in range(4, 10):
            assert verdict[f"k:{i}"] == (Attempt.FIRST, 1)
        assert all(e.sendable for e in back)
        # The "dead" one wakes up: everything now belongs to "alive", it must send nothing.
        await dead.begin(taken)
        assert {e.attempt for e in taken} == {Attempt.CLAIMED_ELSEWHERE}
        assert not any(e.sendable for e in taken)
        assert await alive.ack(back) == 10
        # And once acked, a late hand-off is refused as well.
        await dead.begin(taken[:2])
        assert {e.attempt for e in taken[:2]} == {Attempt.ALREADY_ACKED}

    arun(go)


def test_reclaim_before_the_hand_off_means_no_double_send(arun, keys):
    async def go(r):
        await Producer(r, keys).enqueue(msg(1))
        slow = Consumer(r, keys, name="slow", claim_idle_ms=200)
        (mine,) = await slow.read()
        await asyncio.sleep(0.3)
        other = Consumer(r, keys, name="other", claim_idle_ms=200, block_ms=50)
        (theirs,) = await other.read()
        assert theirs.reclaimed
        await other.begin([theirs])
        await slow.begin([mine])
        # exactly one of the two may send, and it is a first attempt
        assert theirs.attempt is Attempt.FIRST and mine.attempt is Attempt.CLAIMED_ELSEWHERE

    arun(go)


def test_the_same_message_twice_in_one_batch_is_handed_once_as_first(arun, keys):
    """Two stream entries carrying one message id, begun in one batch: the hand-off
    records of a batch are read and written together, yet the second one must see the
    first (it may be a duplicate) exactly as if they had been begun one by one."""

    async def go(r):
        p = Producer(r, keys)
        await p.enqueue(msg(3))
        await p.enqueue(msg(3))
        c = Consumer(r, keys, name="a", count=10, block_ms=50)
        got = await c.read()
        await c.begin(got)
        return [(e.attempt, e.attempts) for e in got], await r.hget(keys.attempts, "single:3")

    verdicts, record = arun(go)
    assert verdicts == [(Attempt.FIRST, 1), (Attempt.OUTCOME_UNKNOWN, 2)]
    assert record.startswith("handed:2:") and record.endswith(":a")


def test_release_gives_back_only_this_consumers_hand_offs(arun, keys):
    async def go(r):
        await Producer(r, keys).enqueue_many([msg(1), msg(2)])
        a = Consumer(r, keys, name="a", count=10, block_ms=50)
        got = await a.read()
        await a.begin(got)
        b = Consumer(r, keys, name="b")
        # b never handed them: nothing to give back; a gives back each once.
        return await b.release(got), await a.release(got + got), await r.hgetall(keys.attempts)

    by_b, by_a, records = arun(go)
    assert (by_b, by_a) == (0, 2)
    layout = records.pop("\n")
    assert len(layout) > 64  # longer than hash-max-listpack-value: the hash is a hash table
    assert sorted(records) == ["single:1", "single:2"]
    assert all(v.startswith("released:1:") and v.endswith(":a") for v in records.values())


def test_hand_off_record_of_an_earlier_version_still_counts(arun, keys):
    """Entries handed by an engine that kept one key per message (``attempt:<id>``),
    reclaimed after an upgrade: still OUTCOME_UNKNOWN, and the old key is moved into
    the hash."""

    async def go(r):
        await Producer(r, keys).enqueue_many([msg(1), msg(2)])
        old = Consumer(r, keys, name="old", count=10, claim_idle_ms=200)
        taken = await old.read()
        assert len(taken) == 2
        # What the earlier version's begin wrote for the first one, then it died.
        await r.set(keys.attempt("single:1"), "handed:1:old", ex=3600)
        await asyncio.sleep(0.3)
        new = Consumer(r, keys, name="new", count=10, claim_idle_ms=200, block_ms=50)
        back = await new.read()
        await new.begin(back)
        verdict = {e.message.id: (e.attempt, e.attempts) for e in back}
        return verdict, await r.exists(keys.attempt("single:1")), await r.hget(keys.attempts, "single:1")

    verdict, legacy_left, record = arun(go)
    assert verdict == {"single:1": (Attempt.OUTCOME_UNKNOWN, 2), "single:2": (Attempt.FIRST, 1)}
    assert legacy_left == 0 and record.startswith("handed:2:") and record.endswith(":new")


def test_hand_off_records_older_than_their_ttl_are_pruned(arun, keys):
    async def go(r):
        await Producer(r, keys).enqueue_many([msg(1), msg(2)])
        c = Consumer(r, keys, name="a", count=10, block_ms=50, attempt_ttl_s=3600)
        got = await c.read()
        await c.begin(got)
        # An entry deleted while pending leaves its record behind: make one look old.
        await r.hset(keys.attempts, "single:1", f"handed:1:{int(time.time()) - 7200}:a")
        dropped = await c.prune_attempts()
        left = sorted(await r.hkeys(keys.attempts))
        ttl = await r.ttl(keys.attempts)
        encoding = await r.object("encoding", keys.attempts)
        await r.hset(keys.attempts, "single:2", f"handed:1:{int(time.time()) - 7200}:a")
        dropped += await c.prune_attempts()
        return dropped, left, ttl, encoding, await r.exists(keys.attempts)

    dropped, left, ttl, encoding, exists = arun(go)
    assert dropped == 2 and left == ["\n", "single:2"]  # the layout field stays while records do
    assert encoding == "hashtable"
    assert exists == 0  # no record left: no key
    assert 3500 < ttl <= 3600  # the whole hash expires attempt_ttl_s after the last hand-off


def test_ack_deletes_exactly_the_acked_entries(arun, keys):
    """Acked entries leave the stream (by XTRIM up to the oldest pending entry, XDEL
    for newer ones); an entry still in flight, an unread one and entries another group
    has not read yet all stay."""

    async def go(r):
        p = Producer(r, keys)
        await p.enqueue_many([msg(i) for i in range(10)])
        c = Consumer(r, keys, name="a", count=6, block_ms=50)
        got = await c.read()  # 0..5 read, 6..9 unread
        await c.begin(got)
        # 0 stays in flight (a slow response); 1..5 are done.
        assert await c.ack(got[1:]) == 5
        after_newer = [f["m"] for _, f in await r.xrange(keys.bulk_stream)]
        assert await c.ack(got[:1]) == 1
        after_all = await r.xrange(keys.bulk_stream)
        more = await c.read()
        await c.begin(more)
        assert await c.ack(more) == 4
        return after_newer, [e.message.id for e in got], after_all, await r.xlen(keys.bulk_stream)

    after_newer, read, after_all, left = arun(go)
    ids = [Message.from_fields({"m": m}).id for m in after_newer]
    assert ids == ["single:0", "single:6", "single:7", "single:8", "single:9"]
    assert [Message.from_fields(f).id for _, f in after_all] == ["single:6", "single:7", "single:8", "single:9"]
    assert left == 0


def test_ack_with_a_second_group_on_the_stream_deletes_only_the_acked(arun, keys):
    async def go(r):
        await Producer(r, keys).enqueue_many([msg(i) for i in range(4)])
        c = Consumer(r, keys, name="a", count=10, block_ms=50)
        await c.ensure_groups()
        await r.xgroup_create(keys.bulk_stream, "audit", id="0")  # has read nothing
        got = await c.read()
        await c.begin(got)
        assert await c.ack(got[:2]) == 2
        return [Message.from_fields(f).id for _, f in await r.xrange(keys.bulk_stream)]

    assert arun(go) == ["single:2", "single:3"]


def test_ack_after_the_group_was_recreated_keeps_unread_entries(arun, keys):
    """The group vanished and was recreated at 0 while a batch was in flight: its ack
    must not take the group's (now empty) pending list for "everything was acked"."""

    async def go(r):
        await Producer(r, keys).enqueue_many([msg(i) for i in range(4)])
        c = Consumer(r, keys, name="a", count=2, block_ms=50)
        got = await c.read()
        await c.begin(got)
        await r.xgroup_destroy(keys.bulk_stream, keys.group)
        await r.xgroup_create(keys.bulk_stream, keys.group, id="0")
        assert await c.ack(got) == 0  # not pending in the new group
        return [Message.from_fields(f).id for _, f in await r.xrange(keys.bulk_stream)]

    # The acked two may go (XDEL of what was acked); the unread two must stay.
    left = arun(go)
    assert left[-2:] == ["single:2", "single:3"]


def test_release_gives_an_entry_back_as_first(arun, keys):
    async def go(r):
        await Producer(r, keys).enqueue(msg(7))
        a = Consumer(r, keys, name="a", claim_idle_ms=200)
        got = await a.read()
        await a.begin(got)
        assert await a.release(got) == 1
        await asyncio.sleep(0.3)
        b = Consumer(r, keys, name="b", claim_idle_ms=200, block_ms=50)
        again = await b.read()
        await b.begin(again)
        assert [(e.message.id, e.attempt) for e in again] == [("single:7", Attempt.FIRST)]
        assert again[0].attempts == 2  # the count of hand-offs still shows the first one

    arun(go)


def test_transactional_is_read_before_bulk(arun, keys):
    async def go(r):
        p = Producer(r, keys)
        await p.enqueue_many(msg(i) for i in range(40))
        await p.enqueue_many(msg(100 + i, priority="transactional") for i in range(5))
        c = Consumer(r, keys, name="c", count=10)
        first = await c.read()
        assert [e.message.priority for e in first[:5]] == ["transactional"] * 5
        assert [e.stream for e in first[:5]] == [keys.transactional_stream] * 5
        assert all(e.message.priority == "bulk" for e in first[5:])
        await c.ack(first)
        # new transactional traffic overtakes the remaining bulk backlog
        await p.enqueue(msg(200, priority="transactional"))
        nxt = await c.read()
        assert nxt[0].message.id == "single:200"

    arun(go)


def test_per_campaign_rate_limit_is_shared_by_consumers(arun, keys, redis_url):
    async def go(r):
        await set_campaign_rate(r, keys, "slow", 20)
        p = Producer(r, keys)
        await p.enqueue_many(msg(i, campaign="slow") for i in range(60))
        await p.enqueue_many(msg(i, campaign="free") for i in range(60))
        times: dict[str, float] = {}
        t0 = time.monotonic()

        async def run(name):
            rc = connect(redis_url)
            c = Consumer(rc, keys, name=name, count=25, block_ms=100)
            try:
                while sum(1 for k in times if k.startswith("slow")) < 60 and time.monotonic() - t0 < 10:
                    batch = await c.read()
                    for e in batch:
                        assert e.message.id not in times
                        times[e.message.id] = time.monotonic() - t0
                    await c.ack(batch)
            finally:
                await rc.aclose()

        await asyncio.gather(run("one"), run("two"))
        slow = sorted(v for k, v in times.items() if k.startswith("slow:"))
        free = [v for k, v in times.items() if k.startswith("free:")]
        assert len(slow) == 60 and len(free) == 60
        # bucket of 20 (one second's worth) at 20/s: 60 messages take about 2 s in total,
        # whichever consumer reads them, and no second sees more than the burst + rate.
        assert 1.6 <= slow[-1] <= 3.5, slow[-1]
        for start in range(0, 3):
            in_window = sum(1 for t in slow if start <= t < start + 1)
            assert in_window <= 41, (start, in_window)
        # the unlimited campaign is not held behind the slow one
        assert max(free) < 1.0
        # held entries are handed out in their original order
        order = [k for k, _ in sorted(times.items(), key=lambda kv: kv[1]) if k.startswith("slow:")]
        ranks = [int(k.split(":")[1]) for k in order]
        assert ranks[:20] == sorted(ranks[:20])

    arun(go)


def test_malformed_entry_goes_to_the_dead_letter_stream(arun, keys):
    async def go(r):
        c = Consumer(r, keys, name="c", block_ms=50)
        await c.ensure_groups()
        await r.xadd(keys.bulk_stream, {"junk": "1"})
        await Producer(r, keys).enqueue(msg(1))
        got = await c.read()
        assert [e.message.id for e in got] == ["single:1"]
        dead = await r.xrange(keys.dead)
        assert len(dead) == 1 and "field 'm'" in dead[0][1]["reason"]
        assert dead[0][1]["stream"] == keys.bulk_stream
        assert c.dead_lettered_total == 1
        pending = await r.xpending(keys.bulk_stream, keys.group)
        assert pending["pending"] == 1  # only the good one

    arun(go)


def test_redis_settings_precedence():
    class Pw:
        def reveal(self):
            return "from-config"

    class Rc:
        url = "redis://config:6379/2"
        password = Pw()
        tls_ca_file = "/ca.pem"

    class Cfg:
        redis = Rc()

    assert resolve_redis_settings(config=Cfg(), env={}) == ("redis://config:6379/2", "from-config", "/ca.pem")
    env = {"REDIS_URL": "rediss://env:6380/0", "REDIS_PASSWORD": "from-env"}
    assert resolve_redis_settings(config=Cfg(), env=env)[:2] == ("rediss://env:6380/0", "from-env")
    assert resolve_redis_settings("redis://arg/1", "pw", config=Cfg(), env=env)[:2] == ("redis://arg/1", "pw")
    assert resolve_redis_settings(env={})[0] == "redis://127.0.0.1:6379/0"
    with pytest.raises(ValueError, match="redis://"):
        resolve_redis_settings("http://x", env={})


def test_keys_follow_the_engine_config():
    from engine.config import EngineConfig

    k = Keys.from_config(EngineConfig())
    assert k.bulk_stream == "smpp:outbound" and k.transactional_stream == "smpp:outbound:priority"
    assert k.group == "smpp-engine" and k.attempt("x") == "smpp:attempt:x"
    assert Keys() == k


def test_consumer_from_config(arun, prefix):
    from engine.config import parse_config

    cfg = parse_config({"redis": {"batch_size": 7},
                        "engine": {"key_prefix": prefix, "stream": prefix + "b", "priority_stream": prefix + "t",
                                   "group": "g1", "consumer": "me", "claim_idle_seconds": 2.5}}, env={})

    async def go(r):
        c = Consumer.from_config(r, cfg)
        assert (c.name, c.count, c.claim_idle_ms) == ("me", 7, 2500)
        assert c.keys.streams == (prefix + "t", prefix + "b") and c.keys.group == "g1"
        await Producer(r, c.keys).enqueue_many(msg(i) for i in range(10))
        assert len(await c.read()) == 7

    arun(go)


def test_entry_ids_repeat_across_streams_so_entries_are_keyed_by_stream_too(arun, keys):
    async def go(r):
        c = Consumer(r, keys, name="c", block_ms=50)
        await c.ensure_groups()
        # the same explicit id in both streams, as two XADDs in the same millisecond give
        await r.xadd(keys.transactional_stream, msg(1, priority="transactional").to_fields(), id="5-0")
        await r.xadd(keys.bulk_stream, msg(2).to_fields(), id="5-0")
        got = await c.read()
        assert [e.entry_id for e in got] == ["5-0", "5-0"]
        assert len({e.key for e in got}) == 2
        assert await c.ack(got) == 2

    arun(go)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
    campaign=st.none() | st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30),
    national=st.lists(st.sampled_from(["turkish", "spanish", "portuguese"]), max_size=3, unique=True),
    created=st.floats(0, 4e9, allow_nan=False),
)
def test_any_message_survives_its_stream_form(text, campaign, national, created):
    m = Message(id="x:1", destination="+79031234567", text=text, source="MyShop", campaign=campaign,
                national=tuple(national), created=created)
    assert Message.from_fields(m.to_fields()) == m


def test_begin_on_a_mixed_batch_gives_each_entry_its_own_verdict(arun, keys):
    """The hand-off script asks Redis once per batch which entries are still ours; an
    entry acked meanwhile or claimed by another consumer, in the middle of the batch
    (and out of stream order), must still get its own verdict."""

    async def go(r):
        p = Producer(r, keys)
        for i in range(8):
            await p.enqueue(msg(100 + i))
        a = Consumer(r, keys, name="a", claim_idle_ms=60_000)
        got = await a.read()
        assert len(got) == 8
        by_id = {e.message.id: e for e in got}
        acked, claimed = by_id["single:102"], by_id["single:105"]
        assert await a.ack([acked]) == 1
        await r.xclaim(claimed.stream, keys.group, "b", 0, [claimed.entry_id])
        batch = list(reversed(got))
        await a.begin(batch)
        verdict = {e.message.id: e.attempt for e in batch}
        assert verdict.pop("single:102") is Attempt.ALREADY_ACKED
        assert verdict.pop("single:105") is Attempt.CLAIMED_ELSEWHERE
        assert set(verdict.values()) == {Attempt.FIRST}
        await a.begin(batch)
        assert {e.message.id: e.attempt for e in batch if e.sendable} == {
            m: Attempt.OUTCOME_UNKNOWN for m in verdict
        }

    arun(go)


@pytest.mark.parametrize(
    "ids, expected",
    [
        (["1795339114532-0", "1795339114532-1", "1795339114533-0"], ("1795339114532-0", "1795339114533-0")),
        (["1795339114533-0", "1795339114532-7", "1795339114532-1"], ("1795339114532-1", "1795339114533-0")),
        # same length, the '-' elsewhere: text order would put 9-10 after 10-1
        (["9-10", "10-1"], ("9-10", "10-1")),
        (["1795339114532-9", "1795339114532-10", "1795339114531-11"], ("1795339114531-11", "1795339114532-10")),
        (["5-0"], ("5-0", "5-0")),
        (["1x-0", "12-0"], ("", "")),
        (["12-0", "1x-0", "13-0"], ("", "")),
    ],
)
def test_batch_id_range_is_the_numeric_min_and_max(ids, expected):
    from engine.queue.consumer import _id_range

    assert _id_range(ids) == expected
