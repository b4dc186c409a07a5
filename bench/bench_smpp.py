"""SMPP submit_sm throughput over loopback: our client against smpplib, smpp34 and aiosmpplib.

``python -m bench smpp [--quick] [--count=N] [--no-peers] [--write | --no-write]`` (``--count=N`` with
``=``: ``bench/__main__.py`` passes only dash-arguments on)

Every contender talks to the same SMSC simulator (``smpp-engine simulate``), which runs
in its own process so that client and server do not share an event loop (the machine
has 2 cores: one for each). A second simulator process, with delivery receipts on,
serves the receipt run. Each run submits distinct messages (a different destination
and text per message, so every PDU is really encoded) and checks that every one was
answered ESME_ROK; a run that is not all right is reported as such next to its speed.

Measured per run: submits/s (wall clock from the first submit to the last response),
CPU seconds of the client process (``time.process_time``: the simulator is another
process), and response latency p50/p99 where the client exposes it per message.

Contenders:
- ours, batch path: texts encoded with ``engine.encoding.encode_batch`` and submit_sm
  built with ``engine.smpp._native.build_submit_sm_batch`` (one Rust call per batch),
  queued on ``Bind``s with window W (backpressure: ``wait_space``); the read path is
  the bind's framer. Window 1, 10, 100, 500; one bind and four.
- ours, ``SmscClient.submit`` (one coroutine per message, the API the service uses), window 100.
- smpplib (synchronous; and pipelined by hand: send W submit_sm, then read W responses).
- smpp34 (Rust/tokio core), window 100, 100 concurrent submitters.
- aiosmpplib (queue-driven; it has no window).
- ours with registered_delivery=1 (transceiver binds) against the receipt simulator:
  messages/s until every submit_sm_resp and every receipt is in; window 100 on one
  bind, window 100 and 500 on four.

Results go to bench/RESULTS.md, section "SMPP throughput" (only that section is
rewritten); ``--quick`` runs a few small runs and writes nothing unless ``--write``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench._common import header, require_release_build

__all__ = ["main"]

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "SMPP throughput"
SYSTEM_ID, PASSWORD = "bench", "benchpw"
SOURCE = "BENCH"
# Targets from issue 3.
TARGET_RATE = 50_000
TARGET_VS_PEERS = 2.0
TARGET_VS_SMPPLIB_SYNC = 10.0
TARGET_RECEIPTS = 20_000


def _dest(i: int) -> str:
    return f"4915{i % 100_000_000:08d}"


def _text(i: int) -> str:
    return f"Benchmark message number {i}, with some text"


@dataclass
class Run:
    name: str
    window: Any
    binds: int
    count: int
    seconds: float = 0.0
    cpu: float = 0.0
    ok: int = 0
    latencies: list = field(default_factory=list, repr=False)
    receipts: int | None = None
    error: str | None = None
    server_cpu: float | None = None

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def correct(self) -> bool:
        return self.error is None and self.ok == self.count and (self.receipts is None or self.receipts == self.count)

    def pct(self, q: float) -> float | None:
        if not self.latencies:
            return None
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] * 1000.0


# ---------------------------------------------------------------------------
# the simulator, in its own process


class SimulatorProcess:
    def __init__(self, receipts: bool) -> None:
        cmd = [sys.executable, "-m", "engine", "simulate", "--port", "0", "--system-id", SYSTEM_ID]
        cmd += ["--receipt-delay", "0"] if receipts else ["--no-receipts"]
        env = dict(os.environ, SMPP_PASSWORD=PASSWORD)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        try:
            self.port = int(json.loads(line)["port"])
        except (ValueError, KeyError) as exc:
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""  # type: ignore[union-attr]
            self.stop()
            raise SystemExit(f"bench smpp: the simulator did not start ({exc}): {line!r} {err}") from None

    def cpu(self) -> float:
        """CPU seconds the simulator process has used so far (Linux /proc)."""
        try:
            fields = pathlib.Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------
# ours


def _smsc_config(port: int, window: int, binds: int, receipts: bool):
    from engine.config import parse_config

    table = {
        "name": "bench", "host": "127.0.0.1", "port": port, "system_id": SYSTEM_ID, "password_env": "BENCH_PW",
        "window": window, "bind_type": "trx" if receipts else "tx", "registered_delivery": 1 if receipts else 0,
        "response_timeout": 30.0, "enquire_link_interval": 60.0,
    }
    table["binds"] = [{"count": binds}]
    return parse_config({"smscs": [table]}, {"BENCH_PW": PASSWORD}).smscs[0]


def _loop_run(coro):
    from engine.client.loop import run

    return run(coro)


async def _ours_batch(port: int, count: int, window: int, binds: int, receipts: bool, run: Run) -> None:
    from engine.client import SmscClient
    from engine.client.bind import QUEUE_FACTOR, SubmitJob
    from engine.encoding import encode_batch
    from engine.smpp import pdu as P
    from engine.smpp._native import build_submit_sm_batch

    got_receipts = [0]
    done = asyncio.get_running_loop().create_future()
    state = {"ok": 0, "answered": 0, "receipts_done": not receipts}

    def on_receipt(r) -> None:
        got_receipts[0] += 1
        if got_receipts[0] >= count and state["answered"] >= count and not done.done():
            done.set_result(None)

    client = SmscClient(_smsc_config(port, window, binds, receipts), on_receipt=on_receipt if receipts else None)
    await client.start()
    latencies = run.latencies

    def on_result(r) -> None:
        state["answered"] += 1
        if r.outcome.value == "ok":
            state["ok"] += 1
        if r.latency is not None:
            latencies.append(r.latency)
        if state["answered"] >= count and (not receipts or got_receipts[0] >= count) and not done.done():
            done.set_result(None)

    template = P.SubmitSm(
        source_addr_ton=5, source_addr=SOURCE, dest_addr_ton=1, dest_addr_npi=1,
        registered_delivery=1 if receipts else 0,
    )
    chunk = 256
    next_i = [0]

    def batch() -> list[bytes]:
        lo = next_i[0]
        hi = min(count, lo + chunk)
        next_i[0] = hi
        encoded = encode_batch([_text(i) for i in range(lo, hi)])
        items = [(_dest(i), e.parts[0], 0x40 if e.udhi else 0, e.data_coding, ()) for i, e in zip(range(lo, hi), encoded)]
        return build_submit_sm_batch(template, items)

    async def produce(bind) -> None:
        # Bind.enqueue_many queues a batch with one pump (one write); without it
        # (an older client) every enqueue pumps on its own.
        enqueue_many = getattr(bind, "enqueue_many", None)
        pending: list[bytes] = []
        while True:
            if not pending:
                if next_i[0] >= count:
                    return
                pending = batch()
                pending.reverse()
            await bind.wait_space()
            room = min(len(pending), max(1, bind.window * QUEUE_FACTOR - bind.queued))
            jobs = [SubmitJob(pending.pop(), on_result) for _ in range(room)]
            if enqueue_many is not None:
                enqueue_many(jobs)
            else:
                for job in jobs:
                    bind.enqueue(job)

    t0 = time.perf_counter()
    c0 = time.process_time()
    producers = [asyncio.ensure_future(produce(b)) for b in client.binds]
    await asyncio.wait_for(done, 120)
    run.seconds = time.perf_counter() - t0
    run.cpu = time.process_time() - c0
    run.ok = state["ok"]
    if receipts:
        run.receipts = got_receipts[0]
    for p in producers:
        p.cancel()
    await client.close()


async def _ours_submit_api(port: int, count: int, window: int, run: Run) -> None:
    from engine.client import OutboundMessage, Outcome, SmscClient

    client = SmscClient(_smsc_config(port, window, 1, False))
    await client.start()
    next_i = [0]

    async def worker() -> None:
        while next_i[0] < count:
            i = next_i[0]
            next_i[0] += 1
            r = await client.submit(OutboundMessage(SOURCE, "+" + _dest(i), _text(i)))
            if r.outcome is Outcome.OK:
                run.ok += 1
            if r.parts and r.parts[0].latency is not None:
                run.latencies.append(r.parts[0].latency)

    t0 = time.perf_counter()
    c0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(window * 2)))
    run.seconds = time.perf_counter() - t0
    run.cpu = time.process_time() - c0
    await client.close()


# ---------------------------------------------------------------------------
# peers


def _smpplib(port: int, count: int, pipeline: int, run: Run) -> None:
    import smpplib.client
    import smpplib.consts as c

    client = smpplib.client.Client("127.0.0.1", port, allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transmitter(system_id=SYSTEM_ID, password=PASSWORD)
        t0 = time.perf_counter()
        c0 = time.process_time()
        i = 0
        while i < count:
            n = min(pipeline, count - i)
            sent = []
            for k in range(n):
                text = _text(i + k).encode("ascii")
                sent.append(time.perf_counter())
                client.send_message(
                    source_addr_ton=c.SMPP_TON_ALNUM, source_addr=SOURCE, dest_addr_ton=c.SMPP_TON_INTL,
                    dest_addr_npi=c.SMPP_NPI_ISDN, destination_addr=_dest(i + k), short_message=text,
                    data_coding=0, registered_delivery=0,
                )
            for k in range(n):
                resp = client.read_pdu()
                run.latencies.append(time.perf_counter() - sent[k])
                if resp.command == "submit_sm_resp" and resp.status == 0:
                    run.ok += 1
            i += n
        run.seconds = time.perf_counter() - t0
        run.cpu = time.process_time() - c0
        client.unbind()
    finally:
        client.disconnect()


async def _smpp34(port: int, count: int, window: int, run: Run) -> None:
    import smpp34

    client = smpp34.Client("127.0.0.1", port, SYSTEM_ID, PASSWORD, bind_type="TX", window_size=window)
    smsc = await client.connect()
    next_i = [0]

    async def worker() -> None:
        while next_i[0] < count:
            i = next_i[0]
            next_i[0] += 1
            t = time.perf_counter()
            resp = await smsc.submit_sm(
                _dest(i), _text(i).encode("ascii"), source_addr=SOURCE, source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
            )
            run.latencies.append(time.perf_counter() - t)
            if resp.is_success:
                run.ok += 1

    t0 = time.perf_counter()
    c0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(window)))
    run.seconds = time.perf_counter() - t0
    run.cpu = time.process_time() - c0
    try:
        await smsc.unbind()
    finally:
        await client.stop()


async def _aiosmpplib(port: int, count: int, run: Run) -> None:
    import logging

    import aiosmpplib as A
    from aiosmpplib.hook import AbstractHook

    done = asyncio.get_running_loop().create_future()

    class Counting(AbstractHook):
        # Responses are counted from the raw PDU header: aiosmpplib saves a request
        # for correlation only after its write has drained, so against a fast SMSC
        # some responses arrive first and it logs "Could not correlate" (its race,
        # not a lost message); the SMSC did answer every submit_sm.
        async def sending(self, smpp_message, pdu, client_id) -> None:
            pass

        async def received(self, smpp_message, pdu, client_id) -> None:
            if len(pdu) >= 16 and int.from_bytes(pdu[4:8], "big") == 0x80000004:
                if int.from_bytes(pdu[8:12], "big") == 0:
                    run.ok += 1
                run.receipts = (run.receipts or 0) + 1
                if run.receipts >= count and not done.done():
                    done.set_result(None)

        async def send_error(self, smpp_message, error, client_id) -> None:
            pass

    from aiosmpplib.broker import SimpleBroker

    broker = SimpleBroker(maxsize=count + 10)
    esme = A.ESME(
        smsc_host="127.0.0.1", smsc_port=port, system_id=SYSTEM_ID, password=PASSWORD,
        bind_mode=A.BindMode.TRANSMITTER, hook=Counting(), broker=broker, log_level=logging.CRITICAL,
    )
    src = A.PhoneNumber(SOURCE, A.TON.ALPHANUMERIC, A.NPI.UNKNOWN)
    messages = [
        A.SubmitSm(short_message=_text(i), source=src, destination=A.PhoneNumber(_dest(i), A.TON.INTERNATIONAL, A.NPI.ISDN),
                   log_id=str(i))
        for i in range(count)
    ]
    task = asyncio.ensure_future(esme.start())
    t0 = time.perf_counter()
    c0 = time.process_time()
    for m in messages:
        await broker.enqueue(m)
    try:
        await asyncio.wait_for(done, 120)
    finally:
        run.seconds = time.perf_counter() - t0
        run.cpu = time.process_time() - c0
        run.receipts = None
        await esme.stop()
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass


# ---------------------------------------------------------------------------
# the codec alone: Rust hot path vs the pure-Python reference, same input


def _micro(quick: bool) -> list[tuple[str, float, float, bool]]:
    """(what, Python µs/PDU, Rust µs/PDU, same answer) for the hot-path codec calls."""
    import timeit
    from dataclasses import replace

    from engine.smpp import _native as N
    from engine.smpp import pdu as P
    from engine.smpp.tlv import int_tlv, str_tlv

    n, k = (20, 200) if quick else (100, 500)

    def per(fn) -> float:
        return min(timeit.repeat(fn, number=n, repeat=5)) / n / k * 1e6

    out = []
    receipt = P.DeliverSm(
        sequence_number=7, source_addr=_dest(1), destination_addr=SOURCE, esm_class=4,
        short_message=b"id:0000abcd sub:001 dlvrd:001 submit date:2611220400 done date:2611220400 stat:DELIVRD err:000 text:"
        + _text(1)[:20].encode(), tlvs=(str_tlv(0x1E, "0000abcd"), int_tlv(0x427, 2)),
    )
    for name, pdu in (
        ("framer.feed: submit_sm_resp", P.SubmitSmResp(sequence_number=5, message_id="0000abcd")),
        ("framer.feed: deliver_sm receipt", receipt),
        ("framer.feed: enquire_link", P.EnquireLink(sequence_number=3)),
    ):
        data = P.encode(pdu) * k
        same = N.Framer().feed(data) == P.Framer().feed(data)
        out.append((name, per(lambda: P.Framer().feed(data)), per(lambda: N.Framer().feed(data)), same))
    s = P.SubmitSm(source_addr=SOURCE, source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1, destination_addr=_dest(1),
                   short_message=_text(1).encode())
    pdus = [replace(s, destination_addr=_dest(i), short_message=_text(i).encode()) for i in range(k)]
    items = [(p.destination_addr, p.short_message) for p in pdus]
    want = [P.encode(p) for p in pdus]
    out.append(("submit_sm from objects (encode_submit_sm_batch)", per(lambda: [P.encode(p) for p in pdus]),
                per(lambda: N.encode_submit_sm_batch(pdus)), N.encode_submit_sm_batch(pdus) == want))
    out.append(("submit_sm from a template (build_submit_sm_batch; Python: replace + encode)",
                per(lambda: [P.encode(replace(s, destination_addr=a, short_message=b)) for a, b in items]),
                per(lambda: N.build_submit_sm_batch(s, items)), N.build_submit_sm_batch(s, items) == want))
    for name, py, rs, same in out:
        print(f"  {name:<78} Python {py:6.2f} µs  Rust {rs:5.2f} µs  {py / rs:5.1f}×  {'same' if same else 'DIFFERENT'}", flush=True)
    return out


# ---------------------------------------------------------------------------
# driver


def _attempt(sim: SimulatorProcess, run: Run, fn, *args) -> Run:
    s0 = sim.cpu()
    try:
        fn(*args, run)
    except Exception as exc:  # a peer that breaks is reported, not fatal to the benchmark
        run.error = f"{type(exc).__name__}: {exc}"
    run.server_cpu = sim.cpu() - s0
    status = "ok" if run.correct else f"NOT CORRECT ({run.error or f'{run.ok}/{run.count} ok'})"
    p50, p99 = run.pct(0.5), run.pct(0.99)
    lat = f"p50 {p50:.3f} ms p99 {p99:.3f} ms" if p50 is not None else "latency n/a"
    extra = f" receipts {run.receipts}" if run.receipts is not None else ""
    print(f"  {run.name:<34} window {str(run.window):>5} binds {run.binds}  {run.count:>7} msgs  "
          f"{run.rate:>9,.0f}/s  cpu {run.cpu:6.2f} s  sim cpu {run.server_cpu:6.2f} s  {lat}{extra}  {status}", flush=True)
    return run


def _ours(port, count, window, binds, receipts, run):
    _loop_run(_ours_batch(port, count, window, binds, receipts, run))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench smpp", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a fast smoke run (small counts, writes nothing unless --write)")
    p.add_argument("--count", type=int, default=None, help="messages per run of ours (default 100,000; quick 5,000)")
    p.add_argument("--no-peers", action="store_true", help="only our client")
    p.add_argument("--write", action="store_true", help="write bench/RESULTS.md even with --quick")
    p.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    args = p.parse_args(argv)
    require_release_build()
    count = args.count or (5_000 if args.quick else 100_000)
    if count < 100:
        print("bench smpp: --count must be at least 100", file=sys.stderr)
        return 2
    peer_count = max(100, count // 5)
    print("Codec hot path (per PDU, best of 5):", flush=True)
    micro = _micro(args.quick)
    sims = [SimulatorProcess(receipts=False)]
    runs: list[Run] = []
    try:
        sims.append(SimulatorProcess(receipts=True))
        port, rport = sims[0].port, sims[1].port
        windows = (1, 10, 100, 500) if not args.quick else (1, 100)
        print(f"SMPP throughput: simulator pid {sims[0].proc.pid} port {port}; client pid {os.getpid()}", flush=True)
        for binds in (1, 4):
            for w in windows:
                n = count // 10 if w == 1 else count
                runs.append(_attempt(sims[0], Run("ours (batch path)", w, binds, n), _ours, port, n, w, binds, False))
        runs.append(_attempt(sims[0], Run("ours (SmscClient.submit)", 100, 1, peer_count),
                             lambda port, n, w, r: _loop_run(_ours_submit_api(port, n, w, r)), port, peer_count, 100))
        if not args.no_peers:
            runs.append(_attempt(sims[0], Run("smpplib (synchronous)", 1, 1, max(100, peer_count // 5)), _smpplib, port, max(100, peer_count // 5), 1))
            runs.append(_attempt(sims[0], Run("smpplib (pipelined by hand)", 100, 1, peer_count), _smpplib, port, peer_count, 100))
            runs.append(_attempt(sims[0], Run("smpp34", 100, 1, peer_count),
                                 lambda port, n, w, r: asyncio.run(_smpp34(port, n, w, r)), port, peer_count, 100))
            # aiosmpplib needs ~2 ms of CPU per message: a quarter of the count keeps the run short.
            slow = max(100, peer_count // 4)
            runs.append(_attempt(sims[0], Run("aiosmpplib", "none", 1, slow),
                                 lambda port, n, r: asyncio.run(_aiosmpplib(port, n, r)), port, slow))
        for w, b in ((100, 1), (100, 4), (500, 4)) if not args.quick else ((100, 1),):
            runs.append(_attempt(sims[1], Run("ours with a receipt per message", w, b, count // 2), _ours, rport, count // 2, w, b, True))
    finally:
        for s in sims:
            s.stop()
    report = _report(runs, args, micro)
    print()
    print(report)
    if (not args.quick or args.write) and not args.no_write:
        _write_section(report)
        print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0 if all(r.correct for r in runs) and all(m[3] for m in micro) else 1


def _best(runs: list[Run], prefix: str) -> Run | None:
    good = [r for r in runs if r.name.startswith(prefix) and r.correct]
    return max(good, key=lambda r: r.rate) if good else None


def _report(runs: list[Run], args, micro: list | None = None) -> str:
    cmd = "python -m bench smpp" + (" --quick" if args.quick else "") + (f" --count {args.count}" if args.count else "")
    lines = [header(SECTION, cmd).rstrip("\n"), ""]
    lines.append(f"Code measured: {_code_version()}.")
    lines.append("")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines.append(f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), load average at the end "
                 f"{load} (the machine is shared: other work running makes the wall-clock rates lower and "
                 "noisier than the CPU columns, which count only these processes); the simulator "
                 "(`smpp-engine simulate`) runs in its own process, the client in the benchmark's; "
                 "distinct messages (destination and text differ per message); "
                 "rate = messages / wall seconds from first submit to last response; "
                 "CPU = client process only.")
    lines.append("")
    lines.append("| client | window | binds | messages | submit_sm/s | client CPU s | client CPU µs/msg | simulator CPU s | p50 ms | p99 ms | correct |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in runs:
        p50, p99 = r.pct(0.5), r.pct(0.99)
        ok = "yes" if r.correct else f"**no** ({r.error or f'{r.ok}/{r.count} ok'})"
        if r.receipts is not None:
            ok += f", {r.receipts} receipts"
        lines.append(f"| {r.name} | {r.window} | {r.binds} | {r.count:,} | {r.rate:,.0f} | {r.cpu:.2f} | {r.cpu / r.count * 1e6:.1f} | {r.server_cpu or 0:.2f} | "
                     f"{'' if p50 is None else f'{p50:.3f}'} | {'' if p99 is None else f'{p99:.3f}'} | {ok} |")
    lines.append("")
    ours = _best([r for r in runs if r.binds == 1], "ours (batch")
    ours_any = _best(runs, "ours (batch")
    peers = [r for r in runs if not r.name.startswith("ours") and r.correct]
    if ours_any is not None:
        lines.append(f"Best of ours: {ours_any.rate:,.0f} submit_sm/s (window {ours_any.window}, {ours_any.binds} bind(s)); "
                     f"target ≥ {TARGET_RATE:,}: {'met' if ours_any.rate >= TARGET_RATE else '**not met**'}.")
        if ours is not None and ours is not ours_any:
            lines.append(f"Best of ours on one bind: {ours.rate:,.0f}/s (window {ours.window}).")
        if peers:
            lines.append("")
            lines.append("Ratios (best of ours / each peer):")
            lines.append("")
            same = next((r for r in runs if r.name.startswith("ours (batch") and r.window == 100 and r.binds == 1 and r.correct), None)
            for r in peers:
                at_same = f"; ours at window 100 on one bind ({same.rate:,.0f}/s): {same.rate / r.rate:.1f}×" if same else ""
                lines.append(f"- {r.name} ({r.rate:,.0f}/s): **{ours_any.rate / r.rate:.1f}×**{at_same}")
            fastest = max(peers, key=lambda r: r.rate)
            sync = next((r for r in peers if r.name == "smpplib (synchronous)"), None)
            lines.append("")
            lines.append(f"Target ≥ {TARGET_VS_PEERS:g}× the fastest peer ({fastest.name}): "
                         f"{'met' if ours_any.rate >= TARGET_VS_PEERS * fastest.rate else '**not met**'}"
                         + (f"; ≥ {TARGET_VS_SMPPLIB_SYNC:g}× smpplib synchronous: "
                            f"{'met' if ours_any.rate >= TARGET_VS_SMPPLIB_SYNC * sync.rate else '**not met**'}." if sync else "."))
    recs = [r for r in runs if r.receipts is not None and r.name.startswith("ours") and r.correct]
    rec = max(recs, key=lambda r: r.rate) if recs else None
    if rec is not None:
        lines.append(f"With a receipt per message (best: window {rec.window}, {rec.binds} bind(s)): {rec.rate:,.0f} "
                     "messages/s (submit_sm_resp and receipt both in); "
                     f"target ≥ {TARGET_RECEIPTS:,}: {'met' if rec.correct and rec.rate >= TARGET_RECEIPTS else '**not met**'}.")
    if micro:
        lines.append("")
        lines.append("The codec alone, Rust hot path (`engine.smpp._native`) against the pure-Python reference "
                     "(`engine.smpp.pdu`), same input, best of 5, µs per PDU (the Python object built included):")
        lines.append("")
        lines.append("| call | Python µs | Rust µs | ratio | same answer |")
        lines.append("|---|---:|---:|---:|---|")
        for name, py, rs, same in micro:
            lines.append(f"| {name} | {py:.2f} | {rs:.2f} | {py / rs:.1f}× | {'yes' if same else '**no**'} |")
    return "\n".join(lines) + "\n"


def _code_version() -> str:
    """The commit measured, and whether engine/ or the Rust crate had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "engine", "smsencode-rs/src"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    changed = sorted({line[3:] for line in dirty if line.strip() and not line[3:].endswith(".so")})
    if not head:
        return "unknown (no git)"
    if not changed:
        return f"commit {head}"
    shown = ", ".join(changed[:6]) + (", ..." if len(changed) > 6 else "")
    return f"commit {head} plus uncommitted changes in {shown}"


def _write_section(report: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^## {re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: report + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + report
    RESULTS.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
