"""Delivery tracking throughput against a real redis-server: records/s for
record_queued, record_submitted and apply_receipts in engine-sized batches, the CPU
each step costs Redis and this (the engine's) process per record, Redis memory per
tracked message, and whether every message ended ``delivered``. The last step is
the Redis side of bench e2e's path, hand-off and ack included: run it against a
``valgrind --tool=callgrind redis-server`` (``--redis URL``) for instruction counts.

``python -m bench tracking [--count N] [--batch B] [--redis URL]``. Without
``--redis`` a private redis-server is started (and stopped) on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from bench._common import header
from engine.localredis import LocalRedis

# The intake's default batch (RedisConfig.batch_size): one script call per batch.
DEFAULT_BATCH = 500
DEFAULT_COUNT = 200_000
# A fixed share of long messages (3 parts) so that per-part aggregation is measured.
LONG_EVERY = 10


def _start_redis() -> LocalRedis:
    try:
        return LocalRedis(prefix="smpp-bench-redis-")
    except FileNotFoundError:
        raise SystemExit("bench tracking: redis-server is not installed (apt-get install redis-server)") from None
    except RuntimeError as exc:
        raise SystemExit(f"bench tracking: {exc}") from None


def _workload(count: int, camp: str):
    from engine.tracking import Queued, Receipt, Submitted

    parts_of = [3 if i % LONG_EVERY == 0 else 1 for i in range(count)]
    queued = [Queued(f"{camp}:{i}", parts_of[i], camp, "acme") for i in range(count)]
    # Per message: its submits and its receipts. The SMSC answers in hex and receipts
    # in decimal: the detector must find that out.
    submitted, receipts = [], []
    n = 0
    for i in range(count):
        s, r = [], []
        for p in range(1, parts_of[i] + 1):
            num = (0x10000000 + i) if p == 1 else (0x80000000 + n)
            s.append(Submitted(f"{camp}:{i}", p, f"{num:X}", "acme", f"local/{n % 2}", parts_of[i]))
            r.append(Receipt(id=str(num), stat="DELIVRD", err="000"))
            n += 1
        submitted.append(s)
        receipts.append(r)
    return queued, submitted, receipts, n


async def _redis_cpu(r) -> float:
    """CPU seconds (user + system) redis-server has used so far."""
    info = await r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _run(url: str, count: int, batch: int, events: str) -> dict:
    import redis.asyncio as aredis

    from engine.tracking import FINAL_STATES, Receipt, Submitted, Tracker

    r = aredis.from_url(url)
    await r.flushdb(asynchronous=True)
    event_states = FINAL_STATES if events == "final" else None

    def tracker(prefix):
        return Tracker(r, prefix, events_stream=prefix + "status", event_states=event_states)

    def flat(lists):
        return [x for lst in lists for x in lst]

    def chunks(items):
        for i in range(0, len(items), batch):
            yield items[i : i + batch]

    results = {"messages": count, "batch": batch, "events": events}

    # 1. Each step alone, one batch after the other.
    t = tracker("bench:seq:")
    mem0 = int((await r.info("memory"))["used_memory"])
    queued, submitted, receipts, n = _workload(count, "seq")
    results["parts"] = n
    # CPU per record of each step: Redis (INFO cpu, so use a Redis nobody else is
    # busy with) and this process (the engine's side: packing and parsing).
    cpu: dict[str, tuple[float, float]] = {}
    r0, p0, t0 = await _redis_cpu(r), time.process_time(), time.perf_counter()
    for c in chunks(queued):
        await t.record_queued(c)
    results["queued_per_s"] = count / (time.perf_counter() - t0)
    r1, p1 = await _redis_cpu(r), time.process_time()
    cpu["queued"] = ((r1 - r0) / count, (p1 - p0) / count)
    r0, p0, t0 = r1, p1, time.perf_counter()
    for c in chunks(flat(submitted)):
        await t.record_submitted(c)
    results["submitted_per_s"] = n / (time.perf_counter() - t0)
    r1, p1 = await _redis_cpu(r), time.process_time()
    cpu["submitted"] = ((r1 - r0) / n, (p1 - p0) / n)
    r0, p0, t0 = r1, p1, time.perf_counter()
    matched = 0
    for c in chunks(flat(receipts)):
        matched += len((await t.apply_receipts(c, "acme")).matched)
    results["receipts_per_s"] = n / (time.perf_counter() - t0)
    r1, p1 = await _redis_cpu(r), time.process_time()
    cpu["receipts"] = ((r1 - r0) / n, (p1 - p0) / n)
    results["cpu_us"] = {k: (a * 1e6, b * 1e6) for k, (a, b) in cpu.items()}
    mem1 = int((await r.info("memory"))["used_memory"])
    results["redis_bytes_per_message"] = (mem1 - mem0) / count
    results["id_kind"] = t.id_kind("acme")
    seq_ok = matched == n and (await t.campaign_counts("seq")).get("delivered", 0) == count

    # 2. As the engine runs: intake, responses and receipts of different batches at
    # the same time (three coroutines, three connections), so that Python's packing
    # of one batch overlaps Redis's work on another.
    t = tracker("bench:mix:")
    queued, submitted, receipts, n2 = _workload(count, "mix")
    q_b = list(chunks(queued))
    s_b = [flat(submitted[i : i + batch]) for i in range(0, count, batch)]
    r_b = [flat(receipts[i : i + batch]) for i in range(0, count, batch)]
    matched = 0

    async def receipts_of(k):
        nonlocal matched
        matched += len((await t.apply_receipts(r_b[k], "acme")).matched)

    r0, p0, t0 = await _redis_cpu(r), time.process_time(), time.perf_counter()
    steps = len(q_b)
    for k in range(steps + 2):
        jobs = []
        if k < steps:
            jobs.append(t.record_queued(q_b[k]))
        if 0 <= k - 1 < steps:
            jobs.append(t.record_submitted(s_b[k - 1]))
        if 0 <= k - 2 < steps:
            jobs.append(receipts_of(k - 2))
        await asyncio.gather(*jobs)
    results["mixed_messages_per_s"] = count / (time.perf_counter() - t0)
    results["cpu_us"]["mixed"] = ((await _redis_cpu(r) - r0) / count * 1e6, (time.process_time() - p0) / count * 1e6)
    mix_ok = matched == n2 and (await t.campaign_counts("mix")).get("delivered", 0) == count

    # 3. As bench e2e runs: messages the intake did not record (a producer of its own),
    # single-part, so each record is created by its submit; then their receipts.
    t = tracker("bench:new:")
    subs = [Submitted(f"new:{i}", 1, f"{0x10000000 + i:X}", "acme", f"local/{i % 2}") for i in range(count)]
    rcpts = [Receipt(id=str(0x10000000 + i), stat="DELIVRD", err="000") for i in range(count)]
    mem0 = int((await r.info("memory"))["used_memory"])
    r0, p0, t0 = await _redis_cpu(r), time.process_time(), time.perf_counter()
    matched = 0
    for k in range(0, count, batch):
        await t.record_submitted(subs[k : k + batch])
        matched += len((await t.apply_receipts(rcpts[k : k + batch], "acme")).matched)
    results["new_messages_per_s"] = count / (time.perf_counter() - t0)
    results["cpu_us"]["new"] = ((await _redis_cpu(r) - r0) / count * 1e6, (time.process_time() - p0) / count * 1e6)
    results["new_bytes_per_message"] = (int((await r.info("memory"))["used_memory"]) - mem0) / count
    st = await t.status(f"new:{count - 1}")
    new_ok = matched == count and st is not None and st.state == "delivered"

    # 4. The whole Redis side of bench e2e's path, batch after batch: the intake's
    # stream read through the consumer group, the hand-off record (begin), the
    # submits, the ack, the receipts. The messages are enqueued before the clock starts.
    from engine.queue import Keys, Message, Producer, connect
    from engine.queue.consumer import Consumer

    qr = connect(url)  # the engine's client (it decodes responses)
    keys = Keys.with_prefix("bench:e2e:")
    created = time.time()
    await Producer(qr, keys).enqueue_many(
        Message(id=f"e2e:{i}", destination=f"+4915{i:09d}", text=f"hello {i}", source="BENCH",
                registered_delivery=1, segments=1, created=created) for i in range(count))
    consumer = Consumer(qr, keys, name="bench", count=batch, block_ms=10)
    await consumer.ensure_groups()
    t = Tracker(qr, "bench:e2e:", events_stream="bench:e2e:status", event_states=event_states)
    r0, p0, t0 = await _redis_cpu(r), time.process_time(), time.perf_counter()
    done = matched = seq = 0
    while done < count:
        entries = await consumer.read()
        await consumer.begin(entries)
        subs, rcpts = [], []
        for e in entries:
            seq += 1
            sid = f"{seq:08X}"
            subs.append(Submitted(e.message.id, 1, sid, "acme", f"local/{seq % 2}", 1, time.time()))
            rcpts.append(Receipt(id=sid, stat="DELIVRD", err="000"))
        await t.record_submitted(subs)
        await consumer.ack(entries)
        matched += len((await t.apply_receipts(rcpts, "acme")).matched)
        done += len(entries)
    results["e2e_messages_per_s"] = count / (time.perf_counter() - t0)
    results["cpu_us"]["e2e"] = ((await _redis_cpu(r) - r0) / count * 1e6, (time.process_time() - p0) / count * 1e6)
    e2e_ok = matched == count and await r.xlen(keys.bulk_stream) == 0
    await qr.aclose()
    results["correct"] = seq_ok and mix_ok and new_ok and e2e_ok
    results["matched"] = matched
    await r.flushdb(asynchronous=True)
    await r.aclose()
    return results


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench tracking")
    ap.add_argument("--count", type=int, default=DEFAULT_COUNT)
    ap.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    ap.add_argument("--redis", metavar="URL", help="a Redis to use (its current db is FLUSHED)")
    ap.add_argument("--events", choices=("all", "final"), default="all",
                    help="status events for every state change, or final states only")
    args = ap.parse_args(argv)
    local = None if args.redis else _start_redis()
    url = args.redis or local.url  # type: ignore[union-attr]
    try:
        res = asyncio.run(_run(url, args.count, args.batch, args.events))
    finally:
        if local is not None:
            local.stop()
    ok = res["correct"]
    print(header("Delivery tracking (engine.tracking) against a local redis-server",
                 f"python -m bench tracking --count={args.count} --batch={args.batch} --events={args.events}"))
    print(f"{res['messages']:,} messages, {res['parts']:,} parts (every {LONG_EVERY}th message has 3), "
          f"batches of {res['batch']}, status events: {res['events']}; SMSC ids hex in responses, "
          f"decimal in receipts (detected: {res['id_kind']})\n")
    cpu = res["cpu_us"]
    print("| step | records/s | CPU µs per record: Redis / this process |\n|---|---:|---:|")
    print(f"| record_queued alone (messages) | {res['queued_per_s']:,.0f} | "
          f"{cpu['queued'][0]:.1f} / {cpu['queued'][1]:.1f} |")
    print(f"| record_submitted alone (parts) | {res['submitted_per_s']:,.0f} | "
          f"{cpu['submitted'][0]:.1f} / {cpu['submitted'][1]:.1f} |")
    print(f"| apply_receipts alone (parts) | {res['receipts_per_s']:,.0f} | "
          f"{cpu['receipts'][0]:.1f} / {cpu['receipts'][1]:.1f} |")
    print(f"| **queued + submitted + receipt, concurrent (messages)** | **{res['mixed_messages_per_s']:,.0f}** | "
          f"{cpu['mixed'][0]:.1f} / {cpu['mixed'][1]:.1f} |")
    print(f"| submitted + receipt of messages not recorded queued (the intake's own producer, "
          f"as bench e2e), 1 part | {res['new_messages_per_s']:,.0f} | {cpu['new'][0]:.1f} / {cpu['new'][1]:.1f} |")
    print(f"| the Redis side of bench e2e: read, begin, submitted, ack, receipt (messages) | "
          f"{res['e2e_messages_per_s']:,.0f} | {cpu['e2e'][0]:.1f} / {cpu['e2e'][1]:.1f} |")
    print(f"\nRedis memory per tracked message (record, correlation, share of the event stream): "
          f"{res['redis_bytes_per_message']:,.0f} bytes (created at submit, one part: "
          f"{res['new_bytes_per_message']:,.0f}); correct: {'yes' if ok else 'NO'} "
          f"(every receipt matched, every message delivered)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
