"""Random mixes of the simulator's faults against one client (hypothesis), over TCP.

Whatever the mix, the invariant of issue 3 holds: every message gets an outcome;
nothing accepted is lost; nothing is submitted twice, except what the client reported
as outcome "unknown"; the window is never exceeded; throttled parts are retried, not
failed.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.client import OutboundMessage, Outcome, SmscClient
from engine.simulator import Faults, Simulator

from .conftest import PASSWORD, arun, smsc_config

pytestmark = pytest.mark.timeout(120)

faults = st.builds(
    Faults,
    throttle_rate=st.sampled_from([0.0, 0.05, 0.2]),
    queue_full_rate=st.sampled_from([0.0, 0.05]),
    fail_rate=st.sampled_from([0.0, 0.1]),
    drop_rate=st.sampled_from([0.0, 0.05]),
    delay=st.sampled_from([0.0, 0.005]),
    reorder=st.booleans(),
    disconnect_after=st.sampled_from([None, 37, 90]),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=faults, window=st.sampled_from([1, 5, 30]), n=st.integers(20, 80), seed=st.integers(0, 1000))
def test_no_loss_no_duplicate_under_any_fault_mix(f, window, n, seed):
    async def main():
        async with Simulator(users={"esme": PASSWORD}, receipt_delay=None, faults=f, seed=seed) as sim:
            cfg = smsc_config(sim.port, window=window, response_timeout=0.3, throttle_pause=0.01)
            async with SmscClient(cfg) as client:
                results = await asyncio.gather(*(
                    client.submit(OutboundMessage("ACME", "4915112345678", f"mix {i}")) for i in range(n)
                ))
            return sim, results

    sim, results = arun(main(), timeout=60)
    assert len(results) == n
    by_text: dict[bytes, list] = {}
    for s in sim.record.submits:
        by_text.setdefault(s.short_message, []).append(s)
    for i, r in enumerate(results):
        got = by_text.get(f"mix {i}".encode(), [])
        if r.outcome is Outcome.OK:
            assert [s.message_id for s in got] == [r.parts[0].message_id]
        elif r.outcome is Outcome.UNKNOWN:
            assert len(got) <= 1
        elif r.outcome is Outcome.REJECTED:
            assert got == [] and r.parts[0].command_status not in (0x14, 0x58)  # throttles are retried
        else:
            pytest.fail(f"message {i} was never sent: {r}")
    assert sim.record.duplicates == 0
    assert sim.record.max_outstanding <= window
