"""Engines as processes (``smpp-engine run``) against the simulator in this process and
a real redis-server: kill -9 mid-campaign then a restart; two engines on one stream;
a Redis restart mid-run; the demo command."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from engine.queue import Keys, connect
from engine.service import Service
from engine.simulator import Faults, Simulator

from .conftest import (
    FINAL,
    ROOT,
    EngineProcess,
    RedisServer,
    check_no_loss_and_flagged_duplicates,
    config_dict,
    enqueue_campaign,
    free_port,
    make_config,
    run_bounded,
    sends_by_destination,
    wait_final,
    write_toml,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(240)]


async def _wait_proc_bound(sim, binds: int, timeout: float = 20.0) -> None:
    assert await sim.wait_for(lambda s: len([c for c in s.connections if c.bind_type]) >= binds, timeout), (
        "the engine process did not bind"
    )


@pytest.mark.parametrize("restart_as", ["engine-b", "engine-a"], ids=["other-consumer", "same-consumer"])
def test_kill9_mid_campaign_then_restart(redis_url, prefix, tmp_path, restart_as):
    """kill -9 of an engine with hundreds of messages in flight, then another engine:
    no message lost; duplicates only where the status says the outcome was unknown.

    And no receipt lost: the killed process answered only the receipts it had stored
    (deliver_sm_resp follows the store), so the simulator delivers the rest again to
    the next engine. A message left ``submitted`` would be a lost receipt: counted,
    and required to be 0.
    """

    async def main():
        # Slow responses keep a full window in flight when the kill lands.
        async with Simulator(receipt_delay=0.05, faults=Faults(delay=0.03)) as sim:
            d = config_dict(redis_url, prefix, sim.port, window=50, binds=2, batch=100, claim_idle=1.5)
            cfg = make_config(d)
            path = write_toml(d, tmp_path / "engine.toml")
            redis = connect(redis_url)
            cid, ids = await enqueue_campaign(redis, cfg, 3000)
            first = EngineProcess(path, "engine-a", tmp_path / "a.log")
            try:
                await _wait_proc_bound(sim, 2)
                assert await sim.wait_for(lambda s: s.record.submit_count >= 800, 60), first.log()
            finally:
                first.kill9()
            killed_at = sim.record.submit_count
            second = EngineProcess(path, restart_as, tmp_path / "b.log")
            restarted = time.monotonic()
            try:
                await wait_final(redis, cfg, cid, 3000, 120, settled=FINAL + ("submitted",), quiet=1.0)
            finally:
                rc = second.terminate()
            assert rc == 0, second.log()
            report = await check_no_loss_and_flagged_duplicates(redis, cfg, sim, ids, allow_submitted=True)
            stats = second.stopped_stats()
            print(f"kill -9 after {killed_at} submits, restart as {restart_as}:", report, stats,
                  f"{time.monotonic() - restarted:.1f} s")
            assert killed_at < 3000
            # Receipts in the killed process's memory were not answered: delivered again.
            assert report["receipt_lost"] == 0, report
            assert sim.record.receipts_acked >= 3000 - report["flagged_outcome_unknown"], sim.record
            assert report["flagged_outcome_unknown"] >= 1, "the kill hit no message in flight"
            assert report["flagged_outcome_unknown"] >= report["duplicates"]
            assert max(sends_by_destination(sim).values()) <= 2
            assert len(sends_by_destination(sim)) == 3000
            await redis.aclose()

    run_bounded(main(), 200)


def test_two_engines_share_one_stream_without_double_sends(redis_url, prefix, tmp_path):
    async def main():
        async with Simulator(receipt_delay=0.05, faults=Faults(delay=0.002)) as sim:
            d = config_dict(redis_url, prefix, sim.port, window=20, binds=1, batch=50)
            cfg = make_config(d)
            path = write_toml(d, tmp_path / "engine.toml")
            redis = connect(redis_url)
            a = EngineProcess(path, "engine-a", tmp_path / "a.log")
            b = EngineProcess(path, "engine-b", tmp_path / "b.log")
            try:
                await _wait_proc_bound(sim, 2)
                cid, ids = await enqueue_campaign(redis, cfg, 4000)
                await wait_final(redis, cfg, cid, 4000, 120)
            finally:
                rca, rcb = a.terminate(), b.terminate()
            assert (rca, rcb) == (0, 0), a.log() + b.log()
            report = await check_no_loss_and_flagged_duplicates(redis, cfg, sim, ids)
            sends = sends_by_destination(sim)
            assert len(sends) == 4000 and max(sends.values()) == 1, "a message was sent twice"
            assert sim.record.duplicates == 0
            assert report["flagged_outcome_unknown"] == 0
            sa, sb = a.stopped_stats(), b.stopped_stats()
            print("two engines:", sa, sb)
            assert sa.get("acked", 0) > 0 and sb.get("acked", 0) > 0, (sa, sb)
            assert sa["acked"] + sb["acked"] == 4000
            await redis.aclose()

    run_bounded(main(), 200)


def test_redis_restart_mid_run(tmp_path):
    """A private redis-server with AOF is stopped and started again while the engine
    sends: the engine waits, retries, and finishes; nothing lost, duplicates flagged."""
    server = RedisServer()
    try:
        async def main():
            async with Simulator(receipt_delay=0.1, faults=Faults(delay=0.005)) as sim:
                prefix = "rr:"
                cfg = make_config(config_dict(server.url, prefix, sim.port, window=30, binds=2, batch=100))
                redis = connect(server.url)
                cid, ids = await enqueue_campaign(redis, cfg, 3000)
                service = Service(cfg, redis=connect(server.url))
                await service.start(serve_metrics=False)
                assert await sim.wait_for(lambda s: s.record.submit_count >= 800, 60)
                await asyncio.to_thread(server.stop)
                down_at = sim.record.submit_count
                await asyncio.sleep(1.5)  # the engine finds Redis gone
                await asyncio.to_thread(server.start)
                back = time.monotonic()
                await wait_final(redis, cfg, cid, 3000, 120)
                # Entries whose read reply was lost in the outage are recovered at once,
                # not after claim_idle_seconds (60 s here).
                assert time.monotonic() - back < 40, "recovery waited for the claim timeout"
                await service.close()
                report = await check_no_loss_and_flagged_duplicates(redis, cfg, sim, ids)
                print(f"redis restart after {down_at} submits:", report, "redis errors:", service.stats.redis_errors)
                assert down_at < 3000
                assert service.stats.redis_errors > 0, "the engine never noticed Redis was gone"
                assert report["flagged_outcome_unknown"] >= report["duplicates"]
                assert len(sends_by_destination(sim)) == 3000
                await redis.aclose()

        run_bounded(main(), 200)
    finally:
        server.cleanup()


def test_demo_json(redis_url):
    prefix = f"demo-test-{os.getpid()}-{time.monotonic_ns()}:"
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "demo", "--count", "300", "--json", "--redis", redis_url,
         "--prefix", prefix, "--receipt-delay", "0.1", "--timeout", "90"],
        cwd=ROOT, capture_output=True, text=True, timeout=150,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    assert len(lines) == 1, f"stdout must be one JSON object, got: {proc.stdout!r}"
    s = json.loads(lines[0])
    assert s["submitted"] == 300
    assert s["delivered"] + s["failed"] == 300
    assert s["all_final"] is True and s["not_final"] == {}
    assert s["delivered"] > 200  # 92 % DELIVRD, 1 % submit failures, a few undeliverable
    assert s["failed"] == sum(s["failed_by_state"].values())
    assert s["segments"] > 300  # long messages make several
    assert s["seconds"] > 0 and s["throughput_msg_s"] > 0
    assert s["latency_ms"]["submit_to_response"]["count"] >= 300
    assert s["latency_ms"]["submit_to_receipt"]["p50"] >= 100 * 0.9  # the receipt delay
    assert s["metrics_url"].startswith("http://")
    import redis as sync_redis

    r = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert r.hget(f"{prefix}track:{s['campaign']}:1", "state") in (
            "delivered", "undeliverable", "expired", "rejected", "deleted", "unknown", "failed")
        for k in list(r.scan_iter(match=prefix + "*", count=1000)):
            r.delete(k)
    finally:
        r.close()


def test_demo_without_redis_says_how_to_fix(tmp_path):
    """No Redis answering and no redis-server on PATH: a plain message with the fix, exit 3."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = dict(os.environ, PATH=str(bin_dir))
    env.pop("REDIS_URL", None)
    port = free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "demo", "--count", "10", "--redis", f"redis://127.0.0.1:{port}/0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "apt-get install redis-server" in proc.stderr
    assert "./dev demo" in proc.stderr
    assert f"127.0.0.1:{port}" in proc.stderr


def test_sigterm_drains_unbinds_and_a_restart_finishes_without_duplicates(redis_url, prefix, tmp_path):
    """SIGTERM mid-campaign: the engine stops reading, lets its windows drain, records and
    acks what was answered, unbinds and exits 0. Nothing it handed is left unknown, so
    the next engine sends the rest with no duplicate and nothing flagged."""

    async def main():
        async with Simulator(receipt_delay=0.05, faults=Faults(delay=0.02)) as sim:
            d = config_dict(redis_url, prefix, sim.port, window=50, binds=2, batch=100, claim_idle=1.5)
            cfg = make_config(d)
            path = write_toml(d, tmp_path / "engine.toml")
            redis = connect(redis_url)
            cid, ids = await enqueue_campaign(redis, cfg, 2500)
            first = EngineProcess(path, "engine-a", tmp_path / "a.log")
            try:
                await _wait_proc_bound(sim, 2)
                assert await sim.wait_for(lambda s: s.record.submit_count >= 600, 60), first.log()
                first.proc.send_signal(__import__("signal").SIGTERM)
                rc = await asyncio.to_thread(first.proc.wait, 30)
            finally:
                first.terminate()
            assert rc == 0, first.log()
            assert sim.record.unbinds >= 2, "the engine did not unbind"
            stopped_at = sim.record.submit_count
            stats = first.stopped_stats()
            assert stats["unknown parts"] == 0, stats
            # Everything it sent was recorded and acked before it exited.
            assert stats["acked"] == stats["accepted"] == stopped_at, (stats, stopped_at)
            second = EngineProcess(path, "engine-b", tmp_path / "b.log")
            try:
                await wait_final(redis, cfg, cid, 2500, 120)
            finally:
                assert second.terminate() == 0, second.log()
            report = await check_no_loss_and_flagged_duplicates(redis, cfg, sim, ids)
            print(f"SIGTERM after {stopped_at} submits:", report)
            assert stopped_at < 2500
            assert report["duplicates"] == 0 and report["flagged_outcome_unknown"] == 0, report
            assert sim.record.duplicates == 0
            await redis.aclose()

    run_bounded(main(), 200)
