"""Per-bind send rate: a token bucket counting segments, adapted when the SMSC throttles.

No I/O and no clock of its own: every method takes ``now`` (seconds, monotonic), so
the behaviour is tested without sleeping.

ESME_RTHROTTLED / ESME_RMSGQFUL mean the SMSC wants less than we send. The limit is
halved on each throttle (multiplicative decrease) and grows back by a tenth of its
ceiling per second without throttling (additive increase), TCP-style: quick to yield,
slow to push again, and it settles just under what the SMSC accepts.
"""

from __future__ import annotations

__all__ = ["AdaptiveRate"]

# Never adapt below this many segments/s, nor below FLOOR_FRACTION of the ceiling:
# a limit of ~0 would stall the bind on a run of throttles instead of probing again.
MIN_RATE = 1.0
FLOOR_FRACTION = 1 / 50
# Seconds of sending at full rate the bucket may save up. Small, so a pause is not
# followed by a burst that the SMSC throttles again; at least one token always.
BURST_SECONDS = 0.05
# Each second without a throttle the limit regains this fraction of its ceiling.
RECOVERY_PER_SECOND = 0.1
# Window over which the actual send rate is measured (used as the starting point when
# an unlimited bind is throttled for the first time).
_MEASURE_SECONDS = 1.0


class AdaptiveRate:
    """Token bucket with AIMD. ``configured`` segments/s, 0 for no limit.

    ``delay(n, now)``: 0.0 if ``n`` segments may go now (and takes the tokens), else
    the seconds to wait before asking again. ``on_throttle(now)`` / the passage of time
    move the limit.
    """

    __slots__ = (
        "configured", "limit", "ceiling", "_tokens", "_last", "_last_throttle",
        "_count", "_count_start", "_measured",
    )

    def __init__(self, configured: float = 0.0) -> None:
        if configured < 0:
            raise ValueError(f"rate must be >= 0 segments/s, got {configured}")
        self.configured = float(configured)
        # Current limit in segments/s, None when unlimited.
        self.limit: float | None = self.configured or None
        self.ceiling: float | None = self.limit
        self._tokens = self._burst(self.limit) if self.limit else 0.0
        self._last = 0.0
        self._last_throttle: float | None = None
        self._count = 0
        self._count_start = 0.0
        self._measured = 0.0

    @staticmethod
    def _burst(limit: float) -> float:
        return max(1.0, limit * BURST_SECONDS)

    def _measure(self, n: int, now: float) -> None:
        if not self._count_start:
            self._count_start = now
        elif now - self._count_start >= _MEASURE_SECONDS:
            elapsed = now - self._count_start
            if elapsed > 0 and self._count:
                self._measured = self._count / elapsed
            self._count = 0
            self._count_start = now
        self._count += n

    def _recover(self, now: float) -> None:
        if self._last_throttle is None or self.limit is None or self.ceiling is None:
            return
        since = now - self._last_throttle
        if since <= 0:
            return
        grown = self.limit + self.ceiling * RECOVERY_PER_SECOND * min(since, 10.0)
        self._last_throttle = now
        if grown >= self.ceiling:
            self._last_throttle = None
            self.limit = self.configured or None
            self.ceiling = self.limit
        else:
            self.limit = grown

    def delay(self, n: int, now: float) -> float:
        self._measure(n, now)
        if self.limit is None:
            return 0.0
        if self._last_throttle is not None:
            self._recover(now)
            if self.limit is None:
                return 0.0
        limit = self.limit
        burst = self._burst(limit)
        tokens = min(burst, self._tokens + (now - self._last) * limit)
        self._last = now
        # A part bigger than the burst still goes once the bucket is full.
        need = min(float(n), burst)
        if tokens >= need:
            self._tokens = tokens - n
            return 0.0
        self._tokens = tokens
        return (need - tokens) / limit

    def on_throttle(self, now: float) -> None:
        """The SMSC said ESME_RTHROTTLED / ESME_RMSGQFUL: halve the limit."""
        if self.limit is None:
            # First throttle on an unlimited bind: start from what we actually sent.
            elapsed = now - self._count_start if self._count_start else 0.0
            # A short sample overstates nothing dangerous: the limit only starts there.
            measured = self._count / max(elapsed, 0.01) if self._count else 0.0
            base = max(measured, self._measured, MIN_RATE * 2)
            self.ceiling = base
            self.limit = base
            self._tokens = 0.0
            self._last = now
        floor = max(MIN_RATE, (self.ceiling or 0.0) * FLOOR_FRACTION)
        self.limit = max(floor, self.limit / 2)
        self._tokens = min(self._tokens, self._burst(self.limit))
        self._last_throttle = now

    @property
    def throttled(self) -> bool:
        """True while the limit is below its configured value because of throttling."""
        return self._last_throttle is not None
