"""``smpp-engine enqueue``: put one message on the intake stream."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.cli.campaign import EXIT_REDIS, add_redis_args, default_region, open_intake, redis_failure

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "enqueue",
        help="queue one message in Redis for the engine to send",
        description="Normalise the number, check the sender, count the segments and add the "
        "message to the intake stream. Prints the message id.",
    )
    p.add_argument("--to", required=True, metavar="NUMBER", help="destination, any common written form")
    p.add_argument("--sender", required=True, metavar="NAME", help="alphanumeric (<= 11) or a number")
    p.add_argument("--text", required=True)
    p.add_argument("--priority", choices=("transactional", "bulk"), default="transactional")
    p.add_argument("--region", metavar="CC", help="default region for national numbers (RU, GB, US, ...); default: the config's "
                   "default_region, else $SMPP_DEFAULT_REGION, else RU")
    p.add_argument("--encoding", choices=("auto", "gsm7", "ucs2", "latin1"), default="auto")
    p.add_argument("--max-parts", type=int, default=255, metavar="N")
    p.add_argument("--concat", choices=("udh8", "udh16", "sar", "payload"), help="default: the bind's")
    p.add_argument("--national", action="append", default=[], metavar="LANG",
                   help="allow a national shift table (turkish, spanish, portuguese); repeatable")
    p.add_argument("--no-receipt", action="store_true", help="registered_delivery 0")
    p.add_argument("--no-track", action="store_true", help="do not create the tracking record (queued)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_redis_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from redis.exceptions import RedisError

    from engine.campaign import enqueue_message
    from engine.config import ConfigError
    from engine.encoding.errors import TooManyParts, UnencodableCharacter
    from engine.numbers import validate_sender

    try:
        client, keys, config = open_intake(args)
    except (ConfigError, ValueError) as exc:
        print(f"smpp-engine enqueue: {exc}", file=sys.stderr)
        return 2
    region = default_region(args, config)

    async def go() -> Any:
        try:
            tracker = None
            if not args.no_track:
                from engine.tracking import Tracker

                status_stream = config.engine.status_stream if config is not None else None
                tracker = Tracker(client, prefix=keys.prefix, events_stream=status_stream)
            # Every check runs before the first Redis command: bad input never connects.
            return await enqueue_message(
                client, to=args.to, sender=args.sender, text=args.text, region=region,
                priority=args.priority, encoding=args.encoding, max_parts=args.max_parts,
                concat=args.concat, national=tuple(args.national),
                registered_delivery=0 if args.no_receipt else 1, keys=keys, tracker=tracker,
            )
        finally:
            await client.aclose()

    try:
        message = asyncio.run(go())
    except TooManyParts as exc:
        print(f"smpp-engine enqueue: text needs {exc.actual} segments, more than --max-parts {exc.max}",
              file=sys.stderr)
        return 2
    except UnencodableCharacter as exc:
        print(f"smpp-engine enqueue: character {exc.char!r} at position {exc.index} cannot be sent "
              f"with --encoding {args.encoding}", file=sys.stderr)
        return 2
    except ValueError as exc:  # InvalidNumber, InvalidSender, bad options
        print(f"smpp-engine enqueue: {exc}", file=sys.stderr)
        return 2
    except (RedisError, OSError) as exc:
        print(f"smpp-engine enqueue: {redis_failure(exc, client)}", file=sys.stderr)
        return EXIT_REDIS
    sender = validate_sender(args.sender, region)
    out = {"id": message.id, "to": message.destination, "from": message.source, "source_ton": message.source_ton,
           "source_npi": message.source_npi, "segments": message.segments, "priority": message.priority,
           "stream": keys.stream(message.priority)}
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(message.id)
        print(f"queued {message.destination} from {message.source} ({sender.kind}), {message.segments} "
              f"segment(s), {message.priority}", file=sys.stderr)
    return 0
