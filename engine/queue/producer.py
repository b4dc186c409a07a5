"""Writing messages into the intake streams, pipelined."""

from __future__ import annotations

from typing import Any, Iterable

from engine.queue.keys import Keys
from engine.queue.message import Message

__all__ = ["Producer", "ENQUEUE_CHUNK"]

# XADDs per pipeline round trip: enough to make the round trip negligible (~1 ms per
# 1000 entries on loopback), small enough that one reply buffer stays a few hundred kB.
ENQUEUE_CHUNK = 1000


class Producer:
    """``enqueue`` one message or ``enqueue_many`` in pipelined chunks.

    The stream is chosen by ``message.priority``. Nothing is trimmed here: an entry
    leaves the stream only when a consumer acknowledges it (never lose a message).
    """

    def __init__(self, redis: Any, keys: Keys | None = None) -> None:
        self.redis = redis
        self.keys = keys or Keys()

    async def enqueue(self, message: Message) -> str:
        """Add one message; returns its stream entry id."""
        return await self.redis.xadd(self.keys.stream(message.priority), message.to_fields())

    async def enqueue_many(self, messages: Iterable[Message], *, chunk: int = ENQUEUE_CHUNK,
                           extra: Any = None, stream: str | None = None) -> list[str]:
        """Add many messages, ``chunk`` XADDs per round trip; returns the entry ids in order.

        ``extra``, if given, is called with each chunk's pipeline before it runs, so a
        caller can add its own bookkeeping (campaign counters) to the same round trip;
        its results are dropped. ``stream`` overrides the priority's stream (a
        rate-limited campaign's own stream, see ``Keys.campaign_stream``).
        """
        ids: list[str] = []
        batch: list[Message] = []
        for m in messages:
            batch.append(m)
            if len(batch) >= chunk:
                ids.extend(await self._flush(batch, extra, stream))
                batch = []
        if batch:
            ids.extend(await self._flush(batch, extra, stream))
        return ids

    async def _flush(self, batch: list[Message], extra: Any, to: str | None) -> list[str]:
        pipe = self.redis.pipeline(transaction=False)
        stream = self.keys.stream
        for m in batch:
            pipe.xadd(to or stream(m.priority), m.to_fields())
        if extra is not None:
            extra(pipe, batch)
        results = await pipe.execute()
        return list(results[: len(batch)])
