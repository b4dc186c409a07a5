"""A bind's send loop and an SMSC on a fake clock, to test AdaptiveRate as the bind drives it.

The loop follows engine/client/bind.py (``_pump`` and ``_on_submit_resp``): a window of
parts in flight; a limited bind asks ``delay(1)`` per part, an unlimited one reports
what it sent with ``delay(sent)``; a throttled part is retried before anything newer;
the rate is slowed at most once per SLOWDOWN_INTERVAL and only for a part sent since
the last slow-down; a part throttled again pauses the bind (the pause doubling up to
MAX_THROTTLE_PAUSE until a part is accepted). Every response comes ``rtt`` seconds
after its request, so the run is deterministic: no sockets, no sleeping.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from engine.client.bind import MAX_THROTTLE_PAUSE, SLOWDOWN_INTERVAL
from engine.client.ratelimit import AdaptiveRate

__all__ = ["HardLimit", "RandomThrottle", "Run", "TokenBucket", "run"]


class HardLimit:
    """Accepts ``tps`` submits per calendar second and throttles the rest, as the
    simulator's ``Faults(max_tps=...)`` does; ``offset`` shifts its seconds against ours."""

    def __init__(self, tps: int, offset: float = 0.0) -> None:
        self.tps, self.offset = tps, offset
        self._second: int | None = None
        self._count = 0

    def accepts(self, now: float) -> bool:
        second = int(now + self.offset)
        if second != self._second:
            self._second, self._count = second, 0
        self._count += 1
        return self._count <= self.tps


class TokenBucket:
    """Accepts ``tps`` submits per second with bursts of up to ``burst``, refusing what
    finds the bucket empty: an SMSC counting by something much shorter than a second."""

    def __init__(self, tps: float, burst: float) -> None:
        self.tps, self.burst = tps, burst
        self._tokens = burst
        self._last: float | None = None

    def accepts(self, now: float) -> bool:
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.tps)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class RandomThrottle:
    """Throttles a fraction ``p`` of submits at random, whatever the rate (an SMSC
    congested for its own reasons); seeded, so a run is repeatable."""

    def __init__(self, p: float, seed: int = 1) -> None:
        self.p = p
        self._random = random.Random(seed)

    def accepts(self, now: float) -> bool:
        return self._random.random() >= self.p


@dataclass
class Run:
    """What happened: per whole second of the run, submits accepted and throttled,
    and the limit (None: unlimited) sampled at each response."""

    accepted: list[int] = field(default_factory=list)
    throttled: list[int] = field(default_factory=list)
    limits: list[tuple[float, float | None]] = field(default_factory=list)
    done_at: float | None = None  # when the last of ``n`` messages was accepted

    def count(self, per_second: list[int], start: int, end: int) -> int:
        return sum(per_second[start:end])


def run(rate: AdaptiveRate, smsc, *, seconds: float, window: int, rtt: float = 0.001,
        n: int | None = None, throttle_pause: float = 0.05, start: float = 1000.0) -> Run:
    """Drive ``rate`` for ``seconds`` (or until ``n`` messages are accepted) against ``smsc``."""
    out = Run()
    end = start + seconds
    events: list[tuple[float, int, str, list]] = []  # (time, seq, kind, job)
    seq = 0
    retry: list[tuple[int, list]] = []  # (index, job): throttled parts, oldest first
    queued = n if n is not None else -1  # new messages left (-1: endless)
    next_index = 0
    in_flight = 0
    pause_until = 0.0
    last_slowdown = 0.0
    pause = throttle_pause
    wake_pending = False
    accepted_total = 0

    def push(t: float, kind: str, job) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, job))

    def tally(per_second: list[int], now: float) -> None:
        i = int(now - start)
        while len(per_second) <= i:
            per_second.append(0)
        per_second[i] += 1

    def pump(now: float) -> None:
        nonlocal in_flight, queued, next_index, wake_pending
        if in_flight >= window:
            return
        if now < pause_until:
            if not wake_pending:
                wake_pending = True
                push(pause_until, "wake", None)
            return
        limited = rate.limit is not None
        sent = 0
        while in_flight < window and (retry or queued != 0):
            if limited:
                wait = rate.delay(1, now)
                if wait > 0:
                    if not wake_pending:
                        wake_pending = True
                        push(now + max(wait, 0.0005), "wake", None)
                    break
            if retry:
                _, job = heapq.heappop(retry)
            else:
                job = [next_index, 0, 0.0]  # index, attempts, sent_at
                next_index += 1
                if queued > 0:
                    queued -= 1
            job[1] += 1
            job[2] = now
            in_flight += 1
            sent += 1
            push(now + rtt, "resp", (job, smsc.accepts(now + rtt / 2)))
        if sent and not limited:
            rate.delay(sent, now)

    pump(start)
    while events:
        now, _, kind, item = heapq.heappop(events)
        if now >= end:
            break
        if kind == "wake":
            wake_pending = False
            pump(now)
            continue
        job, ok = item
        in_flight -= 1
        if ok:
            tally(out.accepted, now)
            rate.on_accepted(1, now)
            accepted_total += 1
            if pause != throttle_pause and now >= pause_until:
                pause = throttle_pause
            if n is not None and accepted_total == n:
                out.done_at = now - start
                break
        else:
            tally(out.throttled, now)
            heapq.heappush(retry, (job[0], job))
            rate.on_refused(1)
            if job[2] >= last_slowdown and now - last_slowdown >= SLOWDOWN_INTERVAL:
                last_slowdown = now
                rate.on_throttle(now)
                if job[1] > 1:
                    pause_until = max(pause_until, now + pause)
                    pause = min(pause * 2, MAX_THROTTLE_PAUSE)
        out.limits.append((now - start, rate.limit))
        pump(now)
    for per_second in (out.accepted, out.throttled):
        while len(per_second) < int(seconds):
            per_second.append(0)
    return out
