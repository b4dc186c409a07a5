"""Helpers for the service tests: a key prefix per test, configs for in-process and
subprocess engines, campaigns of single-part messages with one destination each (so
that the simulator's record tells how often each message was sent), and checks.

Everything is real: redis-server (``redis_url`` from tests/conftest.py, or a private
one a test starts), the simulator over TCP on 127.0.0.1, engines as subprocesses.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis as sync_redis

ROOT = Path(__file__).resolve().parents[2]
PASSWORD_ENV = "SVC_TEST_PW"
PASSWORD = "pw-svc"
FINAL = ("delivered", "undeliverable", "expired", "rejected", "deleted", "unknown", "failed")
# First destination of a test campaign; message i goes to DEST_BASE + i.
DEST_BASE = 4915100000000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def prefix(redis_url):
    p = f"svc-{uuid.uuid4().hex[:10]}:"
    yield p
    client = sync_redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=p + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def config_dict(redis_url: str, prefix: str, sim_port: int, *, window: int = 50, binds: int = 2,
                claim_idle: float = 60.0, response_timeout: float = 5.0, batch: int = 200) -> dict:
    return {
        "redis": {"url": redis_url, "batch_size": batch},
        "metrics": {"enabled": False, "port": 0},
        "engine": {
            "key_prefix": prefix, "stream": f"{prefix}outbound", "priority_stream": f"{prefix}outbound:priority",
            "status_stream": f"{prefix}status", "group": "smpp-engine", "claim_idle_seconds": claim_idle,
        },
        "smscs": [{
            "name": "sim", "host": "127.0.0.1", "port": sim_port, "system_id": "esme",
            "password_env": PASSWORD_ENV, "window": window, "response_timeout": response_timeout,
            "connect_timeout": 2.0, "bind_timeout": 2.0, "drain_timeout": 5.0,
            "reconnect": {"initial": 0.05, "max": 0.5, "jitter": 0.1},
            "binds": [{"bind_type": "trx", "count": binds}],
        }],
    }


def make_config(d: dict):
    from engine.config import parse_config

    return parse_config(d, {PASSWORD_ENV: PASSWORD})


def write_toml(d: dict, path: Path) -> Path:
    """``d`` (e.g. from config_dict) as a TOML file for ``smpp-engine run --config``."""
    from engine.config import dump_toml

    path.write_text(dump_toml(d))
    return path


async def enqueue_campaign(redis, cfg, count: int, *, campaign: str | None = None, priority: str = "bulk",
                           start: int = 0, text: str = "Test message {i}") -> tuple[str, list[str]]:
    """``count`` single-part messages, message i to DEST_BASE + i, recorded queued."""
    from engine.queue import Keys, Message, Producer
    from engine.tracking import Queued, Tracker

    keys = Keys.from_config(cfg.engine)
    cid = campaign or f"c{uuid.uuid4().hex[:8]}"
    msgs = [
        Message(id=f"{cid}:{i}", destination=f"+{DEST_BASE + i}", text=text.format(i=i), source="ACME",
                campaign=cid, priority=priority, segments=1)
        for i in range(start, start + count)
    ]
    # Queued records first: an engine that is already running may record "submitted"
    # before a late record_queued, and such a record would not count in the campaign.
    tracker = Tracker(redis, prefix=keys.prefix, events_stream=cfg.engine.status_stream)
    await tracker.record_queued([Queued(m.id, 1, cid) for m in msgs])
    await Producer(redis, keys).enqueue_many(msgs)
    return cid, [m.id for m in msgs]


async def wait_final(redis, cfg, campaign: str, total: int, timeout: float, *,
                     settled: tuple[str, ...] = FINAL, quiet: float = 0.0) -> dict[str, int]:
    """Poll until ``total`` messages of the campaign are in ``settled`` states (and,
    with ``quiet``, the counts did not change for that many seconds)."""
    from engine.tracking import Tracker

    tracker = Tracker(redis, prefix=cfg.engine.key_prefix)
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    last: dict[str, int] = {}
    since = time.monotonic()
    while time.monotonic() < deadline:
        try:
            counts = await tracker.campaign_counts(campaign)
        except sync_redis.exceptions.ConnectionError:  # the test's own client, across a Redis restart
            await asyncio.sleep(0.1)
            continue
        if counts != last:
            last, since = counts, time.monotonic()
        if sum(counts.get(k, 0) for k in settled) >= total and time.monotonic() - since >= quiet:
            return counts
        await asyncio.sleep(0.1)
    raise AssertionError(f"not every message final within {timeout} s: {counts}")


def sends_by_destination(sim) -> Counter:
    """How many accepted submit_sm the simulator received per destination."""
    return Counter(s.destination for s in sim.record.submits)


async def check_no_loss_and_flagged_duplicates(redis, cfg, sim, ids: list[str], *,
                                                allow_submitted: bool = False) -> dict:
    """Every message final; each message sent more than once says outcome_unknown > 0.

    ``allow_submitted``: a message may also rest in ``submitted`` with its SMSC id (its
    receipt was taken by a process that was then killed: see test_kill9...).
    Returns counts for the report: duplicates (messages sent more than once),
    flagged (messages whose status says the outcome was once unknown), and
    receipt_lost (messages left ``submitted``).
    """
    from engine.queue import Keys
    from engine.tracking import Tracker

    keys = Keys.from_config(cfg.engine)
    tracker = Tracker(redis, prefix=keys.prefix)
    sends = sends_by_destination(sim)
    duplicates = flagged = receipt_lost = 0
    for msg_id in ids:
        st = await tracker.status(msg_id)
        assert st is not None, f"{msg_id}: no tracking record (lost)"
        if allow_submitted and st.state == "submitted":
            assert all(p.smsc_message_id for p in st.part_detail), st.to_dict()
            receipt_lost += 1
        else:
            assert st.state in FINAL, f"{msg_id}: state {st.state} is not final ({st.to_dict()})"
        i = int(msg_id.rsplit(":", 1)[1])
        n = sends[str(DEST_BASE + i)]
        if st.outcome_unknown:
            flagged += 1
        if st.state != "failed" or n:
            assert n >= 1, f"{msg_id}: state {st.state} but the SMSC never received it"
        if n > 1:
            duplicates += 1
            assert st.outcome_unknown > 0, (
                f"{msg_id} was sent {n} times but its status does not say the outcome was unknown: {st.to_dict()}"
            )
    for stream in keys.streams:
        pending = await redis.xpending(stream, keys.group)
        assert pending["pending"] == 0, f"{stream}: {pending['pending']} entries still pending"
        assert await redis.xlen(stream) == 0, f"{stream}: entries left unread"
    return {"messages": len(ids), "duplicates": duplicates, "flagged_outcome_unknown": flagged,
            "receipt_lost": receipt_lost}


def run_bounded(coro, timeout: float):
    async def main():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


# The counters of an engine's last log line ("stopped: read N, acked N, ...").
_STOPPED_COUNTERS = re.compile(r"(read|acked|accepted|rejected|unknown parts|resent|receipts) (\d+)")


class EngineProcess:
    """``smpp-engine run`` as a subprocess (started and stopped by the test); with
    ``processes=N``, ``smpp-engine run --processes N``: a supervising parent (``proc``)
    and N engine children named ``<consumer>-<i>``."""

    def __init__(self, config_path: Path, consumer: str, log_path: Path, *, processes: int | None = None) -> None:
        env = dict(os.environ, **{PASSWORD_ENV: PASSWORD})
        self.consumer = consumer
        self.processes = processes
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "run", "--config", str(config_path), "--consumer", consumer]
            + (["--processes", str(processes)] if processes is not None else []),
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def child_pids(self) -> dict[int, int]:
        """With ``processes``: process index -> pid of its latest start (from the parent's
        log); else {}."""
        if self.processes is None:
            return {}
        return {int(m.group(1)): int(m.group(2))
                for m in re.finditer(rf"process (\d+)/{self.processes}: pid (\d+)", self.log())}

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait for a clean stop; past ``timeout``, kill everything (the
        children too, which would otherwise outlive the test) and fail."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                for pid in self.child_pids().values():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait(timeout=5)
                raise AssertionError(f"engine did not stop within {timeout} s after SIGTERM:\n{self.log()}")
        self._log.close()
        return self.proc.returncode

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stopped_stats(self) -> dict[str, int]:
        """The counters of the engine's last log line ("stopped: read N, acked N, ...")."""
        for line in reversed(self.log().splitlines()):
            if "stopped: read" in line:
                return {m.group(1): int(m.group(2)) for m in _STOPPED_COUNTERS.finditer(line)}
        return {}

    def stopped_stats_by_consumer(self) -> dict[str, dict[str, int]]:
        """Consumer name -> the counters of its last "stopped: read N, ..." line (with
        ``processes``, one per child: the log line is tagged ``[<consumer>-<i>]``)."""
        out: dict[str, dict[str, int]] = {}
        for line in self.log().splitlines():
            m = re.search(r"\[(\S+)\] engine\.run: stopped: read", line)
            if m:
                out[m.group(1)] = {k.group(1): int(k.group(2)) for k in _STOPPED_COUNTERS.finditer(line)}
        return out


class RedisServer:
    """A private redis-server with AOF persistence on a fixed port, restartable."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run ./dev setup (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="smpp-svc-redis-")
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if sync_redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            except sync_redis.exceptions.RedisError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis-server flushes the AOF and exits
            self.proc.wait(timeout=15)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
