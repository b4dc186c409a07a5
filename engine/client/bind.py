"""One SMPP connection to an SMSC: connect, bind, window, rate, throttling, keep-alive, reconnect.

A thin asyncio layer around the sans-IO ``engine.smpp.session.Session``, one per
connection: the session owns the protocol (sequence numbers, the window of outstanding
requests, response deadlines, the enquire_link schedule, what is legal in which bind
state, the automatic answers: enquire_link_resp, unbind_resp, refusals, generic_nack);
this module moves its bytes, gives it the time, and decides what to do on silence,
loss and throttling (queues, rate, retries, reconnect).

Hot path (see ``_pump`` and ``data_received``): a submit_sm is encoded once, before it
is queued, with sequence number 0; when it leaves, the session writes its sequence
number (``Session.send_encoded_many``, one check per batch). The native framer cuts and
decodes a chunk in one Rust call and ``Session.receive_responses`` hands back the
submit_sm_resp of the chunk as ``(job, response, sent_at)``. Everything that can go in
one event-loop turn is joined into one ``transport.write``: the pump drains the queue
as far as the window and the rate allow, and the responses of one ``data_received``
chunk free their slots together before the pump runs once.

Guarantees:
- at most ``window`` submit_sm outstanding (a submit waits for a free slot);
- a part answered ESME_RTHROTTLED / ESME_RMSGQFUL is retried, never failed: the bind
  pauses, lowers its rate, and resends throttled parts before any newer part, in
  their original order;
- a part written but not answered (connection lost, response timeout) is handed back
  with outcome ``unknown`` and never resent by the bind; parts not yet written when a
  connection drops wait for the rebind and then go (they were never sent).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from engine.client.backoff import Backoff
from engine.client.observer import NULL_OBSERVER, Observer
from engine.client.ratelimit import AdaptiveRate
from engine.client.types import ClientClosed, Outcome, PartResult
from engine.config import BindConfig
from engine.smpp import _native
from engine.smpp import pdu as P
from engine.smpp.constants import CommandId, CommandStatus
from engine.smpp.errors import PduError, ProtocolError
from engine.smpp.session import (
    MalformedPdu,
    RequestReceived,
    ResponseReceived,
    Session,
    StateChanged,
    UnexpectedPdu,
)
from engine.smpp.states import BOUND_STATES, State

__all__ = ["Bind", "BindError", "SubmitJob", "BindState", "DELIVER_ACK_TIMEOUT"]

log = logging.getLogger("engine.client.bind")

_THROTTLE_STATUSES = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})
# Throttle pauses double while throttling repeats, up to this many seconds.
MAX_THROTTLE_PAUSE = 10.0
# Parts that may wait in the bind's queue beyond the window before submit() itself
# waits: enough to refill the window in one pump, small enough that a lost connection
# leaves little queued.
QUEUE_FACTOR = 2
# At most one rate decrease per this many seconds: SMSCs count their limit over
# windows of 0.1-1 s, so throttles within one window are one signal, not many.
SLOWDOWN_INTERVAL = 0.1
# How long a deliver_sm / data_sm may wait for the application to store it (the
# awaitable its on_receipt / on_mo callback returned) before it is answered
# ESME_RX_T_APPN and left to the SMSC to deliver again: well under the 30-60 s an SMSC
# waits for a deliver_sm_resp, far above a Redis pipeline round trip under load.
# ``Bind.deliver_ack_timeout`` overrides it per bind.
DELIVER_ACK_TIMEOUT = 5.0
_RX_T_APPN = int(CommandStatus.ESME_RX_T_APPN)


class BindState:
    CLOSED = "closed"
    CONNECTING = "connecting"
    BINDING = "binding"
    BOUND = "bound"
    UNBINDING = "unbinding"


class BindError(ConnectionError):
    """The SMSC refused the bind (``status``) or could not be reached (``status`` None)."""

    def __init__(self, bind: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{bind}: {message}")
        self.status = status


class SubmitJob:
    """One submit_sm on its way: encoded octets, its place in the order, its callback."""

    __slots__ = ("data", "ordinal", "callback", "attempts", "sent_at", "sent_wall", "index", "priority")

    def __init__(self, data: bytes, callback: Callable[[PartResult], Any], index: int = 0, priority: int = 0) -> None:
        self.data = data  # sequence number 0; the session numbers a copy of it per attempt
        self.callback = callback
        self.index = index
        self.priority = priority
        self.ordinal = 0
        self.attempts = 0
        self.sent_at = 0.0  # monotonic, for latencies
        self.sent_wall = 0.0  # unix seconds, for the record

    def __lt__(self, other: SubmitJob) -> bool:  # the retry heap orders by first enqueue
        return self.ordinal < other.ordinal


_BIND_PDUS = {"tx": P.BindTransmitter, "rx": P.BindReceiver, "trx": P.BindTransceiver}


class Bind(asyncio.Protocol):
    """One connection. ``start()`` keeps it bound (reconnecting) until ``close()``.

    ``on_deliver(bind, pdu)`` is called for every deliver_sm / data_sm from the SMSC.
    It returns None (answered ESME_ROK at once) or an awaitable: the answer then waits
    until the application has stored what it was given, so that a crash before the
    store leaves the SMSC owing us the PDU instead of us losing it. The awaitable
    resolving means stored (ESME_ROK); raising, being cancelled, or not resolving
    within ``deliver_ack_timeout`` seconds means not stored: ESME_RX_T_APPN, and the
    SMSC delivers it again. A callback that raises is answered ESME_RX_T_APPN too.
    The read loop never waits for a store (submit_sm_resp and everything else keep
    flowing); answers leave in the order their deliver_sm arrived, each with its
    sequence number, so one slow store holds back the answers behind it for at most
    ``deliver_ack_timeout``.

    ``on_receipt_rows(bind, rows)``, when set, is the receipt lane: the common delivery
    receipts of a chunk come to it as rows ``(sequence_number, message_id, state,
    stat, err, message_state)`` (``Framer.feed_receipts``) instead of a DeliverSm each
    to ``on_deliver``; what it returns is waited for as ``on_deliver``'s awaitable is,
    for every receipt of the rows. Every other deliver_sm still goes to ``on_deliver``.
    """

    def __init__(
        self,
        config: BindConfig,
        observer: Observer | None = None,
        on_deliver: Callable[[Bind, Any], None] | None = None,
        *,
        rng=None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.observer = observer or NULL_OBSERVER
        self.on_deliver = on_deliver
        self.on_receipt_rows: Callable[[Bind, list[tuple]], Any] | None = None
        self.state = BindState.CLOSED
        self.window = config.window
        self.rate = AdaptiveRate(config.rate, config.min_rate)
        self.backoff = Backoff(config.reconnect, rng)
        self.last_error: str | None = None
        self.late_responses = 0
        self.bound_count = 0
        # queue[0] holds priority (transactional) parts, queue[1] the rest.
        self._queues: tuple[deque[SubmitJob], deque[SubmitJob]] = (deque(), deque())
        self._queued = 0
        self._retry: list[SubmitJob] = []
        # The protocol state of the current connection (None between connections).
        self._session: Session | None = None
        self._ordinal = 0
        self._transport: asyncio.Transport | None = None
        self._framer = _native.Framer()
        self._lane = getattr(self._framer, "feed_receipts", None)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wbuf: list[bytes | bytearray] = []
        self._write_paused = False
        self._pause_until = 0.0
        self._last_slowdown = 0.0
        self._pump_scheduled = False
        self._accepted = 0
        self._throttle_pause = config.throttle_pause
        self._wake_handle: asyncio.TimerHandle | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        # submit() callers waiting for queue room, woken one per free place (FIFO):
        # an Event would wake all of them for every freed slot.
        self._waiters: deque[asyncio.Future] = deque()
        self._drained: asyncio.Future | None = None
        self._lost: asyncio.Future | None = None
        self._bound_event = asyncio.Event()
        self._supervisor: asyncio.Task | None = None
        self._closing = False
        self.deliver_ack_timeout = DELIVER_ACK_TIMEOUT
        self.deliver_refused = 0  # deliver_sm / data_sm answered ESME_RX_T_APPN
        # deliver_sm / data_sm taken and not answered yet, in arrival order:
        # [sequence_number, command_id, status (None while storing), deadline].
        # The head is always one still storing (answered ones leave at once).
        self._acks: deque[list] = deque()
        self._ack_timer: asyncio.TimerHandle | None = None
        self._ack_release_scheduled = False
        # The store future of the last deliver_sm and the entries waiting on it.
        self._ack_group_fut: asyncio.Future | None = None
        self._ack_group: list[list] = []
        self._last_failed_store: asyncio.Future | None = None
        # Bumped per connection: a store finishing after its connection died must not
        # answer on the next one (sequence numbers there mean other PDUs).
        self._conn_gen = 0

    # --- public -----------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        s = self._session
        return s.in_flight if s is not None else 0

    @property
    def queued(self) -> int:
        return self._queued + len(self._retry)

    @property
    def load(self) -> int:
        """Parts waiting or outstanding on this bind (for choosing the least loaded)."""
        return self._queued + len(self._retry) + self.in_flight

    @property
    def is_bound(self) -> bool:
        return self.state == BindState.BOUND

    async def open(self) -> None:
        """Connect and bind once; raises :class:`BindError` (or TimeoutError) on failure."""
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        self._set_state(BindState.CONNECTING)
        ssl = cfg.tls.ssl_context()
        try:
            await asyncio.wait_for(
                self._loop.create_connection(
                    lambda: self, cfg.host, cfg.port, ssl=ssl,
                    server_hostname=(cfg.tls.server_hostname or cfg.host) if ssl else None,
                ),
                cfg.connect_timeout,
            )
        except (OSError, asyncio.TimeoutError) as exc:
            self._set_state(BindState.CLOSED)
            what = "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc) or type(exc).__name__
            raise BindError(self.name, f"connect to {cfg.host}:{cfg.port} failed: {what}") from None
        self._set_state(BindState.BINDING)
        bind_pdu = _BIND_PDUS[cfg.bind_type](
            system_id=cfg.system_id,
            password=cfg.password.reveal(),
            system_type=cfg.system_type,
            interface_version=cfg.interface_version,
        )
        try:
            resp = await self._request(bind_pdu, cfg.bind_timeout)
        except asyncio.TimeoutError:
            self._abort("bind timeout")
            raise BindError(self.name, f"no bind response within {cfg.bind_timeout:g} s (bind_timeout)") from None
        except ConnectionError as exc:
            raise BindError(self.name, f"connection lost while binding: {exc}") from None
        if resp.command_status != CommandStatus.ESME_ROK:
            self._abort("bind refused")
            raise BindError(self.name, f"bind refused: {_status_name(resp.command_status)}", resp.command_status)
        if self._transport is None:  # lost between the bind response and now
            raise BindError(self.name, f"connection lost right after the bind: {self.last_error or 'closed'}")
        self.backoff.reset()
        self._throttle_pause = cfg.throttle_pause
        self.bound_count += 1
        self.last_error = None
        self._set_state(BindState.BOUND)
        self._bound_event.set()
        self._schedule_tick()
        self._pump()

    def start(self) -> asyncio.Task:
        """Keep the bind up in the background (connect, bind, reconnect with backoff)."""
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise(), name=f"bind {self.name}")
        return self._supervisor

    async def wait_bound(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._bound_event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def enqueue(self, job: SubmitJob) -> None:
        """Queue one encoded submit_sm; its callback gets the PartResult. Never blocks."""
        if self._closing:
            job.callback(PartResult(job.index, Outcome.FAILED, bind=self.name, error="bind is shutting down"))
            return
        self._ordinal += 1
        job.ordinal = self._ordinal
        self._queues[0 if job.priority > 0 else 1].append(job)
        self._queued += 1
        if self.state == BindState.BOUND and not self._pump_scheduled:
            # One pump (one write) for everything enqueued in this turn of the loop:
            # submit() callers arrive one coroutine step at a time.
            self._pump_scheduled = True
            self._loop.call_soon(self._scheduled_pump)  # type: ignore[union-attr]

    def _scheduled_pump(self) -> None:
        self._pump_scheduled = False
        self._pump()

    def enqueue_many(self, jobs: list[SubmitJob]) -> None:
        """Queue several encoded submit_sm at once: one pump in the next turn of the loop,
        so one write for all of them (and for whatever else this turn queues)."""
        if self._closing:
            for job in jobs:
                job.callback(PartResult(job.index, Outcome.FAILED, bind=self.name, error="bind is shutting down"))
            return
        queues = self._queues
        ordinal = self._ordinal
        for job in jobs:
            ordinal += 1
            job.ordinal = ordinal
            queues[0 if job.priority > 0 else 1].append(job)
        self._ordinal = ordinal
        self._queued += len(jobs)
        if self.state == BindState.BOUND and not self._pump_scheduled:
            # Like enqueue: one pump (one write) for everything queued in this turn.
            self._pump_scheduled = True
            self._loop.call_soon(self._scheduled_pump)  # type: ignore[union-attr]

    def has_space(self) -> bool:
        return self._queued < self.window * QUEUE_FACTOR and not self._waiters

    def room(self) -> int:
        """Parts the queue takes before ``has_space`` says no (0 while others wait)."""
        if self._waiters:
            return 0
        return self.window * QUEUE_FACTOR - self._queued

    async def wait_space(self) -> None:
        """Backpressure: returns when the bind's queue has room (window x QUEUE_FACTOR)."""
        if self._closing:
            raise ClientClosed(f"{self.name} is shutting down")
        if self._queued < self.window * QUEUE_FACTOR and not self._waiters:
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            try:
                self._waiters.remove(fut)
            except ValueError:
                self._wake_waiters()  # it had been woken: pass the place on
            raise
        if self._closing:
            raise ClientClosed(f"{self.name} is shutting down")

    def _wake_waiters(self) -> None:
        room = self.window * QUEUE_FACTOR - self._queued
        waiters = self._waiters
        while room > 0 and waiters:
            w = waiters.popleft()
            if not w.done():
                w.set_result(None)
                room -= 1

    async def close(self, *, drain: bool = True) -> None:
        """Graceful shutdown: stop taking parts, let the window drain, unbind, close."""
        self._closing = True
        for w in self._waiters:
            if not w.done():
                w.set_result(None)
        self._waiters.clear()
        loop = asyncio.get_running_loop()
        if drain and self.state == BindState.BOUND and (self.load > 0):
            self._drained = loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._drained), self.config.drain_timeout)
            except asyncio.TimeoutError:
                log.warning("%s: window not drained after %.1f s (drain_timeout)", self.name, self.config.drain_timeout)
            except ConnectionError:
                pass
        if self._supervisor is not None:
            self._supervisor.cancel()
        self._fail_queued("bind closed before the part could be sent")
        # deliver_sm still being stored get their answers before the unbind (each is
        # answered within deliver_ack_timeout, ESME_RX_T_APPN at worst).
        end = time.monotonic() + self.deliver_ack_timeout + 0.5
        while self._acks and self._transport is not None and time.monotonic() < end:
            await asyncio.sleep(0.01)
        if self.state == BindState.BOUND and self._transport is not None:
            self._set_state(BindState.UNBINDING)
            try:
                await self._request(P.Unbind(), self.config.response_timeout)
            except (asyncio.TimeoutError, ConnectionError, PduError):
                pass
        self._abort("closed")
        if self._supervisor is not None:
            try:
                await self._supervisor
            except (asyncio.CancelledError, Exception):
                pass

    # --- supervisor ----------------------------------------------------------------

    async def _supervise(self) -> None:
        while not self._closing:
            if self.state != BindState.BOUND:
                try:
                    await self.open()
                except (BindError, ConnectionError, asyncio.TimeoutError) as exc:
                    self.last_error = str(exc)
                    delay = self.backoff.next()
                    log.warning("%s: %s; reconnecting in %.2f s", self.name, exc, delay)
                    self.observer.on_reconnect(self.name, self.backoff.attempts, delay, str(exc))
                    await asyncio.sleep(delay)
                    continue
            self._lost = asyncio.get_running_loop().create_future()
            reason = await self._lost
            if self._closing:
                return
            self.last_error = reason
            delay = self.backoff.next()
            log.warning("%s: connection lost (%s); reconnecting in %.2f s", self.name, reason, delay)
            self.observer.on_reconnect(self.name, self.backoff.attempts, delay, reason)
            await asyncio.sleep(delay)

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        # One Rust call cuts and decodes a whole chunk (pure Python without the extension).
        self._framer = _native.Framer()
        self._lane = getattr(self._framer, "feed_receipts", None)
        cfg = self.config
        self._session = Session(
            "esme", window=self.window, response_timeout=cfg.response_timeout,
            enquire_link_interval=cfg.enquire_link_interval, now=time.monotonic(),
        )
        self._write_paused = False
        self._drop_acks()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        reason = f"connection lost: {exc}" if exc else "connection closed by peer"
        self._on_lost(reason)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._pump()

    def data_received(self, data: bytes) -> None:
        s = self._session
        if s is None:
            return
        now = time.monotonic()
        rows = None
        try:
            if self.on_receipt_rows is not None and self._lane is not None and s.takes_receipt_rows():
                items, rows = self._lane(data)
                if rows and not s.accept_requests(CommandId.DELIVER_SM, [r[0] for r in rows], now):
                    raise AssertionError("the session refused deliver_sm it said it takes")  # pragma: no cover
            else:
                items = self._framer.feed(data)
        except PduError as exc:  # a framer that raises instead of yielding errors
            items = [exc]
        answered, requests, events = s.receive_many(items, now)
        on_resp = self._on_submit_resp
        for job, resp, _ in answered:
            on_resp(job, resp, now)
        if rows:
            self._on_receipt_rows(rows, now)
        if requests:
            on_request = self._on_request
            for pdu in requests:  # deliver_sm / data_sm: receipts and MO
                on_request(pdu, now)
        freed = bool(answered)
        lost: str | None = None
        for ev in events:
            if isinstance(ev, ResponseReceived):
                ctx = ev.context
                if isinstance(ctx, SubmitJob):  # a generic_nack for a submit_sm
                    freed = True
                    on_resp(ctx, ev.response, now)
                elif isinstance(ctx, asyncio.Future):
                    if not ctx.done():
                        ctx.set_result(ev.response)
                elif ev.response.command_id == CommandId.ENQUIRE_LINK_RESP:  # the session's keep-alive
                    self.observer.on_enquire_link(self.name, now - ev.sent_at)
            elif isinstance(ev, RequestReceived):
                self._on_request(ev.pdu, now)
            elif isinstance(ev, StateChanged):
                if ev.new in BOUND_STATES and self.state == BindState.BINDING:
                    # Bound from this PDU on: an SMSC may send deliver_sm right behind
                    # its bind response, in the same chunk, before open() resumes.
                    self._set_state(BindState.BOUND)
                elif ev.new is State.UNBOUND and self.state != BindState.UNBINDING:
                    lost = "unbound by the SMSC"  # the session has queued the unbind_resp
                elif ev.new is State.CLOSED:
                    lost = lost or "unrecoverable framing error"
            elif isinstance(ev, MalformedPdu):
                log.warning("%s: malformed PDU from the SMSC: %s", self.name, ev.error)
                if ev.error.fatal:
                    lost = f"unrecoverable framing error: {ev.error}"
                ctx = ev.context
                if isinstance(ctx, SubmitJob):  # its response was unreadable: outcome unknown
                    freed = True
                    self.observer.on_unknown(self.name, 1, "malformed response")
                    ctx.callback(PartResult(ctx.index, Outcome.UNKNOWN, None, None, None, ctx.attempts, self.name,
                                            f"outcome unknown: malformed response ({ev.error})"))
                elif isinstance(ctx, asyncio.Future) and not ctx.done():
                    ctx.set_exception(ConnectionError(f"malformed response: {ev.error}"))
            elif isinstance(ev, UnexpectedPdu):
                if ev.pdu.command_id & 0x80000000:
                    self.late_responses += 1  # e.g. after its request timed out
                else:
                    log.info("%s: %s", self.name, ev.reason)
        out = s.data_to_send()  # automatic answers: enquire_link_resp, unbind_resp, refusals
        if out:
            self._wbuf.append(out)
        if lost is not None:
            self._flush()
            self._abort(lost, graceful=True)  # close() flushes what is buffered
            return
        if freed:
            if self._accepted:
                self.rate.on_accepted(self._accepted, now)
                self._accepted = 0
            self.observer.on_in_flight(self.name, s.in_flight, self.window)
            self._pump()  # flushes too
        else:
            self._flush()

    def _on_request(self, pdu: Any, now: float) -> None:
        """A request the operation matrix let through (the session refused the others)."""
        cid = pdu.command_id
        if cid == CommandId.DELIVER_SM or cid == CommandId.DATA_SM:
            ack = None
            refuse = False
            if self.on_deliver is not None:
                try:
                    ack = self.on_deliver(self, pdu)
                except Exception:  # a handler's bug must not take the bind down
                    log.exception("%s: deliver handler failed; answered ESME_RX_T_APPN (delivered again)",
                                  self.name)
                    refuse = True
            if ack is None and not refuse and not self._acks:
                self._answer(pdu.sequence_number, CommandStatus.ESME_ROK)  # nothing to wait for
            else:
                self._await_ack(pdu, ack, refuse, now)
        elif pdu._response_class is None:
            # alert_notification, outbind: no response exists (SMPP 3.4 4.12, 4.1.7).
            log.info("%s: %s from the SMSC ignored", self.name, type(pdu).__name__)
        else:
            # A request the matrix allows but this client does not serve: say so.
            try:
                self._wbuf.append(self._session.send(  # type: ignore[union-attr]
                    pdu.response(command_status=CommandStatus.ESME_RINVCMDID)))
            except (ProtocolError, PduError, TypeError) as exc:
                log.warning("%s: could not refuse %s: %s", self.name, type(pdu).__name__, exc)

    def _on_receipt_rows(self, rows: list[tuple], now: float) -> None:
        """The receipt lane's rows of one chunk: one call to the handler, one store to
        wait for (each row keeps its own deadline and its place in the answer order)."""
        ack = None
        refuse = False
        try:
            ack = self.on_receipt_rows(self, rows)  # type: ignore[misc]
        except Exception:  # a handler's bug must not take the bind down
            log.exception("%s: receipt handler failed; answered ESME_RX_T_APPN (delivered again)", self.name)
            refuse = True
        deliver_sm = CommandId.DELIVER_SM
        if ack is None and not refuse and not self._acks:
            s = self._session
            if s is not None:
                out, refused = s.respond_many([(r[0], CommandStatus.ESME_ROK) for r in rows])
                if out:
                    self._wbuf.append(out)
                for seq, _, why in refused:
                    log.info("%s: deliver_sm %d not answered: %s", self.name, seq, why)
            return
        deadline = now + self.deliver_ack_timeout
        entries = [[r[0], deliver_sm, None, deadline] for r in rows]
        self._acks.extend(entries)
        if refuse:
            for entry in entries:
                entry[2] = _RX_T_APPN
        elif ack is None:
            for entry in entries:
                entry[2] = CommandStatus.ESME_ROK
        else:
            self._wait_store(ack, entries)
        self._release_acks()

    def _answer(self, seq: int, status: int) -> None:
        s = self._session
        if s is None:
            return
        try:
            self._wbuf.append(s.respond(seq, status))
        except ProtocolError as exc:  # e.g. unbound meanwhile: the SMSC delivers it again
            log.info("%s: deliver_sm %d not answered: %s", self.name, seq, exc)

    # --- deliver_sm answers that wait for the store ------------------------------------------

    def _await_ack(self, pdu: Any, ack: Any, refuse: bool, now: float) -> None:
        entry: list = [pdu.sequence_number, pdu.command_id, None, now + self.deliver_ack_timeout]
        self._acks.append(entry)
        if refuse:
            entry[2] = _RX_T_APPN
        elif ack is None:
            entry[2] = CommandStatus.ESME_ROK
        else:
            self._wait_store(ack, [entry])
        self._release_acks()  # (times the head if it is this one)

    def _wait_store(self, ack: Any, entries: list[list]) -> None:
        """Answer ``entries`` when the store ``ack`` resolves."""
        group_fut = self._ack_group_fut
        if group_fut is not None and ack is group_fut and not group_fut.done():
            # The same store as the previous deliver_sm (the service hands every
            # receipt of a batch one future): one callback answers the whole group.
            self._ack_group.extend(entries)
            return
        try:
            fut = asyncio.ensure_future(ack)
        except TypeError:
            log.error("%s: deliver handler returned %r, not an awaitable or None; answered ESME_ROK",
                      self.name, ack)
            for entry in entries:
                entry[2] = CommandStatus.ESME_ROK
            return
        gen = self._conn_gen
        group = list(entries)
        if fut is ack:
            self._ack_group_fut = fut
            self._ack_group = group
        fut.add_done_callback(lambda f: self._ack_done(f, group, gen))

    def _ack_done(self, fut: asyncio.Future, group: list[list], gen: int) -> None:
        if fut is self._ack_group_fut:
            self._ack_group_fut = None
            self._ack_group = []
        if fut.cancelled():
            status = _RX_T_APPN
        else:
            exc = fut.exception()  # also marks it retrieved
            status = CommandStatus.ESME_ROK if exc is None else _RX_T_APPN
            if exc is not None and fut is not self._last_failed_store:
                # One line per failed store (a batch future fails for all its receipts).
                self._last_failed_store = fut
                log.warning("%s: deliver_sm not stored (%s: %s); answered ESME_RX_T_APPN, the SMSC "
                            "delivers again (%d refused before)", self.name, type(exc).__name__, exc,
                            self.deliver_refused)
        if gen != self._conn_gen:
            return  # its connection is gone (the SMSC redelivers)
        for entry in group:
            if entry[2] is None:  # else it timed out already
                entry[2] = status
        if not self._ack_release_scheduled:
            # One write for all the stores that one batch resolved: their callbacks
            # run in this same turn of the loop, the release in the next.
            self._ack_release_scheduled = True
            self._loop.call_soon(self._ack_release)  # type: ignore[union-attr]

    def _ack_release(self) -> None:
        self._ack_release_scheduled = False
        self._release_acks()
        self._flush()

    def _ack_deadline(self) -> None:
        """The head's store is overdue: it (and any other overdue one) is refused."""
        self._ack_timer = None
        now = time.monotonic()
        late = 0
        for entry in self._acks:
            if entry[3] > now:
                break
            if entry[2] is None:
                entry[2] = _RX_T_APPN
                late += 1
        if late:
            log.warning("%s: %d deliver_sm not stored within %.1f s (deliver_ack_timeout); answered "
                        "ESME_RX_T_APPN, the SMSC delivers them again", self.name, late, self.deliver_ack_timeout)
        self._release_acks()
        self._flush()

    def _release_acks(self) -> None:
        """Queue the answers at the head that are decided; time the first undecided one."""
        acks = self._acks
        if acks and acks[0][2] is not None:
            answers = []
            while acks and acks[0][2] is not None:
                seq, _, status, _ = acks.popleft()
                if status:
                    self.deliver_refused += 1
                answers.append((seq, status))
            s = self._session
            if s is not None:
                # One write for all the answers decided together.
                out, refused = s.respond_many(answers)
                if out:
                    self._wbuf.append(out)
                for seq, _, why in refused:  # e.g. unbound meanwhile: the SMSC delivers it again
                    log.info("%s: deliver_sm %d not answered: %s", self.name, seq, why)
        if not acks:
            if self._ack_timer is not None:
                # Nothing left to time: the next deliver_sm gets a timer for its own
                # deadline (a timer left for a later one would let it wait past it).
                self._ack_timer.cancel()
                self._ack_timer = None
        elif self._ack_timer is None and self._loop is not None:
            self._ack_timer = self._loop.call_later(max(acks[0][3] - time.monotonic(), 0.0), self._ack_deadline)

    def _drop_acks(self) -> None:
        """The connection is gone: unanswered deliver_sm are the SMSC's to send again."""
        self._conn_gen += 1
        self._acks.clear()
        self._ack_group_fut = None
        self._ack_group = []
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None

    # --- internals --------------------------------------------------------------------

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.observer.on_bind_state(self.name, state)

    def _request(self, pdu: Any, timeout: float) -> Any:
        """Send a control PDU (bind, unbind) and wait for its response (raises
        TimeoutError, or ConnectionError when the connection goes or the session
        refuses it)."""
        s = self._session
        if self._transport is None or s is None:
            raise ConnectionError("not connected")
        fut = self._loop.create_future()  # type: ignore[union-attr]
        try:
            self._wbuf.append(s.send(pdu, time.monotonic(), timeout=timeout, context=fut))
        except ProtocolError as exc:
            raise ConnectionError(str(exc)) from None
        self._flush()
        return asyncio.wait_for(fut, timeout)

    def _flush(self) -> None:
        if self._wbuf and self._transport is not None:
            buf = self._wbuf
            self._wbuf = []
            self._transport.write(buf[0] if len(buf) == 1 else b"".join(buf))

    def _pump(self) -> None:
        """Move parts from the queues into the window and write them in one go."""
        s = self._session
        if self.state != BindState.BOUND or self._transport is None or self._write_paused or s is None:
            self._flush()
            return
        window = self.window
        room = window - s.in_flight
        if room <= 0:
            self._flush()
            return
        now = time.monotonic()
        if now < self._pause_until:
            self._flush()
            self._wake_at(self._pause_until - now)
            return
        retry = self._retry
        queues = self._queues
        rate = self.rate
        limited = rate.limit is not None
        jobs: list[SubmitJob] = []
        frames: list[bytes] = []
        while len(jobs) < room:
            if retry:
                src = None
            elif queues[0]:
                src = queues[0]
            elif queues[1]:
                src = queues[1]
            else:
                break
            if limited:
                wait = rate.delay(1, now)
                if wait > 0:
                    self._wake_at(wait)
                    break
            if src is None:
                job = heapq.heappop(retry)
            else:
                job = src.popleft()
                self._queued -= 1
            jobs.append(job)
            frames.append(job.data)
        if jobs:
            try:
                self._wbuf += s.send_encoded_many(frames, jobs, now)
            except ProtocolError as exc:  # the session says no (state): they were not sent
                log.error("%s: %d parts not sent: %s", self.name, len(jobs), exc)
                for j in jobs:
                    heapq.heappush(retry, j)
                self._flush()
                return
            wall = time.time()
            for j in jobs:
                j.sent_at = now
                j.sent_wall = wall
                j.attempts += 1
            sent = len(jobs)
            if not limited:
                rate.delay(sent, now)  # keeps the measured rate for the first throttle
            self.observer.on_submit(self.name, sent)
            self.observer.on_in_flight(self.name, s.in_flight, window)
            if self._waiters:
                self._wake_waiters()
        self._flush()
        if self._drained is not None and not s.in_flight and not self.queued and not self._drained.done():
            self._drained.set_result(None)

    def _wake_at(self, delay: float) -> None:
        if self._wake_handle is None:
            self._wake_handle = self._loop.call_later(max(delay, 0.0005), self._wake)  # type: ignore[union-attr]

    def _wake(self) -> None:
        self._wake_handle = None
        self._pump()

    def _on_submit_resp(self, job: SubmitJob, resp: Any, now: float) -> None:
        status = resp.command_status
        latency = now - job.sent_at
        self.observer.on_response(self.name, status, latency)
        if status in _THROTTLE_STATUSES and resp.command_id == CommandId.SUBMIT_SM_RESP:
            # Not accepted: retry before anything newer, after a pause, at a lower rate.
            heapq.heappush(self._retry, job)
            self.rate.on_refused()
            if job.sent_at >= self._last_slowdown and now - self._last_slowdown >= SLOWDOWN_INTERVAL:
                # Slow down once per burst, as TCP does once per round trip: the other
                # parts of the window were sent before the SMSC complained, and their
                # throttles are the same complaint. At most once per SLOWDOWN_INTERVAL.
                self._last_slowdown = now
                self.rate.on_throttle(now)
                if job.attempts > 1:
                    # Refused again after slowing down: stop sending for a while (the
                    # pause doubles while this repeats). A first refusal only lowers
                    # the rate, so an SMSC that throttles now and then, not for our
                    # rate, does not stall the bind.
                    self._pause_until = max(self._pause_until, now + self._throttle_pause)
                    self._throttle_pause = min(self._throttle_pause * 2, MAX_THROTTLE_PAUSE)
            self.observer.on_throttle(self.name, status, self.rate.limit)
            return
        if status == CommandStatus.ESME_ROK:
            self._accepted += 1
            if self._throttle_pause != self.config.throttle_pause and now >= self._pause_until:
                self._throttle_pause = self.config.throttle_pause
            mid = getattr(resp, "message_id", None)
            job.callback(PartResult(job.index, Outcome.OK, status, mid, latency, job.attempts, self.name, None,
                                    job.sent_wall))
        else:
            job.callback(
                PartResult(job.index, Outcome.REJECTED, status, getattr(resp, "message_id", None) or None,
                           latency, job.attempts, self.name, _status_name(status))
            )

    def _schedule_tick(self) -> None:
        interval = min(1.0, self.config.response_timeout / 4, self.config.enquire_link_interval / 2)
        self._tick_handle = self._loop.call_later(interval, self._tick)  # type: ignore[union-attr]

    def _tick(self) -> None:
        """Response deadlines and the enquire_link schedule (the session's), and what
        to do about them: unknown outcomes, a dead peer."""
        self._tick_handle = None
        s = self._session
        if self.state not in (BindState.BOUND, BindState.UNBINDING) or self._transport is None or s is None:
            return
        now = time.monotonic()
        cfg = self.config
        expired: list[SubmitJob] = []
        silent = False
        for u in s.expire(now):
            ctx = u.context
            if isinstance(ctx, SubmitJob):
                expired.append(ctx)
            elif isinstance(ctx, asyncio.Future):
                if not ctx.done():
                    ctx.set_exception(asyncio.TimeoutError())
                    ctx.exception()
            elif isinstance(u.request, P.EnquireLink) or ctx is _PROBE:
                silent = True
        if expired:
            self.observer.on_unknown(self.name, len(expired), "response timeout")
            for job in expired:
                job.callback(PartResult(job.index, Outcome.UNKNOWN, None, None, None, job.attempts, self.name,
                                        f"no submit_sm_resp within {cfg.response_timeout:g} s (response_timeout)"))
        if silent:
            self._abort(f"peer silent: no enquire_link_resp within {cfg.response_timeout:g} s")
            return
        if expired and not self._probing(s):
            # Responses stopped coming: ask the peer whether it is there at all now,
            # rather than after enquire_link_interval of silence.
            try:
                self._wbuf.append(s.send(P.EnquireLink(), now, context=_PROBE))
            except ProtocolError:
                pass
        out = s.data_to_send()  # the session's own enquire_link, when the link was idle
        if out:
            self._wbuf.append(out)
        if expired:
            self._pump()
        else:
            self._flush()
        self._schedule_tick()

    @staticmethod
    def _probing(s: Session) -> bool:
        return s.outstanding > s.in_flight  # an enquire_link (or unbind) is outstanding

    def _abort(self, reason: str, *, graceful: bool = False) -> None:
        """Drop the connection (``graceful``: after writing what is buffered)."""
        t = self._transport
        if t is not None:
            self._transport = None
            if graceful or reason == "closed":
                t.close()
            else:
                t.abort()
            self._on_lost(reason)

    def _on_lost(self, reason: str) -> None:
        """Everything written and unanswered gets outcome unknown; queued parts stay."""
        self._drop_acks()
        s = self._session
        self._session = None
        if self.state == BindState.CLOSED and s is None:
            return
        self._set_state(BindState.CLOSED)
        self._bound_event.clear()
        for h in (self._wake_handle, self._tick_handle):
            if h is not None:
                h.cancel()
        self._wake_handle = self._tick_handle = None
        self._wbuf = []
        unanswered = s.close(time.monotonic()) if s is not None else []
        jobs = [u.context for u in unanswered if isinstance(u.context, SubmitJob)]
        if jobs:
            self.observer.on_unknown(self.name, len(jobs), reason)
            for job in jobs:
                job.callback(PartResult(job.index, Outcome.UNKNOWN, None, None, None, job.attempts, self.name,
                                        f"outcome unknown: {reason}"))
        for u in unanswered:
            fut = u.context
            if isinstance(fut, asyncio.Future) and not fut.done():
                fut.set_exception(ConnectionError(reason))
                fut.exception()  # mark retrieved: the waiter may be gone
        if self._drained is not None and not self._drained.done() and not self.queued:
            self._drained.set_result(None)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)

    def _fail_queued(self, reason: str) -> None:
        jobs = list(self._retry) + list(self._queues[0]) + list(self._queues[1])
        self._retry.clear()
        self._queues[0].clear()
        self._queues[1].clear()
        self._queued = 0
        for job in jobs:
            # A throttled part was refused by the SMSC, so it is "failed", not unknown.
            job.callback(PartResult(job.index, Outcome.FAILED, None, None, None, job.attempts, self.name, reason))


def _ignore_result(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


# The context of an enquire_link sent because responses stopped coming.
_PROBE = object()


def _status_name(status: int) -> str:
    try:
        return f"{CommandStatus(status).name} (0x{status:08X})"
    except ValueError:
        return f"0x{status:08X}"
