"""``smpp-engine send``: submit one message (split as needed) and print its message ids."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register"]


def register(subparsers) -> None:
    from engine.cli._smpp_args import add_connection_args

    p = subparsers.add_parser("send", help="send one SMS through an SMSC", description=__doc__)
    add_connection_args(p)
    p.add_argument("--source", required=True, help="sender: alphanumeric (<= 11), short code or +international")
    p.add_argument("--dest", required=True, help="destination number (international, + optional)")
    p.add_argument("--text", required=True, help="message text (split into parts as needed)")
    p.add_argument("--encoding", choices=("auto", "gsm7", "ucs2", "latin1"), default="auto")
    p.add_argument("--receipt", action="store_true", help="ask for a delivery receipt (registered_delivery 1)")
    p.add_argument("--wait-receipt", type=float, metavar="SECONDS", default=None,
                   help="wait this long for the receipt(s) and print the final state (implies --receipt)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _norm_ids(mid: str) -> set[str]:
    """Every canonical reading of a message id (hex, decimal, opaque): the submit_sm_resp id
    and the receipt id of one message share one when the SMSC mixes formats."""
    from engine.smpp.receipts import message_id_forms

    return set(message_id_forms(mid).values())


def run(args: argparse.Namespace) -> int:
    from engine.cli._smpp_args import bind_config, option_error, smsc_config
    from engine.client import NotBound, OutboundMessage, Outcome, SmscClient
    from engine.client.loop import run as run_loop
    from engine.config import ConfigError

    want_receipt = args.receipt or args.wait_receipt is not None
    table, env = bind_config(args, name="send", registered_delivery=1 if want_receipt else 0)
    tables = [table]
    if args.wait_receipt is not None and args.bind == "tx":
        tables.append({**table, "bind_type": "rx"})  # receipts need a receiving bind
    try:
        smsc = smsc_config(tables, env, "send")
    except ConfigError as exc:
        print(f"smpp-engine send: {option_error(exc)}", file=sys.stderr)
        return 2

    async def main() -> int:
        import asyncio

        receipts: list = []
        got = asyncio.Event()

        def on_receipt(r) -> None:
            receipts.append(r)
            got.set()

        client = SmscClient(smsc, on_receipt=on_receipt)
        try:
            await client.start()
        except NotBound as exc:
            print(f"smpp-engine send: {exc}", file=sys.stderr)
            return 3
        try:
            result = await client.submit(
                OutboundMessage(args.source, args.dest, args.text, encoding=args.encoding,
                                registered_delivery=1 if want_receipt else 0)
            )
            states: dict[str, str | None] = {}
            if args.wait_receipt is not None and result.ok:
                wanted = {mid: _norm_ids(mid) for mid in result.message_ids if mid}
                loop = asyncio.get_running_loop()
                deadline = loop.time() + args.wait_receipt
                while len(states) < len(wanted):
                    for r in receipts:
                        for mid, forms in wanted.items():
                            if r.message_id and _norm_ids(r.message_id) & forms:
                                states[mid] = r.state
                    if len(states) >= len(wanted):
                        break
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    got.clear()
                    try:
                        await asyncio.wait_for(got.wait(), left)
                    except asyncio.TimeoutError:
                        pass
        finally:
            await client.close()
        out: dict[str, Any] = {
            "outcome": result.outcome.value,
            "segments": result.segments,
            "encoding": result.encoding,
            "data_coding": result.data_coding,
            "message_ids": result.message_ids,
            "parts": [
                {"message_id": p.message_id, "outcome": p.outcome.value, "command_status": p.command_status,
                 "latency_ms": None if p.latency is None else round(p.latency * 1000, 3), "error": p.error}
                for p in result.parts
            ],
        }
        if result.error:
            out["error"] = result.error
        if args.wait_receipt is not None:
            finals = [states.get(m) for m in result.message_ids if m]
            out["receipts"] = {m: states.get(m) for m in result.message_ids if m}
            if finals and all(finals):
                out["final_state"] = finals[0] if len(set(finals)) == 1 else "MIXED:" + ",".join(str(f) for f in finals)
            else:
                out["final_state"] = None
        if args.json:
            print(json.dumps(out))
        else:
            print(f"{out['outcome']}: {result.segments} segment(s), {result.encoding} (data_coding 0x{(result.data_coding or 0):02X})")
            for i, p in enumerate(out["parts"]):
                print(f"  part {i + 1}: message_id={p['message_id']} status={p['command_status']}"
                      + (f" error={p['error']}" if p["error"] else ""))
            if args.wait_receipt is not None:
                print(f"  final state: {out['final_state'] or 'no receipt within %g s' % args.wait_receipt}")
            if result.error:
                print(f"  error: {result.error}")
        if result.outcome is not Outcome.OK:
            return 1
        if args.wait_receipt is not None and out.get("final_state") is None:
            return 4
        return 0

    return run_loop(main())
