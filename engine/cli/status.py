"""``smpp-engine status MSG_ID``: one message's life from its tracking record in Redis.

Prints the aggregated state, the history (each state with its time), and per part
the SMSC's message id, the bind, submit and done times, error codes and tries.
``--json`` prints the same as one JSON object (``MessageStatus.to_dict()``).
``smpp-engine status --unmatched [--count N]`` shows the newest receipts that matched
no message (kept in Redis for inspection) and the tracking counters instead.
Exit status: 0 found, 1 no record, 2 bad arguments or config, 3 Redis unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import Any

__all__ = ["register", "run", "format_status", "format_unmatched"]

EXIT_NOT_FOUND = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    from engine.cli.campaign import add_redis_args

    p = subparsers.add_parser(
        "status",
        help="one message's life: states with times, parts, SMSC ids, error codes",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("msg_id", metavar="MSG_ID", nargs="?",
                   help="the message id given at enqueue (campaign rows: CAMPAIGN:ROW)")
    p.add_argument("--unmatched", action="store_true",
                   help="instead of a message: the newest unmatched receipts and the tracking counters")
    p.add_argument("--count", type=int, default=20, metavar="N", help="unmatched receipts to show (default 20)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_redis_args(p)
    p.set_defaults(func=run)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def format_status(st: Any) -> str:
    """Human-readable text of an ``engine.tracking.MessageStatus``."""
    lines = [
        f"message   {st.msg_id}",
        f"state     {st.state}",
        f"parts     {st.parts}",
    ]
    if st.campaign:
        lines.append(f"campaign  {st.campaign}")
    if st.account:
        lines.append(f"account   {st.account}")
    if st.error:
        lines.append(f"error     {st.error}")
    if st.outcome_unknown:
        lines.append(
            f"warning   the submit outcome was unknown {st.outcome_unknown} time(s): "
            "the SMSC may have received it more than once"
        )
    lines.append("history")
    for state, at in st.history:
        lines.append(f"  {_when(at)}  {state}")
    lines.append("parts")
    header = ("part", "state", "smsc id", "bind", "submitted", "done", "error", "stat", "status", "tries")
    rows = [header]
    for p in st.part_detail:
        rows.append(
            (
                str(p.part),
                p.state,
                p.smsc_message_id or "-",
                p.bind or "-",
                _when(p.submitted_at),
                _when(p.done_at),
                p.error or "-",
                p.stat or "-",
                f"0x{p.command_status:08X}" if p.command_status is not None else "-",
                str(p.tries),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def format_unmatched(info: dict[str, Any]) -> str:
    stats = info["stats"]
    lines = [
        "receipts  " + ", ".join(
            f"{k} {stats.get(k, 0)}" for k in ("receipts", "matched", "held", "held_applied", "duplicates", "unmatched")
        ),
        f"held now  {info['held']} (waiting for their submit_sm_resp)",
    ]
    rows = info["unmatched"]
    if not rows:
        lines.append("no unmatched receipts kept")
        return "\n".join(lines)
    lines.append(f"newest {len(rows)} unmatched receipts")
    for u in rows:
        received = _when(float(u["received"])) if u.get("received") else "-"
        lines.append(
            f"  {received}  account {u.get('account', '-')}  id {u.get('id', '-')}  "
            f"{u.get('state', '-')} (stat {u.get('stat') or '-'}, err {u.get('err') or '-'})  {u.get('reason', '')}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from engine.cli.campaign import EXIT_REDIS, open_intake, redis_failure
    from engine.config import ConfigError
    from engine.tracking import Tracker

    if (args.msg_id is None) == (not args.unmatched):
        print("smpp-engine status: give a MSG_ID, or --unmatched (not both)", file=sys.stderr)
        return 2
    if args.count < 1:
        print(f"smpp-engine status: --count must be at least 1, got {args.count}", file=sys.stderr)
        return 2
    try:
        client, keys, config = open_intake(args)
    except (ConfigError, ValueError) as exc:
        print(f"smpp-engine status: {exc}", file=sys.stderr)
        return 2

    async def fetch() -> Any:
        try:
            tracker = Tracker(client, prefix=keys.prefix)
            if args.unmatched:
                return {
                    "unmatched": await tracker.unmatched(args.count),
                    "held": await tracker.held_count(),
                    "stats": await tracker.stats(),
                }
            return await tracker.status(args.msg_id)
        finally:
            await client.aclose()

    try:
        st = asyncio.run(fetch())
    except (OSError, ConnectionError) as exc:
        print(f"smpp-engine status: {redis_failure(exc, client)}", file=sys.stderr)
        return EXIT_REDIS
    except Exception as exc:  # redis.exceptions.ConnectionError is not an OSError
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
            print(f"smpp-engine status: {redis_failure(exc, client)}", file=sys.stderr)
            return EXIT_REDIS
        raise
    if args.unmatched:
        if args.json:
            print(json.dumps(st))
        else:
            print(format_unmatched(st))
        return 0
    if st is None:
        msg = (
            f"no tracking record for {args.msg_id!r} under key prefix {keys.prefix!r}: "
            "never queued through this Redis, or older than the tracking TTL"
        )
        if args.json:
            print(json.dumps({"msg_id": args.msg_id, "state": None, "error": msg}))
        else:
            print(f"smpp-engine status: {msg}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if args.json:
        print(json.dumps(st.to_dict()))
    else:
        print(format_status(st))
    return 0
