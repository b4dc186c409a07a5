"""``smpp-engine campaign submit|status``: a campaign file into Redis, and its progress.

Also holds the options shared with ``smpp-engine enqueue`` (where Redis is, which
keys, which region).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import Any

__all__ = ["register", "add_redis_args", "open_intake", "default_region", "redis_failure", "EXIT_REDIS"]

# Exit status when Redis cannot be reached (2 is argparse's and bad input's).
EXIT_REDIS = 3
# Bad rows printed by default; the JSON output and the campaign record hold more.
SHOW_BAD_DEFAULT = 20
def add_redis_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("redis")
    g.add_argument("--redis", metavar="URL", help="Redis URL (redis:// or rediss:// for TLS); "
                   "default: $REDIS_URL, then the config's [redis] url, then redis://127.0.0.1:6379/0. "
                   "Password: $REDIS_PASSWORD or the config's password_env")
    g.add_argument("--config", metavar="PATH", help="engine TOML config ([redis], [engine] key_prefix, "
                   "streams, default_region)")
    g.add_argument("--prefix", metavar="P", help="key prefix (default: the config's key_prefix, 'smpp:')")


def open_intake(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(redis client, Keys, config or None). Raises ConfigError / ValueError with the cause."""
    from engine.queue import Keys, connect

    config = None
    if args.config:
        from engine.config import load_config

        config = load_config(args.config)
    if config is not None:
        keys = Keys.from_config(config.engine)
        if args.prefix:
            keys = Keys.with_prefix(args.prefix, group=keys.group)
    else:
        keys = Keys.with_prefix(args.prefix) if args.prefix else Keys()
    return connect(args.redis, config=config), keys, config


def default_region(args: argparse.Namespace, config: Any) -> str:
    if getattr(args, "region", None):
        return args.region
    if config is not None:
        return config.engine.default_region
    return os.environ.get("SMPP_DEFAULT_REGION", "RU")


def mask_url(url: str) -> str:
    return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", url)


def redis_failure(exc: BaseException, client: Any) -> str:
    try:
        kw = client.connection_pool.connection_kwargs
        where = f"{kw.get('host', '?')}:{kw.get('port', '?')}" if "host" in kw else kw.get("path", "?")
    except Exception:  # noqa: BLE001 - only for the message
        where = "?"
    return (f"cannot use Redis at {where}: {str(exc).rstrip('.')}. Start redis-server, or pass --redis URL "
            "(or set REDIS_URL); with a password set REDIS_PASSWORD.")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("campaign", help="submit a campaign file, or show a campaign's progress")
    sub = p.add_subparsers(dest="campaign_command", metavar="ACTION")
    sub.required = True

    s = sub.add_parser(
        "submit",
        help="read a CSV / JSON-lines file and queue one message per good row",
        description="Each row: the number is normalised to E.164, the sender checked, TEMPLATE's "
        "{column} fields filled from the row, the segments counted. Bad rows are reported with "
        "their row number and reason and skipped; the rest are queued.",
    )
    s.add_argument("file", metavar="FILE", help="CSV with a header row, or JSON lines (.jsonl)")
    s.add_argument("--sender", required=True, metavar="NAME",
                   help="alphanumeric (<= 11) or a number; a 'sender' column overrides it per row")
    s.add_argument("--text", required=True, metavar="TEMPLATE", help="message text with {column} fields")
    s.add_argument("--region", metavar="CC", help="default region for national numbers (RU, GB, US, ...); default: the config's "
                   "default_region, else $SMPP_DEFAULT_REGION, else RU")
    s.add_argument("--rate", type=float, default=0.0, metavar="N",
                   help="at most N messages per second for this campaign, across all engines (0 = no limit)")
    s.add_argument("--name", help="campaign name (default: the file name)")
    s.add_argument("--column", metavar="NAME", help="the destination column (default: phone, number, msisdn, to, ...)")
    s.add_argument("--format", choices=("csv", "jsonl"), help="default: from the file suffix")
    s.add_argument("--priority", choices=("bulk", "transactional"), default="bulk")
    s.add_argument("--encoding", choices=("auto", "gsm7", "ucs2", "latin1"), default="auto")
    s.add_argument("--max-parts", type=int, default=255, metavar="N", help="refuse rows needing more segments")
    s.add_argument("--concat", choices=("udh8", "udh16", "sar", "payload"), help="default: the bind's")
    s.add_argument("--national", action="append", default=[], metavar="LANG",
                   help="allow a national shift table (turkish, spanish, portuguese); repeatable")
    s.add_argument("--no-receipt", action="store_true", help="registered_delivery 0")
    s.add_argument("--no-track", action="store_true", help="do not create tracking records (queued)")
    s.add_argument("--show-bad", type=int, default=SHOW_BAD_DEFAULT, metavar="N",
                   help=f"bad rows to print (default {SHOW_BAD_DEFAULT}; all are in --json and in Redis)")
    s.add_argument("--json", action="store_true", help="print one JSON object, no progress bar")
    add_redis_args(s)
    s.set_defaults(func=run_submit)

    st = sub.add_parser("status", help="a campaign's counts: intake, states, queue lag")
    st.add_argument("id", metavar="ID")
    st.add_argument("--json", action="store_true")
    st.add_argument("--watch", action="store_true", help="refresh until every message is final (Ctrl-C stops)")
    st.add_argument("--interval", type=float, default=1.0, metavar="S", help="refresh period for --watch")
    st.add_argument("--show-bad", type=int, default=SHOW_BAD_DEFAULT, metavar="N")
    add_redis_args(st)
    st.set_defaults(func=run_status)


def _fail(msg: str, code: int = 2) -> int:
    print(f"smpp-engine campaign: {msg}", file=sys.stderr)
    return code


def run_submit(args: argparse.Namespace) -> int:
    import asyncio

    from redis.exceptions import RedisError

    from engine.campaign import CampaignError, CampaignOptions, count_rows, submit_campaign
    from engine.config import ConfigError

    if args.rate < 0:
        return _fail(f"--rate must be >= 0, got {args.rate}")
    if not 1 <= args.max_parts <= 255:
        return _fail(f"--max-parts must be 1..255, got {args.max_parts}")
    if not os.path.isfile(args.file):
        return _fail(f"{args.file}: no such file")
    try:
        client, keys, config = open_intake(args)
    except (ConfigError, ValueError) as exc:
        return _fail(str(exc))
    options = CampaignOptions(
        sender=args.sender, text=args.text, region=default_region(args, config), rate=args.rate,
        name=args.name, priority=args.priority, encoding=args.encoding, max_parts=args.max_parts,
        concat=args.concat, national=tuple(args.national),
        registered_delivery=0 if args.no_receipt else 1, column=args.column,
    )
    interactive = sys.stderr.isatty() and not args.json

    async def go() -> Any:
        tracker = None
        if not args.no_track:
            from engine.tracking import Tracker

            status_stream = config.engine.status_stream if config is not None else None
            tracker = Tracker(client, prefix=keys.prefix, events_stream=status_stream)
        try:
            if not interactive:
                return await submit_campaign(client, args.file, options, keys=keys, fmt=args.format,
                                             tracker=tracker)
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            total = count_rows(args.file)
            with Progress(TextColumn("[bold]intake"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                          console=Console(stderr=True), transient=False) as bar:
                task = bar.add_task("intake", total=total or None, detail="")

                def progress(r: Any) -> None:
                    bar.update(task, completed=r.total,
                               detail=f"accepted {r.accepted}  rejected {r.rejected}")

                result = await submit_campaign(client, args.file, options, keys=keys, fmt=args.format,
                                               tracker=tracker, progress=progress)
                bar.update(task, completed=result.total, total=result.total)
                return result
        finally:
            await client.aclose()

    try:
        result = asyncio.run(go())
    except CampaignError as exc:
        return _fail(str(exc))
    except (RedisError, OSError) as exc:
        return _fail(redis_failure(exc, client), EXIT_REDIS)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        rate = result.total / result.seconds if result.seconds > 0 else 0.0
        print(f"campaign {result.id}")
        print(f"name {result.name}")
        print(f"rows {result.total}  accepted {result.accepted}  rejected {result.rejected}  "
              f"segments {result.segments}  ({result.seconds:.2f} s, {rate:,.0f} rows/s)")
        if result.errors:
            shown = result.errors[: max(args.show_bad, 0)]
            print(f"bad rows ({result.rejected}):")
            for e in shown:
                print(f"  row {e.row} (line {e.line}): {e.reason}")
            if result.rejected > len(shown):
                print(f"  ... {result.rejected - len(shown)} more: smpp-engine campaign status {result.id} "
                      f"--show-bad N, or --json")
    if result.total and not result.accepted:
        return 1
    return 0


def _final_states() -> frozenset[str]:
    try:
        from engine.tracking import FINAL_STATES

        return frozenset(FINAL_STATES)
    except ImportError:  # tracking not installed in this build: intake counts only
        return frozenset()


async def _status(client: Any, keys: Any, campaign_id: str, show_bad: int) -> dict[str, Any] | None:
    from engine.campaign import campaign_info
    from engine.queue import stream_stats

    info = await campaign_info(client, campaign_id, keys=keys, rejected=show_bad)
    if info is None:
        return None
    final = _final_states()
    states = info["states"]
    info["final"] = sum(n for s, n in states.items() if s in final)
    info["queue"] = [
        {"stream": s.stream, "length": s.length, "pending": s.pending, "lag": s.lag,
         "consumers": s.consumers, "oldest_pending_idle_ms": s.oldest_pending_idle_ms}
        for s in await stream_stats(client, keys, campaigns="each")
        # the shared streams, and this campaign's own one (not every other campaign's)
        if s.stream in keys.streams or s.stream == info.get("stream")
    ]
    return info


def _print_status(info: dict[str, Any], keys: Any) -> None:
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(info.get("created", 0)))
    rate = info.get("rate", 0.0)
    print(f"campaign {info['id']}  {info.get('name', '')}  ({info.get('state', '?')}, created {created} UTC)")
    print(f"intake   rows {info.get('total', 0)}  accepted {info.get('accepted', 0)}  "
          f"rejected {info.get('rejected', 0)}  segments {info.get('segments', 0)}  "
          f"rate limit {'none' if not rate else f'{rate:g}/s'}")
    states = info["states"]
    if states:
        print("states   " + "  ".join(f"{k} {v}" for k, v in sorted(states.items())))
        print(f"final    {info['final']} of {info.get('accepted', 0)}")
    else:
        print("states   (no tracking records yet)")
    for q in info["queue"]:
        scope = "this campaign" if q["stream"] == info.get("stream") and q["stream"] not in keys.streams else "shared"
        print(f"queue    {q['stream']} ({scope}): lag {q['lag']}  pending {q['pending']}  consumers {q['consumers']}"
              + (f"  oldest pending {q['oldest_pending_idle_ms'] / 1000:.1f} s" if q["pending"] else ""))
    if info["bad_rows"]:
        print(f"bad rows (first {len(info['bad_rows'])} of {info.get('rejected', 0)}):")
        for e in info["bad_rows"]:
            print(f"  row {e['row']} (line {e['line']}): {e['reason']}")


def run_status(args: argparse.Namespace) -> int:
    import asyncio

    from redis.exceptions import RedisError

    from engine.config import ConfigError

    try:
        client, keys, _config = open_intake(args)
    except (ConfigError, ValueError) as exc:
        return _fail(str(exc))

    async def once() -> dict[str, Any] | None:
        return await _status(client, keys, args.id, max(args.show_bad, 0))

    async def watch() -> dict[str, Any] | None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        info = await once()
        if info is None:
            return None
        console = Console(stderr=True)
        last, last_t = info["final"], time.monotonic()
        with Progress(TextColumn("[bold]{task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=console,
                      disable=not console.is_terminal) as bar:
            task = bar.add_task("campaign", total=info.get("accepted") or None, name=info.get("name", args.id),
                                detail="")
            while True:
                info = await once()
                assert info is not None
                now = time.monotonic()
                speed = (info["final"] - last) / max(now - last_t, 1e-6)
                last, last_t = info["final"], now
                states = "  ".join(f"{k} {v}" for k, v in sorted(info["states"].items()))
                bar.update(task, completed=info["final"], detail=f"{states}  {speed:,.0f}/s")
                if not console.is_terminal:
                    print(f"final {info['final']} of {info.get('accepted', 0)}  {states}", file=sys.stderr)
                if info.get("state") in ("queued", "failed") and info["final"] >= info.get("accepted", 0):
                    return info
                await asyncio.sleep(args.interval)

    async def go() -> dict[str, Any] | None:
        try:
            return await (watch() if args.watch else once())
        finally:
            await client.aclose()

    try:
        info = asyncio.run(go())
    except (RedisError, OSError) as exc:
        return _fail(redis_failure(exc, client), EXIT_REDIS)
    except KeyboardInterrupt:
        return 130
    if info is None:
        return _fail(f"no campaign {args.id!r} under prefix {keys.prefix!r}", 1)
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
    else:
        _print_status(info, keys)
    return 0
