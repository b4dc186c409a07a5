"""Redis goes away under the intake: a kill -9 and restart of a persistent redis-server
(pending entries and unread ones survive, the consumer carries on), and a stream
deleted under a running consumer (the group is recreated)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from engine.queue import Attempt, Consumer, Keys, Message, Producer, connect

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(port: int, d) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d), "--save", "",
         "--appendonly", "yes", "--appendfsync", "always"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("redis-server did not start")


def msg(i: int) -> Message:
    return Message(id=f"r:{i}", destination=f"+7903{i:07d}", text=f"m{i}", source="MyShop", campaign="r")


async def _retry(fn, *args, **kw):
    deadline = time.monotonic() + 15
    while True:
        try:
            return await fn(*args, **kw)
        except (RedisConnectionError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def test_kill_9_of_redis_loses_nothing(tmp_path):
    port = _port()
    proc = _start(port, tmp_path)
    keys = Keys.with_prefix("restart:")
    try:
        async def before():
            r = connect(f"redis://127.0.0.1:{port}/0")
            await Producer(r, keys).enqueue_many(msg(i) for i in range(100))
            c = Consumer(r, keys, name="a", count=50, claim_idle_ms=200)
            got = await c.read()
            assert len(got) == 50
            await c.begin(got)
            await c.ack(got[:30])  # 20 handed, outcome not recorded; 50 never read
            await r.aclose()

        asyncio.run(before())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc = _start(port, tmp_path)

        async def after():
            r = connect(f"redis://127.0.0.1:{port}/0")
            c = Consumer(r, keys, name="b", count=200, claim_idle_ms=200, block_ms=100)
            await asyncio.sleep(0.3)
            seen = {}
            while len(seen) < 70:
                batch = await _retry(c.read)
                await c.begin(batch)
                for e in batch:
                    assert e.message.id not in seen
                    seen[e.message.id] = e.attempt
                await c.ack(batch)
            await r.aclose()
            return seen

        seen = asyncio.run(after())
        assert set(seen) == {f"r:{i}" for i in range(30, 100)}
        assert {seen[f"r:{i}"] for i in range(30, 50)} == {Attempt.OUTCOME_UNKNOWN}
        assert {seen[f"r:{i}"] for i in range(50, 100)} == {Attempt.FIRST}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_consumer_survives_a_redis_restart_while_connected(tmp_path):
    port = _port()
    proc = _start(port, tmp_path)
    keys = Keys.with_prefix("restart2:")
    try:
        async def go():
            nonlocal proc
            r = connect(f"redis://127.0.0.1:{port}/0")
            p = Producer(r, keys)
            c = Consumer(r, keys, name="a", count=100, block_ms=100)
            await p.enqueue_many(msg(i) for i in range(10))
            first = await c.read()
            await c.ack(first)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            proc = _start(port, tmp_path)
            await _retry(p.enqueue_many, [msg(i) for i in range(10, 20)])
            second = await _retry(c.read)
            await c.ack(second)
            await r.aclose()
            return [e.message.id for e in first], [e.message.id for e in second]

        first, second = asyncio.run(go())
        assert first == [f"r:{i}" for i in range(10)] and second == [f"r:{i}" for i in range(10, 20)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_group_recreated_when_the_stream_is_deleted(arun, keys):
    async def go(r):
        c = Consumer(r, keys, name="a", block_ms=50)
        await c.ensure_groups()
        await r.delete(*keys.streams)
        await Producer(r, keys).enqueue(msg(1))  # recreates the stream, without the group
        # the group is made again from the start of the stream: nothing added meanwhile is lost
        assert [e.message.id for e in await c.read()] == ["r:1"]
        await Producer(r, keys).enqueue(msg(2))
        assert [e.message.id for e in await c.read()] == ["r:2"]

    arun(go)
