"""``smpp-engine encode``: encode texts from stdin (or a file) into SMS parts, or total a campaign's cost.

One text per line (or JSON lines ``{"text": ..., options...}`` with ``--jsonl``); for each
a JSON line ``{"line", "encoding", "data_coding", "segments", "units", "udhi", "national",
"ref", "sar", "parts": [hex, ...]}``. A line that cannot be encoded is reported on stderr
with its line number and reason, the rest go on, and the exit status is 1.
``--summary`` prints one JSON object of totals instead (the campaign cost estimate).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, BinaryIO, Iterator

__all__ = ["register", "run"]

_LANGUAGE_CODES = {"tr": "turkish", "es": "spanish", "pt": "portuguese"}
_JSONL_OPTIONS = {"encoding", "concat", "packed", "national", "max_parts", "ref"}
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "encode",
        help="encode texts into SMS parts (one per line on stdin), or total a campaign's segments",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", nargs="?", help="read texts from this file instead of stdin")
    p.add_argument("--jsonl", action="store_true", help='lines are JSON objects {"text": ...} (or "text_hex" for binary) with optional per-line options')
    p.add_argument("--encoding", default="auto", help="auto (default), gsm7, ucs2, latin1, binary (lines are then hex)")
    p.add_argument("--concat", default="udh8", help="udh8 (default), udh16, sar, payload")
    p.add_argument("--packed", action="store_true", help="pack GSM septets (default: one septet per octet)")
    p.add_argument("--national", default="", help="national shift tables to allow, in order of preference: tr,es,pt")
    p.add_argument("--max-parts", type=int, default=255, help="most segments a message may take (1..255)")
    p.add_argument("--backend", choices=("rust", "python"), default="rust", help="rust: engine.encoding (default); python: the reference")
    p.add_argument("--summary", action="store_true", help="print totals (messages, segments, by encoding, failures) instead of each message")
    p.set_defaults(func=run)


def _national(value: Any) -> list[str]:
    """'tr,es' or ['tr', 'spanish'] -> ['turkish', 'spanish']; unknown names are left for
    the encoder to reject with its own message."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise TypeError(f"national must be a list or a comma-separated string, got {type(value).__name__}")
    names = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"national languages must be strings, got {type(item).__name__}")
        item = item.strip().lower()
        if item:
            names.append(_LANGUAGE_CODES.get(item, item))
    return names


def _backend(name: str):
    if name == "python":
        from engine.encoding import reference

        return reference
    import engine.encoding as rust

    if not callable(getattr(rust, "encode", None)):
        return None
    return rust


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(stream, start=1):
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):  # CRLF files; a text that needs a final CR goes through --jsonl
            raw = raw[:-1]
        yield number, raw


def _parse_line(raw: bytes, jsonl: bool, base: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not jsonl:
        if base["encoding"] == "binary":  # a binary text cannot be a line of text: hex
            try:
                return bytes.fromhex(line), dict(base)
            except ValueError:
                raise ValueError("with --encoding binary each line is hex, and this one is not") from None
        return line, dict(base)
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError("a JSON line must be an object with a text")
    has_text, has_hex = "text" in obj, "text_hex" in obj
    if has_text == has_hex:
        raise ValueError('a JSON line needs exactly one of "text" or "text_hex"')
    unknown = set(obj) - _JSONL_OPTIONS - {"text", "text_hex"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}: allowed are text, text_hex, {', '.join(sorted(_JSONL_OPTIONS))}")
    if has_hex:
        if not isinstance(obj["text_hex"], str):
            raise ValueError('"text_hex" must be a string of hex digits')
        try:
            text: Any = bytes.fromhex(obj["text_hex"])
        except ValueError:
            raise ValueError('"text_hex" is not valid hex') from None
    else:
        text = obj["text"]
        if not isinstance(text, str):
            raise ValueError('"text" must be a string')
    options = dict(base)
    for key in _JSONL_OPTIONS & set(obj):
        options[key] = _national(obj[key]) if key == "national" else obj[key]
    return text, options


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def run(args: argparse.Namespace) -> int:
    backend = _backend(args.backend)
    if backend is None:
        print(
            "smpp-engine encode: the Rust backend (engine.encoding) has no encode() yet; "
            "use --backend python for the pure-Python reference",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from engine.encoding.refs import RefCounter

    try:
        national = _national(args.national)
    except TypeError as exc:
        print(f"smpp-engine encode: --national: {exc}", file=sys.stderr)
        return EXIT_USAGE
    base = {
        "encoding": args.encoding,
        "concat": args.concat,
        "packed": args.packed,
        "national": national,
        "max_parts": args.max_parts,
    }
    # Check the command-line options once, so that a typo stops the run with one message
    # instead of failing every line.
    try:
        backend.encode(b"" if args.encoding == "binary" else "", **base)
    except (ValueError, TypeError) as exc:
        print(f"smpp-engine encode: bad option: {exc}", file=sys.stderr)
        return EXIT_USAGE
    refs = RefCounter()  # one counter per run: the same input gives the same output
    totals: dict[str, Any] = {"messages": 0, "ok": 0, "failed": 0, "segments": 0, "units": 0, "by_encoding": {}, "failures": []}
    stream = open(args.file, "rb") if args.file else sys.stdin.buffer
    out = sys.stdout
    try:
        for number, raw in _lines(stream):
            totals["messages"] += 1
            try:
                text, options = _parse_line(raw, args.jsonl, base)
                options.setdefault("ref", refs)
                m = backend.encode(text, **options)
            except (ValueError, TypeError) as exc:  # EncodingError is a ValueError
                reason = _reason(exc)
                totals["failed"] += 1
                totals["failures"].append({"line": number, "reason": reason})
                print(f"line {number}: {reason}", file=sys.stderr)
                continue
            totals["ok"] += 1
            totals["segments"] += m.segments
            totals["units"] += m.units
            per = totals["by_encoding"].setdefault(m.encoding, {"messages": 0, "segments": 0})
            per["messages"] += 1
            per["segments"] += m.segments
            if not args.summary:
                record = {
                    "line": number,
                    "encoding": m.encoding,
                    "data_coding": m.data_coding,
                    "segments": m.segments,
                    "units": m.units,
                    "udhi": m.udhi,
                    "national": list(m.national),
                    "ref": m.ref,
                    "sar": [list(t) for t in m.sar] if m.sar else None,
                    "parts": [p.hex() for p in m.parts],
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if args.file:
            stream.close()
    if args.summary:
        out.write(json.dumps(totals, ensure_ascii=False) + "\n")
    out.flush()
    return EXIT_SOME_FAILED if totals["failed"] else EXIT_OK
