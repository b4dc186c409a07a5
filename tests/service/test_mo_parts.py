"""The parts of a concatenated MO message are stored in Redis before they are answered,
so an engine that dies between parts loses none, and the whole message is published
to the inbound stream exactly once, whichever bind or process gets which part.

Real redis-server, the simulator over TCP, in-process services and ``smpp-engine run``
subprocesses (kill -9).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.encoding import reference as R
from engine.queue import connect
from engine.queue.inbound import COMPLETE, DUPLICATE, STORED, InboundParts, due_key
from engine.service import Service, inbound_stream
from engine.simulator import Simulator
from engine.smpp import pdu as P
from engine.smpp.constants import CommandStatus, EsmClass
from engine.smpp.reassembly import concat_part
from engine.smpp.tlv import sar_tlvs

from .conftest import EngineProcess, RedisServer, config_dict, make_config, run_bounded, write_toml

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

SOURCE, DEST = "4915112345678", "12345"
# Four GSM parts (udh8/udh16) or more; a UCS-2 text for SAR so that each method is
# decoded over its own coding.
BALANCE = "bal 0899 " + "please send the balance of every account I hold, with the last ten movements. " * 7
DESK = "CLIENT info: Ärger mit der Rechnung 😀 " * 7


def deliver_parts(text: str, concat: str, ref: int = 77, source: str = SOURCE, dest: str = DEST) -> list[bytes]:
    """The deliver_sm PDUs of one MO message, encoded, part i at index i - 1."""
    enc = R.encode(text, concat=concat, ref=ref)
    out = []
    for i, body in enumerate(enc.parts):
        pdu = P.DeliverSm(
            source_addr_ton=1, source_addr_npi=1, source_addr=source, dest_addr_ton=0, dest_addr_npi=1,
            destination_addr=dest, esm_class=EsmClass.UDHI if enc.udhi else 0, data_coding=enc.data_coding,
            short_message=body, tlvs=sar_tlvs(*enc.sar[i]) if enc.sar else (),
        )
        out.append(P.encode(pdu))
    return out


def send(conn, parts: list[bytes], *seqs: int) -> None:
    conn.send_deliver([("mo", ("test", s), parts[s - 1]) for s in seqs])


def receivers(sim) -> list:
    return [c for c in sim.connections if c.bind_type and not c.closed]


async def wait_bound(sim, n: int, timeout: float = 15) -> list:
    assert await sim.wait_for(lambda s: len(receivers(s)) >= n, timeout), sim.record.binds
    return receivers(sim)


async def inbound(redis, prefix: str) -> list[dict]:
    return [fields for _, fields in await redis.xrange(f"{prefix}inbound")]


async def wait_inbound(redis, prefix: str, n: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    entries = await inbound(redis, prefix)
    while len(entries) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        entries = await inbound(redis, prefix)
    return entries


def mo_config(redis_url, prefix, port, *, binds=2, timeout=300.0):
    d = config_dict(redis_url, prefix, port, window=10, binds=binds, batch=50)
    d["smscs"][0]["mo_reassembly_timeout"] = timeout
    return d


@pytest.mark.parametrize("concat,text", [("udh8", BALANCE), ("udh16", BALANCE), ("sar", DESK)])
def test_parts_in_any_order_over_two_binds_with_repeats_publish_one_message(redis_url, prefix, concat, text):
    async def main():
        async with Simulator(receipt_delay=None) as sim:
            cfg = make_config(mo_config(redis_url, prefix, sim.port))
            redis = connect(redis_url)
            service = Service(cfg, redis=redis)
            await service.start(serve_metrics=False)
            try:
                a, b = await wait_bound(sim, 2)
                parts = deliver_parts(text, concat)
                n = len(parts)
                assert n >= 4
                # Out of order, split over both binds, with repeats before completion.
                send(a, parts, 3)
                send(b, parts, 1, 3)
                send(a, parts, *range(n, 3, -1), 1)
                assert await sim.wait_for(lambda s: s.record.mo_acked == n + 1, 10), sim.record
                assert await inbound(redis, prefix) == [], "published before every part came"
                send(b, parts, 2)  # the last missing part
                entries = await wait_inbound(redis, prefix, 1, 10)
                # A repeat after completion (the SMSC missed our answer): answered, not published.
                send(a, parts, 2)
                send(b, parts, n)
                assert await sim.wait_for(lambda s: s.record.mo_acked == n + 4, 10), sim.record
                await asyncio.sleep(0.3)
                entries = await inbound(redis, prefix)
            finally:
                await service.close()
            assert len(entries) == 1, entries
            e = entries[0]
            assert e["text"] == text
            assert (e["from"], e["to"], e["parts"], e["account"]) == (SOURCE, DEST, str(n), "esme")
            assert "incomplete" not in e and "missing" not in e
            assert sim.record.mo_refused == 0
            assert service.stats.mo == 1
            assert await redis.zcard(due_key(prefix)) == 0
            await redis.aclose()

    run_bounded(main(), 60)


def test_two_services_share_the_parts_and_a_last_part_on_both_publishes_once(redis_url, prefix):
    """Two engine processes of one account (in-process services here): parts spread over
    both, and the completing part delivered to both at the same moment."""

    async def main():
        async with Simulator(receipt_delay=None) as sim:
            cfg = make_config(mo_config(redis_url, prefix, sim.port, binds=1))
            redis = connect(redis_url)
            s1 = Service(cfg, redis=redis, consumer="engine-1")
            s2 = Service(cfg, redis=redis, consumer="engine-2")
            await s1.start(serve_metrics=False)
            await s2.start(serve_metrics=False)
            try:
                a, b = await wait_bound(sim, 2)
                for ref in range(10):  # ten messages: the race is given ten chances
                    parts = deliver_parts(BALANCE, "udh8", ref=ref)
                    n = len(parts)
                    send(a, parts, *range(1, n, 2))
                    send(b, parts, *range(2, n, 2))
                    assert await sim.wait_for(lambda s, k=(ref + 1) * (n + 1) - 2: s.record.mo_acked == k, 10)
                    send(a, parts, n)
                    send(b, parts, n)
                total = 10 * (n + 1)
                assert await sim.wait_for(lambda s: s.record.mo_acked == total, 10), sim.record
                entries = await wait_inbound(redis, prefix, 10, 10)
                await asyncio.sleep(0.3)
                entries = await inbound(redis, prefix)
            finally:
                await s1.close()
                await s2.close()
            assert len(entries) == 10, [e.get("text", "")[:10] for e in entries]
            assert all(e["text"] == BALANCE and e["parts"] == str(n) for e in entries)
            assert s1.stats.mo + s2.stats.mo == 10
            await redis.aclose()

    run_bounded(main(), 60)


def test_completing_part_is_answered_only_after_the_publish(redis_url, prefix):
    """The publish of a complete message fails: its last part is refused, the SMSC
    sends it again, and the message is published then, once."""

    async def main():
        async with Simulator(receipt_delay=None) as sim:
            cfg = make_config(mo_config(redis_url, prefix, sim.port, binds=1))
            redis = connect(redis_url)
            service = Service(cfg, redis=redis)
            real = service._inbound_parts.publish
            calls: list[int] = []

            async def flaky(items, stream, maxlen):
                calls.append(len(items))
                if len(calls) == 1:
                    raise RuntimeError("XADD failed")  # as if the process died here
                return await real(items, stream, maxlen)

            service._inbound_parts.publish = flaky  # type: ignore[method-assign]
            await service.start(serve_metrics=False)
            try:
                (a,) = await wait_bound(sim, 1)
                parts = deliver_parts(BALANCE, "udh8")
                n = len(parts)
                send(a, parts, *range(1, n + 1))
                assert await sim.wait_for(lambda s: s.record.mo_acked == n, 10), sim.record
                entries = await wait_inbound(redis, prefix, 1, 5)
            finally:
                await service.close()
            assert sim.record.mo_refused == 1 and calls == [1, 1]
            # Only the completing part waited for the publish; the others were stored and answered.
            assert dict(sim.record.deliver_resp_statuses) == {0: n, CommandStatus.ESME_RX_T_APPN: 1}
            assert [e["text"] for e in entries] == [BALANCE]
            await redis.aclose()

    run_bounded(main(), 60)


def test_engine_killed_after_some_parts_then_restarted_publishes_the_whole_message(redis_url, prefix, tmp_path):
    async def main():
        async with Simulator(receipt_delay=None) as sim:
            d = mo_config(redis_url, prefix, sim.port, binds=2)
            path = write_toml(d, tmp_path / "engine.toml")
            redis = connect(redis_url)
            parts = deliver_parts(DESK, "sar")
            parts2 = deliver_parts(BALANCE, "udh16", ref=0x1234)
            n, n2 = len(parts), len(parts2)
            first = EngineProcess(path, "engine-a", tmp_path / "a.log")
            try:
                a, b = await wait_bound(sim, 2)
                send(a, parts, 2, 4)
                send(b, parts, 1)
                send(b, parts2, *range(1, n2))  # all but the last
                assert await sim.wait_for(lambda s: s.record.mo_acked == 3 + n2 - 1, 10), first.log()
            finally:
                first.kill9()
            assert await sim.wait_for(lambda s: not receivers(s), 10)
            assert await inbound(redis, prefix) == []
            second = EngineProcess(path, "engine-b", tmp_path / "b.log")
            try:
                a, b = await wait_bound(sim, 2)
                send(a, parts, 3, *range(5, n + 1))
                send(b, parts, 1)  # a repeat of a part the dead process answered
                send(a, parts2, n2)
                entries = await wait_inbound(redis, prefix, 2, 15)
                await asyncio.sleep(0.3)
                entries = await inbound(redis, prefix)
            finally:
                assert second.terminate() == 0, second.log()
            assert sorted(e["text"] for e in entries) == sorted([DESK, BALANCE]), (entries, second.log())
            assert all("incomplete" not in e for e in entries)
            assert sim.record.mo_refused == 0
            await redis.aclose()

    run_bounded(main(), 90)


def test_an_incomplete_message_is_published_once_at_its_timeout_flagged(redis_url, prefix):
    """Two services sweep the same record: published once, with what came and the
    missing part numbers."""

    async def main():
        async with Simulator(receipt_delay=None) as sim:
            cfg = make_config(mo_config(redis_url, prefix, sim.port, binds=1, timeout=1.0))
            redis = connect(redis_url)
            s1 = Service(cfg, redis=redis, consumer="engine-1")
            s2 = Service(cfg, redis=redis, consumer="engine-2")
            await s1.start(serve_metrics=False)
            await s2.start(serve_metrics=False)
            try:
                a, b = await wait_bound(sim, 2)
                parts = deliver_parts(BALANCE, "udh8")
                n = len(parts)
                send(a, parts, 1)
                send(b, parts, 3)
                started = time.monotonic()
                assert await sim.wait_for(lambda s: s.record.mo_acked == 2, 5)
                entries = await wait_inbound(redis, prefix, 1, 10)
                took = time.monotonic() - started
                await asyncio.sleep(5)  # more than two housekeeping rounds of each service
                entries = await inbound(redis, prefix)
            finally:
                await s1.close()
                await s2.close()
            assert len(entries) == 1, entries
            e = entries[0]
            assert took >= 0.9, took
            assert (e["incomplete"], e["missing"], e["parts"]) == ("1", ",".join(str(i) for i in [2, *range(4, n + 1)]), str(n))
            # GSM 7-bit parts without their neighbours still decode: parts 1 and 3, joined.
            enc = R.encode(BALANCE, concat="udh8", ref=77)
            expected = "".join(R.decode(enc.parts[i], enc.data_coding, True).text for i in (0, 2))
            assert e["text"] == expected
            assert s1.stats.mo + s2.stats.mo == 1
            assert await redis.zcard(due_key(prefix)) == 0
            await redis.aclose()

    run_bounded(main(), 60)


def test_a_record_complete_but_never_published_is_published_by_a_later_sweep(redis_url, prefix):
    """A process stored the last part and died before the publish, and the SMSC never
    sent that part again: the next engine's sweep publishes the message whole at the
    deadline."""

    async def main():
        async with Simulator(receipt_delay=None) as sim:
            cfg = make_config(mo_config(redis_url, prefix, sim.port, binds=1, timeout=0.5))
            redis = connect(redis_url)
            store = InboundParts(redis, prefix)
            pdus = [P.decode(b) for b in deliver_parts(BALANCE, "udh8")]
            n = len(pdus)
            got = await store.store([("esme", "sim/0", concat_part(p), False, 0.5, time.time()) for p in pdus])
            assert [s.outcome for s in got] == [STORED] * (n - 1) + [COMPLETE]
            assert got[-1].record is not None and got[-1].record.count == n
            again = await store.store([("esme", "sim/0", concat_part(pdus[0]), False, 0.5, time.time())])
            assert again[0].outcome == COMPLETE  # a repeat of a complete, unpublished message: publish it
            await asyncio.sleep(0.6)
            service = Service(cfg, redis=redis)
            await service.start(serve_metrics=False)
            try:
                entries = await wait_inbound(redis, prefix, 1, 10)
            finally:
                await service.close()
            assert [(e["text"], e["parts"], e["bind"], "incomplete" in e) for e in entries] == [
                (BALANCE, str(n), "sim/0", False)]
            later = await store.store([("esme", "sim/0", concat_part(pdus[1]), False, 0.5, time.time())])
            assert later[0].outcome == DUPLICATE  # recognised while the published record is kept
            await redis.aclose()

    run_bounded(main(), 60)


def test_publish_is_guarded_against_a_second_publish_and_a_stale_read(redis_url, prefix):
    async def main():
        r1, r2 = connect(redis_url), connect(redis_url)
        s1, s2 = InboundParts(r1, prefix), InboundParts(r2, prefix)
        pdus = [P.decode(b) for b in deliver_parts(BALANCE, "udh8")]
        n = len(pdus)
        got = await s1.store([("esme", "sim/0", concat_part(p), False, 60, time.time()) for p in pdus[:-1]])
        assert [g.outcome for g in got] == [STORED] * (n - 1)
        stale = (await s1.due(10)) or None
        assert stale is None  # not due before its deadline
        # Both processes get the last part at once: both see the message complete.
        last = ("esme", "sim/0", concat_part(pdus[-1]), False, 60, time.time())
        a, b = await asyncio.gather(s1.store([last]), s2.store([last]))
        assert sorted(x[0].outcome for x in (a, b)) == [COMPLETE, COMPLETE]
        record = a[0].record
        assert record is not None and [p.seq for p in record.parts] == list(range(1, n + 1))
        fields = {"from": SOURCE, "text": "x"}
        stream = f"{prefix}inbound"
        # A record read before its last part came (the sweep racing it) is not published.
        from dataclasses import replace

        assert await s1.publish([(replace(record, count=n - 1), fields, 60)], stream, 100) == [-1]
        assert await r1.xlen(stream) == 0
        res = await asyncio.gather(s1.publish([(record, fields, 60)], stream, 100),
                                   s2.publish([(b[0].record, fields, 60)], stream, 100))
        assert sorted(x[0] for x in res) == [0, 1]
        assert await r1.xlen(stream) == 1
        assert await r1.zcard(due_key(prefix)) == 0
        assert 0 < await r1.pttl(record.key) <= 60_000  # kept for repeats, then gone
        await r1.aclose()
        await r2.aclose()

    run_bounded(main(), 30)


def test_redis_unavailable_a_part_is_refused_not_answered(tmp_path):
    """With Redis away a part cannot be stored: it is answered ESME_RX_T_APPN (never
    ESME_ROK), and stored when the SMSC sends it again after Redis is back."""
    server = RedisServer()
    try:
        async def main():
            prefix = "mo-outage:"
            async with Simulator(receipt_delay=None) as sim:
                cfg = make_config(mo_config(server.url, prefix, sim.port, binds=1))
                redis = connect(server.url)
                service = Service(cfg, redis=redis)
                for bind in service.engine.client().binds:
                    bind.deliver_ack_timeout = 0.5
                await service.start(serve_metrics=False)
                try:
                    (a,) = await wait_bound(sim, 1)
                    parts = deliver_parts(BALANCE, "udh8")
                    n = len(parts)
                    send(a, parts, 1)
                    assert await sim.wait_for(lambda s: s.record.mo_acked == 1, 10)
                    server.stop()
                    send(a, parts, 2)
                    assert await sim.wait_for(lambda s: s.record.mo_refused >= 1, 10), sim.record
                    assert sim.record.mo_acked == 1
                    assert set(sim.record.deliver_resp_statuses) == {0, CommandStatus.ESME_RX_T_APPN}
                    server.start()
                    # The simulator offers part 2 again until it is stored.
                    assert await sim.wait_for(lambda s: s.record.mo_acked == 2, 30), sim.record
                    send(a, parts, *range(3, n + 1))
                    entries = await wait_inbound(redis, prefix, 1, 15)
                finally:
                    await service.close()
                assert [e["text"] for e in entries] == [BALANCE]
                await redis.aclose()

        run_bounded(main(), 90)
    finally:
        server.cleanup()
