"""``smpp-engine run``: the service — Redis Streams in, SMPP out, until SIGTERM/SIGINT.

One process uses one core. ``--processes N`` runs N service processes (one core each)
that share the consumer group, under this process:

* consumer names ``<consumer>-0`` .. ``<consumer>-<N-1>`` (``<consumer>`` from
  --consumer, else [engine] consumer, else host-pid of this process); the same name
  after a restart, so a restarted process takes back its own pending entries at once.
  Give --consumer for names that also survive a restart of the whole run.
* each SMSC's binds are split between the processes, not multiplied: count = 4 and
  --processes 2 is two binds per process. Every process needs a tx/trx bind of every
  SMSC: fewer than N of them is refused (exit 2) with the fix. Rate limits stay per
  bind. Receipts may arrive on any process's bind: correlation is in Redis.
* metrics: process i serves on [metrics] port + i (port 0: any free port each).
* SIGTERM/SIGINT: forwarded; every process drains, records, unbinds; a second one
  makes them exit at once (SIGQUIT to the processes, exit 130).
* a process that dies is reported and started again (same consumer name) after 1 s,
  doubling up to 30 s; more than 5 restarts of one process within 5 minutes, or a
  process that cannot start (exit 2, 3 or 4 below), stops the whole run.

Exit status: 0 after a graceful shutdown, 2 for a bad configuration (also: binds that
cannot be split between --processes), 3 when Redis cannot be reached at start, 4 when
the metrics port cannot be served, 130 after a second SIGTERM/SIGINT during the
shutdown (exit at once). With --processes N > 1, a process's start-up status (2, 3, 4)
is the status of the run; otherwise 1 when any process failed during the run (even if
its restart then ran fine: the log names it).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "EXIT_CONFIG", "EXIT_REDIS", "EXIT_METRICS", "EXIT_FORCED"]

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
                        "process its own, and the same one again after a restart to resume its pending entries; "
                        "with --processes N, process i is NAME-i")
    p.add_argument("--processes", type=int, default=1, metavar="N",
                   help="run N engine processes (one core each) sharing the consumer group; each SMSC's binds are "
                        "split between them (needs at least N tx/trx binds per SMSC), metrics on port + i "
                        "(default 1: this process is the engine)")
    # A child of --processes: which share of the binds it runs (internal).
    p.add_argument("--process-slot", metavar="I/N", help=argparse.SUPPRESS)
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.add_argument("--no-uvloop", action="store_true", help="use asyncio's default event loop")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from engine.cli import _procs
    from engine.client.loop import run as run_loop
    from engine.config import ConfigError, load_config

    slot = None
    if args.process_slot:
        try:
            slot = _procs.parse_slot(args.process_slot)
        except ValueError as exc:
            print(f"smpp-engine run: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    tag = f"[{args.consumer}] " if slot is not None and args.consumer else ""
    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s {tag}%(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"smpp-engine run: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if slot is None and args.processes != 1:
        return _supervise(config, args)
    if slot is not None:
        try:
            config = _procs.process_config(config, *slot)
        except ValueError as exc:  # SplitError too: the file changed since the parent checked it
            print(f"smpp-engine run: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    return run_loop(_main(config, args, slot), use_uvloop=not args.no_uvloop)


def _supervise(config, args: argparse.Namespace) -> int:
    """The parent of ``--processes N``: the split check, then the children (engine.cli._procs)."""
    import logging
    import os

    from engine.cli import _procs

    n = args.processes
    try:
        _procs.check_split(config, n)
    except _procs.SplitError as exc:
        print(f"smpp-engine run: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    base = args.consumer or config.engine.consumer
    consumers = [_procs.consumer_name(base, i) for i in range(n)]
    config_path = os.path.abspath(args.config)

    def argv(i: int) -> list[str]:
        cmd = [sys.executable, "-m", "engine", "run", "--config", config_path, "--consumer", consumers[i],
               "--log-level", args.log_level, "--process-slot", f"{i}/{n}"]
        return cmd + (["--no-uvloop"] if args.no_uvloop else [])

    log = logging.getLogger("engine.run")
    for i in range(n):
        share = _procs.process_config(config, i, n)
        log.info("process %d/%d: consumer %s, binds %s, metrics %s", i, n, consumers[i],
                 ", ".join(f"{b.name} ({b.bind_type})" for sm in share.smscs for b in sm.binds),
                 f"{share.metrics.host}:{share.metrics.port}" if share.metrics.enabled else "off")
    return _procs.Supervisor(n, argv, consumers, env=_procs.child_env()).run()


async def _main(config, args: argparse.Namespace, slot: tuple[int, int] | None = None) -> int:
    """One engine. ``slot``: (i, n) when this is process i of ``--processes n``: the
    parent forwards SIGTERM/SIGINT, which the process group may have got already
    (Ctrl-C, systemd's KillMode=control-group), so a repeat only repeats the stop and
    SIGQUIT means "exit at once"; a parent that disappears stops this process too.
    The handlers are installed before the start there, so that a stop during the start
    is a clean exit 0, not a death by signal."""
    import asyncio
    import os
    import signal
    import time

    from engine.cli.campaign import mask_url
    from engine.queue import connect, resolve_redis_settings
    from engine.service import Service

    log = __import__("logging").getLogger("engine.run")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            if slot is not None:
                log.info("%s: already shutting down", signal.Signals(signum).name)
                return
            # A second signal: the operator does not want to wait for the drain.
            log.error("second %s: exiting now; in-flight entries stay pending and are reclaimed",
                      signal.Signals(signum).name)
            os._exit(EXIT_FORCED)
        log.info("%s: shutting down (drain, record, unbind); send it again to exit at once",
                 signal.Signals(signum).name)
        stop.set()

    def on_quit() -> None:
        log.error("SIGQUIT from the parent: exiting now; in-flight entries stay pending and are reclaimed")
        os._exit(EXIT_FORCED)

    watcher = None
    if slot is not None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        loop.add_signal_handler(signal.SIGQUIT, on_quit)
        parent = os.getppid()

        async def watch_parent() -> None:
            while not stop.is_set():
                await asyncio.sleep(1.0)
                if os.getppid() != parent:
                    log.error("the parent process (pid %d) is gone: shutting down", parent)
                    stop.set()

        watcher = loop.create_task(watch_parent(), name="parent watch")
    redis = connect(config=config)
    url = mask_url(resolve_redis_settings(config=config)[0])
    deadline = time.monotonic() + START_REDIS_TIMEOUT_S
    while True:
        try:
            await redis.ping()
            break
        except Exception as exc:  # noqa: BLE001 - reported, with the fix
            if stop.is_set():
                await redis.aclose()
                return 0
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
        which = f"process {slot[0]} serves on port + {slot[0]} = {config.metrics.port}; " if slot else ""
        print(f"smpp-engine run: {exc}; {which}change [metrics] port in {args.config} or set enabled = false",
              file=sys.stderr)
        await redis.aclose()
        return EXIT_METRICS
    if slot is None:
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
        if watcher is not None:
            watcher.cancel()
        await redis.aclose()
    s = service.stats
    log.info("stopped: read %d, acked %d, accepted %d, rejected %d, unknown parts %d, resent %d, receipts %d",
             s.read, s.acked, s.submitted_ok, s.rejected, s.unknown_parts, s.resent, s.receipts)
    return 0
