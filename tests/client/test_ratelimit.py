"""Token bucket with AIMD and reconnect backoff, driven by a fake clock argument (no sleeping)."""

from __future__ import annotations

import random

import pytest

from engine.client.backoff import Backoff
from engine.client.ratelimit import MIN_RATE, UNDER_ACCEPTED, AdaptiveRate
from engine.config import BackoffConfig

pytestmark = pytest.mark.timeout(30)


def sent_in(rate: AdaptiveRate, start: float, seconds: float, step: float = 0.001) -> int:
    """Segments the bucket lets through when asked every ``step`` seconds."""
    n, t = 0, start
    while t < start + seconds:
        while rate.delay(1, t) == 0.0:
            n += 1
        t += step
    return n


def test_unlimited_never_waits():
    r = AdaptiveRate(0)
    assert all(r.delay(1, 0.0) == 0.0 for _ in range(10_000))
    assert r.limit is None


def test_bucket_holds_the_configured_rate():
    r = AdaptiveRate(200)
    n = sent_in(r, 0.0, 5.0)
    assert 990 <= n <= 1015, n  # 200/s over 5 s plus the initial burst (10)


def test_delay_says_how_long_to_wait():
    r = AdaptiveRate(10)
    assert r.delay(1, 0.0) == 0.0  # the burst is one token at 10/s
    wait = r.delay(1, 0.0)
    assert wait == pytest.approx(0.1)
    assert r.delay(1, 0.1) == 0.0


def test_throttle_halves_and_recovers_additively():
    r = AdaptiveRate(100)
    r.on_throttle(10.0)
    assert r.limit == 50 and r.ceiling == 100 and r.throttled
    r.on_throttle(10.0)
    assert r.limit == 25 and r.ceiling == 50  # the rate that drew the throttle
    r.delay(1, 12.0)  # 2 s later, capped at 1 s of growth: +10% of the ceiling
    assert r.limit == pytest.approx(30)
    r.on_accepted(20, 12.0)  # +1/200 of the ceiling per accepted segment
    assert r.limit == pytest.approx(35)
    for t in range(13, 16):
        r.delay(1, float(t))
    assert r.limit == 50  # at the ceiling, not above
    r.delay(1, 16.5)  # PROBE_SECONDS at the ceiling without throttles: probe higher
    assert r.ceiling == pytest.approx(62.5)
    r.delay(1, 27.0)  # RELEASE_SECONDS without a throttle: the configured rate again
    assert r.limit == 100 and not r.throttled


def test_throttle_goes_straight_to_just_under_what_the_smsc_accepted():
    """Not to exactly what it accepted over our last second, which is not the SMSC's
    counting second: it can hold the ends of two of them, more than the limit."""
    r = AdaptiveRate(0)
    r.on_accepted(1, 0.0)
    for i in range(2000):  # 2000/s for a second, 400 of them accepted
        r.delay(1, i * 0.0005)
    r.on_accepted(399, 0.9)
    r.on_refused(1600)
    r.on_accepted(0, 1.0)  # a full second counted: 400/s
    r.on_throttle(1.0)
    assert r.limit == pytest.approx(UNDER_ACCEPTED * 400, rel=0.01)
    assert r.ceiling == pytest.approx(UNDER_ACCEPTED * 400, rel=0.01)


def test_rate_based_throttling_settles_under_the_smsc_limit():  # noqa: C901
    """An SMSC accepting 300 segments per second and throttling the rest."""
    r = AdaptiveRate(0)
    t, accepted, throttled, second, in_second = 0.0, 0, 0, 0, 0
    last_slowdown = -1.0
    while t < 20.0:
        if r.delay(1, t) == 0.0:
            if int(t) != second:
                second, in_second = int(t), 0
            in_second += 1
            if in_second > 300:
                throttled += 1
                if t - last_slowdown >= 0.1:  # the bind slows down once per burst
                    last_slowdown = t
                    r.on_throttle(t)
            else:
                accepted += 1
                r.on_accepted(1, t)
        t += 0.0005
    assert accepted >= 0.8 * 300 * 20, accepted
    assert throttled <= 0.2 * accepted, (throttled, accepted)


def test_throttle_of_an_unlimited_bind_starts_from_the_measured_rate():
    r = AdaptiveRate(0)
    t = 0.0
    for _ in range(2000):  # 1000/s for 2 s
        r.delay(1, t)
        t += 0.001
    r.on_refused(100)  # and nothing accepted: half of what was sent
    r.on_throttle(t)
    assert 400 <= r.limit <= 600, r.limit
    r.delay(1, t + 20)
    assert r.limit is None and not r.throttled


def test_limit_never_drops_below_the_floor():
    r = AdaptiveRate(10)
    for _ in range(50):
        r.on_throttle(1.0)
    assert r.limit == 2.5  # a quarter of the configured (contract) rate
    u = AdaptiveRate(0)
    u.delay(1000, 0.0)
    for _ in range(50):
        u.on_refused(100)  # nothing accepted: each throttle halves what was sent
        u.on_throttle(1.0)
    assert u.limit == MIN_RATE


def test_a_burst_at_start_does_not_set_the_floor_above_what_the_smsc_accepts():
    """An unlimited bind sends a whole window at once (the measured rate reads tens of
    thousands per second); the SMSC accepts 400/s. The floor comes from what the SMSC
    accepted, so repeated throttles bring the limit under 400 (it once stayed at 900,
    1/50 of the burst's measured rate, and the bind never settled)."""
    r = AdaptiveRate(0)
    t = 0.0
    r.delay(1000, t)  # 1000 segments in one go: "50,000/s" measured 20 ms later
    t += 0.01
    r.on_accepted(400, t)  # the SMSC took 400 of them
    t += 0.01
    r.on_throttle(t)
    assert r.limit is not None and r._floor < 400 / 2, r._floor  # 1/50 of what was accepted
    for _ in range(8):
        t += 0.2
        r.on_throttle(t)
    assert r.limit < 400, r.limit


def test_backoff_grows_caps_and_jitters():
    b = Backoff(BackoffConfig(initial=0.5, max=8.0, jitter=0.2), random.Random(3))
    delays = [b.next() for _ in range(8)]
    bases = [0.5, 1, 2, 4, 8, 8, 8, 8]
    for d, base in zip(delays, bases):
        assert base * 0.8 <= d <= base * 1.2
    assert len(set(delays)) == len(delays)  # jitter: no two identical
    b.reset()
    assert 0.4 <= b.next() <= 0.6


def _next_probe(r: AdaptiveRate, t: float) -> tuple[float, float]:
    """Step the clock from ``t`` until the ceiling is raised: (when the limit reached
    the ceiling, when the probe came)."""
    reached = None
    end = t + 60
    while t < end:
        ceiling = r.ceiling
        r.delay(1, t)
        if reached is None and r.limit == ceiling:
            reached = t
        if r.ceiling != ceiling:
            assert reached is not None
            return reached, t
        t = round(t + 0.01, 2)
    raise AssertionError("no probe within 60 s")


def test_a_probe_that_draws_a_throttle_doubles_the_wait_before_the_next():
    r = AdaptiveRate(100)
    r.on_throttle(10.0)
    r.on_throttle(10.0)
    reached, probe = _next_probe(r, 10.01)
    assert probe - reached == pytest.approx(1.0, abs=0.02)  # PROBE_SECONDS at first
    r.on_throttle(probe + 0.01)  # the probe drew a throttle
    reached, probe = _next_probe(r, probe + 0.02)
    assert probe - reached == pytest.approx(2.0, abs=0.02)  # doubled
    r.on_throttle(probe + 0.01)
    reached, probe = _next_probe(r, probe + 0.02)
    assert probe - reached == pytest.approx(4.0, abs=0.02)
