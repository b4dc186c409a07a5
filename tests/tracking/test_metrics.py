"""The metrics endpoint: drive the observer, scrape over HTTP, parse, check values."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.client.types import Receipt as ClientReceipt
from engine.metrics import BIND_STATES, EngineMetrics, start_metrics_server, status_name
from engine.queue.stats import StreamStats
from engine.tracking import ReceiptMatch, ReceiptResult

pytestmark = pytest.mark.timeout(30)


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def receipt(state=None, message_state=None):
    return ClientReceipt(
        bind="acme/2", message_id="1f", state=state, message_state=message_state, error="000",
        text="", source="4915100000000", destination="ACME",
    )


@pytest.fixture
def served():
    m = EngineMetrics()
    server = start_metrics_server(0, m.registry)
    try:
        yield m, server.port
    finally:
        server.close()


def test_status_names():
    assert status_name(0) == "ESME_ROK"
    assert status_name(0x58) == "ESME_RTHROTTLED"
    assert status_name(0x14) == "ESME_RMSGQFUL"
    assert status_name(0x4C4) == "0x000004C4"


def test_observer_hooks_are_exposed_with_values(served):
    m, port = served
    o = m.observer
    o.on_bind_state("acme/0", "bound")
    o.on_bind_state("acme/1", "connecting")
    o.on_bind_state("acme/1", "closed")
    o.on_submit("acme/0", 3)
    o.on_submit("acme/0", 2)
    for latency in (0.0004, 0.003, 0.003, 0.2):
        o.on_response("acme/0", 0, latency)
    o.on_response("acme/0", 0x58, 0.001)
    o.on_throttle("acme/0", 0x58, 40.0)
    o.on_throttle("acme/0", 0x14, None)
    o.on_in_flight("acme/0", 7, 50)
    o.on_unknown("acme/0", 4, "connection lost")
    o.on_reconnect("acme/1", 1, 1.0, "refused")
    o.on_reconnect("acme/1", 2, 2.0, "refused")
    o.on_receipt("acme/2", receipt(state="DELIVRD"))
    o.on_receipt("acme/2", receipt(state="DELIVRD", message_state=5))  # the TLV wins
    o.on_receipt("acme/2", receipt(state="WEIRD"))
    o.on_mo("acme/2", object())
    o.on_enquire_link("acme/0", 0.002)
    o.on_enquire_link("acme/0", None)
    m.observe_tracking(
        ReceiptResult(
            matched=[
                ReceiptMatch("m1", 1, "delivered", 0.0, 2.5, "same"),
                ReceiptMatch("m2", 1, "expired", 0.0, 40.0, "hex2dec"),
            ],
            held=3,
            duplicates=1,
            unmatched=2,
        )
    )
    m.observe_late_receipts([ReceiptMatch("m3", 2, "delivered", 0.0, 0.0, "held")])
    m.observe_unmatched(5)
    m.observe_stream_stats([StreamStats("smpp:outbound", 900, 120, 780, 2, 61_500)])

    s = scrape(port)
    assert value(s, "smpp_submits_total", bind="acme/0") == 5
    assert value(s, "smpp_responses_total", bind="acme/0", command_status="ESME_ROK") == 4
    assert value(s, "smpp_responses_total", bind="acme/0", command_status="ESME_RTHROTTLED") == 1
    assert value(s, "smpp_segments_sent_total", bind="acme/0") == 4
    assert value(s, "smpp_submit_response_latency_seconds_count", bind="acme/0") == 5
    assert value(s, "smpp_submit_response_latency_seconds_sum", bind="acme/0") == pytest.approx(0.2074)
    assert value(s, "smpp_submit_response_latency_seconds_bucket", bind="acme/0", le="0.0005") == 1
    assert value(s, "smpp_submit_response_latency_seconds_bucket", bind="acme/0", le="0.005") == 4
    assert value(s, "smpp_throttling_events_total", bind="acme/0", command_status="ESME_RTHROTTLED") == 1
    assert value(s, "smpp_throttling_events_total", bind="acme/0", command_status="ESME_RMSGQFUL") == 1
    assert value(s, "smpp_rate_limit_segments_per_second", bind="acme/0") == 40
    assert value(s, "smpp_in_flight", bind="acme/0") == 7
    assert value(s, "smpp_window_size", bind="acme/0") == 50
    assert value(s, "smpp_outcome_unknown_total", bind="acme/0") == 4
    assert value(s, "smpp_bind_up", bind="acme/0") == 1
    assert value(s, "smpp_bind_up", bind="acme/1") == 0
    assert [value(s, "smpp_bind_state", bind="acme/1", state=st) for st in BIND_STATES] == [0, 0, 0, 0, 1]
    assert value(s, "smpp_reconnects_total", bind="acme/1") == 2
    assert value(s, "smpp_reconnects_total", bind="acme/0") == 0  # exists before the first
    assert value(s, "smpp_receipts_total", state="delivered") == 1
    assert value(s, "smpp_receipts_total", state="undeliverable") == 1
    assert value(s, "smpp_receipts_total", state="other") == 1
    assert value(s, "smpp_inbound_messages_total", bind="acme/2", kind="receipt") == 3
    assert value(s, "smpp_inbound_messages_total", bind="acme/2", kind="mo") == 1
    assert value(s, "smpp_enquire_link_latency_seconds_count", bind="acme/0") == 1
    assert value(s, "smpp_receipts_correlated_total", state="delivered") == 2
    assert value(s, "smpp_receipts_correlated_total", state="expired") == 1
    assert value(s, "smpp_receipts_correlated_total", state="rejected") == 0
    assert value(s, "smpp_submit_receipt_latency_seconds_count") == 3
    assert value(s, "smpp_submit_receipt_latency_seconds_bucket", le="5.0") == 2
    assert value(s, "smpp_unmatched_receipts_total") == 7
    assert value(s, "smpp_duplicate_receipts_total") == 1
    assert value(s, "smpp_held_receipts_total") == 3
    assert value(s, "smpp_queue_lag_entries", stream="smpp:outbound") == 780
    assert value(s, "smpp_queue_pending_entries", stream="smpp:outbound") == 120
    assert value(s, "smpp_queue_oldest_pending_seconds", stream="smpp:outbound") == 61.5
    # Every name carries the prefix, and no *_created series doubles the output.
    assert all(name.startswith("smpp_") for name, _ in s)
    assert not any(name.endswith("_created") for name, _ in s)


def test_port_in_use_and_bad_port_are_named(served):
    m, port = served
    with pytest.raises(OSError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
        start_metrics_server(port, m.registry)
    with pytest.raises(ValueError, match="metrics port must be an integer from 0 to 65535"):
        start_metrics_server(70000, m.registry)


def test_server_close_frees_the_port():
    m = EngineMetrics()
    server = start_metrics_server(0, m.registry)
    port = server.port
    server.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # would raise if still bound


@pytest.mark.redis
def test_poll_queue_stats_reads_the_real_streams(redis_url):
    import asyncio
    import uuid

    import redis.asyncio as aredis

    from engine.metrics import poll_queue_stats
    from engine.queue import Keys

    keys = Keys.with_prefix(f"test:{uuid.uuid4().hex[:8]}:")
    m = EngineMetrics()

    async def body():
        r = aredis.from_url(redis_url, decode_responses=True)
        try:
            for i in range(30):
                await r.xadd(keys.bulk_stream, {"m": str(i)})
            await r.xgroup_create(keys.bulk_stream, keys.group, id="0")
            await r.xreadgroup(keys.group, "c1", {keys.bulk_stream: ">"}, count=12)
            task = asyncio.create_task(poll_queue_stats(m, r, keys, 0.05))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            await r.aclose()

    asyncio.run(body())
    sample = m.registry.get_sample_value
    assert sample("smpp_queue_pending_entries", {"stream": keys.bulk_stream}) == 12
    assert sample("smpp_queue_lag_entries", {"stream": keys.bulk_stream}) == 18
    assert sample("smpp_queue_lag_entries", {"stream": keys.transactional_stream}) == 0


def test_observe_many_scrapes_like_observe_one_by_one():
    """The service adds latencies to histograms in batches: the scrape must be the same
    as with Histogram.observe per value, bucket edges included."""
    import random

    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from engine.metrics import RESPONSE_LATENCY_BUCKETS, observe_many

    rnd = random.Random(7)
    values = [rnd.expovariate(100) for _ in range(3000)] + [0.0, RESPONSE_LATENCY_BUCKETS[3], 1e9]
    regs = [CollectorRegistry(), CollectorRegistry()]
    one, many = (Histogram("lat", "d", ["bind"], buckets=RESPONSE_LATENCY_BUCKETS, registry=r).labels("b")
                 for r in regs)
    for v in values:
        one.observe(v)
    observe_many(many, values)

    def scrape(r):
        return [ln for ln in generate_latest(r).decode().splitlines() if "_created" not in ln]

    assert scrape(regs[0]) == scrape(regs[1])
    assert any(ln.startswith('lat_count{bind="b"} 3003.0') for ln in scrape(regs[1]))
