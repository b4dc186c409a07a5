"""Campaign intake through Redis Streams: the message record, the producer and the
consumer-group reader (priorities, per-campaign rate limits, reclaim, hand-off records).

Redis key layout (``P`` is ``Keys.prefix``, ``"smpp:"`` by default, from
``[engine] key_prefix``; stream names from ``[engine] stream`` / ``priority_stream``)::

    P outbound:priority        stream  transactional messages (read first)
    P outbound                 stream  bulk messages (campaigns)
        one field ``m``: the record as JSON with keys id, to (E.164), text,
        from, ton, npi, prio, rd (registered_delivery), seg (segment
        estimate), ts (created, unix s) and, when not default, camp
        (campaign id), enc (forced encoding), concat, nat ([languages]).
        group: [engine] group ("smpp-engine"); acked entries are deleted
        (XTRIM MINID up to the oldest pending entry, XDEL for newer ones), so
        XLEN - pending = entries not yet read (the lag)
    P outbound:campaign:{id}   stream  a rate-limited campaign's own messages (same
                                       entry format and group). Read only as fast
                                       as its token bucket allows, so it never
                                       stands in front of other traffic; removed
                                       by a consumer once intake is over and every
                                       entry is acked.
    P outbound:campaigns       set     campaign ids that have their own stream
    P dead                     stream  entries that were not message records:
                                       stream, entry, reason, fields (JSON)
    P attempts                 hash    hand-off records: msg_id -> "state:n:ts:consumer"
                                       (state handed | released; n = hand-offs;
                                       ts = unix s of the last change). A field
                                       exists only while its entry is pending and
                                       was handed to SMPP; deleted by ack in the
                                       same Lua call as XACK. Safety net: the hash
                                       expires 7 days after the last hand-off, and
                                       consumers prune fields older than that.
                                       (Earlier versions kept one string key per
                                       message, ``P attempt:{msg_id}``; such a key
                                       is still honoured when its entry is
                                       reclaimed.)
    P campaigns                zset    campaign id -> created (unix s)
    P campaign:{id}            hash    id, name, file, sender, template, region,
                                       created, state (intake | queued | failed),
                                       total, accepted, rejected, segments,
                                       rejected_stored, rate (msg/s, 0 = none),
                                       priority, stream (where its messages went),
                                       intake_seconds, error (if intake failed)
    P campaign:{id}:rejected   list    JSON {row, line, reason} per bad row (the
                                       first REJECTED_STORED_MAX; the count is exact)
    P campaign:{id}:bucket     hash    token bucket state: tokens, ts (ms, Redis TIME)
    P campaign:{id}:states     hash    state -> message count, kept by delivery
                                       tracking (queued, submitted, delivered, ...);
                                       ``campaign status`` shows it when present

Message ids: ``{campaign_id}:{row}`` for campaign rows (so re-reading a campaign's
entry maps to the same attempt record), a ULID for single messages.

The duplicate-send rule of issue 4 ("never submitted twice unless its earlier
outcome was unknown, and then its status says so") rests on the hand-off record:
``Consumer.begin`` checks in one Lua call that each entry is still pending under this
consumer (else ``ALREADY_ACKED`` / ``CLAIMED_ELSEWHERE``: do not send), marks it
handed, and reports those handed before without a recorded outcome as
``Attempt.OUTCOME_UNKNOWN``; ``Consumer.ack`` XACKs the entry and deletes its record
in one Lua call. Single-instance Redis (or Sentinel): the scripts touch keys of
several messages, which Redis Cluster would refuse across slots.
"""

from engine.queue.connection import DEFAULT_REDIS_URL, connect, resolve_redis_settings
from engine.queue.consumer import Attempt, Consumer, Entry
from engine.queue.keys import Keys
from engine.queue.message import PRIORITIES, MalformedEntry, Message, new_id
from engine.queue.producer import Producer
from engine.queue.stats import StreamStats, set_campaign_rate, stream_stats

__all__ = [
    "Attempt",
    "Consumer",
    "DEFAULT_REDIS_URL",
    "Entry",
    "Keys",
    "MalformedEntry",
    "Message",
    "PRIORITIES",
    "Producer",
    "StreamStats",
    "connect",
    "new_id",
    "resolve_redis_settings",
    "set_campaign_rate",
    "stream_stats",
]
