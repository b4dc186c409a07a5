"""Queue lag and pending counts for status displays and metrics; campaign rate settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from engine.queue.keys import Keys

__all__ = ["StreamStats", "stream_stats", "set_campaign_rate"]


@dataclass(frozen=True, slots=True)
class StreamStats:
    stream: str
    length: int
    pending: int
    lag: int
    consumers: int
    oldest_pending_idle_ms: int


async def _one(redis: Any, keys: Keys, stream: str) -> StreamStats:
    length = await redis.xlen(stream)
    pending = consumers = idle = 0
    lag = None
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:
        groups = []
    for g in groups:
        if g.get("name") == keys.group:
            pending = int(g.get("pending") or 0)
            consumers = int(g.get("consumers") or 0)
            if g.get("lag") is not None:
                lag = int(g["lag"])
    if pending:
        oldest = await redis.xpending_range(stream, keys.group, "-", "+", 1)
        if oldest:
            idle = int(oldest[0].get("time_since_delivered") or 0)
    if lag is None:
        lag = max(length - pending, 0)
    return StreamStats(stream, length, pending, lag, consumers, idle)


async def stream_stats(redis: Any, keys: Keys, *, campaigns: str = "aggregate") -> list[StreamStats]:
    """Rows for the intake streams: transactional, bulk, then the rate-limited
    campaigns' own streams. ``lag`` = entries not yet read by the group (from XINFO
    GROUPS when Redis gives it, else XLEN - pending, which holds because acked entries
    are deleted).

    ``campaigns``: ``"aggregate"`` (default) adds one row named ``P outbound:campaign:*``
    summing every campaign stream (oldest idle = the largest) and only when there are
    any: metrics get one label value, not one per campaign that comes and goes;
    ``"each"`` adds one row per campaign stream; ``"none"`` leaves them out.
    """
    if campaigns not in ("aggregate", "each", "none"):
        raise ValueError(f"campaigns must be 'aggregate', 'each' or 'none', got {campaigns!r}")
    out = [await _one(redis, keys, s) for s in keys.streams]
    if campaigns == "none":
        return out
    members = await redis.smembers(keys.campaign_streams)
    rows = [await _one(redis, keys, keys.campaign_stream(c if isinstance(c, str) else c.decode()))
            for c in sorted(members)]
    if campaigns == "each":
        return out + rows
    if rows:
        out.append(StreamStats(
            keys.campaign_stream("*"),
            sum(r.length for r in rows),
            sum(r.pending for r in rows),
            sum(r.lag for r in rows),
            max(r.consumers for r in rows),
            max(r.oldest_pending_idle_ms for r in rows),
        ))
    return out


async def set_campaign_rate(redis: Any, keys: Keys, campaign_id: str, rate: float) -> None:
    """Messages per second for a campaign, shared by every consumer (0 = no limit).

    Campaigns submitted with a rate have their own stream, so their limit never holds
    up other traffic; a limit set later on a campaign in the shared bulk stream is
    applied by holding its entries back in the consumers (see ``Consumer``).
    """
    if rate < 0:
        raise ValueError(f"rate must be >= 0 messages per second, got {rate}")
    await redis.hset(keys.campaign(campaign_id), "rate", repr(float(rate)))
