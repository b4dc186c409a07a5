"""Per-bind send rate: a token bucket counting segments, adapted when the SMSC throttles.

No I/O and no clock of its own: every method takes ``now`` (seconds, monotonic), so
the behaviour is tested without sleeping.

ESME_RTHROTTLED / ESME_RMSGQFUL mean the SMSC wants less than we send. On a throttle
(the bind reports at most one per burst) the limit is halved, or set to what the SMSC
accepted over the last second if that is lower (multiplicative decrease), and the
``ceiling`` to grow back to is what the SMSC accepted (or the old limit, if nothing yet). The limit then grows back towards the ceiling additively, with time
(RECOVERY_PER_SECOND of the ceiling per second) and with traffic
(RECOVERY_PER_SEGMENT of it per accepted segment). Once at the ceiling for
PROBE_SECONDS without a throttle, the ceiling is raised by PROBE_FACTOR to look for
more; after RELEASE_SECONDS without a throttle the configured rate is back.
So a rate-limited SMSC sees us settle just under its limit, and an SMSC that throttles
now and then, not for our rate, costs us little.
"""

from __future__ import annotations

__all__ = ["AdaptiveRate"]

# Never adapt below this many segments/s, nor below FLOOR_FRACTION of the rate at the
# first throttle (CONFIGURED_FLOOR_FRACTION of a configured rate): a limit of ~0 would
# stall the bind on a run of throttles instead of probing again.
MIN_RATE = 1.0
FLOOR_FRACTION = 1 / 50
CONFIGURED_FLOOR_FRACTION = 1 / 4
# Seconds of sending at full rate the bucket may save up. Small, so a pause is not
# followed by a burst that the SMSC throttles again; at least one token always.
BURST_SECONDS = 0.05
RECOVERY_PER_SECOND = 0.1
RECOVERY_PER_SEGMENT = 1 / 200
PROBE_SECONDS = 1.0
# A probe that drew a throttle doubles the wait before the next one (up to
# MAX_PROBE_SECONDS): against an SMSC with a hard per-second limit, probing every
# second cost a window-sized burst of throttles each time. A probe that holds resets it.
MAX_PROBE_SECONDS = 8.0
PROBE_FACTOR = 1.25
RELEASE_SECONDS = 10.0
# Window over which the actual send rate is measured (the starting point when an
# unlimited bind is throttled for the first time).
_MEASURE_SECONDS = 1.0


class AdaptiveRate:
    """Token bucket with AIMD. ``configured`` segments/s, 0 for no limit.

    ``delay(n, now)``: 0.0 if ``n`` segments may go now (and takes the tokens), else
    the seconds to wait before asking again. ``on_throttle(now)``, ``on_accepted(n)``
    and the passage of time move the limit.
    """

    __slots__ = (
        "configured", "limit", "ceiling", "_floor", "_tokens", "_last", "_last_throttle",
        "_last_growth", "_at_ceiling_since", "_count", "_count_start", "_measured",
        "_acc_count", "_acc_start", "_acc_rate", "_probe_wait", "_probing",
    )

    def __init__(self, configured: float = 0.0) -> None:
        if configured < 0:
            raise ValueError(f"rate must be >= 0 segments/s, got {configured}")
        self.configured = float(configured)
        # Current limit in segments/s, None when unlimited.
        self.limit: float | None = self.configured or None
        self.ceiling: float | None = None
        self._floor = MIN_RATE
        self._tokens = self._burst(self.limit) if self.limit else 0.0
        self._last = 0.0
        self._last_throttle: float | None = None
        self._last_growth = 0.0
        self._at_ceiling_since: float | None = None
        self._count = 0
        self._count_start: float | None = None
        self._measured = 0.0
        self._acc_count = 0
        self._acc_start: float | None = None
        self._acc_rate = 0.0
        self._probe_wait = PROBE_SECONDS
        self._probing = False

    @staticmethod
    def _burst(limit: float) -> float:
        return max(1.0, limit * BURST_SECONDS)

    @property
    def throttled(self) -> bool:
        """True while the limit is adapted (below or probing above its configured value)."""
        return self._last_throttle is not None

    def _measure(self, n: int, now: float) -> None:
        if self._count_start is None:
            self._count_start = now
        elif now - self._count_start >= _MEASURE_SECONDS:
            elapsed = now - self._count_start
            if self._count:
                self._measured = self._count / elapsed
            self._count = 0
            self._count_start = now
        self._count += n

    def _release(self) -> None:
        self._last_throttle = None
        self._at_ceiling_since = None
        self.ceiling = None
        self.limit = self.configured or None
        self._probe_wait = PROBE_SECONDS
        self._probing = False

    def _grow(self, amount: float, now: float) -> None:
        limit, ceiling = self.limit, self.ceiling
        if limit is None or ceiling is None:
            return
        if limit < ceiling:
            self.limit = min(ceiling, limit + amount)
            if self.limit >= ceiling:
                self._at_ceiling_since = now

    def _recover(self, now: float) -> None:
        if now - self._last_throttle > RELEASE_SECONDS:  # type: ignore[operator]
            self._release()
            return
        dt = now - self._last_growth
        if dt <= 0:
            return
        self._last_growth = now
        self._grow(self.ceiling * RECOVERY_PER_SECOND * min(dt, 1.0), now)  # type: ignore[operator]
        since = self._at_ceiling_since
        if since is not None and now - since >= self._probe_wait:
            if self._probing:  # the last probe held: probe at the normal pace again
                self._probe_wait = PROBE_SECONDS
            self.ceiling *= PROBE_FACTOR  # type: ignore[operator]
            self._probing = True
            self._at_ceiling_since = None
            if self.configured and self.ceiling >= self.configured:
                self._release()

    def delay(self, n: int, now: float) -> float:
        self._measure(n, now)
        if self._last_throttle is not None:
            self._recover(now)
        limit = self.limit
        if limit is None:
            return 0.0
        burst = self._burst(limit)
        tokens = min(burst, self._tokens + (now - self._last) * limit)
        self._last = now
        # A request bigger than the burst still goes once the bucket is full.
        need = min(float(n), burst)
        if tokens >= need:
            self._tokens = tokens - n
            return 0.0
        self._tokens = tokens
        return (need - tokens) / limit

    def on_accepted(self, n: int, now: float) -> None:
        """``n`` segments were accepted by the SMSC: grow the limit a little."""
        if self._acc_start is None:
            self._acc_start = now
        elif now - self._acc_start >= _MEASURE_SECONDS:
            self._acc_rate = self._acc_count / (now - self._acc_start)
            self._acc_count = 0
            self._acc_start = now
        self._acc_count += n
        if self._last_throttle is not None and self.ceiling is not None:
            self._grow(self.ceiling * RECOVERY_PER_SEGMENT * n, now)

    def _accepted_rate(self, now: float) -> float:
        """Segments/s the SMSC accepted lately: over the last full second when there is
        one (SMSCs count per second), else over what has passed (at least 0.1 s)."""
        if self._acc_rate:
            return self._acc_rate
        if self._acc_start is None:
            return 0.0
        return self._acc_count / max(now - self._acc_start, 0.1)

    def on_throttle(self, now: float) -> None:
        """The SMSC said ESME_RTHROTTLED / ESME_RMSGQFUL: this rate is too high; halve it."""
        if self.limit is None:
            # First throttle on an unlimited bind: start from what we actually sent.
            elapsed = now - self._count_start if self._count_start is not None else 0.0
            measured = self._count / max(elapsed, 0.01) if self._count else 0.0
            self.limit = max(measured, self._measured, MIN_RATE * 2)
            self._tokens = 0.0
            self._last = now
        accepted = self._accepted_rate(now)
        if self._last_throttle is None:
            # A configured rate is the SMSC's contract: never go below a quarter of it.
            # An unlimited bind goes by 1/50 of what the SMSC accepted lately, or of its
            # own measured rate when nothing was accepted yet. (Not of the measured rate
            # alone: a window sent at once measures tens of thousands per second, and a
            # floor of 1/50 of that kept the bind above an SMSC's 400/s for good.)
            basis = accepted if accepted else self.limit
            self._floor = max(MIN_RATE, self.configured * CONFIGURED_FLOOR_FRACTION, basis * FLOOR_FRACTION)
        # Go to half our rate, or at once to what the SMSC accepted lately if that is
        # lower; grow back towards what it accepted (a rate it demonstrably takes), or
        # towards our old rate when nothing was accepted yet.
        old = self.limit
        self.limit = max(self._floor, min(old / 2, accepted) if accepted else old / 2)
        self.ceiling = max(accepted or old, self.limit)
        self._tokens = min(self._tokens, self._burst(self.limit))
        if self._probing:
            self._probe_wait = min(self._probe_wait * 2, MAX_PROBE_SECONDS)
            self._probing = False
        self._last_throttle = now
        self._last_growth = now
        self._at_ceiling_since = None
