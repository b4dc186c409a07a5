"""``smpp-engine simulate``: run the SMSC simulator until interrupted."""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["register"]


def _fraction(s: str) -> float:
    v = float(s)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction from 0 to 1, got {s}")
    return v


def _states(s: str) -> dict[str, float]:
    from engine.simulator import RECEIPT_STATES

    out: dict[str, float] = {}
    for item in s.split(","):
        name, _, weight = item.partition("=")
        name = name.strip().upper()
        if name not in RECEIPT_STATES:
            raise argparse.ArgumentTypeError(f"unknown state {name!r}; known: {', '.join(RECEIPT_STATES)}")
        try:
            out[name] = float(weight) if weight else 1.0
        except ValueError:
            raise argparse.ArgumentTypeError(f"weight of {name} must be a number, got {weight!r}") from None
    return out


def _mo(s: str) -> tuple[str, str, str]:
    parts = s.split(",", 2)
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError(f"--mo wants SOURCE,DEST,TEXT, got {s!r}")
    return parts[0], parts[1], parts[2]


def register(subparsers) -> None:
    p = subparsers.add_parser("simulate", help="run the SMSC simulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=2775, help="port (default 2775; 0 picks a free one, printed on start)")
    p.add_argument("--system-id", default=None, help="accept only this system_id (default: any credentials)")
    p.add_argument("--password", default=None, help="its password (default $SMPP_PASSWORD)")
    p.add_argument("--id-format", choices=("hex", "dec"), default="hex", help="message id format (default hex)")
    p.add_argument("--receipt-delay", type=float, default=0.0, help="seconds from submit to receipt (default 0)")
    p.add_argument("--no-receipts", action="store_true", help="never send delivery receipts")
    p.add_argument("--states", type=_states, default=None,
                   help="receipt final states with weights, e.g. DELIVRD=90,UNDELIV=7,EXPIRED=3 (default DELIVRD)")
    p.add_argument("--fail-rate", type=_fraction, default=0.0, help="fraction of submit_sm answered ESME_RSUBMITFAIL")
    p.add_argument("--throttle-rate", type=_fraction, default=0.0, help="fraction answered ESME_RTHROTTLED")
    p.add_argument("--queue-full-rate", type=_fraction, default=0.0, help="fraction answered ESME_RMSGQFUL")
    p.add_argument("--max-tps", type=float, default=None, help="throttle submit_sm above this many per second per bind")
    p.add_argument("--drop-rate", type=_fraction, default=0.0, help="fraction accepted but never answered")
    p.add_argument("--delay", type=float, default=0.0, help="answer submit_sm this many seconds late")
    p.add_argument("--reorder", action="store_true", help="answer the PDUs of one read in reverse order")
    p.add_argument("--disconnect-after", type=int, default=None, help="drop a connection after this many PDUs")
    p.add_argument("--malformed-after", type=int, default=None, help="send a malformed PDU after this many PDUs")
    p.add_argument("--mo", type=_mo, action="append", default=[], metavar="SRC,DST,TEXT",
                   help="send this MO message to each receiver bind once it binds (repeatable)")
    p.add_argument("--mo-interval", type=float, default=None, help="repeat the --mo messages every S seconds")
    p.add_argument("--record", action="store_true", help="keep every submit_sm (duplicate counting; uses memory)")
    p.add_argument("--stats-interval", type=float, default=None, help="print counters as a JSON line every S seconds (stderr)")
    p.add_argument("--tls-cert", default=None, help="serve TLS with this PEM certificate (chain)")
    p.add_argument("--tls-key", default=None, help="the certificate's PEM private key")
    p.add_argument("--seed", type=int, default=1, help="seed of the fault RNG (default 1)")
    p.add_argument("--no-uvloop", action="store_true")
    p.set_defaults(func=run)


def _summary(sim) -> dict:
    r = sim.record
    return {
        "submits": r.submit_count, "duplicates": r.duplicates if sim.recording else None, "throttled": r.throttled,
        "rejected": r.rejected, "dropped": r.dropped, "binds": len(r.binds), "bind_failures": r.bind_failures,
        "unbinds": r.unbinds, "receipts_sent": r.receipts_sent, "receipts_acked": r.receipts_acked,
        "mo_sent": r.mo_sent, "mo_acked": r.mo_acked, "max_outstanding": r.max_outstanding,
        "disconnects": r.disconnects, "connections": len(sim.connections),
    }


def _quiet_gc() -> None:
    """Under load nearly every object the simulator keeps (receipts waiting for their
    time or their deliver_sm_resp) lives a fraction of a second and holds no cycle:
    with the default threshold (700) each is traversed by one or two collections
    before it goes (several % of the process's CPU). Collect every 100,000 net
    allocations instead, and leave the start-up objects out of full collections."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def run(args: argparse.Namespace) -> int:
    from engine.client.loop import run as run_loop
    from engine.simulator import Faults, Simulator

    if not 0 <= args.port <= 65535:
        print(f"smpp-engine simulate: --port: must be 0..65535, got {args.port}", file=sys.stderr)
        return 2
    for name in ("receipt_delay", "delay"):
        if getattr(args, name) < 0:
            print(f"smpp-engine simulate: --{name.replace('_', '-')}: must be >= 0", file=sys.stderr)
            return 2
    ssl_ctx = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            print("smpp-engine simulate: --tls-cert and --tls-key go together", file=sys.stderr)
            return 2
        import ssl

        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ssl_ctx.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            print(f"smpp-engine simulate: --tls-cert/--tls-key: cannot load them: {exc}", file=sys.stderr)
            return 2
    users = None
    if args.system_id is not None:
        users = {args.system_id: args.password if args.password is not None else os.environ.get("SMPP_PASSWORD", "")}
    faults = Faults(
        throttle_rate=args.throttle_rate, queue_full_rate=args.queue_full_rate, fail_rate=args.fail_rate,
        max_tps=args.max_tps, drop_rate=args.drop_rate, delay=args.delay, reorder=args.reorder,
        disconnect_after=args.disconnect_after, malformed_after=args.malformed_after,
    )

    async def main() -> int:
        import asyncio
        import signal

        sim = Simulator(
            args.host, args.port, users=users, id_format=args.id_format,
            receipt_delay=None if args.no_receipts else args.receipt_delay, receipt_states=args.states,
            faults=faults, record=args.record, seed=args.seed, ssl=ssl_ctx,
        )
        try:
            await sim.start()
        except OSError as exc:
            print(f"smpp-engine simulate: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 3
        _quiet_gc()
        print(json.dumps({"listening": f"{sim.host}:{sim.port}", "port": sim.port, "tls": ssl_ctx is not None}), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sent_mo: set[int] = set()

        async def background() -> None:
            last_stats = last_mo = loop.time()
            while True:
                await asyncio.sleep(0.05)
                now = loop.time()
                if args.mo:
                    repeat = args.mo_interval is not None and now - last_mo >= args.mo_interval
                    for conn in sim.connections:
                        if conn.can_receive and (conn.id not in sent_mo or repeat):
                            sent_mo.add(conn.id)
                            for src, dst, text in args.mo:
                                sim.send_mo(src, dst, text, system_id=conn.system_id)
                    if repeat:
                        last_mo = now
                if args.stats_interval and now - last_stats >= args.stats_interval:
                    last_stats = now
                    print(json.dumps(_summary(sim)), file=sys.stderr, flush=True)

        task = asyncio.ensure_future(background())
        await stop.wait()
        task.cancel()
        await sim.stop()
        print(json.dumps({"summary": _summary(sim)}), flush=True)
        return 0

    return run_loop(main(), use_uvloop=not args.no_uvloop)
