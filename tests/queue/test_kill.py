"""kill -9 of a consumer process in the middle of a campaign: nothing lost, and a message
"sent" twice only when the second hand-off was flagged outcome unknown."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from engine.queue import Attempt, Consumer, Message, Producer

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

N = 3000

# The worker stands in for the engine: read, begin, "submit" (RPUSH to a list that
# plays the SMSC, recording the verdict), then ack after a pause standing for the
# submit_sm_resp round trip. It is killed at a random point of that cycle.
WORKER = r"""
import asyncio, sys
from engine.queue import Consumer, Keys, connect

async def main(url, prefix):
    r = connect(url)
    keys = Keys.with_prefix(prefix)
    c = Consumer(r, keys, name="victim", count=100, claim_idle_ms=400, block_ms=100)
    while True:
        batch = await c.read()
        await c.begin(batch)
        sendable = [e for e in batch if e.sendable]
        if sendable:
            await r.rpush(prefix + "smsc", *[e.message.id + "|" + e.attempt.value for e in sendable])
        print("S", len(sendable), flush=True)
        await asyncio.sleep(0.2)  # long beside the kill latency: the batch is surely unacked
        await c.ack(batch)
        print("A", len(batch), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_kill_9_mid_campaign_loses_nothing_and_flags_every_repeat(arun, keys, prefix, redis_url):
    async def fill(r):
        await Producer(r, keys).enqueue_many(
            Message(id=f"k:{i}", destination=f"+7903{i:07d}", text="t", source="MyShop", campaign="k")
            for i in range(N))

    arun(fill)
    worker = subprocess.Popen([sys.executable, "-c", WORKER, redis_url, prefix], stdout=subprocess.PIPE,
                              text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    done = 0
    in_flight = 0
    while True:
        line = worker.stdout.readline()
        assert line, "worker died on its own"
        kind, n = line.split()
        if kind == "A":
            done += int(n)
        elif done >= N // 3 and int(n) > 0:
            # about a third of the way, and a batch has just gone to the "SMSC"
            # without its outcome recorded: the worst moment to die
            in_flight = int(n)
            break
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    worker.stdout.close()

    async def finish(r):
        c = Consumer(r, keys, name="rescuer", count=200, claim_idle_ms=400, block_ms=100)
        deadline = time.monotonic() + 30
        await asyncio.sleep(0.5)  # the victim's pending entries become idle
        while time.monotonic() < deadline:
            batch = await c.read()
            await c.begin(batch)
            sendable = [e for e in batch if e.sendable]
            if sendable:
                await r.rpush(prefix + "smsc", *[e.message.id + "|" + e.attempt.value for e in sendable])
            await c.ack(batch)
            pending = (await r.xpending(keys.bulk_stream, keys.group))["pending"]
            if not batch and pending == 0 and await r.xlen(keys.bulk_stream) == 0:
                break
        return await r.lrange(prefix + "smsc", 0, -1)

    sent = arun(finish)
    ids = [s.split("|")[0] for s in sent]
    counts = Counter(ids)
    assert set(counts) == {f"k:{i}" for i in range(N)}, "a message was lost"
    repeats = {i for i, n in counts.items() if n > 1}
    assert all(n <= 2 for n in counts.values())
    for s in sent:
        mid, verdict = s.split("|")
        if mid in repeats and sent.index(s) != ids.index(mid):
            # the second hand-off of a message knows the first one may have gone out
            assert verdict == Attempt.OUTCOME_UNKNOWN.value, s
        elif mid not in repeats:
            assert verdict in (Attempt.FIRST.value, Attempt.OUTCOME_UNKNOWN.value)
    # exactly the batch that was in flight is repeated, and each repeat says so
    assert len(repeats) == in_flight > 0
    assert sum(1 for s in sent if s.endswith("|outcome_unknown")) == in_flight
