"""Prometheus metrics of the engine, and the client observer that feeds them.

Usage::

    from engine.metrics import EngineMetrics, start_metrics_server
    m = EngineMetrics()                               # its own CollectorRegistry
    server = start_metrics_server(9108, m.registry, host="127.0.0.1")
    client = SmscClient(..., observer=m.observer)     # engine.client.observer.Observer hooks
    m.observe_tracking(receipt_result)                # engine.tracking.ReceiptResult
    m.observe_late_receipts(late)                     # from Tracker.record_submitted
    m.observe_stream_stats(stats)                     # engine.queue.stream_stats(...)
    asyncio.create_task(poll_queue_stats(m, redis, keys, 5.0))   # ... or let it poll
    server.close()

Every name has the ``smpp_`` prefix and its unit (``_seconds``, ``_total``,
``_entries``). Labels are bounded: ``bind`` (``<smsc>/<index>``, from the config),
``command_status`` (the SMPP 3.4 name, e.g. ``ESME_RTHROTTLED``, or hex for a
vendor-specific value), ``state`` (a fixed list), ``stream`` (the two intake streams).

=============================================  =========  ============================
metric                                         type       labels
=============================================  =========  ============================
smpp_submits_total                             counter    bind (submit_sm PDUs written,
                                                          retries included)
smpp_responses_total                           counter    bind, command_status
smpp_segments_sent_total                       counter    bind (accepted: status 0)
smpp_submit_response_latency_seconds           histogram  bind
smpp_outcome_unknown_total                     counter    bind
smpp_throttling_events_total                   counter    bind, command_status
smpp_rate_limit_segments_per_second            gauge      bind (after backing off)
smpp_in_flight                                 gauge      bind
smpp_window_size                               gauge      bind
smpp_bind_up                                   gauge      bind (1 when bound)
smpp_bind_state                                gauge      bind, state (1 for the
                                                          current state)
smpp_reconnects_total                          counter    bind
smpp_enquire_link_latency_seconds              histogram  bind
smpp_inbound_messages_total                    counter    bind, kind (mo | receipt)
smpp_receipts_total                            counter    state (as the SMSC says)
smpp_receipts_correlated_total                 counter    state (matched to a message)
smpp_submit_receipt_latency_seconds            histogram  (none)
smpp_unmatched_receipts_total                  counter    (none)
smpp_duplicate_receipts_total                  counter    (none)
smpp_held_receipts_total                       counter    (none; before their response)
smpp_queue_lag_entries                         gauge      stream (not yet read)
smpp_queue_pending_entries                     gauge      stream (read, not acked)
smpp_queue_oldest_pending_seconds              gauge      stream
=============================================  =========  ============================
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from engine.client.observer import Observer

_log = logging.getLogger("engine.metrics")

__all__ = [
    "EngineMetrics",
    "MetricsObserver",
    "MetricsServer",
    "start_metrics_server",
    "poll_queue_stats",
    "status_name",
    "observe_many",
    "BIND_STATES",
    "RESPONSE_LATENCY_BUCKETS",
    "RECEIPT_LATENCY_BUCKETS",
]

# The states engine.client reports through Observer.on_bind_state.
BIND_STATES = ("connecting", "binding", "bound", "unbinding", "closed")

# submit_sm_resp on loopback takes ~100 us, across a carrier's VPN 10-500 ms, and a
# response past the usual 10-30 s response timeout is never observed.
RESPONSE_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)
# Receipts: from milliseconds (simulator) to days (a phone that was off; SMSC validity
# periods are commonly 1-3 days).
RECEIPT_LATENCY_BUCKETS = (
    0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
    4 * 3600.0, 24 * 3600.0, 3 * 24 * 3600.0,
)
# The receipt "stat" words of SMPP 3.4 appendix B: a label value outside these is
# folded into "other" so a broken SMSC cannot blow up the series count.
_RECEIPT_STATS = {
    "DELIVRD": "delivered", "EXPIRED": "expired", "DELETED": "deleted", "UNDELIV": "undeliverable",
    "ACCEPTD": "accepted", "UNKNOWN": "unknown", "REJECTD": "rejected", "ENROUTE": "enroute",
}
_STATE_LABELS = frozenset(_RECEIPT_STATS.values())
_MESSAGE_STATES = {
    1: "enroute", 2: "delivered", 3: "expired", 4: "deleted", 5: "undeliverable",
    6: "accepted", 7: "unknown", 8: "rejected",
}

try:  # the SMPP 3.4 names, when the codec package is there
    from engine.smpp.constants import CommandStatus as _CommandStatus
except ImportError:  # pragma: no cover
    _CommandStatus = None  # type: ignore[assignment,misc]


def status_name(command_status: int) -> str:
    """``ESME_ROK`` for 0, the SMPP 3.4 name when there is one, else ``0x000000C4``."""
    if _CommandStatus is not None:
        try:
            return _CommandStatus(command_status).name
        except ValueError:
            pass
    return f"0x{command_status:08X}"


class EngineMetrics:
    """All metrics on one registry (a fresh one unless given: tests and two engines in
    one process must not collide on the global registry)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # The *_created series double the exposition and no panel or alert uses them.
        # (A process-wide switch in prometheus-client: set before any metric exists.)
        disable_created_metrics()
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.submits = Counter("smpp_submits", "submit_sm PDUs written (retries included)", ["bind"], registry=r)
        self.responses = Counter(
            "smpp_responses", "submit_sm_resp received, by command_status", ["bind", "command_status"], registry=r
        )
        self.segments_sent = Counter(
            "smpp_segments_sent", "Segments accepted by the SMSC (submit_sm_resp status 0)", ["bind"], registry=r
        )
        self.response_latency = Histogram(
            "smpp_submit_response_latency_seconds",
            "Time from writing submit_sm to its submit_sm_resp",
            ["bind"],
            buckets=RESPONSE_LATENCY_BUCKETS,
            registry=r,
        )
        self.outcome_unknown = Counter(
            "smpp_outcome_unknown", "In-flight submits whose outcome became unknown", ["bind"], registry=r
        )
        self.throttling = Counter(
            "smpp_throttling_events", "ESME_RTHROTTLED / ESME_RMSGQFUL answers", ["bind", "command_status"], registry=r
        )
        self.rate_limit = Gauge(
            "smpp_rate_limit_segments_per_second", "Current send rate limit of the bind", ["bind"], registry=r
        )
        self.in_flight = Gauge("smpp_in_flight", "Outstanding requests on the bind", ["bind"], registry=r)
        self.window = Gauge("smpp_window_size", "Window (maximum outstanding requests) of the bind", ["bind"], registry=r)
        self.bind_up = Gauge("smpp_bind_up", "1 when the bind is bound, else 0", ["bind"], registry=r)
        self.bind_state = Gauge("smpp_bind_state", "1 for the bind's current state", ["bind", "state"], registry=r)
        self.reconnects = Counter("smpp_reconnects", "Reconnect attempts", ["bind"], registry=r)
        self.enquire_link_latency = Histogram(
            "smpp_enquire_link_latency_seconds",
            "Round trip of our enquire_link",
            ["bind"],
            buckets=RESPONSE_LATENCY_BUCKETS,
            registry=r,
        )
        self.inbound = Counter(
            "smpp_inbound_messages", "deliver_sm received, by kind (mo, receipt)", ["bind", "kind"], registry=r
        )
        self.receipts = Counter("smpp_receipts", "Delivery receipts received, by state", ["state"], registry=r)
        self.receipts_correlated = Counter(
            "smpp_receipts_correlated", "Receipts matched to a submitted message, by state", ["state"], registry=r
        )
        self.receipt_latency = Histogram(
            "smpp_submit_receipt_latency_seconds",
            "Time from the submit_sm_resp to the correlated delivery receipt",
            buckets=RECEIPT_LATENCY_BUCKETS,
            registry=r,
        )
        self.unmatched = Counter(
            "smpp_unmatched_receipts", "Receipts that matched no submitted message (kept in Redis)", registry=r
        )
        self.duplicate_receipts = Counter(
            "smpp_duplicate_receipts", "Receipts for parts already in a final state", registry=r
        )
        self.held_receipts = Counter(
            "smpp_held_receipts", "Receipts that arrived before their submit_sm_resp", registry=r
        )
        self.queue_lag = Gauge("smpp_queue_lag_entries", "Intake entries not yet read by the group", ["stream"], registry=r)
        self.queue_pending = Gauge(
            "smpp_queue_pending_entries", "Intake entries read but not yet acknowledged", ["stream"], registry=r
        )
        self.queue_oldest_pending = Gauge(
            "smpp_queue_oldest_pending_seconds", "Idle time of the oldest pending intake entry", ["stream"], registry=r
        )
        self.observer = MetricsObserver(self)
        # Receipts correlated per state are few labels: pre-create them so that a
        # dashboard shows 0 instead of "no data" before the first receipt.
        for state in ("delivered", "undeliverable", "expired", "rejected", "deleted", "unknown"):
            self.receipts_correlated.labels(state)

    # --- inputs that are not client hooks -------------------------------------------

    def observe_tracking(self, result: Any) -> None:
        """An ``engine.tracking.ReceiptResult`` from ``Tracker.apply_receipts``."""
        corr = self.receipts_correlated
        lat = self.receipt_latency
        for m in result.matched:
            corr.labels(m.state).inc()
            lat.observe(m.latency)
        if result.unmatched:
            self.unmatched.inc(result.unmatched)
        if result.duplicates:
            self.duplicate_receipts.inc(result.duplicates)
        if result.held:
            self.held_receipts.inc(result.held)

    def observe_late_receipts(self, late: Iterable[Any]) -> None:
        """Receipts applied by ``Tracker.record_submitted`` (they had arrived early)."""
        for m in late:
            self.receipts_correlated.labels(m.state).inc()
            self.receipt_latency.observe(m.latency)

    def observe_unmatched(self, count: int) -> None:
        """Held receipts moved to the unmatched stream by ``Tracker.sweep``."""
        if count:
            self.unmatched.inc(count)

    def observe_stream_stats(self, stats: Iterable[Any]) -> None:
        """Rows of ``engine.queue.stream_stats`` (stream, lag, pending, oldest idle)."""
        for s in stats:
            self.queue_lag.labels(s.stream).set(s.lag)
            self.queue_pending.labels(s.stream).set(s.pending)
            self.queue_oldest_pending.labels(s.stream).set(s.oldest_pending_idle_ms / 1000.0)


async def poll_queue_stats(metrics: EngineMetrics, redis: Any, keys: Any, interval: float = 5.0) -> None:
    """Refresh the queue gauges from ``engine.queue.stream_stats`` every ``interval``
    seconds until cancelled. A Redis error leaves the last values and retries."""
    import asyncio

    from redis.exceptions import RedisError

    from engine.queue.stats import stream_stats

    if not interval > 0:
        raise ValueError(f"queue stats interval must be a positive number of seconds, got {interval!r}")
    task = asyncio.current_task()
    while True:
        try:
            metrics.observe_stream_stats(await stream_stats(redis, keys))
        except (RedisError, OSError) as exc:
            _log.warning("queue stats for metrics failed, retrying in %.1f s: %s", interval, exc)
        # A cancel that lands inside a redis-py command can be swallowed by it; the
        # request is still counted on the task, so honour it here instead of polling on.
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        await asyncio.sleep(interval)


class MetricsObserver(Observer):
    """The client's hooks (``engine.client.observer.Observer``) turned into metrics.

    Label children are looked up once per (bind, status) and cached: ``labels()``
    costs more than the ``inc()`` it precedes, and these run per response.
    """

    def __init__(self, metrics: EngineMetrics) -> None:
        self.m = metrics
        self._submits: dict[str, Any] = {}
        self._responses: dict[tuple[str, int], Any] = {}
        self._segments: dict[str, Any] = {}
        self._latency: dict[str, Any] = {}

    def on_submit(self, bind: str, segments: int) -> None:
        c = self._submits.get(bind)
        if c is None:
            c = self._submits[bind] = self.m.submits.labels(bind)
        c.inc(segments)

    def on_response(self, bind: str, command_status: int, latency: float) -> None:
        key = (bind, command_status)
        c = self._responses.get(key)
        if c is None:
            c = self._responses[key] = self.m.responses.labels(bind, status_name(command_status))
        c.inc()
        h = self._latency.get(bind)
        if h is None:
            h = self._latency[bind] = self.m.response_latency.labels(bind)
        h.observe(latency)
        if command_status == 0:
            s = self._segments.get(bind)
            if s is None:
                s = self._segments[bind] = self.m.segments_sent.labels(bind)
            s.inc()

    def on_unknown(self, bind: str, count: int, reason: str) -> None:
        self.m.outcome_unknown.labels(bind).inc(count)

    def on_throttle(self, bind: str, command_status: int, rate_limit: float | None) -> None:
        self.m.throttling.labels(bind, status_name(command_status)).inc()
        if rate_limit is not None:
            self.m.rate_limit.labels(bind).set(rate_limit)

    def on_in_flight(self, bind: str, in_flight: int, window: int) -> None:
        self.m.in_flight.labels(bind).set(in_flight)
        self.m.window.labels(bind).set(window)

    def on_bind_state(self, bind: str, state: str) -> None:
        for s in BIND_STATES:
            self.m.bind_state.labels(bind, s).set(1 if s == state else 0)
        self.m.bind_up.labels(bind).set(1 if state == "bound" else 0)
        # Make the reconnect counter exist (at 0) from the first state change, so that
        # increase() over it has data before the first reconnect.
        self.m.reconnects.labels(bind)
        self.m.throttling.labels(bind, "ESME_RTHROTTLED")
        self.m.outcome_unknown.labels(bind)

    def on_reconnect(self, bind: str, attempt: int, delay: float, reason: str) -> None:
        self.m.reconnects.labels(bind).inc()

    def on_receipt(self, bind: str, receipt: Any) -> None:
        self.m.inbound.labels(bind, "receipt").inc()
        self.m.receipts.labels(_receipt_state(receipt)).inc()

    def on_receipt_rows(self, bind: str, rows: list[tuple]) -> None:
        self.m.inbound.labels(bind, "receipt").inc(len(rows))
        for r in rows:
            self.m.receipts.labels(receipt_row_state(bind, r)).inc()

    def on_mo(self, bind: str, message: Any) -> None:
        self.m.inbound.labels(bind, "mo").inc()

    def on_enquire_link(self, bind: str, latency: float | None) -> None:
        if latency is not None:
            self.m.enquire_link_latency.labels(bind).observe(latency)


def observe_many(child: Any, values: Iterable[float]) -> None:
    """``child.observe(v)`` for each value, with one ``inc`` per bucket touched and one
    for the sum instead of two per value (the engine observes a latency per response
    and per receipt: at 20,000 messages/s that per-value locking was a visible share
    of its CPU). Same values in the scrape.

    It adds to the child's bucket and sum values as ``Histogram.observe`` does
    (prometheus_client 0.17+); a child without those attributes (another version) is
    observed value by value.
    """
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for v in values:
            child.observe(v)
        return
    child._raise_if_not_observable()
    counts: dict[int, int] = {}
    s = 0.0
    last = len(bounds)
    for v in values:
        s += v
        i = bisect_left(bounds, v)  # the first bound >= v, as observe's "amount <= bound"
        if i < last:
            counts[i] = counts.get(i, 0) + 1
    total.inc(s)
    for i, n in counts.items():
        buckets[i].inc(n)


def receipt_row_state(bind: str, row: tuple) -> str:
    """``_receipt_state`` of the receipt a receipt lane row stands for: its parser's
    state (always one of the labels for the lane's receipts)."""
    state = row[2]
    if state in _STATE_LABELS:
        return state
    from engine.client.types import receipt_from_row

    return _receipt_state(receipt_from_row(bind, row))


def _receipt_state(receipt: Any) -> str:
    parsed = getattr(receipt, "parsed", None)
    if parsed is not None and getattr(parsed, "state", None) in _STATE_LABELS:
        return parsed.state
    ms = getattr(receipt, "message_state", None)
    if ms is not None:
        try:
            return _MESSAGE_STATES.get(int(ms), "other")
        except (TypeError, ValueError):
            return "other"
    word = getattr(receipt, "state", None) or getattr(receipt, "stat", None) or ""
    return _RECEIPT_STATS.get(str(word).strip().upper()[:7], "other")


class MetricsServer:
    """The running HTTP endpoint; ``close()`` stops it and frees the port."""

    def __init__(self, httpd: Any, thread: threading.Thread) -> None:
        self.httpd = httpd
        self.thread = thread

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def start_metrics_server(port: int, registry: CollectorRegistry, host: str = "127.0.0.1") -> MetricsServer:
    """Serve ``/metrics`` of ``registry`` on ``host:port`` (port 0: any free port; see
    ``.port``) from a daemon thread. A port in use raises ``OSError`` naming it."""
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"metrics port must be an integer from 0 to 65535, got {port!r}")
    try:
        httpd, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot serve metrics on {host}:{port}: {exc.strerror}") from exc
    return MetricsServer(httpd, thread)
