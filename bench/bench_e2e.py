"""End to end: Redis -> engine -> simulator -> receipt stored in Redis.

``python -m bench e2e [--count=N] [--quick] [--redis=URL] [--write]`` (write options as
``--name=value``: ``python -m bench`` takes bare words for benchmark names)

What runs: a private redis-server (unless ``--redis``), the SMSC simulator as its own
process (``smpp-engine simulate``, receipts after 0.2 s, nothing recorded), and the
engine service (``engine.service.Service``) in this process. Messages are put on the
bulk stream first (timed separately: intake is not what is measured here), then the
service is started and the clock runs until every message is acknowledged in Redis
and every receipt is correlated and stored.

``--engines N`` (N > 1; or ``--subprocess`` with N = 1): the engine is
``smpp-engine run --processes N`` in a subprocess, from a generated TOML config with
the same settings (the 2 binds, or N when N > 2, split between the processes; the
simulator sees as many binds as in-process). The campaign is put on a side stream
that already has the consumer group; once every engine process logged that it is
bound and reading, one RENAME moves it onto the bulk stream and the clock starts
(start-up and imports are not measured, as in-process). Done when the bulk stream is
empty (acked entries are deleted) and the tracker's counters say every receipt was
correlated (``matched + held_applied``); then every tracking record is read back:
all delivered (submitted without receipts), none outcome_unknown. CPU is summed over
the engine processes (the parent included, from /proc/<pid>/stat), RSS sampled per
engine process (/proc/<pid>/statm). Latencies: submit→receipt from the records
(``p1.dt - p1.ts``, the same two clock readings the in-process figure uses);
submit→response from the engines' own histogram
(``smpp_submit_response_latency_seconds``): each process serves /metrics on a port of
its own (the config says port 0; the port is read from its start-up log line), every
process is scraped once the engines are ready and once the run is done, and the
difference, merged over processes and binds, gives percentiles as bucket upper bounds
(the histogram's resolution: a factor 2-3 per bucket, see ``_bucket_resolution``;
in-process they come from 2 % buckets). The final-events contender needs the in-process service
(``event_states`` has no config setting) and is skipped.

Reported per contender: messages/s to "all receipts stored", messages/s to "all
submitted and acked", submit->response and submit->receipt percentiles, CPU seconds
of the engine, Redis and the simulator; for the main run also RSS of the engine
every ``--rss-every`` messages, and the growth after warm-up. Contenders (same
corpus, same run): receipts on (the main run, window 100 x 2 binds), receipts off,
window 20, window 500, and status events for final states only (the tracker's
``event_states``; the default publishes "submitted" too); ratios against the main run. ``--write`` puts the results
in bench/RESULTS.md, section "End to end".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._common import header
from engine.localredis import LocalRedis

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_COUNT = 200_000
QUICK_COUNT = 20_000
# Comparison runs use at most this many messages each: enough for a steady state,
# short enough that four contenders fit in a few minutes on two cores.
COMPARE_COUNT = 50_000
# Simulator receipt delay: realistic ordering (the submit_sm_resp is recorded before
# its receipt arrives) without making a short run mostly waiting.
RECEIPT_DELAY = 0.2
# Messages before the RSS baseline is taken: the client keeps concatenation counters
# for up to 100,000 destinations (engine/client/smsc.py) and the allocator settles.
RSS_WARMUP = 100_000
# The corpus: a fixed mix, one destination per message.
TEXTS = (
    "Your code is {i:06d}. It expires in 10 minutes.",
    "Hello {i}, your parcel arrives tomorrow between 9 and 12.",
    "Ваш код подтверждения: {i:06d}",
    "Offer {i}: 20% off all items | today only €5 shipping",
)
PASSWORD_ENV = "BENCH_E2E_PW"
# Seconds the engine processes get to start and bind before the run is given up.
ENGINE_START_TIMEOUT_S = 60.0
# Tracking records read back per pipeline (multi-process mode).
READBACK_CHUNK = 5000
# The engine's own submit->response histogram (engine/metrics.py), which subprocess
# mode scrapes from every engine process's /metrics.
RESPONSE_HISTOGRAM = "smpp_submit_response_latency_seconds"
# Seconds one /metrics scrape may take (a few kB from a process on this machine).
SCRAPE_TIMEOUT_S = 10.0
# Seconds the final scrape waits for the histograms to count every message: the
# engine moves its response counts into Prometheus once per event-loop turn.
SCRAPE_SETTLE_S = 2.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _rss_mb(pid: int | str = "self") -> float:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def _children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc/*/stat), sorted."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(entry))
    return sorted(out)


def _Redis() -> LocalRedis:
    try:
        return LocalRedis(prefix="smpp-bench-e2e-")
    except FileNotFoundError:
        raise SystemExit("bench e2e: redis-server is not installed (apt-get install redis-server, or ./dev setup)") from None
    except RuntimeError as exc:
        raise SystemExit(f"bench e2e: {exc}") from None


class _SimulatorProcess:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "simulate", "--port", "0", "--receipt-delay", str(RECEIPT_DELAY)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        try:
            self.port = int(json.loads(line)["port"])
        except (ValueError, KeyError) as exc:
            self.proc.kill()
            raise SystemExit(f"bench e2e: the simulator did not start: {line!r} ({exc})") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class Result:
    name: str
    count: int
    receipts: bool
    window: int
    seconds: float = 0.0
    submit_seconds: float = 0.0
    intake_seconds: float = 0.0
    ok: bool = False
    detail: str = ""
    engine_cpu: float = 0.0
    redis_cpu: float = 0.0
    sim_cpu: float = 0.0
    response_ms: dict = field(default_factory=dict)
    receipt_ms: dict = field(default_factory=dict)
    rss: list = field(default_factory=list)
    # Engine processes (1: in this process unless ``subprocess``); with subprocesses, RSS
    # per engine process: [(label, [(acked, MB), ...]), ...].
    engines: int = 1
    subprocess: bool = False
    rss_procs: list = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def submit_rate(self) -> float:
        return self.count / self.submit_seconds if self.submit_seconds else 0.0

    def rss_growth(self, rss: list | None = None) -> tuple[float, float, float] | None:
        """(baseline MB after warm-up, last MB, growth MB) or None when too short."""
        after = [(n, mb) for n, mb in (self.rss if rss is None else rss) if n >= min(RSS_WARMUP, self.count // 2)]
        if len(after) < 2:
            return None
        return after[0][1], after[-1][1], after[-1][1] - after[0][1]


def _messages(prefix: str, start: int, n: int, receipts: bool):
    from engine.queue import Message

    rd = 1 if receipts else 0
    created = time.time()
    for i in range(start, start + n):
        yield Message(id=f"{prefix}{i}", destination=f"+4915{i:09d}", text=TEXTS[i % len(TEXTS)].format(i=i),
                      source="BENCH", registered_delivery=rd, segments=1, created=created)


async def _run_one(name: str, redis_url: str, sim: _SimulatorProcess, redis_pid: int | None, count: int, *,
                   receipts: bool, window: int, rss_every: int, timeout: float,
                   final_events: bool = False, batch: int = 500) -> Result:
    from engine.config import parse_config
    from engine.queue import Keys, Producer, connect
    from engine.service import Service
    from engine.tracking import FINAL_STATES

    res = Result(name, count, receipts, window)
    prefix = f"e2e-{name}-{os.getpid()}:"
    raw = {
        "redis": {"url": redis_url, "batch_size": batch},
        "metrics": {"enabled": False, "port": 0},
        "engine": {"key_prefix": prefix, "stream": f"{prefix}outbound", "priority_stream": f"{prefix}outbound:priority",
                   "status_stream": f"{prefix}status"},
        "smscs": [{"name": "sim", "host": "127.0.0.1", "port": sim.port, "system_id": "bench",
                   "password_env": PASSWORD_ENV, "window": window, "response_timeout": 30.0,
                   "binds": [{"bind_type": "trx", "count": 2}]}],
    }
    cfg = parse_config(raw, {PASSWORD_ENV: "x"})
    redis = connect(redis_url)
    keys = Keys.from_config(cfg.engine)
    producer = Producer(redis, keys)
    t0 = time.perf_counter()
    # Put the whole campaign on the stream in slices (the generator keeps the
    # benchmark's own memory flat while it does).
    slice_n = 50_000
    for start in range(0, count, slice_n):
        await producer.enqueue_many(_messages(f"{name}:", start, min(slice_n, count - start), receipts))
    res.intake_seconds = time.perf_counter() - t0
    service = Service(cfg, redis=redis, event_states=FINAL_STATES if final_events else None)
    stats = service.stats
    cpu0, rcpu0, scpu0 = time.process_time(), _cpu_of(redis_pid) if redis_pid else 0.0, _cpu_of(sim.proc.pid)
    next_rss = rss_every
    t0 = time.perf_counter()
    await service.start(serve_metrics=False)
    deadline = t0 + timeout
    while True:
        await asyncio.sleep(0.05)
        now = time.perf_counter()
        if not res.submit_seconds and stats.acked >= count:
            res.submit_seconds = now - t0
        while rss_every and stats.acked >= next_rss:
            res.rss.append((next_rss, round(_rss_mb(), 1)))
            next_rss += rss_every
        done = stats.acked >= count and (not receipts or stats.receipts_matched >= count)
        if done or now > deadline:
            break
    res.seconds = time.perf_counter() - t0
    res.engine_cpu = time.process_time() - cpu0
    res.redis_cpu = (_cpu_of(redis_pid) - rcpu0) if redis_pid else float("nan")
    res.sim_cpu = _cpu_of(sim.proc.pid) - scpu0
    res.response_ms = stats.response_latency.summary_ms()
    res.receipt_ms = stats.receipt_latency.summary_ms()
    res.ok = done and stats.submitted_ok == count and stats.unknown_parts == 0
    res.detail = (f"acked {stats.acked}, accepted {stats.submitted_ok}, receipts matched {stats.receipts_matched}, "
                  f"unknown {stats.unknown_parts}, rejected {stats.rejected}")
    if not res.ok:
        from engine.tracking import Tracker

        t = Tracker(redis, prefix=prefix)
        res.detail += f"; tracking stats {await t.stats()}, held {await t.held_count()}"
    if res.ok:
        # Check the records themselves, not only the counters: sample messages in Redis.
        from engine.tracking import Tracker

        tracker = Tracker(redis, prefix=prefix)
        want = "delivered" if receipts else "submitted"
        for i in range(0, count, max(count // 50, 1)):
            st = await tracker.status(f"{name}:{i}")
            if st is None or st.state != want:
                res.ok = False
                res.detail += f"; {name}:{i} is {st.state if st else 'missing'}, expected {want}"
                break
    await service.close()
    await _drop_keys(redis, prefix)
    return res


async def _drop_keys(redis: Any, prefix: str) -> None:
    """Free Redis for the next contender (this run's keys only), and close the client."""
    cursor = 0
    while True:
        cursor, found = await redis.scan(cursor, match=prefix + "*", count=5000)
        if found:
            await redis.unlink(*found)
        if cursor == 0:
            break
    await redis.aclose()


# --- the engines' submit->response histograms (subprocess mode) -----------------------


def histogram_buckets(text: str, name: str = RESPONSE_HISTOGRAM) -> dict[tuple, dict[float, float]]:
    """The cumulative buckets of histogram ``name`` in a Prometheus text exposition:
    {label set without ``le`` (sorted (name, value) pairs): {upper bound: count}}.
    One entry per bind for the engine's response histogram; {} when it has no series."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple, dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        if family.type != "histogram":
            raise ValueError(f"metric {name} is a {family.type}, not a histogram")
        for sample in family.samples:
            if sample.name != name + "_bucket":
                continue
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            out.setdefault(labels, {})[float(sample.labels["le"])] = sample.value
    return out


def merge_buckets(histograms: list[dict[float, float]]) -> dict[float, float]:
    """One histogram from several with the same bucket edges (processes, binds): the
    cumulative counts per upper bound added. Different edges cannot be added bucket by
    bucket (a count below 5 ms in one and below 2.5 ms in the other): ValueError."""
    merged: dict[float, float] = {}
    for h in histograms:
        if merged and set(h) != set(merged):
            raise ValueError(f"histograms with different bucket edges: {sorted(h)} and {sorted(merged)}")
        for le, n in h.items():
            merged[le] = merged.get(le, 0.0) + n
    return merged


def subtract_buckets(end: dict[float, float], start: dict[float, float]) -> dict[float, float]:
    """``end - start`` per bucket: what was observed between two scrapes of one series
    (a series absent at the start counts from 0). A count that went down means the
    process restarted in between (its counters began again): ValueError."""
    if start and set(start) != set(end):
        raise ValueError(f"bucket edges changed between the scrapes: {sorted(start)} -> {sorted(end)}")
    out = {le: n - start.get(le, 0.0) for le, n in end.items()}
    if any(v < 0 for v in out.values()):
        raise ValueError("a bucket count went down between the scrapes (the engine process restarted?)")
    return out


def bucket_percentiles(cumulative: dict[float, float], qs: tuple[float, ...] = (0.5, 0.9, 0.99)) -> dict[float, float | None]:
    """Percentiles of a histogram given as cumulative buckets {upper bound: count}, one
    of them +Inf (the total): for each q the smallest upper bound whose count reaches
    q x total, i.e. at least that share of the values were at most that bound. So the
    resolution is the buckets' (no interpolation inside a bucket); math.inf when the
    percentile lies above the largest finite bound, None when nothing was observed."""
    if not cumulative:
        return {q: None for q in qs}
    if math.inf not in cumulative:
        raise ValueError("cumulative buckets must include +Inf (the total count)")
    edges = sorted(cumulative)
    counts = [cumulative[le] for le in edges]
    if any(b < a for a, b in zip(counts, counts[1:])):
        raise ValueError(f"bucket counts are not cumulative (they go down): {dict(zip(edges, counts))}")
    total = counts[-1]
    out: dict[float, float | None] = {}
    for q in qs:
        if not 0 < q <= 1:
            raise ValueError(f"percentile must be in (0, 1], got {q}")
        if total <= 0:
            out[q] = None
            continue
        rank = q * total
        out[q] = next(le for le, n in zip(edges, counts) if n >= rank)
    return out


def response_summary_ms(start: list[str], end: list[str]) -> dict:
    """Submit->response percentiles in ms from /metrics texts of the engine processes
    (``start[i]`` and ``end[i]`` from process i), the ``summary_ms`` shape of the
    in-process figure plus ``bucket_bounds`` (the values are bucket upper bounds) and
    ``top_ms`` (the largest finite bound; a percentile above it is inf)."""
    if len(start) != len(end):
        raise ValueError(f"{len(start)} scrapes at the start, {len(end)} at the end")
    runs: list[dict[float, float]] = []
    for before, after in zip(start, end):
        b0, b1 = histogram_buckets(before), histogram_buckets(after)
        runs += [subtract_buckets(h, b0.get(labels, {})) for labels, h in b1.items()]
    merged = merge_buckets(runs)
    p = bucket_percentiles(merged)
    finite = [le for le in merged if le != math.inf]
    return {
        "p50": _bound_ms(p[0.5]), "p90": _bound_ms(p[0.9]), "p99": _bound_ms(p[0.99]),
        "count": int(merged.get(math.inf, 0)), "bucket_bounds": True,
        "top_ms": _bound_ms(max(finite)) if finite else None,
    }


def _bound_ms(v: float | None) -> float | None:
    return None if v is None else (v if v == math.inf else round(v * 1000, 6))


def _scrape(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as resp:
        return resp.read().decode()


async def _scrape_all(urls: list[str]) -> list[str]:
    return list(await asyncio.gather(*(asyncio.to_thread(_scrape, u) for u in urls)))


class _EngineProcesses:
    """``smpp-engine run --processes N`` with its log in a file."""

    READY = re.compile(r"engine\.run: consumer \S+ of group ")
    # The same start-up line ends with the process's metrics URL (its port is any free
    # one: the config says port 0).
    METRICS = re.compile(r"engine\.run: consumer (\S+) of group .*; metrics (http://\S+)$", re.M)

    def __init__(self, config_path: Path, n: int, log_path: Path) -> None:
        self.n = n
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "run", "--config", str(config_path), "--processes", str(n),
             "--consumer", f"bench-{os.getpid()}", "--log-level", "INFO"],
            cwd=ROOT, env=dict(os.environ, **{PASSWORD_ENV: "x"}), stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    async def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.READY.findall(self.log())) < self.n:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the engine processes did not start (exit {self.proc.poll()}):\n{self.log()[-3000:]}")
            await asyncio.sleep(0.05)

    def metrics_urls(self) -> list[str]:
        """The /metrics URL of each engine process (the latest start of each consumer)."""
        return list({m.group(1): m.group(2) for m in self.METRICS.finditer(self.log())}.values())

    def pids(self) -> list[int]:
        """Every engine process: the parent (the engine itself when n == 1) and its children."""
        return [self.proc.pid] + (_children_of(self.proc.pid) if self.n > 1 else [])

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                for pid in self.pids()[1:]:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode

    def stopped(self) -> list[str]:
        """The "stopped: read N, acked N, ..." counters each engine process logged."""
        return [m.group(1) for m in re.finditer(r"engine\.run: stopped: (read [^\n]*)", self.log())]


async def _run_procs(name: str, redis_url: str, sim: _SimulatorProcess, redis_pid: int | None, count: int, *,
                     receipts: bool, window: int, rss_every: int, timeout: float, engines: int,
                     batch: int = 500) -> Result:
    """The run of ``_run_one`` with the engine as ``smpp-engine run --processes N``
    subprocesses; measured from Redis and /proc (see the module docstring)."""
    import tempfile

    from engine.config import dump_toml
    from engine.queue import Keys, Producer, connect
    from engine.service import Quantiles

    res = Result(name, count, receipts, window, engines=engines, subprocess=True)
    prefix = f"e2e-{name}-{os.getpid()}:"
    raw: dict = {
        "redis": {"url": redis_url, "batch_size": batch},
        # Port 0: each process serves on any free port and logs it (see metrics_urls).
        "metrics": {"enabled": True, "host": "127.0.0.1", "port": 0},
        "engine": {"key_prefix": prefix, "stream": f"{prefix}outbound", "priority_stream": f"{prefix}outbound:priority",
                   "status_stream": f"{prefix}status", "group": "smpp-engine"},
        "smscs": [{"name": "sim", "host": "127.0.0.1", "port": sim.port, "system_id": "bench",
                   "password_env": PASSWORD_ENV, "window": window, "response_timeout": 30.0,
                   "binds": [{"bind_type": "trx", "count": max(2, engines)}]}],
    }
    redis = connect(redis_url)
    keys = Keys.with_prefix(prefix)
    assert keys.bulk_stream == raw["engine"]["stream"]
    staging = f"{prefix}staging"
    t0 = time.perf_counter()
    slice_n = 50_000
    producer = Producer(redis, keys)
    for start in range(0, count, slice_n):
        await producer.enqueue_many(_messages(f"{name}:", start, min(slice_n, count - start), receipts),
                                    stream=staging)
    res.intake_seconds = time.perf_counter() - t0
    await redis.xgroup_create(staging, keys.group, id="0")
    workdir = Path(tempfile.mkdtemp(prefix="smpp-bench-e2e-"))
    (workdir / "engine.toml").write_text(dump_toml(raw))
    eng = _EngineProcesses(workdir / "engine.toml", engines, workdir / "engine.log")
    stats_key = f"{prefix}tracking:stats"
    done = False
    try:
        await eng.wait_ready(ENGINE_START_TIMEOUT_S)
        pids = eng.pids()
        if len(pids) != (engines + 1 if engines > 1 else 1):
            raise RuntimeError(f"expected {engines} engine processes under pid {eng.proc.pid}, found {pids}")
        workers = pids[1:] if engines > 1 else pids
        res.rss_procs = [(f"process {i} (pid {pid})", []) for i, pid in enumerate(workers)]
        urls = eng.metrics_urls()
        if len(urls) != engines:
            raise RuntimeError(f"expected {engines} metrics URLs in the engine log, found {urls}")
        # Whatever the histograms hold before the campaign appears is not this run's
        # (nothing is submitted yet, but subtracting keeps the figure the run's own).
        try:
            scraped0: list[str] | str = await _scrape_all(urls)
        except OSError as exc:  # the run is still worth its other figures
            scraped0 = f"submit→response not collected: the first scrape of {urls} failed: {exc}"
        cpu0 = sum(_cpu_of(p) for p in pids)
        rcpu0, scpu0 = _cpu_of(redis_pid) if redis_pid else 0.0, _cpu_of(sim.proc.pid)
        next_rss = rss_every
        t0 = time.perf_counter()
        await redis.rename(staging, keys.bulk_stream)  # the campaign appears; the engines wake up
        deadline = t0 + timeout
        acked = correlated = 0
        while True:
            await asyncio.sleep(0.05)
            pipe = redis.pipeline(transaction=False)
            pipe.xlen(keys.bulk_stream)
            pipe.hmget(stats_key, "matched", "held_applied")
            left, (m, h) = await pipe.execute()
            now = time.perf_counter()
            acked = count - int(left)
            correlated = int(m or 0) + int(h or 0)
            if not res.submit_seconds and acked >= count:
                res.submit_seconds = now - t0
            while rss_every and acked >= next_rss:
                for (_, series), pid in zip(res.rss_procs, workers):
                    series.append((next_rss, round(_rss_mb(pid), 1)))
                next_rss += rss_every
            done = acked >= count and (not receipts or correlated >= count)
            if done or now > deadline or eng.proc.poll() is not None:
                break
        res.seconds = time.perf_counter() - t0
        res.engine_cpu = sum(_cpu_of(p) for p in pids) - cpu0
        if eng.pids() != pids:  # a process died (and was restarted): its CPU is lost, the run is not clean
            res.engine_cpu = float("nan")
        res.redis_cpu = (_cpu_of(redis_pid) - rcpu0) if redis_pid else float("nan")
        res.sim_cpu = _cpu_of(sim.proc.pid) - scpu0
        res.response_ms, note = await _response_latency(urls, scraped0, acked)
        # Every record back: the state, no unknown outcome, and the receipt latency.
        want = "delivered" if receipts else "submitted"
        lat = Quantiles()
        states: dict[str, int] = {}
        unknown = 0
        for start in range(0, count, READBACK_CHUNK):
            pipe = redis.pipeline(transaction=False)
            for i in range(start, min(start + READBACK_CHUNK, count)):
                pipe.hmget(f"{prefix}track:{name}:{i}", "state", "n.unknown", "p1.ts", "p1.dt")
            for state, unk, ts, dt in await pipe.execute():
                st = state.decode() if isinstance(state, bytes) else (state or "missing")
                states[st] = states.get(st, 0) + 1
                unknown += int(unk or 0) > 0
                if receipts and ts and dt:
                    lat.add(max(float(dt) - float(ts), 0.0))
        res.receipt_ms = lat.summary_ms() if receipts else {}
        res.ok = done and states.get(want, 0) == count and unknown == 0
        res.detail = (f"acked {acked}, receipts correlated {correlated}, states {states}, "
                      f"outcome unknown {unknown}" + (f"; {note}" if note else ""))
        if not res.ok:
            from engine.tracking import Tracker

            t = Tracker(redis, prefix=prefix)
            res.detail += f"; tracking stats {await t.stats()}, held {await t.held_count()}"
    finally:
        rc = eng.stop()
        try:
            (workdir / "engine.toml").unlink()
        except OSError:
            pass
    per = eng.stopped()
    if rc != 0 or len(per) != engines:
        res.ok = False
        res.detail += f"; engine exit status {rc}, {len(per)} of {engines} processes logged their stop " \
                      f"(log {workdir / 'engine.log'})"
    else:
        res.detail += "; per process: " + " | ".join(per)
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    await _drop_keys(redis, prefix)
    return res


async def _response_latency(urls: list[str], start: list[str] | str, acked: int) -> tuple[dict, str]:
    """``response_summary_ms`` of the run from a final scrape of every process (``start``:
    the scrapes before it, or why they failed), and a note when the figure is missing
    or short. Retried for up to SCRAPE_SETTLE_S until the histograms count ``acked``
    responses (each message here is one submit_sm; an entry is acked after its
    response)."""
    if isinstance(start, str):  # the reason the first scrape failed
        return {}, start
    deadline = time.monotonic() + SCRAPE_SETTLE_S
    while True:
        try:
            summary = response_summary_ms(start, await _scrape_all(urls))
        except (OSError, ValueError) as exc:  # URLError is an OSError
            return {}, f"submit→response not collected from {urls}: {exc}"
        if summary["count"] >= acked or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    short = summary["count"] < acked
    return summary, (f"the engines' histograms count {summary['count']} responses for {acked} acked messages"
                     if short else "")


def _fmt_pct(d: dict) -> str:
    if not d or not d.get("count"):
        return "n/a"
    if d.get("bucket_bounds"):  # "≤ 5": the bucket holding the percentile ends at 5 ms
        return " / ".join(f">{d['top_ms']:g}" if v == math.inf else f"≤{v:g}" for v in (d["p50"], d["p90"], d["p99"]))
    return f"{d['p50']} / {d['p90']} / {d['p99']}"


def _bucket_resolution() -> str:
    """The response histogram's bucket edges and how wide its buckets are, for the report."""
    from engine.metrics import RESPONSE_LATENCY_BUCKETS as edges

    ratios = [b / a for a, b in zip(edges, edges[1:])]
    return (f"bucket edges {', '.join(f'{e * 1000:g}' for e in edges)} ms (engine/metrics.py "
            f"RESPONSE_LATENCY_BUCKETS), so a figure \"≤X\" says the percentile lies between the edge below X "
            f"and X: each bucket ends {min(ratios):g} to {max(ratios):g} times above where it starts (the first "
            f"holds 0-{edges[0] * 1000:g} ms), against 2 % buckets for the in-process figure")


def _engines(r: Result) -> str:
    return f"{r.engines} (subprocess{'es' if r.engines > 1 else ''})" if r.subprocess else "1 (this process)"


def _report(results: list[Result], command: str) -> str:
    main = results[0]
    if main.subprocess:
        where = (f"{main.engines} engine process{'es' if main.engines > 1 else ''} (`smpp-engine run --processes "
                 f"{main.engines}`, uvloop; {max(2, main.engines)} binds split between them)")
    else:
        where = "engine (this process, uvloop)"
    lines = [
        header("End to end", command).rstrip("\n"),
        "",
        f"Redis -> {where} -> simulator (own process, receipts after {RECEIPT_DELAY} s) -> "
        "receipt stored. Intake (XADD of the campaign) is timed apart and not in the rate. "
        f"Machine: {os.cpu_count()} cores shared by Redis, the engine and the simulator "
        f"({platform.processor() or platform.machine()}).",
        "",
        "| contender | messages | engines | correct | msg/s to receipts stored | msg/s submitted+acked | ratio | "
        "submit→resp ms p50/p90/p99 | submit→receipt ms p50/p90/p99 | CPU s engine / redis / sim |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = r.rate / main.rate if main.rate else 0
        lines.append(
            f"| {r.name} | {r.count:,} | {_engines(r)} | {'yes' if r.ok else 'NO: ' + r.detail} | {r.rate:,.0f} | "
            f"{r.submit_rate:,.0f} | "
            f"{ratio:.2f} | {_fmt_pct(r.response_ms)} | {_fmt_pct(r.receipt_ms) if r.receipts else '-'} | "
            f"{r.engine_cpu:.1f} / {r.redis_cpu:.1f} / {r.sim_cpu:.1f} |"
        )
    lines.append("")
    if main.subprocess:
        lines.append("With subprocess engines: submit→resp from the engines' own histograms "
                     f"({RESPONSE_HISTOGRAM}, every process's /metrics scraped before and after the run, the "
                     f"difference merged over processes and binds: {main.response_ms.get('count', 0):,} responses in "
                     "the main run); each figure is the upper bound of the bucket "
                     f"holding the percentile: {_bucket_resolution()}. "
                     "Submit→receipt from the tracking records in Redis (p1.dt - p1.ts, every message); "
                     "CPU of the engine summed over its processes"
                     + (" (the supervising parent included)" if main.engines > 1 else "") + ".")
    series = main.rss_procs if main.subprocess else [("", main.rss)]
    for label, rss in series:
        what = f"engine {label}" if label else "the engine process"
        g = main.rss_growth(rss)
        if rss:
            pts = ", ".join(f"{n // 1000}k: {mb:.0f}" for n, mb in rss[:: max(len(rss) // 10, 1)])
            lines.append(f"RSS of {what} (MB) by messages acked in the main run: {pts}; "
                         f"last {rss[-1][1]:.0f} MB at {rss[-1][0]:,}.")
        if g is not None:
            base, last, growth = g
            lines.append(f"RSS growth{' of ' + label if label else ''} after {min(RSS_WARMUP, main.count // 2):,} "
                         f"messages: {base:.0f} -> {last:.0f} MB "
                         f"({growth:+.1f} MB over {main.count - min(RSS_WARMUP, main.count // 2):,} messages).")
    if main.count and main.seconds:
        per = [main.engine_cpu / main.count * 1e6, main.redis_cpu / main.count * 1e6, main.sim_cpu / main.count * 1e6]
        total = sum(per)
        cores = os.cpu_count() or 1
        lines.append("")
        procs = f" ({main.engines} processes)" if main.subprocess and main.engines > 1 else ""
        lines.append(f"CPU per message in the main run: engine{procs} {per[0]:.0f} µs, Redis {per[1]:.0f} µs, simulator "
                     f"{per[2]:.0f} µs; {total:.0f} µs in all, so {cores} idle cores could carry at most about "
                     f"{cores / total * 1e6:,.0f} msg/s. Load average at the end: "
                     + ", ".join(f"{x:.1f}" for x in os.getloadavg())
                     + " (other work shared the machine).")
    target = 20_000
    lines.append("")
    lines.append(f"Target: >= {target:,} msg/s with receipts: {'met' if main.rate >= target else 'NOT met'} "
                 f"({main.rate:,.0f} msg/s).")
    return "\n".join(lines) + "\n"


def _write_results(text: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    m = re.search(r"^## End to end\n.*?(?=^## |\Z)", old, flags=re.S | re.M)
    if m:
        new = old[: m.start()] + text + "\n" + old[m.end():]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench e2e", description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=None, help=f"messages in the main run (default {DEFAULT_COUNT:,}; "
                   "1000000 for the RSS-flat check)")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_COUNT:,} messages, main run and receipts-off only")
    p.add_argument("--compare-count", type=int, default=None, help=f"messages per comparison run "
                   f"(default min(count, {COMPARE_COUNT:,}))")
    p.add_argument("--no-compare", action="store_true", help="only the main run")
    p.add_argument("--rss-every", type=int, default=None, help="sample RSS every N messages (default count/50)")
    p.add_argument("--redis", metavar="URL", help="use this Redis instead of a private redis-server")
    p.add_argument("--timeout", type=float, default=None, help="seconds per run before giving up")
    p.add_argument("--batch", type=int, default=500, help="[redis] batch_size of the engine (default 500)")
    p.add_argument("--final-events", action="store_true", help="main run with event_states=FINAL_STATES "
                   "(status events for final states only; the default publishes submitted too)")
    p.add_argument("--engines", type=int, default=1, metavar="N",
                   help="engine processes: 1 (default) runs the service in this process; N > 1 runs "
                        "`smpp-engine run --processes N` in a subprocess")
    p.add_argument("--subprocess", action="store_true",
                   help="with --engines 1: run the engine as `smpp-engine run` in a subprocess too (measured the "
                        "way N > 1 is, for comparison)")
    p.add_argument("--write", action="store_true", help="write the results to bench/RESULTS.md (section End to end)")
    p.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = p.parse_args(argv)
    count = args.count or (QUICK_COUNT if args.quick else DEFAULT_COUNT)
    if count < 1:
        print("bench e2e: --count must be at least 1", file=sys.stderr)
        return 2
    if args.engines < 1:
        print("bench e2e: --engines must be at least 1", file=sys.stderr)
        return 2
    procs = args.engines > 1 or args.subprocess
    if procs and args.final_events:
        print("bench e2e: --final-events needs the in-process engine (event_states has no config setting); "
              "drop --engines/--subprocess", file=sys.stderr)
        return 2
    compare = args.compare_count or min(count, COMPARE_COUNT)
    rss_every = args.rss_every or max(count // 50, 1000)
    timeout = args.timeout or 120 + count / 1000
    try:
        from bench._common import require_release_build

        require_release_build()
    except ImportError:
        pass
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    redis = None if args.redis else _Redis()
    url = args.redis or redis.url  # type: ignore[union-attr]
    sim = _SimulatorProcess()
    # (name, receipts, window, messages, rss every, status events for final states only)
    contenders = [("receipts-w100" + ("-final-events" if args.final_events else ""), True, 100, count, rss_every,
                   args.final_events)]
    if not args.no_compare:
        contenders.append(("no-receipts-w100", False, 100, compare, 0, False))
        if not args.quick:
            contenders += [("receipts-w20", True, 20, compare, 0, False), ("receipts-w500", True, 500, compare, 0, False)]
            if not procs:
                contenders.append(("receipts-w100-final-events", True, 100, compare, 0, True))
    results: list[Result] = []

    async def run_all() -> None:
        for name, receipts, window, n, every, final_events in contenders:
            print(f"bench e2e: {name}: {n:,} messages"
                  + (f", {args.engines} engine process(es) in subprocesses" if procs else "") + " ...",
                  file=sys.stderr, flush=True)
            if procs:
                r = await _run_procs(name, url, sim, redis.proc.pid if redis else None, n, receipts=receipts,
                                     window=window, rss_every=every, timeout=timeout, engines=args.engines,
                                     batch=args.batch)
            else:
                r = await _run_one(name, url, sim, redis.proc.pid if redis else None, n, receipts=receipts,
                                   window=window, rss_every=every, timeout=timeout, final_events=final_events,
                                   batch=args.batch)
            print(f"bench e2e: {name}: {r.rate:,.0f} msg/s to receipts stored, {r.submit_rate:,.0f} msg/s submitted "
                  f"({'ok' if r.ok else 'NOT OK: ' + r.detail})", file=sys.stderr, flush=True)
            results.append(r)

    from engine.client.loop import run as run_loop

    try:
        run_loop(run_all())
    finally:
        sim.stop()
        if redis is not None:
            redis.stop()
    command = "python -m bench e2e " + " ".join(argv)
    text = _report(results, command.strip())
    print(text)
    if args.json:
        print(json.dumps([{**r.__dict__, "rate": r.rate, "submit_rate": r.submit_rate} for r in results]))
    if args.write:
        _write_results(text)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
