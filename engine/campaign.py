"""Campaign intake: rows from a CSV or JSON-lines file become messages on the bulk stream.

Per row: the destination is normalised to E.164, the sender validated, the text
template rendered from the row's columns, and the segments counted with the encoding
core (a forced encoding and ``max_parts`` honoured). A bad row is reported with its
row number, file line and reason, and skipped; the good ones are enqueued in
pipelined chunks. The campaign record in Redis (``P campaign:{id}``, see
:mod:`engine.queue`) holds the counts, the rate limit and the rejected rows.

Row numbers count data records from 1 (a CSV header is not a row); ``line`` is the
file line where the record ends.
"""

from __future__ import annotations

import csv
import json
import os
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from engine.encoding.errors import TooManyParts, UnencodableCharacter
from engine.numbers import InvalidNumber, InvalidSender, NumberNormalizer, Sender, validate_sender
from engine.queue.keys import Keys
from engine.queue.message import Message, new_id
from engine.queue.producer import ENQUEUE_CHUNK, Producer

__all__ = [
    "CampaignError",
    "CampaignOptions",
    "CampaignResult",
    "RowError",
    "RowPreparer",
    "Template",
    "campaign_info",
    "count_segments",
    "enqueue_message",
    "read_rows",
    "submit_campaign",
    "NUMBER_COLUMNS",
    "REJECTED_STORED_MAX",
]

# Column names taken as the destination when --column is not given (case-insensitive,
# first match wins): the names spreadsheets and CRM exports use.
NUMBER_COLUMNS = ("phone", "number", "msisdn", "to", "destination", "dest", "mobile", "tel")
# A column of this name, when present and not empty, overrides --sender for its row.
SENDER_COLUMN = "sender"
# Rejected rows kept in Redis with their reasons; the count stays exact beyond it. A
# file that is mostly bad would otherwise store one entry per row for nothing.
REJECTED_STORED_MAX = 100_000
# Segment counts remembered per campaign, keyed by rendered text: templates often
# render the same text for many rows. Bounded like the number cache.
SEGMENT_CACHE_MAX = 100_000
# The rejected rows kept in memory for the caller's report; the rest are counted.
REJECTED_REPORT_MAX = 10_000


class CampaignError(ValueError):
    """The campaign as a whole cannot go (unreadable file, no number column, bad template)."""


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    line: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "line": self.line, "reason": self.reason}


def _load_count() -> Callable[..., Any]:
    # The Rust core when it is built in, else the pure-Python reference (same contract,
    # docs/encoding.md).
    import engine.encoding as enc

    fn = getattr(enc, "count", None)
    if fn is None:
        from engine.encoding import reference

        fn = reference.count
    return fn


def count_segments(text: str, *, encoding: str = "auto", max_parts: int = 255,
                   national: tuple[str, ...] = ()) -> int:
    """Segments for ``text``; raises ``TooManyParts`` / ``UnencodableCharacter``."""
    return _load_count()(text, encoding=encoding, max_parts=max_parts, national=national).segments


class Template:
    """``{column}`` fields filled from a row; ``{{`` and ``}}`` are literal braces.

    Only plain names: no attribute access, indexing, conversions or format specs (a
    template comes from a user, and ``{x.__class__}`` must not reach Python's format).
    """

    __slots__ = ("source", "fields", "_pieces")

    def __init__(self, source: str) -> None:
        if not isinstance(source, str):
            raise TypeError("template must be str")
        self.source = source
        pieces: list[tuple[str, str | None]] = []
        names: list[str] = []
        try:
            parsed = list(string.Formatter().parse(source))
        except ValueError as exc:
            raise CampaignError(f"template {source!r}: {exc} (write {{{{ and }}}} for literal braces)") from None
        for literal, name, spec, conversion in parsed:
            if name is None:
                pieces.append((literal, None))
                continue
            if not name or not all(c.isalnum() or c in "_- " for c in name):
                raise CampaignError(f"template field {{{name}}}: only {{column}} names are allowed")
            if spec or conversion:
                raise CampaignError(f"template field {{{name}}}: format specs and conversions are not supported")
            pieces.append((literal, name))
            if name not in names:
                names.append(name)
        self._pieces = tuple(pieces)
        self.fields = tuple(names)

    def render(self, row: Mapping[str, Any]) -> str:
        """The text for one row; raises ``KeyError(name)`` for a field the row lacks."""
        out = []
        for literal, name in self._pieces:
            out.append(literal)
            if name is not None:
                value = row[name]
                if value is None:
                    raise KeyError(name)
                out.append(value if isinstance(value, str) else str(value))
        return "".join(out)


@dataclass(slots=True)
class CampaignOptions:
    sender: str
    text: str
    region: str = "RU"
    rate: float = 0.0
    name: str | None = None
    priority: str = "bulk"
    encoding: str = "auto"
    max_parts: int = 255
    concat: str | None = None
    national: tuple[str, ...] = ()
    registered_delivery: int = 1
    column: str | None = None


class RowPreparer:
    """Turns rows into messages or :class:`RowError`; no I/O, so it is tested directly."""

    def __init__(self, campaign_id: str, options: CampaignOptions) -> None:
        self.campaign_id = campaign_id
        self.options = options
        self.template = Template(options.text)
        self.numbers = NumberNormalizer(options.region)
        self._count = _load_count()
        self._segments: dict[str, int | str] = {}
        self._senders: dict[str, Sender | str] = {}
        self.default_sender: Sender | None = None
        try:
            self.default_sender = validate_sender(options.sender, self.numbers.region)
        except InvalidSender as exc:
            # Every row without its own sender column would fail: say so once, up front.
            raise CampaignError(str(exc)) from None
        self.column: str | None = options.column
        # Bad option values stop the campaign before any row goes.
        try:
            self._count("", encoding=options.encoding, max_parts=options.max_parts, national=options.national)
        except (TooManyParts, UnencodableCharacter):
            pass
        except (ValueError, TypeError) as exc:
            raise CampaignError(f"encoding options: {exc}") from None
        self.created = time.time()

    def choose_column(self, columns: list[str]) -> str:
        """The destination column among ``columns`` (``options.column`` or a known name)."""
        if self.options.column is not None:
            if self.options.column not in columns:
                raise CampaignError(f"column {self.options.column!r} not in the file (columns: {', '.join(columns)})")
            return self.options.column
        lower = {c.strip().lower(): c for c in columns}
        for name in NUMBER_COLUMNS:
            if name in lower:
                return lower[name]
        raise CampaignError(
            f"no destination column: name one with --column, or call it one of {', '.join(NUMBER_COLUMNS)} "
            f"(columns: {', '.join(columns) or 'none'})"
        )

    def check_columns(self, columns: list[str]) -> None:
        """With a known header, a template field that is not a column fails every row:
        refuse the campaign instead of rejecting each row."""
        missing = [f for f in self.template.fields if f not in columns]
        if missing:
            raise CampaignError(
                f"template field(s) {', '.join('{' + m + '}' for m in missing)} not among the columns "
                f"({', '.join(columns)})"
            )
        self.column = self.choose_column(columns)

    def _sender(self, row: Mapping[str, Any]) -> Sender:
        own = row.get(SENDER_COLUMN)
        if own is None or own == "":
            assert self.default_sender is not None
            return self.default_sender
        own = str(own)
        found = self._senders.get(own)
        if found is None:
            try:
                found = validate_sender(own, self.numbers.region)
            except InvalidSender as exc:
                found = str(exc)
            self._senders[own] = found
        if isinstance(found, str):
            raise InvalidSender(own, found.split(": ", 1)[-1])
        return found

    def segments(self, text: str) -> int:
        found = self._segments.get(text)
        if found is None:
            o = self.options
            try:
                found = self._count(text, encoding=o.encoding, max_parts=o.max_parts, national=o.national).segments
            except TooManyParts as exc:
                found = f"text needs {exc.actual} segments, more than the maximum of {exc.max}"
            except UnencodableCharacter as exc:
                found = f"character {exc.char!r} at position {exc.index} cannot be sent with encoding {o.encoding}"
            if len(self._segments) >= SEGMENT_CACHE_MAX:
                self._segments.clear()
            self._segments[text] = found
        if isinstance(found, str):
            raise ValueError(found)
        return found

    def prepare(self, row_no: int, line: int, row: Any) -> Message | RowError:
        if not isinstance(row, Mapping):
            return RowError(row_no, line, "not an object with columns")
        column = self.column
        if column is None:
            try:
                column = self.choose_column([str(k) for k in row])
            except CampaignError as exc:
                return RowError(row_no, line, str(exc))
        raw = row.get(column)
        if raw is None or raw == "":
            return RowError(row_no, line, f"no number in column {column!r}")
        try:
            destination = self.numbers(str(raw))
        except InvalidNumber as exc:
            return RowError(row_no, line, str(exc))
        try:
            sender = self._sender(row)
        except InvalidSender as exc:
            return RowError(row_no, line, str(exc))
        try:
            text = self.template.render(row)
        except KeyError as exc:
            return RowError(row_no, line, f"template field {{{exc.args[0]}}} missing from the row")
        bad_char = _lone_surrogate(text)
        if bad_char is not None:
            return RowError(row_no, line, bad_char)
        try:
            segments = self.segments(text)
        except ValueError as exc:
            return RowError(row_no, line, str(exc))
        o = self.options
        return Message(
            id=f"{self.campaign_id}:{row_no}",
            destination=destination,
            text=text,
            source=sender.address,
            source_ton=sender.ton,
            source_npi=sender.npi,
            priority=o.priority,
            campaign=self.campaign_id,
            encoding=o.encoding,
            concat=o.concat,
            national=tuple(o.national),
            registered_delivery=o.registered_delivery,
            segments=segments,
            created=self.created,
        )


def _lone_surrogate(text: str) -> str | None:
    """A reason if ``text`` holds a lone UTF-16 surrogate (JSON can spell one: "\\ud800"):
    it is not a character, no handset can show it, and Redis would refuse the entry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"text has a lone surrogate U+{ord(text[exc.start]):04X} at position {exc.start}, not a character"
    return None


async def enqueue_message(
    redis: Any,
    *,
    to: str,
    sender: str,
    text: str,
    region: str = "RU",
    priority: str = "transactional",
    encoding: str = "auto",
    max_parts: int = 255,
    concat: str | None = None,
    national: tuple[str, ...] = (),
    registered_delivery: int = 1,
    keys: Keys | None = None,
    tracker: Any = None,
) -> Message:
    """Check and queue one message; returns it (``.id`` is the message id).

    Raises ``InvalidNumber``, ``InvalidSender``, ``TooManyParts``,
    ``UnencodableCharacter`` or ``ValueError`` (all ValueErrors) before anything is
    written. ``tracker`` (an ``engine.tracking.Tracker``) records it ``queued``.
    """
    from engine.numbers import normalize_number

    keys = keys or Keys()
    destination = normalize_number(to, region)
    source = validate_sender(sender, region)
    reason = _lone_surrogate(text)
    if reason is not None:
        raise ValueError(reason)
    segments = _load_count()(text, encoding=encoding, max_parts=max_parts, national=national).segments
    message = Message(
        id=new_id(), destination=destination, text=text, source=source.address, source_ton=source.ton,
        source_npi=source.npi, priority=priority, encoding=encoding, concat=concat, national=tuple(national),
        registered_delivery=registered_delivery, segments=segments,
    )
    if tracker is not None:
        # Before the XADD, so that an engine reading it at once finds the record.
        from engine.tracking import Queued

        await tracker.record_queued([Queued(message.id, segments)])
    await Producer(redis, keys).enqueue(message)
    return message


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in ("csv", "jsonl"):
            raise CampaignError(f"format must be csv or jsonl, got {fmt!r}")
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    raise CampaignError(f"cannot tell the format of {path.name} from its suffix: pass --format csv or jsonl")


def read_rows(path: str | os.PathLike[str], fmt: str | None = None) -> tuple[list[str] | None, Iterator[tuple[int, int, Any]]]:
    """(header columns or None for JSON lines, iterator of (row, line, row dict)).

    JSON lines that are not JSON objects come through as strings with the parse error,
    so that the caller reports them as bad rows.
    """
    p = Path(path)
    kind = _format_of(p, fmt)
    try:
        fh = p.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise CampaignError(f"cannot read {p}: {exc.strerror}") from None
    if kind == "csv":
        try:
            first = fh.readline()
        except UnicodeDecodeError as exc:
            fh.close()
            raise CampaignError(f"{p} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
        fh.seek(0)
        # The delimiter is the one the header uses most (European exports use ';').
        # csv.Sniffer guesses from the data too, and text with commas fools it.
        delimiter = max(",;\t|", key=lambda d: (first.count(d), d == ","))
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            fh.close()
            raise CampaignError(f"{p} is empty: a CSV campaign needs a header row") from None
        header = [h.strip() for h in header]
        if len(set(header)) != len(header):
            fh.close()
            raise CampaignError(f"{p}: duplicate column names in the header {header}")

        def csv_rows() -> Iterator[tuple[int, int, Any]]:
            with fh:
                n = 0
                try:
                    for values in reader:
                        if not values or all(not v.strip() for v in values):
                            continue
                        n += 1
                        if len(values) != len(header):
                            yield n, reader.line_num, (
                                f"{len(values)} values for {len(header)} columns"
                            )
                            continue
                        yield n, reader.line_num, dict(zip(header, values))
                except UnicodeDecodeError as exc:
                    raise CampaignError(f"{p} is not UTF-8 text after line {reader.line_num} "
                                        f"(byte {exc.start} of a block): save it as UTF-8") from None
                except csv.Error as exc:
                    raise CampaignError(f"{p} line {reader.line_num}: {exc}") from None

        return header, csv_rows()

    try:
        head = fh.read(4096).lstrip()
    except UnicodeDecodeError:
        fh.close()
        raise CampaignError(f"{p} is not UTF-8 text: save it as UTF-8") from None
    fh.seek(0)
    if head.startswith("["):
        fh.close()
        raise CampaignError(f"{p} is one JSON array; write one JSON object per line (JSON lines), "
                            "e.g. with: jq -c '.[]'")

    def json_rows() -> Iterator[tuple[int, int, Any]]:
        with fh:
            n = 0
            try:
                for line_no, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    n += 1
                    try:
                        value = json.loads(line)
                    except ValueError as exc:
                        yield n, line_no, f"not valid JSON: {exc}"
                        continue
                    yield n, line_no, value
            except UnicodeDecodeError:
                raise CampaignError(f"{p} is not UTF-8 text: save it as UTF-8") from None

    return None, json_rows()


def count_rows(path: str | os.PathLike[str]) -> int:
    """A quick upper bound on data rows (lines), for a progress bar."""
    n = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            n += block.count(b"\n")
    return n


@dataclass(slots=True)
class CampaignResult:
    id: str
    name: str
    total: int = 0
    accepted: int = 0
    rejected: int = 0
    segments: int = 0
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.id,
            "name": self.name,
            "total": self.total,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "segments": self.segments,
            "seconds": round(self.seconds, 3),
            "bad_rows": [e.to_dict() for e in self.errors],
            "bad_rows_shown": len(self.errors),
        }


async def submit_campaign(
    redis: Any,
    path: str | os.PathLike[str],
    options: CampaignOptions,
    *,
    keys: Keys | None = None,
    fmt: str | None = None,
    campaign_id: str | None = None,
    progress: Callable[[CampaignResult], None] | None = None,
    tracker: Any = None,
    chunk: int = ENQUEUE_CHUNK,
) -> CampaignResult:
    """Read, check and enqueue a campaign; returns the counts and the bad rows.

    The campaign record is written first (state ``intake``, the rate limit set before
    any message can be read) and moved to ``queued`` at the end; counters grow in the
    same round trip as each chunk's XADDs. ``tracker`` (an ``engine.tracking.Tracker``)
    records each accepted message as ``queued`` just before its XADD, so an engine
    already running counts it in the campaign's states.
    """
    keys = keys or Keys()
    cid = campaign_id or new_id()
    header, rows = read_rows(path, fmt)
    prep = RowPreparer(cid, options)
    if header is not None:
        prep.check_columns(header)
    name = options.name or Path(path).stem
    result = CampaignResult(id=cid, name=name)
    t0 = time.monotonic()
    ckey = keys.campaign(cid)
    rkey = keys.campaign_rejected(cid)
    await (
        redis.pipeline(transaction=True)
        .hset(ckey, mapping={
            "id": cid, "name": name, "file": str(Path(path).resolve()), "sender": options.sender,
            "template": options.text, "region": prep.numbers.region, "priority": options.priority,
            "encoding": options.encoding, "created": repr(time.time()), "state": "intake",
            "rate": repr(float(options.rate)), "total": 0, "accepted": 0, "rejected": 0,
            "segments": 0, "rejected_stored": 0,
        })
        .zadd(keys.campaigns, {cid: time.time()})
        .execute()
    )
    producer = Producer(redis, keys)
    stored = 0
    # A rate-limited campaign gets its own stream: consumers read it only as fast as
    # its tokens allow, so it never stands in front of other traffic in the shared
    # bulk stream. The group is made before the id is announced to consumers.
    own_stream = keys.campaign_stream(cid) if options.rate > 0 and options.priority == "bulk" else None
    if own_stream is not None:
        await redis.xgroup_create(own_stream, keys.group, id="0", mkstream=True)
        await redis.sadd(keys.campaign_streams, cid)

    async def flush(good: list[Message], bad: list[RowError], rows_seen: int) -> None:
        nonlocal stored
        segs = sum(m.segments for m in good)
        keep = bad[: max(REJECTED_STORED_MAX - stored, 0)]
        stored += len(keep)

        def counters(pipe: Any, _batch: Any = None) -> None:
            pipe.hincrby(ckey, "total", rows_seen)
            pipe.hincrby(ckey, "accepted", len(good))
            pipe.hincrby(ckey, "rejected", len(bad))
            pipe.hincrby(ckey, "segments", segs)
            if keep:
                pipe.rpush(rkey, *[json.dumps(e.to_dict(), ensure_ascii=False) for e in keep])
                pipe.hincrby(ckey, "rejected_stored", len(keep))

        if good:
            if tracker is not None:
                # Before the XADDs: a running engine may read and record "submitted" at
                # once, and the tracking record must already carry the campaign for its
                # per-state counters. (If the XADDs then fail, the intake is marked failed.)
                from engine.tracking import Queued

                await tracker.record_queued([Queued(m.id, m.segments, cid) for m in good])
            await producer.enqueue_many(good, chunk=max(chunk, len(good)), extra=counters, stream=own_stream)
        else:
            pipe = redis.pipeline(transaction=False)
            counters(pipe)
            await pipe.execute()
        result.total += rows_seen
        result.accepted += len(good)
        result.rejected += len(bad)
        result.segments += segs
        room = REJECTED_REPORT_MAX - len(result.errors)
        if room > 0:
            result.errors.extend(bad[:room])
        result.seconds = time.monotonic() - t0
        if progress is not None:
            progress(result)

    good: list[Message] = []
    bad: list[RowError] = []
    seen = 0
    try:
        for row_no, line, row in rows:
            seen += 1
            if isinstance(row, str):
                bad.append(RowError(row_no, line, row))
            else:
                item = prep.prepare(row_no, line, row)
                if isinstance(item, RowError):
                    bad.append(item)
                else:
                    good.append(item)
            if len(good) >= chunk or len(bad) >= chunk:
                await flush(good, bad, seen)
                good, bad, seen = [], [], 0
        await flush(good, bad, seen)
    except BaseException as exc:
        # What was enqueued stays enqueued (and counted); the record says the intake broke.
        await redis.hset(ckey, mapping={"state": "failed", "error": str(exc) or type(exc).__name__})
        raise
    result.seconds = time.monotonic() - t0
    await redis.hset(ckey, mapping={"state": "queued", "intake_seconds": f"{result.seconds:.3f}",
                                    "stream": own_stream or keys.stream(options.priority)})
    return result


async def campaign_info(redis: Any, campaign_id: str, *, keys: Keys | None = None,
                        rejected: int = 20) -> dict[str, Any] | None:
    """The campaign record, its first ``rejected`` bad rows, and per-state counts from
    delivery tracking when present; None when there is no such campaign."""
    keys = keys or Keys()
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(keys.campaign(campaign_id))
    pipe.lrange(keys.campaign_rejected(campaign_id), 0, max(rejected - 1, -1) if rejected else -1)
    pipe.hgetall(keys.campaign_states(campaign_id))
    record, bad, states = await pipe.execute()
    if not record:
        return None
    info: dict[str, Any] = dict(record)
    for k in ("total", "accepted", "rejected", "segments", "rejected_stored"):
        if k in info:
            info[k] = int(info[k])
    for k in ("rate", "created"):
        if k in info:
            info[k] = float(info[k])
    info["bad_rows"] = [json.loads(b) for b in bad]
    info["states"] = {k: int(v) for k, v in states.items() if k not in ("total", "segments") and int(v) != 0}
    return info
