"""The ``smpp-engine`` command: one subcommand per module of this package.

Each subcommand module defines ``register(subparsers)``, which adds its parser and
sets ``func`` (called with the parsed arguments, returning the exit status). Heavy
imports stay inside ``func`` so that ``smpp-engine --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main"]

# Order is the order of ``--help``.
_SUBCOMMANDS = (
    "demo",
    "run",
    "send",
    "load",
    "simulate",
    "enqueue",
    "campaign",
    "status",
    "encode",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smpp-engine",
        description="High-throughput SMPP 3.4 engine: campaigns from Redis to carriers' SMSCs, receipts tracked.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(f"engine.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"engine.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
