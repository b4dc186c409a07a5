"""The engine service: Redis Streams in, SMPP out, every outcome recorded before the ack.

``smpp-engine run`` (``engine/cli/run.py``) and ``smpp-engine demo`` run this. One
:class:`Service` is one member of the consumer group; several processes on several
machines share the streams. Its loop, per batch::

    read (transactional first, campaign rate limits)      Consumer.read
    mark the hand-off                                       Consumer.begin
    submit through the binds (the window is backpressure)   engine.client
    record submit_sm_resp / final failure / unknown         Tracker.record_*
    XACK (and XDEL) only then                               Consumer.ack

Inbound receipts are applied to tracking in batches; MO messages go to the inbound
stream (``<prefix>inbound``). Entries of dead consumers are reclaimed (XAUTOCLAIM,
inside ``Consumer.read``); entries this process still works on are touched so that
nobody reclaims them.

The duplicate rule ("never submitted twice unless its earlier outcome was unknown,
and then its status says so") is kept like this — **resend, flagged**:

* A part written to the SMSC and never answered (connection lost, response
  timeout) is recorded ``outcome_unknown`` (the record's ``n.unknown`` grows), and
  only then is the whole message submitted again (same process, the entry still
  pending).
* An entry reclaimed from a dead consumer whose hand-off record says it was handed
  to SMPP (``Attempt.OUTCOME_UNKNOWN``): when tracking shows every part already
  submitted or final, the earlier outcome is known and the entry is acked without
  sending; otherwise its parts are recorded ``outcome_unknown`` first and then it is
  sent again. So every possible duplicate has ``outcome_unknown > 0`` in
  ``smpp-engine status``.
* A message is handed to SMPP at most :data:`MAX_HANDOFFS` times; after that its
  ``outcome_unknown`` state is left as its last word and the entry is acked (a
  message that crashes the engine must not crash it forever).
* Parts never written (shutdown before they left, encoding errors) are not
  "unknown": an entry none of whose parts left is released (``Consumer.release``)
  and goes out later as a first attempt; an encoding error is a final failure.

A Redis outage is survived: every Redis call is retried with backoff, and nothing
leaves memory before Redis has it (in-flight is bounded, so the reader simply stops
while Redis is away). Entries whose XREADGROUP reply was lost in the outage, and at
start-up the entries a previous process left under the same consumer name, are
claimed back at once (not after ``claim_idle_seconds``). A lost consumer group (Redis
restarted without persistence) is made again. Shutdown (SIGTERM/SIGINT in ``run``)
stops reading, lets the batch being handed off and the windows drain, records and
acks what finished, unbinds.

Receipts and MO messages are answered (deliver_sm_resp) only once stored: the
receipt/MO handlers return the future of the batch they join, resolved when that
batch's tracker call (or inbound-stream XADD) has been written; a failed batch is
answered ESME_RX_T_APPN and the SMSC delivers it again, so a kill -9 loses none.

Known limits (see the module author's report): a message's own TON/NPI and national-language fields are
not used (the bind's rules decide); every message goes to the default SMSC.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from bisect import bisect_left
from collections import deque
from itertools import islice
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.client import (
    ClientClosed,
    Engine,
    MoMessage,
    NotBound,
    Outcome,
    PartResult,
    PlainMessage,
    Receipt,
    SubmitResult,
)
from engine.client.bind import QUEUE_FACTOR
from engine.client.observer import MultiObserver, Observer
from engine.config import Config
from engine.queue import Attempt, Consumer, Entry, Keys, connect, stream_stats
from engine.queue.inbound import COMPLETE, InboundParts, Record
from engine.smpp.reassembly import ConcatPart
from engine.tracking import FINAL_STATES, Failed, OutcomeUnknown, Submitted, Tracker
from engine.tracking.tracker import receipt_fields, receipt_row_fields

__all__ = [
    "Service",
    "ServiceStats",
    "Quantiles",
    "MAX_HANDOFFS",
    "LOCAL_FAILURE_STATUS",
    "inbound_stream",
]

log = logging.getLogger("engine.service")

# A message is handed to SMPP at most this many times (the first send and up to three
# resends after an unknown outcome): enough to ride out a few disconnects, few enough
# that a message which crashes the engine stops doing so.
MAX_HANDOFFS = 4
# Status recorded for a part that failed before it could be sent (encoding error, a
# field the wire cannot carry): SMPP 3.4 ESME_RUNKNOWNERR, so that it is never mistaken
# for an SMSC's answer; the reason goes to the dead-letter stream.
LOCAL_FAILURE_STATUS = 0xFF
# Redis retry backoff: first pause and ceiling (seconds). A restarted Redis is back in
# about a second; polling faster would only fill the log.
REDIS_RETRY_INITIAL = 0.05
REDIS_RETRY_MAX = 2.0
# Queue statistics, sweeps of held receipts and touches of long in-flight entries run
# this often (seconds): metrics want a few-second resolution, nothing here is urgent.
HOUSEKEEPING_INTERVAL = 2.0
# MO messages kept on the inbound stream (MAXLEN ~): plenty for a consumer that was
# away for a while, bounded so that nobody reading it cannot fill Redis.
INBOUND_MAXLEN = 1_000_000
# MO records past their reassembly deadline read per sweep call: each is a few
# hundred octets; more than this many due at once is a flood, taken in several calls.
MO_SWEEP_BATCH = 200
# Sweep calls per housekeeping round: bounded, so that records a racing part keeps
# unpublishable for a moment cannot hold the round (they are due again next round).
MO_SWEEP_ROUNDS = 10
# Records per tracker call / ack call are bounded by the tracker's own MAX_BATCH; the
# service hands over whatever finished while the previous call was in flight.
# Receipts waiting in memory beyond this are a sign that Redis is away; the binds
# keep reading (the SMSC must get its deliver_sm_resp), the list just grows until
# Redis returns. Logged once when crossed.
RECEIPT_BACKLOG_WARN = 100_000
# Read batches allowed in flight beyond what the binds hold: while one batch waits for
# its records and ack (two Redis round trips, behind whatever scripts Redis is running),
# the next ones keep the windows full. Read entries not yet handed cost memory only (a
# crash leaves them pending as first attempts). 4 left the binds idle a third of the
# time at 12,000 msg/s; 16 gave +15-20 % (bench e2e, back to back).
IN_FLIGHT_BATCHES = 16
# Read batches that may wait for their hand-off while the previous one is handed.
READ_AHEAD = 2
# Pending entries of our own looked at after a failed read: the in-flight bound is a
# few thousand, so this covers every entry this consumer can own.
ORPHAN_SCAN_MAX = 20_000
# At shutdown, a batch in the middle of its hand-off mark gets this long to finish it
# (one Redis call, retried while Redis is away).
HAND_OFF_FINISH_S = 10.0
# Entries given to the client per submit_batch call (it stops early when the binds are full).
SUBMIT_SLICE = 512


def _outbound(entry: Entry) -> PlainMessage:
    msg = entry.message
    return _new_tuple(PlainMessage, (msg.source, msg.destination, msg.text, msg.encoding, msg.concat,
                                     msg.registered_delivery, 1 if msg.priority == "transactional" else 0, entry))


_new_tuple = tuple.__new__


def inbound_stream(keys: Keys) -> str:
    """Where MO messages are published: ``<prefix>inbound``."""
    return f"{keys.prefix}inbound"


class Quantiles:
    """Latency percentiles in constant memory: log-spaced buckets 2 % wide from 10 us
    to ~1 day. A million-message run must not keep a million floats (RSS flat)."""

    _LO = 1e-5
    _STEP = math.log(1.02)
    _N = 1100  # 1e-5 * 1.02**1100 ~ 2.9e4 s

    __slots__ = ("counts", "n", "total", "max")

    def __init__(self) -> None:
        self.counts = [0] * (self._N + 1)
        self.n = 0
        self.total = 0.0
        self.max = 0.0

    def add(self, value: float) -> None:
        self.add_many((value,))

    def add_many(self, values: Iterable[float]) -> None:
        """``add`` for each value: its bucket found by bisection in the buckets' edges
        (a log per value was most of the cost; the engine adds two latencies per
        message, a batch at a time). Bucket i holds the values in (edge i-1, edge i]."""
        counts, edges, where = self.counts, _EDGES, bisect_left
        n = 0
        total, mx = self.total, self.max
        for v in values:
            counts[where(edges, v)] += 1
            total += v
            if v > mx:
                mx = v
            n += 1
        self.n += n
        self.total, self.max = total, mx

    def quantile(self, q: float) -> float | None:
        if not self.n:
            return None
        rank = q * self.n
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank and c:
                # The bucket's upper edge, capped by the largest value seen.
                return min(self._LO * math.exp(self._STEP * i), self.max)
        return self.max

    def summary_ms(self) -> dict[str, float | None]:
        def ms(v: float | None) -> float | None:
            return None if v is None else round(v * 1000, 3)

        return {
            "p50": ms(self.quantile(0.50)),
            "p90": ms(self.quantile(0.90)),
            "p99": ms(self.quantile(0.99)),
            "max": ms(self.max if self.n else None),
            "count": self.n,
        }


# The upper edges of Quantiles' buckets 0..N-1 (bucket N: everything above).
_EDGES = [Quantiles._LO * math.exp(Quantiles._STEP * i) for i in range(Quantiles._N)]


@dataclass
class ServiceStats:
    """Counters of one service run (also what the demo and the benchmark report)."""

    read: int = 0
    handed: int = 0
    acked: int = 0
    submitted_ok: int = 0  # messages whose every part was accepted
    rejected: int = 0  # messages with a part answered with an error status
    local_failures: int = 0  # messages that could not be encoded / built
    unknown_parts: int = 0  # parts written and never answered
    resent: int = 0  # hand-offs after an unknown outcome (flagged in tracking)
    reclaimed: int = 0
    reclaimed_known: int = 0  # reclaimed, handed before, but tracking had the outcome
    gave_up: int = 0  # acked as outcome_unknown after MAX_HANDOFFS
    released: int = 0  # handed but never sent (shutdown): given back as first attempts
    not_ours: int = 0  # begin said acked / claimed elsewhere: not sent
    segments: int = 0  # parts accepted by the SMSC
    receipts: int = 0
    receipts_matched: int = 0
    mo: int = 0
    redis_errors: int = 0
    response_latency: Quantiles = field(default_factory=Quantiles)
    receipt_latency: Quantiles = field(default_factory=Quantiles)


async def _cancel_and_wait(task: asyncio.Task, every: float = 0.5) -> None:
    """Cancel ``task`` and wait for it to end, cancelling it again every ``every``
    seconds: redis-py can swallow a cancel that lands in a blocking read (the command
    returns normally in the cancelled task), and a task that then waits on something
    else would keep a shutdown waiting for ever."""
    task.cancel()
    while not task.done():
        try:
            await asyncio.wait_for(asyncio.shield(task), every)
        except asyncio.TimeoutError:
            log.warning("shutdown: %s did not stop on its cancel; cancelling it again", task.get_name())
            task.cancel()
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - ended (logged by the loop)
            break


def _latency_observer(metrics: Any, q: Quantiles) -> Observer:
    """The metrics observer, also feeding submit→response latencies into ``q``.

    The hooks that run per response and per receipt only count, in plain dicts; the
    counts go to Prometheus once per event-loop turn (one ``inc`` per label child and
    one histogram update per bind, see ``engine.metrics.observe_many``) instead of
    five locked updates per message. A turn of the loop handles a whole read of PDUs,
    so a scrape is at most one turn behind. Same metrics, same values.
    """
    from engine.metrics import MetricsObserver, _receipt_state, observe_many, receipt_row_state, status_name

    add_many = q.add_many
    m = metrics

    class _Observer(MetricsObserver):
        def __init__(self, metrics: Any) -> None:
            super().__init__(metrics)
            self._flight: dict[str, tuple[Any, Any]] = {}
            # Pending counts since the last flush.
            self._p_resp: dict[tuple[str, int], int] = {}
            self._p_lat: dict[str, list[float]] = {}
            self._p_seg: dict[str, int] = {}
            self._p_inbound: dict[str, int] = {}
            self._p_states: dict[str, int] = {}
            self._flush_due = False

        def _due(self) -> None:
            if not self._flush_due:
                self._flush_due = True
                try:
                    asyncio.get_running_loop().call_soon(self.flush)
                except RuntimeError:  # no loop (a test calling the hook directly)
                    self.flush()

        def flush(self) -> None:
            self._flush_due = False
            if self._p_resp:
                pend_r, self._p_resp = self._p_resp, {}
                for (bind, status), n in pend_r.items():
                    c = self._responses.get((bind, status))
                    if c is None:
                        c = self._responses[(bind, status)] = m.responses.labels(bind, status_name(status))
                    c.inc(n)
            if self._p_lat:
                pend_l, self._p_lat = self._p_lat, {}
                for bind, values in pend_l.items():
                    add_many(values)
                    h = self._latency.get(bind)
                    if h is None:
                        h = self._latency[bind] = m.response_latency.labels(bind)
                    observe_many(h, values)
            if self._p_seg:
                pend, self._p_seg = self._p_seg, {}
                for bind, n in pend.items():
                    c = self._segments.get(bind)
                    if c is None:
                        c = self._segments[bind] = m.segments_sent.labels(bind)
                    c.inc(n)
            if self._p_inbound:
                pend, self._p_inbound = self._p_inbound, {}
                for bind, n in pend.items():
                    m.inbound.labels(bind, "receipt").inc(n)
            if self._p_states:
                pend, self._p_states = self._p_states, {}
                for st, n in pend.items():
                    m.receipts.labels(st).inc(n)

        def on_response(self, bind: str, command_status: int, latency: float) -> None:
            key = (bind, command_status)
            self._p_resp[key] = self._p_resp.get(key, 0) + 1
            lat = self._p_lat.get(bind)
            if lat is None:
                lat = self._p_lat[bind] = []
            lat.append(latency)
            if command_status == 0:
                self._p_seg[bind] = self._p_seg.get(bind, 0) + 1
            if not self._flush_due:
                self._due()

        def on_in_flight(self, bind: str, in_flight: int, window: int) -> None:
            g = self._flight.get(bind)
            if g is None:
                g = self._flight[bind] = (m.in_flight.labels(bind), m.window.labels(bind))
            g[0].set(in_flight)
            g[1].set(window)

        def on_receipt(self, bind: str, receipt: Any) -> None:
            self._p_inbound[bind] = self._p_inbound.get(bind, 0) + 1
            st = _receipt_state(receipt)
            self._p_states[st] = self._p_states.get(st, 0) + 1
            if not self._flush_due:
                self._due()

        def on_receipt_rows(self, bind: str, rows: list[tuple]) -> None:
            self._p_inbound[bind] = self._p_inbound.get(bind, 0) + len(rows)
            states = self._p_states
            for r in rows:
                st = receipt_row_state(bind, r)
                states[st] = states.get(st, 0) + 1
            if not self._flush_due:
                self._due()

    return _Observer(metrics)


def _observe_matches(metrics: Any, matched: list[Any], q: Quantiles) -> None:
    """``EngineMetrics.observe_tracking``'s per-receipt part, grouped: one ``inc`` per
    state and one histogram update per batch instead of two per receipt; the
    latencies go into ``q`` too."""
    from engine.metrics import observe_many

    by_state: dict[str, int] = {}
    lats = []
    for mt in matched:
        by_state[mt.state] = by_state.get(mt.state, 0) + 1
        lats.append(mt.latency)
    q.add_many(lats)
    observe_many(metrics.receipt_latency, lats)
    for state, n in by_state.items():
        metrics.receipts_correlated.labels(state).inc(n)


_REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


def _settle(fut: asyncio.Future | None, exc: BaseException | None = None) -> None:
    """Resolve a batch's stored-future: success, or the failure the binds answer
    ESME_RX_T_APPN for (a cancelled future means the same to them)."""
    if fut is None or fut.done():
        return
    if exc is None:
        fut.set_result(None)
    elif isinstance(exc, Exception):
        fut.set_exception(exc)
    else:
        fut.cancel()


class Service:
    """One engine process: ``await start()``, ``await run_until(stop_event)``, ``await close()``.

    ``redis``: an ``redis.asyncio.Redis`` (default: opened from the config).
    ``metrics``: an ``engine.metrics.EngineMetrics`` (default: one is made; its HTTP
    server is started by ``start(serve_metrics=True)``).
    ``consumer``: the consumer name (default: ``[engine] consumer``).
    """

    def __init__(
        self,
        config: Config,
        *,
        redis: Any = None,
        metrics: Any = None,
        consumer: str | None = None,
        keys: Keys | None = None,
        claim_idle_ms: int | None = None,
        block_ms: int | None = None,
        event_states: Iterable[str] | None = None,
        observer: Observer | None = None,
    ) -> None:
        if not config.smscs:
            raise ValueError("the configuration has no [[smscs]]: nothing to send through")
        self.config = config
        self.keys = keys or Keys.from_config(config.engine)
        self._own_redis = redis is None
        self.redis = redis if redis is not None else connect(config=config)
        if metrics is None:
            from engine.metrics import EngineMetrics

            metrics = EngineMetrics()
        self.metrics = metrics
        self.metrics_server: Any = None
        self.stats = ServiceStats()
        overrides: dict[str, Any] = {}
        if consumer:
            overrides["name"] = consumer
        if claim_idle_ms is not None:
            overrides["claim_idle_ms"] = claim_idle_ms
        if block_ms is not None:
            overrides["block_ms"] = block_ms
        self.consumer = Consumer(
            self.redis,
            self.keys,
            name=overrides.get("name", config.engine.consumer),
            count=config.redis.batch_size,
            claim_idle_ms=overrides.get("claim_idle_ms", int(config.engine.claim_idle_seconds * 1000)),
            **({"block_ms": overrides["block_ms"]} if "block_ms" in overrides else {}),
        )
        corr_ttl = config.engine.correlation_ttl_seconds
        self.tracker = Tracker(
            self.redis,
            prefix=self.keys.prefix,
            ttl=max(7 * 24 * 3600.0, corr_ttl),
            correlation_ttl=corr_ttl,
            events_stream=config.engine.status_stream,
            event_states=event_states if event_states is not None else (
                FINAL_STATES if config.engine.status_events == "final" else None),
            id_formats={b.system_id: b.message_id_format for s in config.smscs for b in s.binds},
        )
        obs: Observer = _latency_observer(metrics, self.stats.response_latency)
        if observer is not None:
            obs = MultiObserver(obs, observer)
        self.engine = Engine(config, obs, on_receipt=self._on_receipt, on_mo=self._on_mo,
                             on_receipt_rows=self._on_receipt_rows)
        # The parts of concatenated MO messages are stored in Redis before they are
        # answered (engine.queue.inbound), not held by each client's memory.
        self._inbound_parts = InboundParts(self.redis, self.keys.prefix)
        self._mo_client = {b.name: c for c in self.engine.smscs.values() for b in c.binds}
        for c in self.engine.smscs.values():
            c.on_mo_part = self._on_mo_part
        # Correlation is per SMSC account (system_id), shared by all its binds.
        self._account = {b.name: b.system_id for s in config.smscs for b in s.binds}
        self._client = self.engine.client()
        tx_window = sum(b.window for b in self._client.binds if b.config.can_transmit) or 1
        # Messages between read and ack: what the windows and bind queues can hold plus
        # a few read batches. Bounds memory, and with Redis away it stops the reader.
        self.max_in_flight = tx_window * (QUEUE_FACTOR + 1) + IN_FLIGHT_BATCHES * config.redis.batch_size
        self._in_flight: dict[str, Entry] = {}
        self._done: list[tuple[Entry, SubmitResult]] = []
        # Receipts waiting for Redis: (bind, their receipt_fields) per arrival or lane
        # chunk, and how many in all.
        self._receipts: list[tuple[str, list[tuple[str, str, str, str]]]] = []
        self._receipt_count = 0
        self._mo: list[MoMessage] = []
        # (bind, part, pdu, received_at, answered when stored): a future per part, as
        # the part that completes its message waits for the publish and the others not.
        self._mo_parts: list[tuple[str, ConcatPart, Any, float, asyncio.Future]] = []
        # Resolved once the receipts / MO taken since the last batch are in Redis; the
        # binds answer their deliver_sm when it is (engine.client.bind).
        self._receipts_stored: asyncio.Future | None = None
        self._mo_stored: asyncio.Future | None = None
        self._wake_records = asyncio.Event()
        self._wake_receipts = asyncio.Event()
        self._room = asyncio.Event()
        # Entries marked handed and not yet given to a bind (the reader and the
        # resender fill it; close() releases what is left).
        self._to_submit: deque[Entry] = deque()
        self._to_resubmit: deque[Entry] = deque()
        self._resends: list[Entry] = []
        # Read batches waiting for their hand-off (at most READ_AHEAD), and their size.
        self._hand_q: asyncio.Queue[list[Entry]] = asyncio.Queue(maxsize=READ_AHEAD)
        self._read_ahead = 0
        # The batches read and not yet handed (the orphan recovery asks for their ids).
        self._ahead: dict[int, list[Entry]] = {}
        self._acks: list[tuple[list[Entry], list[Entry]]] = []
        self._wake_acks = asyncio.Event()
        self._wake_resend = asyncio.Event()
        self._wake_submit = asyncio.Event()
        self._submit_room = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task] = []
        self._reader: asyncio.Task | None = None
        self._hander: asyncio.Task | None = None
        self._handing = False
        self._started = False
        self._backlog_warned = False
        self.on_progress: Callable[[ServiceStats], None] | None = None

    # --- lifecycle --------------------------------------------------------------------

    async def start(self, *, serve_metrics: bool = True, require_bind: bool = False) -> None:
        """Metrics server, Redis group, binds, then the loops.

        A bind that cannot be established at start keeps retrying in the background
        (messages wait in the bind queues); ``require_bind=True`` raises ``NotBound``
        instead.
        """
        if serve_metrics and self.config.metrics.enabled:
            from engine.metrics import start_metrics_server

            m = self.config.metrics
            self.metrics_server = start_metrics_server(m.port, self.metrics.registry, host=m.host)
        await self._redis_call("create the consumer group", self.consumer.ensure_groups)
        try:
            await self.engine.start()
        except NotBound as exc:
            if require_bind:
                raise
            log.warning("%s; retrying in the background, messages wait for the bind", exc)
            for client in self.engine.smscs.values():
                for b in client.binds:
                    b.start()
        self._started = True
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._record_loop(), name="service records"),
            loop.create_task(self._receipt_loop(), name="service receipts"),
            loop.create_task(self._housekeeping(), name="service housekeeping"),
            loop.create_task(self._resend_loop(), name="service resends"),
            loop.create_task(self._submit_loop(), name="service submits"),
            loop.create_task(self._ack_loop(), name="service acks"),
        ]
        self._hander = loop.create_task(self._hand_loop(), name="service hand-off")
        self._reader = loop.create_task(self._read_loop(), name="service reader")

    @property
    def metrics_url(self) -> str | None:
        if self.metrics_server is None:
            return None
        return f"http://{self.config.metrics.host}:{self.metrics_server.port}/metrics"

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run_until(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set (or the reader dies), then shut down gracefully."""
        waiter = asyncio.ensure_future(stop.wait())
        watched: set[asyncio.Future[Any]] = {waiter}
        watched.update(t for t in (self._reader, self._hander) if t is not None)
        try:
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        for task in (self._reader, self._hander):
            if task is not None and task.done() and not task.cancelled():
                exc = task.exception()
                if exc is not None:
                    await self.close(drain_timeout=5.0)
                    raise exc
        await self.close()

    async def close(self, *, drain_timeout: float | None = None) -> None:
        """Stop reading, let in-flight messages finish, record and ack them, unbind."""
        if self._stopping:
            return
        self._stopping = True
        self._room.set()
        if self._reader is not None:
            await _cancel_and_wait(self._reader)
        self._submit_room.set()
        if self._hander is not None:
            # A batch being marked handed finishes its mark (cancelled in the middle,
            # its entries would be neither pending as read nor known as handed); an
            # idle hand-off task is cancelled at once. Entries marked and not yet
            # taken by a bind are released below (first attempts, sent later).
            if self._handing:
                try:
                    await asyncio.wait_for(asyncio.shield(self._hander), HAND_OFF_FINISH_S)
                except (asyncio.TimeoutError, Exception):  # noqa: BLE001
                    pass
            self._hander.cancel()
            try:
                await self._hander
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        # Batches read but never marked handed stay pending: reclaimed later as first
        # attempts. (Nothing to do for them here.)
        for t in self._tasks:
            if t.get_name() in ("service resends", "service submits"):
                t.cancel()
                try:
                    await t
                except (asyncio.CancelledError, Exception):  # noqa: BLE001
                    pass
        # Handed but never given to a bind: first attempts are given back (they go out
        # as first attempts later); resends stay pending as they are (already recorded
        # outcome unknown) and are reclaimed.
        waiting = list(self._to_submit) + list(self._to_resubmit) + self._resends
        self._to_submit.clear()
        self._to_resubmit.clear()
        self._resends = []
        for e in waiting:
            self._in_flight.pop(e.entry_id, None)
        first = [e for e in waiting if e.attempt is Attempt.FIRST]
        if first:
            try:
                await self._redis_call("release", self.consumer.release, first, give_up_at=time.monotonic() + 5)
                self.stats.released += len(first)
            except _REDIS_ERRORS:
                pass
        log.info("shutdown: reading stopped; %d messages in flight", len(self._in_flight))
        binds = [b.config for c in self.engine.smscs.values() for b in c.binds]
        if drain_timeout is None:
            drain_timeout = max((b.drain_timeout + b.response_timeout for b in binds), default=10.0)
        deadline = time.monotonic() + drain_timeout
        # Outcomes arrive through the client; records go to Redis through the record loop.
        while self._in_flight and time.monotonic() < deadline:
            self._wake_records.set()
            await asyncio.sleep(0.02)
        if self._in_flight:
            log.warning("shutdown: %d messages still in flight after %.1f s; they stay pending in Redis "
                        "and are reclaimed (as outcome unknown where they may have gone out)",
                        len(self._in_flight), drain_timeout)
        log.info("shutdown: outcomes recorded; unbinding")
        await self.engine.close()
        log.info("shutdown: unbound")
        # Receipts that came in while unbinding, and the last outcomes.
        deadline = time.monotonic() + 5.0
        while (self._done or self._acks or self._receipts or self._mo or self._mo_parts) \
                and time.monotonic() < deadline:
            self._wake_records.set()
            self._wake_receipts.set()
            await asyncio.sleep(0.02)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        try:
            await asyncio.wait_for(self.consumer.close(), 2.0)
        except (asyncio.TimeoutError, *_REDIS_ERRORS):
            pass
        if self.metrics_server is not None:
            self.metrics_server.close()
            self.metrics_server = None
        if self._own_redis:
            try:
                await self.redis.aclose()
            except _REDIS_ERRORS:
                pass

    # --- Redis with retries ------------------------------------------------------------

    async def _redis_call(self, what: str, fn: Callable[..., Any], *args: Any, give_up_at: float | None = None) -> Any:
        """``await fn(*args)``, retried with backoff while Redis is unreachable.

        ``fn`` is called afresh each time (a coroutine cannot be awaited twice).
        ``give_up_at`` (monotonic): re-raise after it (only shutdown uses it).
        """
        delay = REDIS_RETRY_INITIAL
        failures = 0
        while True:
            try:
                result = await fn(*args)
            except _REDIS_ERRORS as exc:
                failures += 1
                self.stats.redis_errors += 1
                if give_up_at is not None and time.monotonic() + delay > give_up_at:
                    raise
                if failures == 1 or failures % 20 == 0:
                    log.warning("Redis unavailable (%s: %s); retrying %s in %.2f s",
                                type(exc).__name__, exc, what, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, REDIS_RETRY_MAX)
                continue
            except ResponseError as exc:
                # A Redis restarted without persistence has lost the group (and the
                # streams with it): make them again and go on; anything else is a bug.
                # (A blocked XREADGROUP on a stream that vanished says UNBLOCKED.)
                if not str(exc).startswith(("NOGROUP", "UNBLOCKED")) or failures > 10:
                    raise
                failures += 1
                log.error("Redis lost the consumer group (%s): re-creating it; entries that were in the "
                          "lost stream are gone with it (configure Redis persistence)", exc)
                await self.consumer.ensure_groups()
                continue
            if failures:
                log.warning("Redis is back after %d failed attempts (%s)", failures, what)
            return result

    def _give_up_at(self) -> float | None:
        # While running, never give up; after shutdown started, give Redis a bounded time.
        return time.monotonic() + 10.0 if self._stopping else None

    # --- reading and submitting ------------------------------------------------------------

    async def _read_loop(self) -> None:
        """Read batches ahead of the hand-off: while one batch is marked and queued on
        the binds, the next XREADGROUP is already on its way (each stage waits on a
        Redis round trip; in series they left the binds idle half of the time)."""
        consumer = self.consumer
        batch = self.config.redis.batch_size
        # Restarted under the same consumer name: what the previous process left
        # pending under it is ours at once (begin tells which of it was handed).
        orphans = await self._redis_call("recover our own pending entries", self._recover_orphans, [])
        if orphans:
            self.stats.read += len(orphans)
            self.stats.reclaimed += len(orphans)
            self._read_ahead += len(orphans)
            self._ahead[id(orphans)] = orphans
            await self._hand_q.put(orphans)
        while not self._stopping:
            room = self.max_in_flight - len(self._in_flight) - self._read_ahead
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            errors = self.stats.redis_errors
            entries = await self._redis_call("read the intake streams", consumer.read, min(batch, room))
            if self.stats.redis_errors != errors:
                # A read whose reply was lost left entries pending under our name that
                # nobody here knows of; without this they would wait claim_idle_seconds.
                entries = entries + await self._redis_call("recover entries of a lost read",
                                                           self._recover_orphans, entries)
            if not entries:
                continue
            if self._stopping:
                # A cancel that redis-py swallowed mid-read (the read returned in a
                # cancelled task): the entries stay pending, reclaimed as first attempts.
                return
            self.stats.read += len(entries)
            for e in entries:
                if e.reclaimed:
                    self.stats.reclaimed += 1
            self._read_ahead += len(entries)
            self._ahead[id(entries)] = entries
            await self._hand_q.put(entries)

    async def _recover_orphans(self, fresh: list[Entry]) -> list[Entry]:
        """Entries pending under this consumer that this process does not hold: claimed
        again (XCLAIM to ourselves) and returned as reclaimed, so that ``begin`` tells
        whether they were ever handed (they were not: they were lost in a read)."""
        from engine.queue import Message
        from engine.queue.message import MalformedEntry

        c = self.consumer
        out: list[Entry] = []
        for stream in self.keys.streams:
            rows = await self.redis.xpending_range(stream, self.keys.group, "-", "+", ORPHAN_SCAN_MAX,
                                                   consumername=c.name)
            ids = [r["message_id"] for r in rows]
            if not ids:
                continue
            # Known after the await: whatever the other tasks hold now.
            known = set(self._in_flight) | {e.entry_id for b in self._ahead.values() for e in b} | \
                {e.entry_id for e in fresh}
            for q in getattr(c, "_held", {}).values():  # rate-limited, waiting in the consumer
                known.update(e.entry_id for e in q)
            lost = [i for i in ids if i not in known]
            if not lost:
                continue
            claimed: list[Any] = await self.redis.xclaim(stream, self.keys.group, c.name, 0, lost)
            now = time.monotonic()
            for entry_id, fields in claimed:
                if fields is None:
                    continue
                try:
                    msg = Message.from_fields(fields, entry_id)
                except MalformedEntry:
                    continue  # the consumer dead-letters it when it reclaims it
                out.append(Entry(stream, entry_id, msg, True, read_at=now))
        if out:
            log.warning("recovered %d entries left pending by a read whose reply was lost", len(out))
        return out

    async def _hand_loop(self) -> None:
        consumer = self.consumer
        while not self._stopping:
            self._handing = False
            entries = await self._hand_q.get()
            self._handing = True
            try:
                await self._redis_call("mark the hand-off", consumer.begin, entries)
                sendable = []
                unknown = []
                for e in entries:
                    if e.attempt is Attempt.FIRST:
                        sendable.append(e)
                    elif e.attempt is Attempt.OUTCOME_UNKNOWN:
                        unknown.append(e)
                    else:
                        self.stats.not_ours += 1
                if unknown:
                    sendable.extend(await self._prepare_unknown(unknown))
                for e in sendable:
                    self._in_flight[e.entry_id] = e
            finally:
                # Known as read-ahead until they are known as in flight (the orphan
                # recovery must never see them in neither).
                self._read_ahead -= len(entries)
                self._ahead.pop(id(entries), None)
            self._to_submit.extend(sendable)
            self._wake_submit.set()
            # The next batch is marked handed while the binds still hold this one (its
            # Redis round trip no longer leaves them idle), but no earlier: an entry
            # marked handed and waiting in memory is one a crash makes "outcome
            # unknown" (resent, flagged).
            while len(self._to_submit) > self.config.redis.batch_size and not self._stopping:
                self._submit_room.clear()
                await self._submit_room.wait()
        self._handing = False

    async def _submit_loop(self) -> None:
        """Give the entries the hand-off marked (``_to_submit``) to the binds."""
        while True:
            await self._wake_submit.wait()
            self._wake_submit.clear()
            await self._submit_all([], self._to_submit)

    async def _submit_all(self, entries: list[Entry], q: deque[Entry]) -> None:
        """Give handed entries to the binds, waiting for room. ``q`` is the caller's own
        queue (reader or resender); if cancelled (shutdown), ``close`` deals with
        whatever is left in it.

        Everything that fits is queued in one synchronous stretch through the client's
        ``submit_batch`` (a few Rust calls per bind, no future per message; a message
        that cannot be built, or no transmitting bind, comes back at once as failed with
        ``segments`` 0: final, dead-lettered); the binds pump once per turn of the event
        loop, so the parts leave in one write per bind rather than one per message.
        """
        q.extend(entries)
        client = self._client
        stats = self.stats
        on_result = self._on_submit_result
        while q:
            # No more than the binds can take now: what is left is built again next time.
            items = list(islice(q, max(min(SUBMIT_SLICE, client.room()), 1)))
            try:
                taken = client.submit_batch([_outbound(e) for e in items], on_result)
            except ClientClosed as exc:  # shutting down before it went out
                entry = q.popleft()
                self._finish(entry, SubmitResult(entry, [PartResult(0, Outcome.FAILED, error=str(exc))], 1,
                                                 error=str(exc)))
                continue
            for _ in range(taken):
                q.popleft()
            stats.handed += taken
            self._submit_room.set()
            if taken < len(items):
                try:
                    await client.wait_space()
                except ClientClosed as exc:  # shutting down before it went out
                    entry = q.popleft()
                    self._finish(entry, SubmitResult(entry, [PartResult(0, Outcome.FAILED, error=str(exc))], 1,
                                                     error=str(exc)))

    async def _prepare_unknown(self, entries: list[Entry]) -> list[Entry]:
        """Entries handed to SMPP before by a consumer that never recorded the outcome.

        Known outcome in tracking (every part submitted or final) -> ack, no resend.
        Too many hand-offs -> record unknown, ack. Otherwise record ``outcome_unknown``
        for the parts not known to be submitted (so the status says a duplicate is
        possible) and return them for sending.
        """
        resend: list[Entry] = []
        ack: list[Entry] = []
        unknown_records: list[OutcomeUnknown] = []
        account = next(iter(self._account.values()))
        for e in entries:
            st = await self._redis_call("read a message status", self.tracker.status, e.message.id)
            if st is not None and st.part_detail and all(
                p.state == "submitted" or p.state in FINAL_STATES or p.state in ("enroute", "accepted")
                for p in st.part_detail
            ):
                ack.append(e)
                self.stats.reclaimed_known += 1
                continue
            parts = st.parts if st is not None else max(e.message.segments, 1)
            pending_parts = (
                [p.part for p in st.part_detail if p.state in ("queued", "outcome_unknown")]
                if st is not None and st.part_detail
                else list(range(1, parts + 1))
            ) or [1]
            for part in pending_parts:
                unknown_records.append(OutcomeUnknown(e.message.id, part, account, "", parts))
            if e.attempts > MAX_HANDOFFS:
                ack.append(e)
                self.stats.gave_up += 1
            else:
                resend.append(e)
                self.stats.resent += 1
        if unknown_records:
            await self._redis_call("record outcome unknown", self.tracker.record_outcome_unknown, unknown_records)
        if ack:
            await self._redis_call("acknowledge", self.consumer.ack, ack)
            self.stats.acked += len(ack)
        return resend

    def _on_submit_result(self, result: SubmitResult) -> None:
        self._finish(result.reference, result)

    def _finish(self, entry: Entry, result: SubmitResult) -> None:
        self._done.append((entry, result))
        self._wake_records.set()

    # --- recording outcomes, then acking -------------------------------------------------

    async def _record_loop(self) -> None:
        while True:
            await self._wake_records.wait()
            self._wake_records.clear()
            while self._done:
                batch, self._done = self._done, []
                try:
                    await self._record(batch)
                except Exception:  # noqa: BLE001 - a bug must not stop the recording of later outcomes
                    log.exception("recording %d outcomes failed; their entries stay pending and are "
                                  "reclaimed after [engine] claim_idle_seconds", len(batch))
                    for entry, _ in batch:
                        self._in_flight.pop(entry.entry_id, None)
                    self._room.set()

    async def _record(self, batch: list[tuple[Entry, SubmitResult]]) -> None:
        submitted: list[Submitted] = []
        failed: list[Failed] = []
        unknown: list[OutcomeUnknown] = []
        ack: list[Entry] = []
        again: list[Entry] = []
        release: list[Entry] = []
        dead: list[tuple[Entry, str]] = []
        stats = self.stats
        accounts = self._account
        ok_outcome = Outcome.OK
        ok_msgs = ok_parts = 0
        for entry, res in batch:
            mid = entry.message.id
            n = res.segments
            parts = res.parts
            if n and parts:
                for p in parts:
                    if p.outcome is not ok_outcome:
                        break
                else:
                    # The common case, every part accepted: recorded submitted, acked.
                    for p in parts:
                        bind = p.bind or ""
                        submitted.append(Submitted(mid, p.index + 1, p.message_id or f"none-{mid}-{p.index + 1}",
                                                   accounts.get(bind, ""), bind, n, p.submitted_at))
                    ok_parts += len(parts)
                    ok_msgs += 1
                    ack.append(entry)
                    continue
            if res.segments == 0:
                # Could not be built (encoding, field limits): final, with the reason kept.
                failed.append(Failed(mid, 1, LOCAL_FAILURE_STATUS, "", "", 1))
                dead.append((entry, res.error or "could not be built"))
                ack.append(entry)
                stats.local_failures += 1
                continue
            n = res.segments
            any_unknown = any_rejected = False
            written = 0
            for p in res.parts:
                o = p.outcome
                account = self._account.get(p.bind or "", "")
                if o is Outcome.OK:
                    written += 1
                    smsc_id = p.message_id if p.message_id else f"none-{mid}-{p.index + 1}"
                    submitted.append(Submitted(mid, p.index + 1, smsc_id, account, p.bind or "", n, p.submitted_at))
                    stats.segments += 1
                elif o is Outcome.REJECTED:
                    written += 1
                    any_rejected = True
                    failed.append(Failed(mid, p.index + 1, p.command_status or 0, account, p.bind or "", n))
                elif o is Outcome.UNKNOWN:
                    written += 1
                    any_unknown = True
                    unknown.append(OutcomeUnknown(mid, p.index + 1, account, p.bind or "", n))
                    stats.unknown_parts += 1
            not_sent = [p for p in res.parts if p.outcome is Outcome.FAILED]
            if any_rejected:
                stats.rejected += 1
                ack.append(entry)  # the message failed: final, whatever its other parts did
            elif not not_sent and not any_unknown:
                stats.submitted_ok += 1
                ack.append(entry)
            elif not_sent and not written:
                release.append(entry)  # nothing left: a first attempt next time
            else:
                if not_sent:
                    # Some parts went out, some did not: sending the message again
                    # repeats the sent ones, so the status must say so.
                    account = self._account.get(res.parts[0].bind or "", "")
                    for p in not_sent:
                        unknown.append(OutcomeUnknown(mid, p.index + 1, account, p.bind or "", n))
                if self._stopping:
                    self._in_flight.pop(entry.entry_id, None)  # stays pending: reclaimed later
                elif entry.attempts >= MAX_HANDOFFS:
                    stats.gave_up += 1
                    ack.append(entry)
                else:
                    again.append(entry)
        stats.segments += ok_parts
        stats.submitted_ok += ok_msgs
        give_up = self._give_up_at()
        try:
            if submitted:
                late = await self._redis_call("record submits", self.tracker.record_submitted, submitted,
                                              give_up_at=give_up)
                if late:
                    self.metrics.observe_late_receipts(late)
                    for m in late:
                        stats.receipts_matched += 1
                        stats.receipt_latency.add(max(time.time() - m.submitted_at, 0.0))
            if failed:
                await self._redis_call("record failures", self.tracker.record_failed, failed, give_up_at=give_up)
            if unknown:
                await self._redis_call("record unknown outcomes", self.tracker.record_outcome_unknown, unknown,
                                       give_up_at=give_up)
            if dead:
                await self._redis_call("dead-letter", self._dead_letter, dead, give_up_at=give_up)
        except _REDIS_ERRORS as exc:
            # Only at shutdown with Redis away: the entries stay pending in Redis and are
            # reclaimed later (their hand-off record makes them outcome unknown).
            log.error("shutdown: Redis unavailable (%s); %d outcomes not recorded, their entries stay "
                      "pending and will be reclaimed", exc, len(batch))
            for entry, _ in batch:
                self._in_flight.pop(entry.entry_id, None)
            self._room.set()
            return
        if ack or release:
            # Acked by their own task, so that the next batch's records go to Redis
            # while this batch's XACK does.
            self._acks.append((ack, release))
            self._wake_acks.set()
        if again:
            self._resends.extend(again)
            self._wake_resend.set()

    async def _ack_loop(self) -> None:
        """XACK (and XDEL) entries whose outcomes are recorded; release unsent ones."""
        stats = self.stats
        while True:
            await self._wake_acks.wait()
            self._wake_acks.clear()
            while self._acks:
                items, self._acks = self._acks, []
                ack = [e for a, _ in items for e in a]
                release = [e for _, r in items for e in r]
                give_up = self._give_up_at()
                try:
                    if ack:
                        await self._redis_call("acknowledge", self.consumer.ack, ack, give_up_at=give_up)
                        stats.acked += len(ack)
                    if release:
                        await self._redis_call("release", self.consumer.release, release, give_up_at=give_up)
                        stats.released += len(release)
                except _REDIS_ERRORS as exc:
                    log.error("shutdown: Redis unavailable (%s); %d recorded entries not acked: they stay "
                              "pending and are reclaimed (and recognised as done by their tracking record)",
                              exc, len(ack) + len(release))
                except Exception:  # noqa: BLE001 - a bug must not stop later acks
                    log.exception("acking %d entries failed; they stay pending and are reclaimed", len(ack))
                pop = self._in_flight.pop
                for e in ack:
                    pop(e.entry_id, None)
                for e in release:
                    pop(e.entry_id, None)
                self._room.set()
                if self.on_progress is not None:
                    self.on_progress(stats)

    async def _resend_loop(self) -> None:
        """Submit again entries whose outcome was unknown (already recorded as such).
        Its own task: waiting for bind room must not hold up the recording of outcomes."""
        while True:
            await self._wake_resend.wait()
            self._wake_resend.clear()
            while self._resends and not self._stopping:
                entries, self._resends = self._resends, []
                await self._redis_call("mark the hand-off", self.consumer.begin, entries)
                go = []
                for e in entries:
                    if e.sendable:
                        self.stats.resent += 1
                        go.append(e)
                    else:  # someone else recorded or reclaimed it meanwhile
                        self.stats.not_ours += 1
                        self._in_flight.pop(e.entry_id, None)
                await self._submit_all(go, self._to_resubmit)

    async def _dead_letter(self, items: list[tuple[Entry, str]]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for e, reason in items:
            pipe.xadd(self.keys.dead, {"stream": e.stream, "entry": e.entry_id, "msg_id": e.message.id,
                                       "reason": f"not sendable: {reason}"})
            log.warning("message %s failed before sending: %s", e.message.id, reason)
        await pipe.execute()

    # --- inbound ---------------------------------------------------------------------------

    def _on_receipt(self, receipt: Receipt) -> asyncio.Future:
        """Take a receipt; the future of the batch it joins tells the bind when to answer."""
        self._receipts.append((receipt.bind, [receipt_fields(receipt)]))
        self._receipt_count += 1
        return self._receipts_future()

    def _on_receipt_rows(self, bind: str, rows: list[tuple]) -> asyncio.Future:
        """``_on_receipt`` for the receipt lane's rows (``SmscClient.on_receipt_rows``)."""
        self._receipts.append((bind, [receipt_row_fields(r) for r in rows]))
        self._receipt_count += len(rows)
        return self._receipts_future()

    def _receipts_future(self) -> asyncio.Future:
        self._wake_receipts.set()
        fut = self._receipts_stored
        if fut is None:
            fut = self._receipts_stored = asyncio.get_running_loop().create_future()
        return fut

    def _on_mo(self, message: MoMessage) -> asyncio.Future:
        self._mo.append(message)
        self._wake_receipts.set()
        fut = self._mo_stored
        if fut is None:
            fut = self._mo_stored = asyncio.get_running_loop().create_future()
        return fut

    def _on_mo_part(self, bind: str, part: ConcatPart, pdu: Any) -> asyncio.Future:
        """Take a part of a concatenated MO; answered once it is stored in Redis (and,
        for the part that completes its message, once the message is published)."""
        fut = asyncio.get_running_loop().create_future()
        self._mo_parts.append((bind, part, pdu, time.time(), fut))
        self._wake_receipts.set()
        return fut

    async def _receipt_loop(self) -> None:
        while True:
            await self._wake_receipts.wait()
            self._wake_receipts.clear()
            while self._receipts or self._mo or self._mo_parts:
                if self._receipt_count > RECEIPT_BACKLOG_WARN and not self._backlog_warned:
                    self._backlog_warned = True
                    log.warning("%d receipts waiting for Redis", self._receipt_count)
                receipts, self._receipts = self._receipts, []
                n_receipts, self._receipt_count = self._receipt_count, 0
                mo, self._mo = self._mo, []
                parts, self._mo_parts = self._mo_parts, []
                receipts_stored, self._receipts_stored = self._receipts_stored, None
                mo_stored, self._mo_stored = self._mo_stored, None
                try:
                    if receipts:
                        try:
                            await self._apply_receipts(receipts)
                        except BaseException as exc:
                            _settle(receipts_stored, exc)
                            raise
                        _settle(receipts_stored)
                    if mo:
                        try:
                            await self._redis_call("publish MO messages", self._publish_mo, mo,
                                                   give_up_at=self._give_up_at())
                        except BaseException as exc:
                            _settle(mo_stored, exc)
                            raise
                        _settle(mo_stored)
                    if parts:
                        try:
                            await self._store_mo_parts(parts)
                        except BaseException as exc:
                            for p in parts:
                                _settle(p[4], exc)
                            raise
                except Exception:  # noqa: BLE001 - a bug must not stop later receipts
                    log.exception("applying %d receipts / publishing %d MO messages / storing %d MO parts "
                                  "failed; they are answered ESME_RX_T_APPN and the SMSC delivers them again",
                                  n_receipts, len(mo), len(parts))
                finally:
                    # Cancelled (shutdown) before a batch was reached: not stored.
                    _settle(receipts_stored, asyncio.CancelledError())
                    _settle(mo_stored, asyncio.CancelledError())
                    for p in parts:
                        _settle(p[4], asyncio.CancelledError())

    async def _apply_receipts(self, receipts: list[tuple[str, list[tuple[str, str, str, str]]]]) -> None:
        by_account: dict[str, list[tuple[str, str, str, str]]] = {}
        for bind, fields in receipts:
            account = self._account.get(bind, bind)
            group = by_account.get(account)
            if group is None:
                by_account[account] = fields
            else:
                group += fields
        for account, group in by_account.items():
            res = await self._redis_call("apply receipts", self.tracker.apply_receipt_fields, group, account,
                                         give_up_at=self._give_up_at())
            mx = self.metrics
            _observe_matches(mx, res.matched, self.stats.receipt_latency)
            if res.unmatched:
                mx.unmatched.inc(res.unmatched)
            if res.duplicates:
                mx.duplicate_receipts.inc(res.duplicates)
            if res.held:
                mx.held_receipts.inc(res.held)
            self.stats.receipts += len(group)
            self.stats.receipts_matched += len(res.matched)

    def _mo_fields(self, m: MoMessage, ts: str, account: str | None = None) -> dict[Any, Any]:  # Any: for xadd
        """An MO message as inbound-stream fields (README, "Delivery guarantees").
        ``account``: when known otherwise than by the bind (a record another process left)."""
        fields: dict[Any, Any] = {
            "from": m.source,
            "to": m.destination,
            "data_coding": str(m.data_coding),
            "parts": str(m.parts),
            "bind": m.bind,
            "account": self._account.get(m.bind, "") if account is None else account,
            "ts": ts,
        }
        if not m.complete:
            # Published at its reassembly timeout with the parts that came.
            fields["incomplete"] = "1"
            fields["missing"] = ",".join(map(str, m.missing))
        if m.text is not None:
            fields["text"] = m.text
        else:
            fields["data_hex"] = m.data.hex()
        return fields

    async def _publish_mo(self, messages: list[MoMessage]) -> None:
        stream = inbound_stream(self.keys)
        pipe = self.redis.pipeline(transaction=False)
        now = f"{time.time():.3f}"
        for m in messages:
            pipe.xadd(stream, self._mo_fields(m, now), maxlen=INBOUND_MAXLEN, approximate=True)
        await pipe.execute()
        self.stats.mo += len(messages)

    async def _store_mo_parts(self, parts: list[tuple[str, ConcatPart, Any, float, asyncio.Future]]) -> None:
        """Store parts in their messages' Redis records and answer them; publish the
        messages they complete (a part that completes one is answered only after that:
        if this process dies in between, the SMSC sends the part again and the script
        finds the message complete again)."""
        items = []
        for bind, part, _, received_at, _ in parts:
            client = self._mo_client.get(bind, self._client)
            items.append((self._account.get(bind, bind), bind, part, client.mo_packed,
                          client.mo_reassembly_timeout, received_at))
        results = await self._redis_call("store MO parts", self._inbound_parts.store, items,
                                         give_up_at=self._give_up_at())
        complete: dict[str, tuple[str, Record, Any]] = {}
        held = []
        for (bind, _, pdu, _, fut), r in zip(parts, results):
            if r.outcome == COMPLETE and r.record is not None:
                complete[r.record.key] = (bind, r.record, pdu)
                held.append(fut)
            else:
                _settle(fut)
        if complete:
            await self._redis_call("publish MO messages", self._publish_mo_records, list(complete.values()),
                                   give_up_at=self._give_up_at())
            for fut in held:
                _settle(fut)

    async def _publish_mo_records(self, records: list[tuple[str, Record, Any]]) -> int:
        """Decode and publish reassembled messages (each once, whoever else tries);
        returns how many this call published."""
        now = time.time()
        ts = f"{now:.3f}"
        batch = []
        for bind, record, pdu in records:
            client = self._mo_client.get(bind, self._client)
            try:
                m = client.assemble_mo(bind, now, **record.assemble_args())
            except Exception as exc:  # noqa: BLE001 - a decoding bug must not lose (or block) the message
                log.exception("MO message %s not decoded; published as data", record.key)
                m = MoMessage(bind, record.source, record.destination, None, b"".join(p.data for p in record.parts),
                              record.data_coding, record.total, not record.missing, record.missing,
                              f"{type(exc).__name__}: {exc}")
            if pdu is not None:
                m.pdu = pdu
            batch.append((record, m, client))
        results = await self._inbound_parts.publish(
            [(r, self._mo_fields(m, ts, r.account), c.mo_reassembly_timeout) for r, m, c in batch],
            inbound_stream(self.keys), INBOUND_MAXLEN)
        published = 0
        for (record, m, client), res in zip(batch, results):
            if res != 1:
                continue  # published by another bind or process, or read again by the next sweep
            published += 1
            if not m.complete:
                log.warning("MO message from %s to %s incomplete after %.0f s: missing parts %s of %d",
                            m.source, m.destination, now - record.first_at, list(m.missing), m.parts)
            client.observer.on_mo(m.bind, m)
        self.stats.mo += published
        return published

    async def _sweep_mo(self) -> None:
        """Publish the MO records whose reassembly time ran out (left by any process,
        this one's predecessors included): complete ones whose last part's publish was
        cut short, and incomplete ones flagged with their missing parts."""
        for _ in range(MO_SWEEP_ROUNDS):
            records = await self._inbound_parts.due(MO_SWEEP_BATCH)
            if records:
                await self._publish_mo_records([(r.bind, r, None) for r in records])
            if len(records) < MO_SWEEP_BATCH:
                return

    # --- housekeeping --------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        """Queue metrics, sweep held receipts and expired MO records, touch long
        in-flight entries."""
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            try:
                self.metrics.observe_stream_stats(await stream_stats(self.redis, self.keys))
                # A held receipt whose hold ends may still find its message (the id
                # format learned meanwhile): counted like any other match.
                resolved: list = []
                self.metrics.observe_unmatched(await self.tracker.sweep(matched=resolved))
                if resolved:
                    _observe_matches(self.metrics, resolved, self.stats.receipt_latency)
                    self.stats.receipts_matched += len(resolved)
                try:
                    await self._sweep_mo()
                except _REDIS_ERRORS:
                    raise
                except Exception:  # noqa: BLE001 - a bug here must not stop the touches below
                    log.exception("sweeping expired MO records failed; tried again next round")
                limit = time.monotonic() - self.consumer.claim_idle_ms / 2000
                old = [e for e in self._in_flight.values() if e.read_at < limit]
                if old:
                    await self.consumer.touch(old)
            except _REDIS_ERRORS as exc:
                log.debug("housekeeping skipped: Redis unavailable (%s)", exc)
            except Exception:  # noqa: BLE001 - a bug must not end the touches of long in-flight entries
                log.exception("housekeeping failed; tried again next round")
