"""``smpp-engine enqueue``: put one message on the intake stream."""

from __future__ import annotations

import argparse
import json
import sys

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
    p.add_argument("--region", metavar="CC", help="default region for national numbers (RU, GB, US, ...)")
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

    from engine.campaign import count_segments
    from engine.config import ConfigError
    from engine.encoding.errors import TooManyParts, UnencodableCharacter
    from engine.numbers import InvalidNumber, InvalidSender, normalize_number, validate_sender
    from engine.queue import Message, Producer, new_id

    try:
        client, keys, config = open_intake(args)
    except (ConfigError, ValueError) as exc:
        print(f"smpp-engine enqueue: {exc}", file=sys.stderr)
        return 2
    region = default_region(args, config)
    national = tuple(args.national)
    try:
        destination = normalize_number(args.to, region)
        sender = validate_sender(args.sender, region)
        segments = count_segments(args.text, encoding=args.encoding, max_parts=args.max_parts, national=national)
        message = Message(
            id=new_id(), destination=destination, text=args.text, source=sender.address,
            source_ton=sender.ton, source_npi=sender.npi, priority=args.priority,
            encoding=args.encoding, concat=args.concat, national=national,
            registered_delivery=0 if args.no_receipt else 1, segments=segments,
        )
    except (InvalidNumber, InvalidSender) as exc:
        print(f"smpp-engine enqueue: {exc}", file=sys.stderr)
        return 2
    except TooManyParts as exc:
        print(f"smpp-engine enqueue: text needs {exc.actual} segments, more than --max-parts {exc.max}",
              file=sys.stderr)
        return 2
    except UnencodableCharacter as exc:
        print(f"smpp-engine enqueue: character {exc.char!r} at position {exc.index} cannot be sent "
              f"with --encoding {args.encoding}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"smpp-engine enqueue: {exc}", file=sys.stderr)
        return 2

    async def go() -> str:
        try:
            entry = await Producer(client, keys).enqueue(message)
            if not args.no_track:
                from engine.tracking import Queued, Tracker

                status_stream = config.engine.status_stream if config is not None else None
                await Tracker(client, prefix=keys.prefix, events_stream=status_stream).record_queued(
                    [Queued(message.id, segments)])
            return entry
        finally:
            await client.aclose()

    try:
        entry = asyncio.run(go())
    except (RedisError, OSError) as exc:
        print(f"smpp-engine enqueue: {redis_failure(exc, client)}", file=sys.stderr)
        return EXIT_REDIS
    out = {"id": message.id, "to": destination, "from": sender.address, "source_ton": sender.ton,
           "source_npi": sender.npi, "segments": segments, "priority": args.priority,
           "stream": keys.stream(args.priority), "entry": entry}
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(message.id)
        print(f"queued {destination} from {sender.address} ({sender.kind}), {segments} segment(s), "
              f"{args.priority}", file=sys.stderr)
    return 0
