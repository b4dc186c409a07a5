"""Delivery tracking: each message's life in Redis, and receipt correlation.

Python API (all coroutine methods take one *batch* and make one script call per
1,000 records; nothing per message is kept in Python)::

    from engine.tracking import Tracker, Queued, Submitted, Failed, OutcomeUnknown, Receipt

    t = Tracker(redis, prefix="smpp:", ttl=7*86400,
                correlation_ttl=3*86400,     # how long a submit waits for its receipt
                early_hold=60,               # how long a receipt waits for its submit_sm_resp
                duplicate_window=600,        # a final receipt's entry lingers to spot resends
                events_stream="smpp:status", events_maxlen=1_000_000,
                event_states=None,           # None: every state but queued; or e.g. FINAL_STATES
                unmatched_maxlen=10_000,
                id_formats={"acme01": "hex"})  # account -> bind config message_id_format
    await t.record_queued([Queued(msg_id, parts, campaign, account), ...])
    late = await t.record_submitted([Submitted(msg_id, part, smsc_message_id, account, bind, parts), ...])
    await t.record_failed([Failed(msg_id, part, command_status, account, bind, parts), ...])
    await t.record_outcome_unknown([OutcomeUnknown(msg_id, part, account, bind, parts), ...])
    res = await t.apply_receipts([parsed receipt, ...], account)   # -> ReceiptResult
    st = await t.status(msg_id)                 # -> MessageStatus | None (.to_dict() for JSON)
    await t.campaign_counts(campaign_id)        # -> {"queued": n, "submitted": n, ..., "total", "segments"}
    await t.unmatched(count=100)                # -> newest unmatched receipts
    await t.sweep()                             # held receipts past their hold -> unmatched
    asyncio.create_task(t.sweep_forever(5.0, metrics.observe_unmatched))   # the engine's housekeeping
    await t.stats()                             # receipts, matched, held, held_applied, duplicates, unmatched

``part`` is 1-based; ``parts`` is the message's segment count. ``account`` is the
SMSC account (its system_id, or any name shared by all binds of one account):
correlation is keyed by account, never by bind, so a receipt that arrives on the
receiver bind finds a submit made on either transmitter bind. ``apply_receipts``
takes the SMPP layer's parsed receipts or :class:`Receipt`; the TLVs
(``receipted_message_id``, ``message_state``) are preferred over the text's ``id:``
and ``stat:``. ``record_submitted`` returns the receipts that had arrived before
their response and are applied now; ``apply_receipts`` returns the matches with
their submit-to-receipt latency (for the metrics).

States. Per part: ``queued`` -> ``submitted`` (SMSC id, bind, time, tries) ->
``enroute`` / ``accepted`` (intermediate receipts) -> one final state:
``delivered``, ``undeliverable``, ``expired``, ``rejected``, ``deleted``,
``unknown`` (SMSC says so, or a stat we cannot name; its raw text is kept), or
``failed`` (submit_sm_resp with an error status, kept as ``command_status``). A
part whose response was lost is ``outcome_unknown`` until it is submitted again.
``accepted`` is kept intermediate although SMPP 3.4 (5.2.28) counts it final: many
SMSCs send ACCEPTD when the network took the message and DELIVRD later, and a final
``accepted`` would turn that DELIVRD into an ignored duplicate. (engine.smpp.receipts
calls it final; the tracker deliberately does not.)

Aggregated message state, recomputed on every part change:

1. a part reached a failure state -> that failure (the first one recorded; it is
   sticky: later parts cannot turn a failed message into a delivered one);
2. every part ``delivered`` -> ``delivered``;
3. a part is ``outcome_unknown`` -> ``outcome_unknown``;
4. any part submitted (or beyond) -> ``submitted`` (some parts still pending);
5. otherwise ``queued``.

Each aggregated change appends ``state@time`` to the history, moves the campaign
counter (``HINCRBY`` -1 / +1) and adds one event to the status stream. A message
whose outcome was ever unknown keeps the count (``MessageStatus.outcome_unknown``)
so that a possible duplicate is always visible.

Correlation (see :mod:`engine.tracking.ids`): the submit_sm_resp id is stored under
its canonical form (no case, no leading zeros); a receipt id is tried as-is, as
hex->decimal and as decimal->hex, narrowed by the SMSC profile and, once the first
receipts show which spelling the SMSC uses, narrowed to that one. A receipt that
matches nothing is *held*: a later ``record_submitted`` with its id applies it. After
``early_hold`` seconds a held receipt moves to the unmatched stream and counts as
unmatched. A receipt for a part already final is a duplicate: counted, not applied.

Redis keys (``P`` is the prefix, ``smpp:`` by default, as ``EngineConfig.key_prefix``):

==================================  =========  =======================================
key                                 type       content, TTL
==================================  =========  =======================================
``P track:<msg_id>``                hash       state, parts (absent: 1), campaign,
                                               account, err, fail, n.unknown, h (history:
                                               ``state@time;state@+ms;...``, the
                                               first time absolute, then ms after
                                               it, so that a usual record keeps
                                               every value under 64 bytes and stays
                                               a compact listpack; each state's
                                               time is its entry here), p<i>.st /
                                               .id / .b / .ts / .dt / .err / .stat /
                                               .cs / .n / .uk per part; TTL ``ttl``
``P corr:<account>:<canonical id>``  string    ``msg_id \\x1f part \\x1f submit time
                                               \\x1f parts \\x1f campaign`` (the
                                               record's; entries of earlier versions
                                               lack the last two);
                                               TTL ``correlation_ttl``, then
                                               ``duplicate_window`` after a final receipt
``P early:<account>:<canonical>``   string    a held receipt (JSON), one key per
                                               candidate spelling; TTL 2 x hold + 60 s
``P early-idx``                     zset       held receipts by hold deadline
``P unmatched``                     stream     unmatched receipts, ``MAXLEN ~``
                                               ``unmatched_maxlen``: account, id, state,
                                               err, stat, received, reason
``P tracking:stats``                hash       counters (see ``stats()``)
``P tracking:new-record``           hash       a submit call's template for new
                                               records (COPY); deleted by the same call
``P idfmt:<account>``               hash       matches per id spelling (detection)
``P campaign:<id>:states``          hash       messages per state, total, segments
events stream (``smpp:status``)     stream     msg_id, state, ts, part[, campaign,
                                               smsc_id, err]; ``MAXLEN ~ events_maxlen``
==================================  =========  =======================================

No ``queued`` events are published (the business queued the message itself); every
later aggregated change is, unless ``event_states`` narrows them (each event is one
XADD, about a fifth of the Redis time per message: final states only is cheaper). The script builds key names itself, so it needs a
standalone Redis (or a primary with replicas, or Sentinel; not Redis Cluster), version
6.2 or later (GETEX, COPY); an ACL user needs the commands the script calls.

Cost, measured by ``python -m bench tracking`` (see its output for this machine):
about ten Redis commands per single-part message over its life, all inside one
script call per batch: queued (HSETNX, HSET, PEXPIREAT), submitted (HMGET then HSET;
while submits find no records, a single-part record is a COPY of a template record with
its expiry, then an HSET of its own values; SET of the correlation, XADD),
receipt (GETEX, HMGET of the history and the part's state for a single-part message,
HSET, XADD). The status stream is trimmed once per call. ``event_states=FINAL_STATES``
drops the ``submitted`` XADD. Memory: the record (about 450 bytes for one part: every
value stays under 64 bytes, so Redis keeps it a listpack) lives ``ttl``; the
correlation entry (about 100 bytes per part) ``correlation_ttl`` or, after a final
receipt, ``duplicate_window``; size ``ttl`` for your daily volume.
"""

from engine.tracking.ids import FormatDetector, candidates, canonical
from engine.tracking.tracker import (
    EVENT_STATES,
    FAILURE_STATES,
    FINAL_STATES,
    MAX_BATCH,
    MAX_PARTS,
    MESSAGE_STATE_STATES,
    Failed,
    MessageStatus,
    OutcomeUnknown,
    PartStatus,
    Queued,
    Receipt,
    ReceiptMatch,
    ReceiptResult,
    Submitted,
    Tracker,
)

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
    "FormatDetector",
    "candidates",
    "canonical",
    "MESSAGE_STATE_STATES",
    "FINAL_STATES",
    "FAILURE_STATES",
    "EVENT_STATES",
    "MAX_PARTS",
    "MAX_BATCH",
]
