"""Intake throughput against a local redis-server (not a pytest module: run it directly).

    .venv/bin/python tests/queue/bench_intake.py [--count 200000] [--rows 100000] [--redis URL]
        [--loop uvloop|asyncio]

Measures, in one run with fixed inputs: pipelined enqueue (XADD in chunks of 1000),
the consumer loop (XREADGROUP 500 + begin + ack, one and two consumers), and a
campaign file through ``submit_campaign`` (number normalisation, template, segment
count, enqueue, tracking "queued"). Starts a private redis-server unless --redis.
Checks that every message came out exactly once beside each speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from engine.campaign import CampaignOptions, submit_campaign  # noqa: E402
from engine.queue import Consumer, Keys, Message, Producer, connect  # noqa: E402


def start_redis() -> tuple[subprocess.Popen, str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0", d


def messages(n: int, campaign: str) -> list[Message]:
    return [Message(id=f"{campaign}:{i}", destination=f"+7903{i % 10_000_000:07d}",
                    text=f"Your code is {i % 1000000:06d}. Do not share it.", source="MyShop",
                    campaign=campaign, segments=1, created=1.7e9) for i in range(n)]


async def consume(url: str, keys: Keys, name: str, total: int, seen: list[str]) -> None:
    r = connect(url)
    c = Consumer(r, keys, name=name, count=500, block_ms=200)
    try:
        while len(seen) < total:
            batch = await c.read()
            if not batch:
                if len(seen) >= total:
                    break
                continue
            await c.begin(batch)
            seen.extend(e.message.id for e in batch if e.sendable)
            await c.ack(batch)
    finally:
        await r.aclose()


async def redis_cpu(r) -> float:
    info = await r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def main(args: argparse.Namespace, url: str) -> dict:
    out: dict = {}
    r = connect(url)
    n = args.count

    # CPU microseconds per message (ours and redis-server's) beside the rates: the
    # machine is shared, and CPU per message does not change with the load as wall
    # time does.
    keys = Keys.with_prefix("bench1:")
    msgs = messages(n, "b1")
    t, c, rc = time.perf_counter(), time.process_time(), await redis_cpu(r)
    await Producer(r, keys).enqueue_many(msgs)
    out["enqueue_msg_per_s"] = round(n / (time.perf_counter() - t))
    out["enqueue_cpu_us_per_msg"] = round((time.process_time() - c) / n * 1e6, 1)
    out["enqueue_redis_cpu_us_per_msg"] = round((await redis_cpu(r) - rc) / n * 1e6, 1)
    seen: list[str] = []
    t, c, rc = time.perf_counter(), time.process_time(), await redis_cpu(r)
    await consume(url, keys, "one", n, seen)
    out["consume_1_consumer_msg_per_s"] = round(n / (time.perf_counter() - t))
    out["consume_cpu_us_per_msg"] = round((time.process_time() - c) / n * 1e6, 1)
    out["consume_redis_cpu_us_per_msg"] = round((await redis_cpu(r) - rc) / n * 1e6, 1)
    out["consume_1_exactly_once"] = sorted(seen) == sorted(m.id for m in msgs)

    keys = Keys.with_prefix("bench2:")
    await Producer(r, keys).enqueue_many(messages(n, "b2"))
    a: list[str] = []
    b: list[str] = []
    t = time.perf_counter()
    shared: list[str] = []

    async def two(name: str, mine: list[str]) -> None:
        rr = connect(url)
        c = Consumer(rr, keys, name=name, count=500, block_ms=100)
        try:
            while len(a) + len(b) < n:
                batch = await c.read()
                await c.begin(batch)
                mine.extend(e.message.id for e in batch if e.sendable)
                await c.ack(batch)
        finally:
            await rr.aclose()

    await asyncio.gather(two("a", a), two("b", b))
    out["consume_2_consumers_one_loop_msg_per_s"] = round(n / (time.perf_counter() - t))
    out["consume_2_exactly_once"] = not (set(a) & set(b)) and len(a) + len(b) == n
    del shared

    # a campaign file: unique numbers, a template, tracking records
    from engine.tracking import Tracker

    keys = Keys.with_prefix("bench3:")
    d = tempfile.mkdtemp(prefix="bench-camp-")
    path = os.path.join(d, "campaign.csv")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("phone,name,code\n")
        for i in range(args.rows):
            fh.write(f"8 (903) {i // 10000 % 1000:03d}-{i // 100 % 100:02d}-{i % 100:02d},Name{i % 977},{i:06d}\n")
    t, c = time.perf_counter(), time.process_time()
    res = await submit_campaign(r, path, CampaignOptions(sender="MyShop", text="Hi {name}, your code is {code}",
                                                         region="RU"),
                                keys=keys, tracker=Tracker(r, prefix=keys.prefix))
    dt = time.perf_counter() - t
    out["campaign_cpu_us_per_row_with_tracking"] = round((time.process_time() - c) / args.rows * 1e6, 1)
    out["campaign_rows"] = args.rows
    out["campaign_rows_per_s_with_tracking"] = round(args.rows / dt)
    out["campaign_accepted"] = res.accepted
    keys = Keys.with_prefix("bench4:")
    t = time.perf_counter()
    res = await submit_campaign(r, path, CampaignOptions(sender="MyShop", text="Hi {name}, your code is {code}",
                                                         region="RU"), keys=keys)
    out["campaign_rows_per_s_no_tracking"] = round(args.rows / (time.perf_counter() - t))
    shutil.rmtree(d, ignore_errors=True)
    await r.aclose()
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--redis")
    ap.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                    help="event loop (the engine runs on uvloop when installed)")
    a = ap.parse_args()
    proc = None
    if a.redis:
        url = a.redis
    else:
        proc, url, tmp = start_redis()
    try:
        if a.loop == "uvloop":
            import uvloop

            result = uvloop.run(main(a, url))
        else:
            result = asyncio.run(main(a, url))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
            shutil.rmtree(tmp, ignore_errors=True)
    result["loop"] = a.loop
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    result["machine"] = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(json.dumps(result, indent=1))
