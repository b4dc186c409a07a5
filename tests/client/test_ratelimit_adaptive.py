"""AdaptiveRate against the two kinds of SMSC it must tell apart, on a fake clock.

An SMSC with a hard per-second limit (the simulator's ``max_tps``): from a cold start,
whatever rate the first burst measured, the bind settles just under the limit and
uses most of it. An SMSC that throttles a share of everything at any rate: the rate
never falls to a crawl. And a configured rate is never exceeded.
"""

from __future__ import annotations

import pytest

from engine.client.ratelimit import MIN_RATE, UNDER_ACCEPTED, AdaptiveRate

from .ratesim import HardLimit, RandomThrottle, TokenBucket, run

pytestmark = pytest.mark.timeout(60)


def feed(r: AdaptiveRate, start: float, seconds: float, rate: float, refuse_every: int = 0) -> float:
    """Send at ``rate`` segments/s (as far as the limit lets) for ``seconds``; every
    ``refuse_every``-th sent segment is refused, the others accepted. Returns the end."""
    t, i, step = start, 0, 1 / rate
    while t < start + seconds - 1e-9:
        if r.delay(1, t) == 0.0:
            i += 1
            if refuse_every and i % refuse_every == 0:
                r.on_refused(1)
            else:
                r.on_accepted(1, t)
        t += step
    return t


# --- a hard per-second limit -------------------------------------------------------


@pytest.mark.parametrize("offset", [0.0, 0.3, 0.7, 0.95])
def test_cold_start_burst_settles_just_under_a_hard_limit(offset):
    """A window of 50 answered in 0.2 ms measures a quarter of a million segments/s;
    the SMSC takes 400 per second. (Once the floor came from 1/50 of that measured
    rate, ~900/s, and the bind never settled under 400.)"""
    r = AdaptiveRate(0)
    got = run(r, HardLimit(400, offset), seconds=20, window=50, rtt=0.0002)
    assert r._floor == MIN_RATE  # absolute: not taken from the burst
    assert got.count(got.throttled, 0, 1) >= 50  # the cold start did overshoot
    accepted = got.count(got.accepted, 4, 20)
    throttled = got.count(got.throttled, 4, 20)
    assert accepted >= 0.88 * 400 * 16, accepted  # most of the limit
    assert accepted <= 400 * 16 + 400  # the SMSC's limit holds (one second's edge)
    assert throttled <= 0.06 * accepted, (throttled, accepted)  # settled under it
    # A probe at most: 1.25 times just under what the SMSC accepted over our last
    # second, which may hold the ends of two of its seconds (a tenth more, here).
    assert max(lim for t, lim in got.limits if t >= 4) <= 1.25 * 1.1 * 400


@pytest.mark.parametrize("tps, window", [(10, 10), (50, 10), (2000, 50)])
def test_other_hard_limits_settle_too(tps, window):
    r = AdaptiveRate(0)
    got = run(r, HardLimit(tps, 0.4), seconds=20, window=window, rtt=0.0005)
    accepted = got.count(got.accepted, 4, 20)
    throttled = got.count(got.throttled, 4, 20)
    assert accepted >= 0.88 * tps * 16, accepted
    assert throttled <= 0.06 * accepted + 5, (throttled, accepted)


def test_a_limit_that_drops_is_followed_down():
    class Dropping(HardLimit):
        def accepts(self, now: float) -> bool:
            self.tps = 400 if now < 1006 else 200
            return super().accepts(now)

    got = run(AdaptiveRate(0), Dropping(400, 0.4), seconds=16, window=50, rtt=0.0005)
    assert got.count(got.accepted, 2, 6) >= 0.88 * 400 * 4
    accepted = got.count(got.accepted, 9, 16)
    assert accepted >= 0.88 * 200 * 7, accepted
    assert got.count(got.throttled, 9, 16) <= 0.06 * accepted


@pytest.mark.parametrize("burst", [10, 40])
def test_a_token_bucket_is_found_from_a_cold_start(burst):
    """An SMSC counting by token bucket refuses nearly all of a burst yet accepts 400/s
    all along: that is its rate, not what it accepted over a second from a cold start
    (~80: the bind had sent for 0.1 s)."""
    got = run(AdaptiveRate(0), TokenBucket(400, burst), seconds=16, window=50, rtt=0.001)
    per_second = got.accepted[1:16]
    assert min(per_second) >= 0.8 * 400, per_second
    assert max(per_second) <= 400 + burst
    assert got.count(got.throttled, 1, 16) <= 0.01 * sum(per_second)


def test_probes_that_hold_take_bigger_steps():
    """After a cut, each probe that holds (nothing throttled since) doubles the next
    step: x1.25, x1.5, x2, x2, so a cut far below what the SMSC takes is made up in a
    few seconds; one that draws a throttle starts again at x1.25."""
    r = AdaptiveRate(0)
    t = feed(r, 0.0, 1.0, 1000, refuse_every=2)
    r.on_throttle(t)
    assert r.limit == r.ceiling == pytest.approx(UNDER_ACCEPTED * 500, rel=0.02)

    def probes(t: float, count: int) -> tuple[list[float], float]:
        ceilings, end = [r.ceiling], t + 8
        while len(ceilings) <= count and t < end:
            t = round(t + 0.01, 2)
            if r.delay(1, t) == 0.0:
                r.on_accepted(1, t)
            if r.ceiling != ceilings[-1]:
                ceilings.append(r.ceiling)
        return [round(b / a, 3) for a, b in zip(ceilings, ceilings[1:])], t

    steps, t = probes(t, 4)
    assert steps == [1.25, 1.5, 2.0, 2.0], steps
    r.on_throttle(t + 0.01)  # the last probe drew a throttle
    steps, t = probes(t + 0.01, 1)
    assert steps == [1.25], steps


# --- throttles unrelated to our rate ------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_throttles_on_a_window_of_one_never_slow_the_bind_to_a_crawl(seed):
    """20% throttled at any rate; one part in flight, answered in 1 ms: 1000 sends/s at
    most, 800 of them accepted. (Once the floor came from what was accepted over the
    first 0.1 s, a handful of parts: the bind fell to ~1/s.) The first cut goes to what
    was accepted counted over a whole second, as an SMSC counting per second would:
    ~40/s; judged futile once 50 answers came at that rate, it is undone."""
    got = run(AdaptiveRate(0), RandomThrottle(0.2, seed), seconds=30, window=1, rtt=0.001, throttle_pause=0.01)
    per_second = got.accepted[2:30]
    assert min(per_second) >= 0.7 * 800, per_second
    assert sum(got.accepted[:2]) >= 0.4 * 2 * 800, got.accepted[:2]  # the cost of that first cut


@pytest.mark.parametrize("seed", [64, 65])
def test_the_fault_mix_example_that_hung_is_over_at_once(seed):
    """The shape of the fault-mix example that ran past 120 s: 76 messages, window 1,
    20% throttled (the loopback simulator answers in well under a millisecond)."""
    got = run(AdaptiveRate(0), RandomThrottle(0.2, seed), seconds=60, window=1, rtt=0.001, n=76,
              throttle_pause=0.01)
    assert got.done_at is not None and got.done_at < 0.5, got.done_at


@pytest.mark.parametrize("p, window, rtt, capacity", [(0.05, 30, 0.001, 30_000), (0.2, 1, 0.005, 200),
                                                       (0.5, 5, 0.001, 5_000)])
def test_random_throttles_keep_most_of_the_rate(p, window, rtt, capacity):
    got = run(AdaptiveRate(0), RandomThrottle(p, 9), seconds=20, window=window, rtt=rtt, throttle_pause=0.01)
    per_second = got.accepted[2:20]
    assert min(per_second) >= 0.7 * (1 - p) * capacity, per_second


def test_a_futile_cut_is_undone_and_random_throttles_are_then_ignored():
    r = AdaptiveRate(0)
    t = feed(r, 0.0, 1.0, 1000, refuse_every=5)  # 1000/s, 20% refused
    r.on_throttle(t)
    assert r.limit == pytest.approx(UNDER_ACCEPTED * 800, rel=0.02)  # cut: just under what was accepted
    t = feed(r, t, 1.05, 1000, refuse_every=5)  # a whole window at the lower rate: still 20% refused
    r.on_throttle(t)
    assert r.limit == pytest.approx(1000, rel=0.02)  # the cut bought nothing: undone
    assert r._noise == pytest.approx(0.8, abs=0.01)
    for _ in range(5):  # the same share refused: not about the rate, nothing is cut
        t = feed(r, t, 0.5, 1000, refuse_every=5)
        r.on_throttle(t)
        assert r.limit >= 1000 * 0.99
    t = feed(r, t, 1.0, 1000, refuse_every=2)  # half refused now: that is new, cut
    r.on_throttle(t)
    assert r.limit < 700


def test_a_cut_that_helped_is_kept():
    """The same first second, but the SMSC has a limit (400/s): at the lower rate it
    takes everything, so a throttle after that is about the rate, and cuts again."""
    r = AdaptiveRate(0)
    t = feed(r, 0.0, 1.0, 1000, refuse_every=0)
    r.on_refused(600)  # 400 of 1000 accepted
    r._acc -= 600
    r.on_throttle(t)
    cut = r.limit
    assert cut == pytest.approx(UNDER_ACCEPTED * 400, rel=0.02)
    t = feed(r, t, 1.05, 1000)  # all accepted at the cut rate
    r.on_throttle(t)  # e.g. a probe above the limit
    assert r.limit < cut and r._noise is None


# --- a configured rate ---------------------------------------------------------------


@pytest.mark.parametrize("smsc", [HardLimit(400, 0.4), RandomThrottle(0.2, 5), HardLimit(150, 0.4)],
                         ids=["hard400", "random0.2", "hard150"])
def test_a_configured_rate_is_never_exceeded(smsc):
    r = AdaptiveRate(300)
    got = run(r, smsc, seconds=20, window=50, rtt=0.0005, throttle_pause=0.01)
    assert max(lim for _, lim in got.limits) <= 300
    sent = [a + b for a, b in zip(got.accepted, got.throttled)]
    assert max(sent) <= 300 + 300 * 0.05 + 1, sent  # the rate plus the bucket's burst
    assert min(lim for _, lim in got.limits) >= 300 / 4  # its floor


def test_min_rate_is_the_floor_of_an_unlimited_bind():
    r = AdaptiveRate(0, min_rate=25)
    feed(r, 0.0, 1.0, 1000)
    for i in range(60):
        r.on_refused(50)
        r.on_throttle(1.0 + i * 0.1)
    assert r.limit == 25
    with pytest.raises(ValueError, match="min_rate"):
        AdaptiveRate(0, min_rate=0)
