"""``smpp-engine load``: submit N messages as fast as the window and rate allow; print a JSON summary."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register"]

# Messages built per call to the encoding and PDU cores when every message differs.
BUILD_CHUNK = 256


def register(subparsers) -> None:
    from engine.cli._smpp_args import add_connection_args

    p = subparsers.add_parser("load", help="load-test an SMSC (or the simulator)", description=__doc__)
    add_connection_args(p)
    p.add_argument("--count", type=int, required=True, help="messages to submit")
    p.add_argument("--window", type=int, default=10, help="outstanding submit_sm per bind (default 10)")
    p.add_argument("--binds", type=int, default=1, help="binds to spread the load over (default 1)")
    p.add_argument("--tps", type=float, default=0.0, help="segments per second over all binds (default: no limit)")
    p.add_argument("--text", default="Load test message", help="text ({i} is replaced by the message number)")
    p.add_argument("--source", default="LOADTEST")
    p.add_argument("--dest", default="+4915100000000", help="destination; with --unique, numbers count up from it")
    p.add_argument("--unique", action="store_true",
                   help="a different destination per message (every PDU encoded on its own; without it, "
                        "identical messages share one encoded PDU and only the sequence number differs)")
    p.add_argument("--receipt", action="store_true", help="ask for delivery receipts and count them")
    p.add_argument("--receipt-wait", type=float, default=10.0, help="with --receipt: seconds to wait for the last receipts")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object (the default output is JSON too)")
    p.add_argument("--no-uvloop", action="store_true", help="use asyncio's default event loop")
    p.set_defaults(func=run)


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


def run(args: argparse.Namespace) -> int:
    from engine.cli._smpp_args import bind_config, option_error, smsc_config
    from engine.config import ConfigError

    for name, value, lo in (("--count", args.count, 1), ("--binds", args.binds, 1), ("--window", args.window, 1)):
        if value < lo:
            print(f"smpp-engine load: {name}: must be at least {lo}, got {value}", file=sys.stderr)
            return 2
    if args.tps < 0:
        print(f"smpp-engine load: --tps: must be >= 0, got {args.tps:g}", file=sys.stderr)
        return 2
    table, env = bind_config(
        args, name="load", window=args.window, rate=args.tps / args.binds if args.tps else 0.0,
        registered_delivery=1 if args.receipt else 0,
    )
    try:
        smsc = smsc_config([table] * args.binds, env, "load")
    except ConfigError as exc:
        print(f"smpp-engine load: {option_error(exc)}", file=sys.stderr)
        return 2
    from engine.client.loop import run as run_loop

    return run_loop(_main(args, smsc), use_uvloop=not args.no_uvloop)


async def _main(args: argparse.Namespace, smsc) -> int:
    import asyncio
    import time

    from engine.client import NotBound, Observer, OutboundMessage, Outcome, SmscClient
    from engine.client.bind import SubmitJob
    from engine.client.smsc import build_submits

    class Counting(Observer):
        throttles = 0
        reconnects = 0

        def on_throttle(self, bind, status, limit):
            Counting.throttles += 1

        def on_reconnect(self, bind, attempt, delay, reason):
            Counting.reconnects += 1

    receipts = [0]
    client = SmscClient(smsc, Counting(), on_receipt=lambda r: receipts.__setitem__(0, receipts[0] + 1))
    try:
        await client.start()
    except NotBound as exc:
        print(f"smpp-engine load: {exc}", file=sys.stderr)
        return 3
    n = args.count
    loop = asyncio.get_running_loop()
    finished: asyncio.Future = loop.create_future()
    latencies: list[float] = []
    stats = {"ok": 0, "failed": 0, "unknown": 0, "rejected": 0, "not_sent": 0, "segments": 0, "done": 0}
    statuses: dict[str, int] = {}
    templated = "{i}" in args.text
    dest_base = int(args.dest.lstrip("+")) if args.unique else 0
    plus = "+" if args.dest.startswith("+") else ""
    cache: dict[tuple[str, str], list[bytes]] = {}
    ref_counter = client.ref_counter_for(args.dest)
    cfg = client.binds[0].config
    batches: list[list[bytes]] = []  # built ahead, in chunks, popped from the end

    def text_of(i: int) -> str:
        return args.text.replace("{i}", str(i)) if templated else args.text

    def dest_of(i: int) -> str:
        return f"{plus}{dest_base + i}" if args.unique else args.dest

    def build_chunk(lo: int, hi: int) -> None:
        """Messages lo..hi-1: texts encoded in one call to the encoding core, single-part
        PDUs built in one call to the PDU core (engine.smpp._native), the rest one by one."""
        from engine.encoding import encode_batch
        from engine.smpp import pdu as P
        from engine.smpp._native import build_submit_sm_batch

        texts = [text_of(i) for i in range(lo, hi)]
        try:
            encoded = encode_batch(texts, concat=cfg.concat, packed=cfg.gsm_packed, national=cfg.national, ref=ref_counter)
            if not args.unique:
                dest_of(lo).encode("latin-1")
        except (ValueError, TypeError):
            # One bad text spoils a batch: build these one by one so only it fails.
            out1: list = []
            for i in range(lo, hi):
                try:
                    out1.append(message(i))
                except (ValueError, TypeError) as exc:
                    out1.append(exc)
            out1.reverse()
            batches.extend(out1)
            return
        src, ston, snpi = cfg.addr.for_source(args.source)
        _, dton, dnpi = cfg.addr.for_destination(args.dest)
        template = P.SubmitSm(source_addr=src, source_addr_ton=ston, source_addr_npi=snpi, dest_addr_ton=dton,
                              dest_addr_npi=dnpi, registered_delivery=cfg.registered_delivery if args.receipt else 0)
        out: list[list[bytes] | None] = [None] * (hi - lo)
        items, where = [], []
        for k, e in enumerate(encoded):
            if len(e.parts) == 1 and cfg.concat != "payload" and e.sar is None:
                dc = cfg.gsm_data_coding if e.encoding == "gsm7" else e.data_coding
                items.append((dest_of(lo + k).lstrip("+"), e.parts[0], 0x40 if e.udhi else 0, dc, ()))
                where.append(k)
            else:
                out[k] = message(lo + k)
        for k, data in zip(where, build_submit_sm_batch(template, items)):
            out[k] = [data]
        out.reverse()
        batches.extend(out)  # type: ignore[arg-type]

    def message(i: int) -> list[bytes]:
        text = text_of(i)
        dest = dest_of(i)
        key = (text, dest)
        datas = cache.get(key)
        if datas is None:
            datas, _, _ = build_submits(
                OutboundMessage(args.source, dest, text, registered_delivery=None if args.receipt else 0),
                cfg, ref_counter,
            )
            if not templated and not args.unique:
                cache[key] = datas
        return datas

    varying = templated or args.unique

    def next_message(i: int) -> list[bytes]:
        if not varying:
            return message(i)
        if not batches:
            build_chunk(i, min(n, i + BUILD_CHUNK))
        item = batches.pop()
        if isinstance(item, Exception):
            raise item
        return item

    def message_done(outcome: Outcome, status: int | None) -> None:
        stats["done"] += 1
        if outcome is Outcome.OK:
            stats["ok"] += 1
        else:
            stats["failed"] += 1
            kind = {Outcome.UNKNOWN: "unknown", Outcome.REJECTED: "rejected"}.get(outcome, "not_sent")
            stats[kind] += 1
            key = f"0x{status:08X}" if status is not None else outcome.value
            statuses[key] = statuses.get(key, 0) + 1
        if stats["done"] == n and not finished.done():
            finished.set_result(None)

    def single(r) -> None:
        if r.latency is not None:
            latencies.append(r.latency)
        message_done(r.outcome, r.command_status)

    def multi(parts: int):
        left = [parts]
        worst: list[Any] = [Outcome.OK, None]

        def cb(r) -> None:
            if r.latency is not None:
                latencies.append(r.latency)
            if r.outcome is not Outcome.OK and worst[0] is Outcome.OK:
                worst[0], worst[1] = r.outcome, r.command_status
            left[0] -= 1
            if left[0] == 0:
                message_done(worst[0], worst[1])

        return cb

    next_i = [0]
    t0 = time.perf_counter()
    cpu0 = time.process_time()

    async def produce(bind) -> None:
        while next_i[0] < n:
            await bind.wait_space()
            while next_i[0] < n and bind.has_space():
                i = next_i[0]
                next_i[0] += 1
                try:
                    datas = next_message(i)
                except (ValueError, TypeError) as exc:
                    if stats["not_sent"] < 3:
                        print(f"smpp-engine load: message {i} not sent: {exc}", file=sys.stderr)
                    message_done(Outcome.FAILED, None)
                    continue
                stats["segments"] += len(datas)
                if len(datas) == 1:
                    bind.enqueue(SubmitJob(datas[0], single))
                else:
                    cb = multi(len(datas))
                    for k, d in enumerate(datas):
                        bind.enqueue(SubmitJob(d, cb, k))

    producers = [asyncio.ensure_future(produce(b)) for b in client._tx]
    await finished
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    for p in producers:
        p.cancel()
    if args.receipt:
        deadline = loop.time() + args.receipt_wait
        while receipts[0] < stats["segments"] and loop.time() < deadline:
            await asyncio.sleep(0.02)
    receipt_seconds = time.perf_counter() - t0
    await client.close()
    latencies.sort()
    p50 = _percentile(latencies, 0.50)
    p99 = _percentile(latencies, 0.99)
    out = {
        "sent": n,
        "ok": stats["ok"],
        "failed": stats["failed"],
        "unknown": stats["unknown"],
        "rejected": stats["rejected"],
        "not_sent": stats["not_sent"],
        "segments": stats["segments"],
        "seconds": round(seconds, 4),
        "rate": round(n / seconds, 1) if seconds > 0 else None,
        "latency_ms": {
            "p50": None if p50 is None else round(p50 * 1000, 3),
            "p99": None if p99 is None else round(p99 * 1000, 3),
        },
        "window": args.window,
        "binds": args.binds,
        "throttled": Counting.throttles,
        "reconnects": Counting.reconnects,
        "client_cpu_seconds": round(cpu, 3),
    }
    if statuses:
        out["failures_by_status"] = statuses
    if stats["not_sent"] > 3:
        print(f"smpp-engine load: {stats['not_sent']} messages could not be built (first errors above)", file=sys.stderr)
    if args.receipt:
        out["receipts"] = receipts[0]
        out["receipt_rate"] = round(receipts[0] / receipt_seconds, 1) if receipt_seconds > 0 else None
    print(json.dumps(out))
    return 0 if stats["failed"] == 0 else 1
