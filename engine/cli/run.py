"""``smpp-engine run``: the service — Redis Streams in, SMPP out, until SIGTERM/SIGINT.

Exit status: 0 after a graceful shutdown, 2 for a bad configuration, 3 when Redis
cannot be reached at start, 4 when the metrics port cannot be served, 130 after a
second SIGTERM/SIGINT during the shutdown (exit at once).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "EXIT_CONFIG", "EXIT_REDIS", "EXIT_METRICS"]

EXIT_CONFIG = 2
EXIT_REDIS = 3
EXIT_METRICS = 4
# A second SIGTERM/SIGINT during the drain: exit at once (pending entries are reclaimed).
EXIT_FORCED = 130
# How long start-up waits for Redis before giving up with a clear message: a service
# manager restarts us, and a silent hang would hide the cause.
START_REDIS_TIMEOUT_S = 30.0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run the engine service (Redis Streams -> SMPP, receipts -> tracking)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", default="config/engine.toml", metavar="PATH",
                   help="engine TOML config (default config/engine.toml)")
    p.add_argument("--consumer", metavar="NAME",
                   help="consumer name in the group (default: [engine] consumer, host-pid); give each "
                        "process its own, and the same one again after a restart to resume its pending entries")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.add_argument("--no-uvloop", action="store_true", help="use asyncio's default event loop")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from engine.client.loop import run as run_loop
    from engine.config import ConfigError, load_config

    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"smpp-engine run: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return run_loop(_main(config, args), use_uvloop=not args.no_uvloop)


async def _main(config, args: argparse.Namespace) -> int:
    import asyncio
    import os
    import signal
    import time

    from engine.cli.campaign import mask_url
    from engine.queue import connect, resolve_redis_settings
    from engine.service import Service

    log = __import__("logging").getLogger("engine.run")
    redis = connect(config=config)
    url = mask_url(resolve_redis_settings(config=config)[0])
    deadline = time.monotonic() + START_REDIS_TIMEOUT_S
    while True:
        try:
            await redis.ping()
            break
        except Exception as exc:  # noqa: BLE001 - reported, with the fix
            if time.monotonic() > deadline:
                print(f"smpp-engine run: cannot reach Redis at {url}: {exc}. Start redis-server, or set "
                      "[redis] url in the config (or REDIS_URL).", file=sys.stderr)
                await redis.aclose()
                return EXIT_REDIS
            await asyncio.sleep(1.0)
    service = Service(config, redis=redis, consumer=args.consumer)
    try:
        await service.start()
    except OSError as exc:
        print(f"smpp-engine run: {exc}; change [metrics] port in {args.config} or set enabled = false",
              file=sys.stderr)
        await redis.aclose()
        return EXIT_METRICS
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            # A second signal: the operator does not want to wait for the drain.
            log.error("second %s: exiting now; in-flight entries stay pending and are reclaimed",
                      signal.Signals(signum).name)
            os._exit(EXIT_FORCED)
        log.info("%s: shutting down (drain, record, unbind); send it again to exit at once",
                 signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    binds = ", ".join(f"{b.name}@{b.config.host}:{b.config.port}" for c in service.engine.smscs.values()
                      for b in c.binds)
    log.info("consumer %s of group %s on %s and %s (Redis %s); binds %s; metrics %s",
             service.consumer.name, service.keys.group, service.keys.transactional_stream,
             service.keys.bulk_stream, url, binds, service.metrics_url or "off")
    try:
        await service.run_until(stop)
    finally:
        await redis.aclose()
    s = service.stats
    log.info("stopped: read %d, acked %d, accepted %d, rejected %d, unknown parts %d, resent %d, receipts %d",
             s.read, s.acked, s.submitted_ok, s.rejected, s.unknown_parts, s.resent, s.receipts)
    return 0
