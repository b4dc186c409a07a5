"""End to end: Redis -> engine -> simulator -> receipt stored in Redis.

``python -m bench e2e [--count=N] [--quick] [--redis=URL] [--write]`` (write options as
``--name=value``: ``python -m bench`` takes bare words for benchmark names)

What runs: a private redis-server (unless ``--redis``), the SMSC simulator as its own
process (``smpp-engine simulate``, receipts after 0.2 s, nothing recorded), and the
engine service (``engine.service.Service``) in this process. Messages are put on the
bulk stream first (timed separately: intake is not what is measured here), then the
service is started and the clock runs until every message is acknowledged in Redis
and every receipt is correlated and stored.

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
import os
import platform
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

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


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


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

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def submit_rate(self) -> float:
        return self.count / self.submit_seconds if self.submit_seconds else 0.0

    def rss_growth(self) -> tuple[float, float, float] | None:
        """(baseline MB after warm-up, last MB, growth MB) or None when too short."""
        after = [(n, mb) for n, mb in self.rss if n >= min(RSS_WARMUP, self.count // 2)]
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
    # Free Redis for the next contender (this run's keys only).
    cursor = 0
    while True:
        cursor, batch = await redis.scan(cursor, match=prefix + "*", count=5000)
        if batch:
            await redis.unlink(*batch)
        if cursor == 0:
            break
    await redis.aclose()
    return res


def _fmt_pct(d: dict) -> str:
    if not d or not d.get("count"):
        return "n/a"
    return f"{d['p50']} / {d['p90']} / {d['p99']}"


def _report(results: list[Result], command: str) -> str:
    main = results[0]
    lines = [
        header("End to end", command).rstrip("\n"),
        "",
        f"Redis -> engine (this process, uvloop) -> simulator (own process, receipts after {RECEIPT_DELAY} s) -> "
        "receipt stored. Intake (XADD of the campaign) is timed apart and not in the rate. "
        f"Machine: {os.cpu_count()} cores shared by Redis, the engine and the simulator "
        f"({platform.processor() or platform.machine()}).",
        "",
        "| contender | messages | correct | msg/s to receipts stored | msg/s submitted+acked | ratio | "
        "submit→resp ms p50/p90/p99 | submit→receipt ms p50/p90/p99 | CPU s engine / redis / sim |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = r.rate / main.rate if main.rate else 0
        lines.append(
            f"| {r.name} | {r.count:,} | {'yes' if r.ok else 'NO: ' + r.detail} | {r.rate:,.0f} | {r.submit_rate:,.0f} | "
            f"{ratio:.2f} | {_fmt_pct(r.response_ms)} | {_fmt_pct(r.receipt_ms) if r.receipts else '-'} | "
            f"{r.engine_cpu:.1f} / {r.redis_cpu:.1f} / {r.sim_cpu:.1f} |"
        )
    g = main.rss_growth()
    lines.append("")
    if main.rss:
        pts = ", ".join(f"{n // 1000}k: {mb:.0f}" for n, mb in main.rss[:: max(len(main.rss) // 10, 1)])
        lines.append(f"RSS of the engine process (MB) by messages acked in the main run: {pts}; "
                     f"last {main.rss[-1][1]:.0f} MB at {main.rss[-1][0]:,}.")
    if g is not None:
        base, last, growth = g
        lines.append(f"RSS growth after {min(RSS_WARMUP, main.count // 2):,} messages: {base:.0f} -> {last:.0f} MB "
                     f"({growth:+.1f} MB over {main.count - min(RSS_WARMUP, main.count // 2):,} messages).")
    if main.count and main.seconds:
        per = [main.engine_cpu / main.count * 1e6, main.redis_cpu / main.count * 1e6, main.sim_cpu / main.count * 1e6]
        total = sum(per)
        cores = os.cpu_count() or 1
        lines.append("")
        lines.append(f"CPU per message in the main run: engine {per[0]:.0f} µs, Redis {per[1]:.0f} µs, simulator "
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
    p.add_argument("--write", action="store_true", help="write the results to bench/RESULTS.md (section End to end)")
    p.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = p.parse_args(argv)
    count = args.count or (QUICK_COUNT if args.quick else DEFAULT_COUNT)
    if count < 1:
        print("bench e2e: --count must be at least 1", file=sys.stderr)
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
            contenders += [("receipts-w20", True, 20, compare, 0, False), ("receipts-w500", True, 500, compare, 0, False),
                           ("receipts-w100-final-events", True, 100, compare, 0, True)]
    results: list[Result] = []

    async def run_all() -> None:
        for name, receipts, window, n, every, final_events in contenders:
            print(f"bench e2e: {name}: {n:,} messages ...", file=sys.stderr, flush=True)
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
