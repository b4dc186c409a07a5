"""The asyncio SMPP client: binds with a window, a rate limit, throttling, keep-alive and reconnect.

Use it like this (the API the Redis service calls)::

    from engine.config import load_config
    from engine.client import Engine, OutboundMessage, Outcome

    engine = Engine(load_config("config/engine.toml"), observer, on_receipt=cb_r, on_mo=cb_mo)
    await engine.start()                      # binds every SMSC (NotBound if one cannot)
    result = await engine.submit(OutboundMessage(
        source="ACME", destination="+4915112345678", text="Hello",
        registered_delivery=1, priority=0, reference="my-id-42"), smsc=None)
    result.outcome          # Outcome.OK | REJECTED | UNKNOWN | FAILED (worst part)
    result.parts            # [PartResult(index, outcome, command_status, message_id, latency, attempts, bind, error)]
    result.segments, result.encoding, result.data_coding, result.error
    await engine.close()                      # drains every window, unbinds

Many messages at once without a task each::

    if not client.has_space():                # backpressure: the bind's queue is full
        await client.wait_space()
    fut = client.submit_nowait(message)       # queued now; asyncio.Future[SubmitResult]
    fut.add_done_callback(...)                # or engine.submit_nowait(message, smsc=None)

or, for a batch (what the Redis service does: a few Rust calls per bind, no future)::

    i = 0
    while i < len(messages):
        i = client.submit_batch(messages, on_result, i)   # on_result(SubmitResult), once each
        if i < len(messages):
            await client.wait_space()

One SMSC only: ``SmscClient(config.smscs[0], observer)`` has the same ``start/submit/close``
and ``async with``. ``submit`` never raises for a bad message (encoding error, a field
too long): it returns outcome FAILED with ``error`` naming the problem; it raises
``ClientClosed`` after close. It waits (backpressure) while the chosen bind's window
and queue are full, so a caller that runs N submits concurrently gets at most
window + queue of them on the wire. ``OutboundMessage`` also takes pre-encoded
``parts`` (+ ``data_coding``, ``udhi``, ``sar``), ``concat``/``encoding`` overrides,
``source_ton_npi``/``dest_ton_npi`` overrides, ``validity_period``, extra ``tlvs``.

Outcomes: OK (accepted, ``message_id`` set), REJECTED (error status, not accepted),
UNKNOWN (written, never answered: connection lost or response timeout; the client
never resends it; whoever resends must record that), FAILED (never sent).
ESME_RTHROTTLED / ESME_RMSGQFUL are never outcomes: the part is retried, before any
newer part, after the bind has lowered its rate (``engine/client/ratelimit.py``).
Parts not yet written when a connection drops wait for the rebind and then go.

Inbound: ``on_receipt(Receipt)`` / ``on_mo(MoMessage)`` callbacks (called on the loop,
keep them quick; return None to have the deliver_sm answered ESME_ROK at once, or an
awaitable that resolves once the event is stored: the answer waits for it, and a
failure or ``DELIVER_ACK_TIMEOUT`` gives ESME_RX_T_APPN so that the SMSC delivers
again), or ``async for event in client.inbound()`` /
``client.enable_inbound_queue()``. ``Receipt.message_id`` is the receipted_message_id
TLV when present, else the text's ``id:``; ``Receipt.parsed`` is the
``engine.smpp.receipts.Receipt``; normalising ids is the caller's job
(``engine.smpp.receipts.normalize_message_id``). Concatenated MO messages come
reassembled (``engine.smpp.reassembly``, any order, duplicates dropped); one whose
parts never all arrive comes with ``complete=False`` and ``missing``.

Batch path (what ``smpp-engine load`` and the benchmark use):
``bind = client._pick()``; encode PDUs with sequence number 0 (``build_submits`` or
``engine.smpp._native.build_submit_sm_batch``); ``bind.enqueue_many([SubmitJob(data,
callback, index, priority), ...])`` queues them with one pump and one write;
``callback(PartResult)`` is called once per part. ``bind.has_space()`` /
``await bind.wait_space()`` are the backpressure (queue bound: window x
``engine.client.QUEUE_FACTOR``).

Metrics: subclass ``Observer`` (``engine/client/observer.py``): on_submit, on_response,
on_unknown, on_throttle, on_in_flight, on_bind_state, on_reconnect, on_receipt, on_mo,
on_enquire_link. Default no-op.

Event loop: ``engine.client.loop.run(main())`` runs on uvloop when installed.
"""

from engine.client.bind import QUEUE_FACTOR, Bind, BindError, BindState, SubmitJob
from engine.client.observer import NULL_OBSERVER, MultiObserver, Observer
from engine.client.smsc import Engine, SmscClient, build_submits, build_submits_many, parse_deliver
from engine.client.types import (
    ClientClosed,
    MoMessage,
    NotBound,
    OutboundMessage,
    PlainMessage,
    Outcome,
    PartResult,
    Receipt,
    SubmitResult,
)

__all__ = [
    "Engine",
    "SmscClient",
    "Bind",
    "BindError",
    "SubmitJob",
    "QUEUE_FACTOR",
    "BindState",
    "Observer",
    "MultiObserver",
    "NULL_OBSERVER",
    "OutboundMessage",
    "PlainMessage",
    "Outcome",
    "PartResult",
    "SubmitResult",
    "Receipt",
    "MoMessage",
    "ClientClosed",
    "NotBound",
    "build_submits",
    "build_submits_many",
    "parse_deliver",
]
