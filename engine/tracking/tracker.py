"""The :class:`Tracker`: records each message's life in Redis, one script call per batch.

See the package docstring for the key layout and the aggregation rules. Everything
per message lives in Redis with a TTL; the tracker itself keeps only one small
:class:`~engine.tracking.ids.FormatDetector` per account.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from engine.smpp.receipts import STATES as _RECEIPT_STATES
from engine.smpp.receipts import state_from_stat
from engine.smpp.receipts import Receipt as _SmppReceipt
from engine.tracking._lua import SCRIPT, STRIDE
from engine.tracking.ids import MAX_ID_LENGTH, PROFILE_KINDS, FormatDetector, candidates, canonical

_log = logging.getLogger("engine.tracking")

__all__ = [
    "Tracker",
    "Queued",
    "Submitted",
    "Failed",
    "OutcomeUnknown",
    "Receipt",
    "ReceiptMatch",
    "ReceiptResult",
    "MessageStatus",
    "PartStatus",
    "MESSAGE_STATE_STATES",
    "FINAL_STATES",
    "FAILURE_STATES",
    "EVENT_STATES",
    "MAX_PARTS",
    "MAX_BATCH",
]

# A concatenated SMS has at most 255 parts (the UDH's total-parts octet).
MAX_PARTS = 255
# Records per script call. The script runs atomically, so Redis serves nobody else
# while it runs: 1,000 records take about 10 ms, which keeps other clients' latency
# (the intake's XREADGROUP, the CLI) in the milliseconds while the per-call overhead
# is already amortised. Larger batches are cut into chunks of this size.
MAX_BATCH = 1000
# Held receipts moved to the unmatched stream per script call: bounds the work one
# call does after an outage that left many receipts held.
SWEEP_LIMIT = 1000
# The history string of one message stops growing at this length; a message that
# bounces between outcome_unknown and submitted forever must not grow without end.
HISTORY_MAX_BYTES = 2048

# SMPP 3.4 §5.2.28 message_state TLV values -> our state names.
MESSAGE_STATE_STATES = {
    1: "enroute",
    2: "delivered",
    3: "expired",
    4: "deleted",
    5: "undeliverable",
    6: "accepted",
    7: "unknown",
    8: "rejected",
}
_RECEIPT_VOCABULARY = frozenset(_RECEIPT_STATES)
FAILURE_STATES = frozenset({"failed", "undeliverable", "expired", "rejected", "deleted", "unknown"})
FINAL_STATES = FAILURE_STATES | {"delivered"}
# Aggregated message states that can be published on the status stream. "queued" is
# not among them: the business queued the message itself.
EVENT_STATES = FINAL_STATES | {"submitted", "outcome_unknown"}


class Queued(NamedTuple):
    msg_id: str
    parts: int = 1
    campaign: str = ""
    account: str = ""


class Submitted(NamedTuple):
    """A submit_sm_resp with status 0 for part ``part`` (1-based) of ``msg_id``.

    ``submitted_at``: when the submit_sm was written (unix seconds); the part's time
    and the start of its submit-to-receipt latency. None: the time of the record.
    """

    msg_id: str
    part: int
    smsc_message_id: str
    account: str
    bind: str = ""
    parts: int = 1
    submitted_at: float | None = None


class Failed(NamedTuple):
    """A submit_sm_resp with an error status, or a final local failure."""

    msg_id: str
    part: int
    command_status: int
    account: str = ""
    bind: str = ""
    parts: int = 1


class OutcomeUnknown(NamedTuple):
    """A submit whose response was lost (disconnect, response timeout)."""

    msg_id: str
    part: int
    account: str = ""
    bind: str = ""
    parts: int = 1


@dataclass(frozen=True, slots=True)
class Receipt:
    """The fields of a delivery receipt the tracker uses.

    ``receipted_message_id`` and ``message_state`` are the TLVs; ``id`` and ``stat``
    the appendix B text. The TLVs win when present. Any object with these attribute
    names (the SMPP layer's parsed receipt) is accepted by
    :meth:`Tracker.apply_receipts` too.
    """

    id: str | None = None
    stat: str | None = None
    err: str = ""
    receipted_message_id: str | None = None
    message_state: int | None = None


class ReceiptMatch(NamedTuple):
    msg_id: str
    part: int
    state: str
    # When the part was recorded as submitted (seconds since the epoch).
    submitted_at: float
    # Submit-to-receipt latency in seconds (0 for a receipt held before its response).
    latency: float
    # Which id spelling matched (``same``, ``hex2dec``, ``dec2hex``; ``held``).
    kind: str


@dataclass(slots=True)
class ReceiptResult:
    matched: list[ReceiptMatch] = field(default_factory=list)
    # Receipts with no submit (yet): held until the response lands or the hold ends.
    held: int = 0
    # Receipts for parts already final (the SMSC resent its deliver_sm).
    duplicates: int = 0
    # Receipts moved to the unmatched stream by this call (held ones whose hold
    # ended, plus receipts with no usable id).
    unmatched: int = 0


@dataclass(frozen=True, slots=True)
class PartStatus:
    part: int
    state: str
    smsc_message_id: str | None
    bind: str | None
    submitted_at: float | None
    done_at: float | None
    error: str | None
    stat: str | None
    command_status: int | None
    tries: int
    outcome_unknown_at: float | None


@dataclass(frozen=True, slots=True)
class MessageStatus:
    msg_id: str
    state: str
    parts: int
    campaign: str
    account: str
    error: str | None
    # Times the submit outcome was unknown; > 0 means a duplicate is possible.
    outcome_unknown: int
    # (state, time) in order; each aggregated state change once.
    history: list[tuple[str, float]]
    part_detail: list[PartStatus]

    def to_dict(self) -> dict[str, Any]:
        return {
            "msg_id": self.msg_id,
            "state": self.state,
            "parts": self.parts,
            "campaign": self.campaign,
            "account": self.account,
            "error": self.error,
            "outcome_unknown": self.outcome_unknown,
            "history": [{"state": s, "at": t} for s, t in self.history],
            "part_detail": [
                {
                    "part": p.part,
                    "state": p.state,
                    "smsc_message_id": p.smsc_message_id,
                    "bind": p.bind,
                    "submitted_at": p.submitted_at,
                    "done_at": p.done_at,
                    "error": p.error,
                    "stat": p.stat,
                    "command_status": p.command_status,
                    "tries": p.tries,
                    "outcome_unknown_at": p.outcome_unknown_at,
                }
                for p in self.part_detail
            ],
        }


def _ms(seconds: float, name: str) -> int:
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"Tracker {name} must be a positive number of seconds, got {seconds!r}")
    return max(1, int(seconds * 1000))


def _check_part(msg_id: Any, part: Any, parts: Any) -> None:
    if not isinstance(msg_id, str) or not msg_id:
        raise ValueError(f"msg_id must be a non-empty string, got {msg_id!r}")
    if not isinstance(parts, int) or not 1 <= parts <= MAX_PARTS:
        raise ValueError(f"message {msg_id!r}: parts must be an integer from 1 to {MAX_PARTS}, got {parts!r}")
    if not isinstance(part, int) or not 1 <= part <= parts:
        raise ValueError(f"message {msg_id!r}: part must be an integer from 1 to parts={parts}, got {part!r}")


def _parsed_fields(rid: Any, ms: Any, stat: Any, word: Any, err: Any) -> tuple[str, str, str, str]:
    """``receipt_fields`` from a receipt's message id, message_state TLV, stat word,
    state word and err; the TLV's state wins."""
    if ms is not None and int(ms) in MESSAGE_STATE_STATES:
        state = MESSAGE_STATE_STATES[int(ms)]
    elif word in _RECEIPT_VOCABULARY:
        state = word
    else:
        # Tolerant of spelled-out and vendor words (FAILED -> undeliverable); a word it
        # cannot name is "unknown", a final state, with the raw word kept beside it.
        state = state_from_stat(stat or word)
    return str(rid or ""), state, "" if err is None else str(err), str(stat or word or "")


def receipt_row_fields(row: tuple) -> tuple[str, str, str, str]:
    """``receipt_fields`` of a receipt lane row ``(sequence_number, message_id, state,
    stat, err, message_state)`` (``engine.client.Bind.on_receipt_rows``): the same as
    for the parsed receipt it stands for."""
    return _parsed_fields(row[1], row[5], row[3], row[2], row[4])


def receipt_fields(r: Any) -> tuple[str, str, str, str]:
    """(raw id, state, err, raw stat) of a receipt object, what
    :meth:`Tracker.apply_receipt_fields` takes; the TLVs are preferred.

    Accepts :class:`Receipt`, ``engine.smpp.receipts.Receipt`` (``state`` already in
    the vocabulary) and ``engine.client.Receipt`` (its ``parsed`` is used when the
    SMPP layer could parse it; else its ``state`` is the raw stat word).
    """
    parsed = getattr(r, "parsed", None)
    if parsed is not None:
        r = parsed
    if type(r) is _SmppReceipt:
        # The SMPP layer's receipt (the engine's case): its fields by name, without the
        # getattr probes for the names it does not have (id, receipted_message_id, err).
        return _parsed_fields(r.message_id, r.message_state, r.stat, r.state, r.error)
    rid = getattr(r, "receipted_message_id", None) or getattr(r, "message_id", None) or getattr(r, "id", None) or ""
    err = getattr(r, "err", None)
    if err is None:
        err = getattr(r, "error", None)
    return _parsed_fields(rid, getattr(r, "message_state", None), getattr(r, "stat", None),
                          getattr(r, "state", None), err)


# Part numbers as the strings the script wants (0..MAX_PARTS), without str() per record.
_NUM = tuple(str(i) for i in range(MAX_PARTS + 1))
_PART = {s: i for i, s in enumerate(_NUM)}
# The batch argument: compact JSON. orjson is about ten times json's C encoder on a
# batch of short strings (0.06 against 0.65 µs per record); it writes non-ASCII as
# UTF-8 rather than \u escapes, which cjson decodes to the same bytes.
_dumps = orjson.dumps


def _add_matches(out: list[ReceiptMatch], joined: str | bytes, t: float) -> int:
    """Append the script's matches (msg_id, part, state, submit time, kind; five
    fields each, all joined by \\x1f) to ``out`` as :class:`ReceiptMatch` with their
    latency at ``t``; returns how many."""
    if not joined:
        return 0
    # bytes from a client that does not decode responses
    flat = (joined.decode() if isinstance(joined, bytes) else joined).split("\x1f")
    if len(flat) % 5:
        raise ValueError(f"tracking script: {len(flat)} match fields, not a multiple of 5")
    it = iter(flat)
    new = tuple.__new__  # ReceiptMatch(...) is a Python-level __new__: one frame more per match
    for mid, part, state, sub, kind in zip(it, it, it, it, it):
        at = float(sub)
        lat = t - at
        out.append(new(ReceiptMatch, (mid, _PART.get(part) or int(part), state, at, lat if lat > 0.0 else 0.0, kind)))
    return len(flat) // 5


def _fnum(v: bytes | str | None) -> float | None:
    return None if v is None else float(v)


def _s(v: bytes | str | None) -> str | None:
    if v is None:
        return None
    return v.decode() if isinstance(v, bytes) else v


def _k(v: bytes | str) -> str:
    """A key or field name from Redis (bytes unless the client decodes responses)."""
    return v.decode() if isinstance(v, bytes) else v


class Tracker:
    """Message lifecycle and receipt correlation in Redis.

    ``redis`` is a ``redis.asyncio.Redis`` client. Times are in seconds. See the
    package docstring for what each method records.
    """

    def __init__(
        self,
        redis: Any,
        prefix: str = "smpp:",
        ttl: float = 7 * 24 * 3600.0,
        *,
        correlation_ttl: float = 3 * 24 * 3600.0,
        early_hold: float = 60.0,
        duplicate_window: float = 600.0,
        events_stream: str | None = None,
        events_maxlen: int = 1_000_000,
        unmatched_maxlen: int = 10_000,
        id_formats: Mapping[str, str] | None = None,
        event_states: Iterable[str] | None = None,
    ) -> None:
        if ttl < correlation_ttl:
            raise ValueError(
                f"Tracker ttl ({ttl} s) must be at least correlation_ttl ({correlation_ttl} s): "
                "a receipt must find the message record its correlation points to"
            )
        for name, v in (("events_maxlen", events_maxlen), ("unmatched_maxlen", unmatched_maxlen)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"Tracker {name} must be a positive integer, got {v!r}")
        events = EVENT_STATES if event_states is None else frozenset(event_states)
        if not events <= EVENT_STATES:
            raise ValueError(
                f"Tracker event_states: unknown {sorted(events - EVENT_STATES)}; "
                f"choose from {sorted(EVENT_STATES)}"
            )
        self.redis = redis
        self.prefix = prefix
        self.events_stream = events_stream if events_stream is not None else prefix + "status"
        # Durations and caps as strings: the script hands them to Redis as they are (a
        # Lua number would be formatted with printf on every call).
        self._cfg = json.dumps(
            {
                "ttl": str(_ms(ttl, "ttl")),
                "corr_ttl": str(_ms(correlation_ttl, "correlation_ttl")),
                "hold": float(_ms(early_hold, "early_hold")) / 1000.0,
                # The held receipt's keys outlive the hold so that the sweep, not an
                # expiry, decides its fate: the index entry carries the data anyway.
                "early_key_ms": str(_ms(early_hold * 2 + 60.0, "early_hold")),
                "dup_ms": str(_ms(duplicate_window, "duplicate_window")),
                "events": self.events_stream,
                "events_max": str(events_maxlen),
                # A JSON object, so that Lua gets a set: {"delivered": true, ...}.
                "ev": {st: True for st in sorted(events)},
                "unmatched_max": str(unmatched_maxlen),
                "sweep_max": SWEEP_LIMIT,
                "hist_max": HISTORY_MAX_BYTES,
            }
        )
        self._profiles = dict(id_formats or {})
        for account, fmt in self._profiles.items():
            if fmt not in PROFILE_KINDS:
                raise ValueError(
                    f"Tracker id_formats[{account!r}]: message_id_format must be one of "
                    f"{', '.join(PROFILE_KINDS)}, got {fmt!r}"
                )
        self._detectors: dict[str, FormatDetector] = {}
        self._submit_hint = ""
        self._script = redis.register_script(SCRIPT)

    # --- plumbing -------------------------------------------------------------------

    async def _run(self, op: str, flat: list[str], now: float | None, *extra: str | bytes) -> Any:
        ts = f"{time.time() if now is None else now:.6f}"
        args = [op, self.prefix, ts, self._cfg, _dumps(flat), *extra]
        # redis-py's Script reloads the script itself after a NOSCRIPT (Redis restart).
        return await self._script(args=args)

    async def _chunks(self, op: str, flat: list[str], now: float | None, *extra: str) -> list:
        """One script call per MAX_BATCH records of a flat batch (fixed stride)."""
        if not flat:
            return []
        step = MAX_BATCH * STRIDE[op]
        return [await self._run(op, flat[i : i + step], now, *extra) for i in range(0, len(flat), step)]

    def _locks(self) -> bytes:
        """``{account: kind}`` for every account whose id spelling is known here (the
        script applies held receipts only under that spelling)."""
        return orjson.dumps({a: d.locked for a, d in self._detectors.items() if d.locked is not None})

    async def _detector(self, account: str) -> FormatDetector:
        d = self._detectors.get(account)
        if d is None:
            raw = await self.redis.hgetall(f"{self.prefix}idfmt:{account}")
            counts = {_k(k): int(v) for k, v in raw.items()}
            d = FormatDetector(self._profiles.get(account, "auto"), counts)
            self._detectors[account] = d
        return d

    # --- recording ------------------------------------------------------------------

    async def record_queued(self, batch: Iterable[Queued | Sequence], *, now: float | None = None) -> int:
        """Create records in state ``queued``; returns how many were new (a record
        that already exists is left as it is: a re-read stream entry changes nothing)."""
        flat: list[str] = []
        for q in batch:
            if type(q) is not Queued:
                q = Queued(*q)
            msg_id, parts, campaign, account = q
            _check_part(msg_id, 1, parts)
            flat += (msg_id, _NUM[parts], campaign or "", account or "")
        new = 0
        for r in await self._chunks("queued", flat, now):
            new += int(r[0])
        return new

    async def record_submitted(
        self, batch: Iterable[Submitted | Sequence], *, now: float | None = None
    ) -> list[ReceiptMatch]:
        """Record accepted submits and their correlation entries.

        Returns the receipts that had arrived before these responses (held) and are
        applied now.
        """
        flat: list[str] = []
        accounts = set()
        for s in batch:
            if type(s) is not Submitted:
                s = Submitted(*s)
            msg_id, part, sid, account, bind, parts, sent = s
            if (type(msg_id) is str and msg_id and type(part) is int and type(parts) is int
                    and 1 <= part <= parts <= MAX_PARTS and type(sid) is str and sid.isalnum()):
                # The usual record, checked and canonicalised inline (canonical()'s
                # fast path): the two calls were a third of this loop's time.
                canon = sid.lower().lstrip("0") or "0"
            else:
                _check_part(msg_id, part, parts)
                if not isinstance(sid, str) or not sid.strip():
                    raise ValueError(
                        f"message {msg_id!r} part {part}: smsc_message_id must be a non-empty string, got {sid!r}"
                    )
                canon = canonical(sid)
            flat += (msg_id, _NUM[part], _NUM[parts], sid, canon, account, bind,
                     "" if sent is None else f"{sent:.3f}")
            accounts.add(account)
        for account in accounts:
            if account not in self._detectors:
                await self._detector(str(account))
        late: list[ReceiptMatch] = []
        step = MAX_BATCH * STRIDE["submitted"]
        locks = self._locks()
        for i in range(0, len(flat), step):
            chunk = flat[i : i + step]
            late_flat, _skipped, existing = await self._run("submitted", chunk, now, self._submit_hint, locks)
            # Most records new (the messages were not queued through the tracker): the
            # next batch asks EXISTS before reading a record (see the script).
            self._submit_hint = "new" if int(existing) * 7 * 2 < len(chunk) else ""
            for k in range(0, len(late_flat), 5):
                mid, part, state, received, outcome = map(_s, late_flat[k : k + 5])
                if outcome == "ok":
                    late.append(ReceiptMatch(mid, int(part), state, float(received), 0.0, "held"))
        return late

    async def record_failed(self, batch: Iterable[Failed | Sequence], *, now: float | None = None) -> int:
        """Parts whose submit_sm_resp carried an error (or that failed finally before
        submission): part state ``failed`` with the command_status."""
        flat: list[str] = []
        for f in batch:
            if type(f) is not Failed:
                f = Failed(*f)
            _check_part(f.msg_id, f.part, f.parts)
            flat += (f.msg_id, _NUM[f.part], _NUM[f.parts], f"0x{int(f.command_status):08x}", f.account, f.bind)
        return sum(int(r) for r in await self._chunks("failed", flat, now))

    async def record_outcome_unknown(
        self, batch: Iterable[OutcomeUnknown | Sequence], *, now: float | None = None
    ) -> int:
        """Parts submitted whose response was lost. The message state becomes
        ``outcome_unknown`` and its counter grows: if it is submitted again, the status
        says a duplicate is possible."""
        flat: list[str] = []
        for u in batch:
            if type(u) is not OutcomeUnknown:
                u = OutcomeUnknown(*u)
            _check_part(u.msg_id, u.part, u.parts)
            flat += (u.msg_id, _NUM[u.part], _NUM[u.parts], u.account, u.bind)
        return sum(int(r) for r in await self._chunks("unknown", flat, now))

    async def apply_receipts(self, batch: Iterable[Any], account: str, *, now: float | None = None) -> ReceiptResult:
        """Correlate delivery receipts received on any bind of ``account``.

        Receipts that match nothing are held (a submit_sm_resp may still be on its
        way); after ``early_hold`` seconds a held receipt goes to the unmatched stream.
        """
        return await self.apply_receipt_fields([receipt_fields(r) for r in batch], account, now=now)

    async def apply_receipt_fields(self, fields: list[tuple[str, str, str, str]], account: str, *,
                                   now: float | None = None) -> ReceiptResult:
        """``apply_receipts`` for receipts given as their ``receipt_fields`` (or
        ``receipt_row_fields``): (raw id, state, err, raw stat) each."""
        if not isinstance(account, str) or not account:
            raise ValueError(f"apply_receipts: account must be a non-empty string, got {account!r}")
        det = await self._detector(account)
        kinds = det.kinds()
        chunks: list[list[str]] = []
        compact = "0"
        if kinds == ("same",):
            # The spelling is known to be "same" (learned or profiled): one candidate
            # per receipt, sent as (canonical id, state, err, raw id, raw stat) without
            # count and kind; candidates()'s fast path, inline. An id with none (empty)
            # sends the whole batch in the general form below.
            flat: list[str] = []
            for rid, state, err, stat in fields:
                if rid.isalnum() and len(rid) <= MAX_ID_LENGTH:
                    flat += (rid.lower().lstrip("0") or "0", state, err, rid, stat)
                else:
                    cands = candidates(rid, kinds)
                    if len(cands) != 1:
                        break
                    flat += (cands[0][0], state, err, rid, stat)
            else:
                compact = "1"
                step = MAX_BATCH * 5
                chunks = [flat[i : i + step] for i in range(0, len(flat), step)]
        if compact == "0":
            # Flat, per receipt: candidate count, (canonical id, kind) pairs, state,
            # err, raw id, raw stat; cut into script calls of MAX_BATCH receipts.
            flat = []
            n = 0
            for rid, state, err, stat in fields:
                cands = candidates(rid, kinds)
                flat.append(_NUM[len(cands)])
                for c in cands:
                    flat += c
                flat += (state, err, rid, stat)
                n += 1
                if n == MAX_BATCH:
                    chunks.append(flat)
                    flat, n = [], 0
            if flat:
                chunks.append(flat)
        result = ReceiptResult()
        t = time.time() if now is None else now
        locks = self._locks()
        for chunk in chunks:
            matched, held, dups, swept, unmatched, learn = await self._run("receipts", chunk, now, account, locks,
                                                                             compact)
            _add_matches(result.matched, matched, t)
            # Only matches that tell spellings apart teach the detector (the script
            # says which); a one-digit id matches in every spelling. The batch's counts
            # go in together, so the decision never sees one kind without the others.
            if learn:
                det.learn({_s(learn[k]): int(learn[k + 1]) for k in range(0, len(learn), 2)})
            result.held += int(held)
            result.duplicates += int(dups)
            result.unmatched += int(swept) + int(unmatched)
        return result

    async def sweep(self, *, now: float | None = None, matched: list[ReceiptMatch] | None = None) -> int:
        """Resolve held receipts whose hold has ended: applied when the account's id
        spelling (or a single candidate) finds their submit, else moved to the
        unmatched stream. Returns how many went to the unmatched stream; the ones
        applied are appended to ``matched`` when given. Call it periodically
        (``apply_receipts`` also does it)."""
        total = 0
        t = time.time() if now is None else now
        while True:
            swept, got, dups = await self._run("sweep", [], now, "", self._locks())
            n = int(swept)
            total += n
            applied = _add_matches(matched if matched is not None else [], got, t)
            if n + applied + int(dups) < SWEEP_LIMIT:
                return total

    async def sweep_forever(self, interval: float = 5.0, on_swept: Callable[[int], None] | None = None) -> None:
        """Sweep every ``interval`` seconds until cancelled (the engine runs it as a
        task: without receipts arriving, nothing else moves held receipts on).
        ``on_swept(n)`` gets each non-zero count (``EngineMetrics.observe_unmatched``).
        A Redis error is retried at the next interval, never raised: housekeeping must
        not take the engine down."""
        import asyncio

        from redis.exceptions import RedisError

        if not interval > 0:
            raise ValueError(f"sweep interval must be a positive number of seconds, got {interval!r}")
        task = asyncio.current_task()
        while True:
            try:
                n = await self.sweep()
            except (RedisError, OSError) as exc:
                _log.warning("tracking sweep failed, retrying in %.1f s: %s", interval, exc)
            else:
                if n and on_swept is not None:
                    on_swept(n)
            # redis-py can swallow a cancel that lands mid-command: honour it here.
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            await asyncio.sleep(interval)

    # --- reading --------------------------------------------------------------------

    async def status(self, msg_id: str) -> MessageStatus | None:
        """The life of one message, or None when there is no record (never queued
        here, or older than ``ttl``)."""
        raw = await self.redis.hgetall(f"{self.prefix}track:{msg_id}")
        if not raw:
            return None
        h = {_s(k): _s(v) for k, v in raw.items()}
        parts = int(h.get("parts") or 1)
        history = []
        first: float | None = None
        for entry in (h.get("h") or "").split(";"):
            if "@" in entry:
                st, _, ts = entry.partition("@")
                if ts[:1] == "+" and first is not None:
                    # Milliseconds after the first entry (see _lua.hist).
                    at = first + float(ts[1:]) / 1000.0
                else:
                    at = float(ts)
                    if first is None:
                        first = at
                history.append((st, at))
        detail = []
        for i in range(1, parts + 1):
            p = f"p{i}."
            cs = h.get(p + "cs")
            detail.append(
                PartStatus(
                    part=i,
                    state=h.get(p + "st") or "queued",
                    smsc_message_id=h.get(p + "id"),
                    bind=h.get(p + "b"),
                    submitted_at=_fnum(h.get(p + "ts")),
                    done_at=_fnum(h.get(p + "dt")),
                    error=h.get(p + "err") or None,
                    stat=h.get(p + "stat") or None,
                    command_status=int(cs, 16) if cs else None,
                    tries=int(h.get(p + "n") or 0),
                    outcome_unknown_at=_fnum(h.get(p + "uk")),
                )
            )
        return MessageStatus(
            msg_id=msg_id,
            state=h.get("state") or "queued",
            parts=parts,
            campaign=h.get("campaign") or "",
            account=h.get("account") or "",
            error=h.get("err") or None,
            outcome_unknown=int(h.get("n.unknown") or 0),
            history=history,
            part_detail=detail,
        )

    async def campaign_counts(self, campaign_id: str) -> dict[str, int]:
        """Messages of the campaign by current state, plus ``total`` and ``segments``."""
        raw = await self.redis.hgetall(f"{self.prefix}campaign:{campaign_id}:states")
        return {_k(k): int(v) for k, v in raw.items() if int(v) != 0 or _k(k) in ("total", "segments")}

    async def unmatched(self, count: int = 100) -> list[dict[str, str]]:
        """The newest unmatched receipts (newest first), after a sweep."""
        await self.sweep()
        rows = await self.redis.xrevrange(f"{self.prefix}unmatched", count=count)
        return [{_k(k): _k(v) for k, v in fields.items()} | {"entry": _k(eid)} for eid, fields in rows]

    async def stats(self) -> dict[str, int]:
        """Counters since the keys were created: receipts, matched, held,
        held_applied, duplicates, unmatched."""
        raw = await self.redis.hgetall(f"{self.prefix}tracking:stats")
        return {_k(k): int(v) for k, v in raw.items()}

    async def held_count(self) -> int:
        return int(await self.redis.zcard(f"{self.prefix}early-idx"))

    def id_kind(self, account: str) -> str | None:
        """The id spelling detected (or configured) for ``account``, None while unknown."""
        d = self._detectors.get(account)
        return d.locked if d else None

