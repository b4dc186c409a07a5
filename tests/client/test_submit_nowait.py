"""``submit_nowait``: the public, task-free submit the Redis service uses, with
``has_space``/``wait_space`` as its backpressure. Over TCP against the simulator."""

from __future__ import annotations

import asyncio

import pytest

from engine.client import ClientClosed, Engine, OutboundMessage, Outcome, SmscClient
from engine.config import parse_config
from engine.simulator import Simulator

from .conftest import PASSWORD, arun, smsc_config

pytestmark = pytest.mark.timeout(60)
USERS = {"esme": PASSWORD}


def msg(i: int, **kw) -> OutboundMessage:
    return OutboundMessage("ACME", "+4915112345678", f"message number {i}", reference=i, **kw)


def test_many_messages_with_backpressure_all_answered_in_the_window():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            cfg = smsc_config(sim.port, window=5)
            async with SmscClient(cfg) as client:
                futs = []
                for i in range(300):
                    if not client.has_space():
                        await client.wait_space()
                    futs.append(client.submit_nowait(msg(i)))
                    # The queue bound holds: never more than window x QUEUE_FACTOR waiting.
                    assert client.binds[0].queued <= 5 * 2 + 1
                results = await asyncio.gather(*futs)
            assert [r.reference for r in results] == list(range(300))
            assert all(r.outcome is Outcome.OK for r in results)
            ids = [r.parts[0].message_id for r in results]
            assert ids == sim.record.ids()  # in order, each once
            assert sim.record.max_outstanding <= 5 and sim.record.duplicates == 0

    arun(main())


def test_a_bad_message_resolves_at_once_as_failed_and_close_refuses_more():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            client = SmscClient(smsc_config(sim.port))
            await client.start()
            bad = client.submit_nowait(OutboundMessage("ACME", "+4915112345678", "x" * 40_000, reference="big"))
            assert bad.done()
            r = bad.result()
            assert r.outcome is Outcome.FAILED and r.segments == 0 and r.reference == "big"
            assert r.error and "part" in r.error.lower()
            ok = await client.submit_nowait(msg(1))
            assert ok.ok and ok.parts[0].message_id == sim.record.submits[0].message_id
            await client.close()
            with pytest.raises(ClientClosed):
                client.submit_nowait(msg(2))
            with pytest.raises(ClientClosed):
                await client.wait_space()
            assert sim.record.submit_count == 1

    arun(main())


def test_no_transmitting_bind_fails_the_message_and_engine_routes_it():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            rx_only = smsc_config(sim.port, bind_type="rx")
            async with SmscClient(rx_only) as client:
                assert client.has_space()  # nothing to wait for: the message fails at once
                r = await client.submit_nowait(msg(0))
                assert r.outcome is Outcome.FAILED and r.segments == 0
                assert "no transmitter" in (r.error or "")
            table = {"name": "a", "host": "127.0.0.1", "port": sim.port, "system_id": "esme",
                     "password_env": "SIM_PW", "window": 3}
            config = parse_config({"smscs": [table]}, {"SIM_PW": PASSWORD})
            async with Engine(config) as engine:
                r = await engine.submit_nowait(msg(1))
                assert r.ok and r.parts[0].bind.startswith("a")
            assert sim.record.submit_count == 1

    arun(main())
