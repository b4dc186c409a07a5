"""The service answers a receipt (and an MO message) only once it is in Redis: a batch
whose store fails is answered ESME_RX_T_APPN, the simulator delivers it again, and the
second delivery is stored. In-process service, real redis-server, simulator over TCP."""

from __future__ import annotations

import asyncio

import pytest

from engine.queue import connect
from engine.service import Service, inbound_stream
from engine.simulator import Simulator
from engine.smpp.constants import CommandStatus

from .conftest import check_no_loss_and_flagged_duplicates, config_dict, enqueue_campaign, make_config, run_bounded, wait_final

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


def test_a_receipt_batch_that_fails_to_store_is_refused_redelivered_and_stored(redis_url, prefix):
    async def main():
        async with Simulator(receipt_delay=0.05) as sim:
            cfg = make_config(config_dict(redis_url, prefix, sim.port, window=20, binds=2, batch=50))
            redis = connect(redis_url)
            cid, ids = await enqueue_campaign(redis, cfg, 200)
            service = Service(cfg, redis=redis)
            real_apply = service.tracker.apply_receipt_fields
            failed_batches: list[int] = []

            async def flaky_apply(receipts, account):
                # The first two batches fail with an error that is not retried (a bug,
                # a script error): before, their receipts were answered and dropped.
                if len(failed_batches) < 2:
                    failed_batches.append(len(receipts))
                    raise RuntimeError("store failed")
                return await real_apply(receipts, account)

            service.tracker.apply_receipt_fields = flaky_apply  # type: ignore[method-assign]
            await service.start(serve_metrics=False)
            try:
                counts = await wait_final(redis, cfg, cid, 200, 60)
            finally:
                await service.close()
            refused = sum(failed_batches)
            assert refused >= 2 and sim.record.receipts_refused == refused, (failed_batches, sim.record)
            assert set(sim.record.receipt_refusal_statuses) == {CommandStatus.ESME_RX_T_APPN}
            assert sim.record.receipts_sent == 200 + refused
            assert sim.record.receipts_acked == 200
            assert counts.get("delivered") == 200, counts
            report = await check_no_loss_and_flagged_duplicates(redis, cfg, sim, ids)
            assert report["duplicates"] == 0
            await redis.aclose()

    run_bounded(main(), 90)


def test_an_mo_whose_publish_fails_is_refused_and_published_on_redelivery(redis_url, prefix):
    async def main():
        async with Simulator(receipt_delay=None) as sim:
            cfg = make_config(config_dict(redis_url, prefix, sim.port, window=10, binds=1, batch=50))
            redis = connect(redis_url)
            service = Service(cfg, redis=redis)
            real_publish = service._publish_mo
            calls = [0]

            async def flaky_publish(messages):
                calls[0] += 1
                if calls[0] == 1:
                    raise RuntimeError("XADD failed")
                return await real_publish(messages)

            service._publish_mo = flaky_publish  # type: ignore[method-assign]
            await service.start(serve_metrics=False)
            try:
                assert await sim.wait_for(lambda s: len([c for c in s.connections if c.bind_type]) == 1, 10)
                sim.send_mo("4915112345678", "12345", "Hello from a handset")
                assert await sim.wait_for(lambda s: s.record.mo_acked == 1, 10)
            finally:
                await service.close()
            assert sim.record.mo_refused == 1 and calls[0] == 2
            entries = await redis.xrange(inbound_stream(service.keys))
            assert [e[1]["text"] for e in entries] == ["Hello from a handset"]
            await redis.aclose()

    run_bounded(main(), 60)
