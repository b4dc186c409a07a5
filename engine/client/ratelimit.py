"""Per-bind send rate: a token bucket counting segments, adapted when the SMSC throttles.

No I/O and no clock of its own: every method takes ``now`` (seconds, monotonic), so
the behaviour is tested without sleeping.

ESME_RTHROTTLED / ESME_RMSGQFUL mean "too fast, slow down". SMSCs count their limit per
counting window, most often a second, so what an SMSC *accepted* over the last second
is a rate it demonstrably takes, while what we *sent* over a burst says nothing about it
(a window sent at once over loopback reads tens of thousands per second).

A throttle cuts the limit (multiplicative decrease, measured from what is achieved, not
from a limit the bind may not even reach): to just under (UNDER_ACCEPTED of) what the
SMSC accepted per counting window lately, or to half of what we sent lately when it
accepted nothing; never below the floor, and not at all if we already send less. An
SMSC that refuses nearly all we send yet accepts all along counts by something much
shorter than a second (a token bucket): the cut goes to just under what it accepts
meanwhile. The floor is a quarter of a configured rate (the SMSC's contract), or
``min_rate`` for an unlimited bind: an absolute number, so neither a burst's measured
rate nor a few random throttles can move it. After a cut the limit grows back
additively, with time (RECOVERY_PER_SECOND of the ceiling per second) and with traffic
(RECOVERY_PER_SEGMENT of it per accepted segment), up to the ``ceiling``, just under
what the SMSC accepted; held there PROBE_SECONDS without a throttle, the ceiling is
raised by PROBE_FACTOR to look for more (by larger steps while probes hold); after
RELEASE_SECONDS without a throttle the configured rate is back.

One cut per counting window: once cut, the limit is cut again before COUNT_SECONDS
have passed (and _MIN_ANSWERS answered) only if the SMSC accepted nothing since the
last throttle (everything refused: still too fast, or its window is spent). Otherwise
the next throttle waits, and then first judges the last cut. An SMSC that throttles for
our rate takes a larger share of what we send once we send less (all of it once under
its limit); one that throttles a share of everything, at any rate (congested for its
own reasons), takes the same share. A cut that lowered our rate but not the share
refused was futile: the limit goes back to the rate before it, and from then on
throttles are ignored while the share accepted stays at that level. So random throttles
cost a second or two at a lower rate, never a crawl, and a rate-limited SMSC sees us
settle just under its limit.
"""

from __future__ import annotations

from collections import deque

from engine.config import DEFAULT_MIN_RATE

__all__ = ["AdaptiveRate", "MIN_RATE"]

# An unlimited bind never adapts below this many segments/s (the bind setting ``min_rate``
# overrides it): a limit of ~0 would stall the bind on a run of throttles instead of
# probing again. Low enough for the smallest SMSC contracts we know of (a few per second
# go through the bind's throttle pauses; configure ``rate`` for those).
MIN_RATE = DEFAULT_MIN_RATE
# A configured rate is the SMSC's contract: never adapt below this share of it.
CONFIGURED_FLOOR_FRACTION = 1 / 4
# Seconds of sending at full rate the bucket may save up. Small, so a pause is not
# followed by a burst that the SMSC throttles again; at least one token always.
BURST_SECONDS = 0.05
# A cut: to UNDER_ACCEPTED of what the SMSC accepted lately (just under its limit,
# when it throttles for our rate), or to BACKOFF of what we sent when it accepted none.
BACKOFF = 0.5
UNDER_ACCEPTED = 0.9
# The SMSC's counting window, as most count: the span rates are measured over, and the
# time a cut is given to show its effect.
COUNT_SECONDS = 1.0
RECOVERY_PER_SECOND = 0.1
RECOVERY_PER_SEGMENT = 1 / 200
PROBE_SECONDS = 1.0
# A probe that drew a throttle doubles the wait before the next one (up to
# MAX_PROBE_SECONDS): against an SMSC with a hard per-second limit, probing every
# second cost a window-sized burst of throttles each time. A probe that holds resets it.
MAX_PROBE_SECONDS = 8.0
# Each probe that holds doubles the step of the next (up to MAX_PROBE_STEP, doubling
# the ceiling); one that draws a throttle goes back to PROBE_FACTOR.
PROBE_FACTOR = 1.25
MAX_PROBE_STEP = 1.0
RELEASE_SECONDS = 10.0
# A cut is judged on this many answers at least (or a whole window's) before it, and
# this many after it (fewer say too little about a share),
# only if what we sent after it was under this share of what the SMSC accepted before
# it (so a rate limit would have let all through: a cut of a limit the bind did not
# reach, or grew back above, proves nothing), and only if the share refused before it
# was this much at least (random throttles of a smaller share are not told apart).
_MIN_ANSWERS = 50
_JUDGE_UNDER = 0.95
_JUDGE_SEPARATION = 0.03
# The SMSC refused nearly all we sent when it refused this many times what it accepted.
_OVERRUN = 2
# Throttles are ignored as rate-independent while the share accepted is no more than
# this much below the share the SMSC accepted at any rate.
_NOISE_MARGIN = 0.1
# Rates are measured over the last COUNT_SECONDS from snapshots of the counters taken
# this often. What we sent, over at least _MIN_SPAN (a first burst is over in a few
# milliseconds); what the SMSC accepted, over a whole counting window at least: 400
# accepted in 10 ms from a cold start say it takes 400 in its window, not 40,000/s.
_SNAP_SECONDS = 0.1
_MIN_SPAN = 0.01


class AdaptiveRate:
    """Token bucket with AIMD. ``configured`` segments/s, 0 for no limit.

    ``delay(n, now)``: 0.0 if ``n`` segments may go now (and takes the tokens; an
    unlimited bind calls it after sending, to count what it sent), else the seconds to
    wait before asking again. ``on_throttle(now)`` (once per burst of throttles),
    ``on_accepted(n, now)``, ``on_refused(n)`` (every throttled segment) and the
    passage of time move the limit. ``min_rate``: the floor of an unlimited bind.
    """

    __slots__ = (
        "configured", "min_rate", "limit", "ceiling", "_floor", "_tokens", "_last",
        "_last_throttle", "_last_growth", "_at_ceiling_since", "_probe_wait", "_probe_step",
        "_probing",
        "_sent", "_acc", "_ref", "_snaps", "_snap_due", "_acc_at_throttle", "_ref_at_throttle",
        "_throttle_call",
        "_cut", "_cut_open", "_noise",
    )

    def __init__(self, configured: float = 0.0, min_rate: float = MIN_RATE) -> None:
        if configured < 0:
            raise ValueError(f"rate must be >= 0 segments/s, got {configured}")
        if min_rate <= 0:
            raise ValueError(f"min_rate must be > 0 segments/s, got {min_rate}")
        self.configured = float(configured)
        self.min_rate = float(min_rate)
        # Current limit in segments/s, None when unlimited.
        self.limit: float | None = self.configured or None
        self.ceiling: float | None = None
        # Not min_rate for a configured rate below it: the floor is never above the contract.
        self._floor = self.configured * CONFIGURED_FLOOR_FRACTION if self.configured else self.min_rate
        self._tokens = self._burst(self.limit) if self.limit else 0.0
        self._last = 0.0
        self._last_throttle: float | None = None
        self._last_growth = 0.0
        self._at_ceiling_since: float | None = None
        self._probe_wait = PROBE_SECONDS
        self._probe_step = PROBE_FACTOR - 1
        self._probing = False
        # Segments sent, accepted and refused (throttled) since the start, and
        # (time, sent, accepted, refused) snapshots covering the last COUNT_SECONDS.
        self._sent = 0
        self._acc = 0
        self._ref = 0
        self._snaps: deque[tuple[float, int, int, int]] = deque()
        self._snap_due = float("-inf")  # when the next snapshot is due
        # Counts at, and time of, the last on_throttle.
        self._acc_at_throttle = 0
        self._ref_at_throttle = 0
        self._throttle_call = 0.0
        # The last cut not judged yet: (when its effect is measured from, sent,
        # accepted, refused then, rate sent before it, share accepted before it,
        # whether that share came from enough answers to judge by).
        # Measured from the first part accepted after it (``_cut_open`` until then):
        # until then the SMSC may still be counting the window we overran, and refuse
        # whatever we send, however slowly.
        self._cut: tuple[float, int, int, int, float, float, bool] | None = None
        self._cut_open = False
        # The share the SMSC accepts whatever our rate, once a cut showed it (None: not seen).
        self._noise: float | None = None

    @staticmethod
    def _burst(limit: float) -> float:
        return max(1.0, limit * BURST_SECONDS)

    @property
    def throttled(self) -> bool:
        """True while the limit is adapted (below or probing above its configured value)."""
        return self._last_throttle is not None

    def _snap(self, now: float) -> None:
        snaps = self._snaps
        if now >= self._snap_due:
            self._snap_due = now + _SNAP_SECONDS
            snaps.append((now, self._sent, self._acc, self._ref))
            # Keep the newest snapshot at least COUNT_SECONDS old as the base.
            while len(snaps) > 2 and snaps[1][0] <= now - COUNT_SECONDS:
                snaps.popleft()

    def _recent(self, now: float) -> tuple[float, int, int, int]:
        """(seconds, sent, accepted, refused) over about the last COUNT_SECONDS."""
        if not self._snaps:
            return _MIN_SPAN, 0, 0, 0
        t, sent, acc, ref = self._snaps[0]
        return max(now - t, _MIN_SPAN), self._sent - sent, self._acc - acc, self._ref - ref

    def _release(self) -> None:
        self._last_throttle = None
        self._at_ceiling_since = None
        self.ceiling = None
        self.limit = self.configured or None
        self._probe_wait = PROBE_SECONDS
        self._probe_step = PROBE_FACTOR - 1
        self._probing = False
        self._cut = None
        self._cut_open = False

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
            if self._probing:
                # The last probe held: probe at the normal pace again, and by a larger
                # step (a cut may have gone far below what the SMSC takes).
                self._probe_wait = PROBE_SECONDS
                self._probe_step = min(self._probe_step * 2, MAX_PROBE_STEP)
            self.ceiling *= 1 + self._probe_step  # type: ignore[operator]
            self._probing = True
            self._at_ceiling_since = None
            if self.configured and self.ceiling >= self.configured:
                self._release()

    def delay(self, n: int, now: float) -> float:
        if self._last_throttle is not None:
            self._recover(now)
        if now >= self._snap_due:
            self._snap(now)
        limit = self.limit
        if limit is None:
            self._sent += n
            return 0.0
        burst = self._burst(limit)
        tokens = min(burst, self._tokens + (now - self._last) * limit)
        self._last = now
        # A request bigger than the burst still goes once the bucket is full.
        need = min(float(n), burst)
        if tokens >= need:
            self._tokens = tokens - n
            self._sent += n
            return 0.0
        self._tokens = tokens
        return (need - tokens) / limit

    def on_accepted(self, n: int, now: float) -> None:
        """``n`` segments were accepted by the SMSC: grow the limit a little."""
        self._snap(now)
        if self._cut_open:
            self._cut_open = False
            self._cut = (now, self._sent, self._acc, self._ref, *self._cut[4:])  # type: ignore[index]
        self._acc += n
        if self._last_throttle is not None and self.ceiling is not None:
            self._grow(self.ceiling * RECOVERY_PER_SEGMENT * n, now)

    def on_refused(self, n: int = 1) -> None:
        """``n`` segments were throttled (each one, where ``on_throttle`` hears of one
        per burst): with the accepted ones, the share the SMSC refuses, counted over
        answers (what is still in flight has no answer to count)."""
        self._ref += n

    def on_throttle(self, now: float) -> None:
        """The SMSC said ESME_RTHROTTLED / ESME_RMSGQFUL: cut the rate, unless the
        last cut is still to show its effect or showed that the rate is not the cause."""
        informed = bool(self._snaps)
        self._snap(now)
        if self._ref == self._ref_at_throttle:
            self._ref += 1  # a caller that does not count refusals: this one at least
        span, sent, acc, ref = self._recent(now)
        answers = acc + ref
        # Enough to tell a share by: _MIN_ANSWERS, or all a whole window brought.
        enough = answers >= _MIN_ANSWERS or span >= COUNT_SECONDS
        # Since the last throttle: parts accepted, and whether the SMSC refused nearly
        # all we sent (we overran its limit, or its counting window is spent).
        accepted_since = self._acc - self._acc_at_throttle
        overrun = accepted_since * _OVERRUN < self._ref - self._ref_at_throttle
        dt = now - self._throttle_call
        self._acc_at_throttle = self._acc
        self._ref_at_throttle = self._ref
        self._throttle_call = now
        if informed and not enough and self._last_throttle is None:
            # The first cut waits for enough answers to be judged by: a throttle among
            # the first few says nothing of the rate (an SMSC refusing a share at
            # random refuses one of the first few now and then), and the bind's
            # throttle pause spaces the retries meanwhile. (With no traffic seen at
            # all, the limit is simply halved below.)
            return
        if self._noise is not None and enough and acc >= (self._noise - _NOISE_MARGIN) * answers:
            return  # the SMSC refuses its usual share: not about our rate
        cut = self._cut
        if cut is not None:
            since, sent_then, acc_then, ref_then, rate_before, share_before, judgeable = cut
            answers_after = self._acc - acc_then + self._ref - ref_then
            if (self._cut_open or now - since < COUNT_SECONDS
                    or (judgeable and answers_after < _MIN_ANSWERS)):
                if accepted_since:
                    # The last cut has not had a whole window yet, or enough answers to
                    # be judged (at a low rate), and parts still go through: wait.
                    return
            elif futile := self._futile(cut, now):
                acc_after = self._acc - acc_then
                self._noise = min(share_before, acc_after / (acc_after + self._ref - ref_then))
                restored = max(self.limit or 0.0, rate_before)
                if self.configured:
                    restored = min(restored, self.configured)
                self.limit = restored
                self.ceiling = max(self.ceiling or 0.0, restored)
                self._cut = None
                self._last_throttle = now
                self._last_growth = now
                self._at_ceiling_since = now if restored >= self.ceiling else None
                return
            elif futile is not None:
                self._noise = None  # this cut helped: the rate is the cause
        sent_rate = sent / span
        acc_rate = acc / max(span, COUNT_SECONDS)
        old = self.limit
        if old is None:
            # First throttle of an unlimited bind: start from what we actually sent.
            old = max(sent_rate, self._floor)
            self._tokens = 0.0
            self._last = now
        if overrun and accepted_since and dt > 0:
            # Refusing nearly all, yet accepting all along: it counts by something
            # shorter than a second (a token bucket), and what it accepts meanwhile is
            # its rate. (A spent window accepts nothing meanwhile.)
            acc_rate = max(acc_rate, accepted_since / dt)
        # Just under what the SMSC accepted lately, or half of what we achieved (not of
        # a limit the bind may not reach) when it accepted nothing.
        target = UNDER_ACCEPTED * acc_rate if acc else BACKOFF * (min(old, sent_rate) if sent else old)
        new = max(self._floor, min(old, target))
        if new >= old and self.limit is not None:
            # Already under what the SMSC accepted: the rest of a counting window we
            # overran is refused however slowly we send now. Nothing to cut.
            if self._last_throttle is not None:
                self._last_throttle = now
            return
        self.limit = new
        # Grow back towards just under what the SMSC accepted (a rate it demonstrably
        # takes: over a second not aligned with the SMSC's, up to a few tenths more
        # than its limit), or towards our old rate when nothing was accepted yet.
        self.ceiling = max(UNDER_ACCEPTED * acc_rate or old, self.limit)
        self._tokens = min(self._tokens, self._burst(self.limit))
        if answers:
            # Judged against the rate and share just before this cut: in a run of
            # cuts with nothing accepted, those before the first came from a burst
            # the SMSC counted in the same window, and say nothing of its rate.
            self._cut = (now, self._sent, self._acc, self._ref, sent_rate, acc / answers, enough)
            self._cut_open = True
        if self._probing:
            self._probe_wait = min(self._probe_wait * 2, MAX_PROBE_SECONDS)
            self._probe_step = PROBE_FACTOR - 1
            self._probing = False
        self._last_throttle = now
        self._last_growth = now
        # Already at the ceiling (the floor, or what was accepted): probe from now on,
        # or the limit would never look for more.
        self._at_ceiling_since = now if self.limit >= self.ceiling else None

    def _futile(self, cut: tuple[float, int, int, int, float, float, bool], now: float) -> bool | None:
        """Whether the cut lowered what we sent but not the share the SMSC refuses
        (None: too few answers, or a rate too close to the SMSC's to tell).

        An SMSC with a limit that we exceeded accepted about its limit: the share
        accepted before the cut, times the rate before. Sending under that after the
        cut (by a margin: our second is not the SMSC's), we are under its limit, and it
        accepts all. An SMSC that throttles at random refuses the same share as before.
        The test is half-way between the two."""
        since, sent_then, acc_then, ref_then, rate_before, share_before, judgeable = cut
        acc = self._acc - acc_then
        answers = acc + self._ref - ref_then
        rate_after = (self._sent - sent_then) / (now - since)
        if not judgeable or answers < _MIN_ANSWERS or rate_after > _JUDGE_UNDER * share_before * rate_before:
            return None
        if 1.0 - share_before < _JUDGE_SEPARATION:
            return None
        return acc / answers < (share_before + 1.0) / 2
