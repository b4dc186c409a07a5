"""bench/bench_e2e.py, subprocess mode: submit->response percentiles from the engines'
/metrics histograms (scrapes subtracted, buckets merged over processes and binds,
percentiles as bucket upper bounds)."""

from __future__ import annotations

import math

import pytest
from prometheus_client import generate_latest

from bench import bench_e2e as B
from engine.metrics import RESPONSE_LATENCY_BUCKETS, EngineMetrics

pytestmark = pytest.mark.timeout(30)

INF = math.inf


def _exposition(per_bind: dict[str, list[float]]) -> str:
    """/metrics text of an engine whose binds saw these response latencies (seconds)."""
    m = EngineMetrics()
    for bind, values in per_bind.items():
        for v in values:
            m.response_latency.labels(bind).observe(v)
        m.enquire_link_latency.labels(bind).observe(5.0)  # another histogram: must not be counted
    return generate_latest(m.registry).decode()


def test_percentile_is_the_first_upper_bound_reaching_the_rank():
    # 100 values: 50 <= 1 ms, 40 in (1, 2.5] ms, 9 in (2.5, 5] ms, 1 above 30 s.
    cum = {0.001: 50, 0.0025: 90, 0.005: 99, 30.0: 99, INF: 100}
    assert B.bucket_percentiles(cum) == {0.5: 0.001, 0.9: 0.0025, 0.99: 0.005}
    assert B.bucket_percentiles(cum, (0.51, 0.91, 1.0)) == {0.51: 0.0025, 0.91: 0.005, 1.0: INF}
    # Unsorted input, same answer; nothing observed -> None.
    assert B.bucket_percentiles(dict(reversed(list(cum.items())))) == {0.5: 0.001, 0.9: 0.0025, 0.99: 0.005}
    assert B.bucket_percentiles({0.001: 0, INF: 0}) == {0.5: None, 0.9: None, 0.99: None}
    assert B.bucket_percentiles({}) == {0.5: None, 0.9: None, 0.99: None}


def test_percentile_refuses_what_is_not_a_cumulative_histogram():
    with pytest.raises(ValueError, match=r"\+Inf"):
        B.bucket_percentiles({0.001: 1, 0.002: 2})
    with pytest.raises(ValueError, match="not cumulative"):
        B.bucket_percentiles({0.001: 5, 0.002: 3, INF: 5})
    with pytest.raises(ValueError, match=r"percentile must be in \(0, 1\]"):
        B.bucket_percentiles({0.001: 1, INF: 1}, (0.0,))


def test_merge_adds_cumulative_counts_and_refuses_different_edges():
    a = {0.001: 3, 0.005: 4, INF: 4}
    b = {0.001: 0, 0.005: 6, INF: 10}
    assert B.merge_buckets([a, b]) == {0.001: 3, 0.005: 10, INF: 14}
    assert B.merge_buckets([]) == {}
    with pytest.raises(ValueError, match="different bucket edges"):
        B.merge_buckets([a, {0.002: 1, INF: 1}])


def test_subtract_is_per_bucket_and_a_restart_is_an_error():
    assert B.subtract_buckets({0.001: 7, INF: 9}, {0.001: 2, INF: 3}) == {0.001: 5, INF: 6}
    assert B.subtract_buckets({0.001: 7, INF: 9}, {}) == {0.001: 7, INF: 9}
    with pytest.raises(ValueError, match="went down"):
        B.subtract_buckets({0.001: 1, INF: 1}, {0.001: 2, INF: 2})


def test_histogram_buckets_reads_one_histogram_per_bind_from_an_exposition():
    text = _exposition({"sim/0": [0.0004, 0.002], "sim/1": [0.02]})
    got = B.histogram_buckets(text)
    assert set(got) == {(("bind", "sim/0"),), (("bind", "sim/1"),)}
    h0 = got[(("bind", "sim/0"),)]
    assert sorted(h0) == sorted([*RESPONSE_LATENCY_BUCKETS, INF])
    assert (h0[0.0005], h0[0.001], h0[0.0025], h0[INF]) == (1, 1, 2, 2)
    assert got[(("bind", "sim/1"),)][0.01] == 0 and got[(("bind", "sim/1"),)][0.025] == 1
    assert B.histogram_buckets(_exposition({})) == {}


def test_summary_over_two_processes_subtracts_the_first_scrape():
    # Before the run: process 0 already holds 1000 slow responses (an earlier run).
    start = [_exposition({"sim/0": [2.0] * 1000}), _exposition({})]
    # The run: process 0 adds 60 fast ones on sim/0; process 1 has 30 on sim/1, 10 on sim/2.
    end = [_exposition({"sim/0": [2.0] * 1000 + [0.0008] * 60}),
           _exposition({"sim/1": [0.004] * 30, "sim/2": [0.04] * 9 + [45.0]})]
    s = B.response_summary_ms(start, end)
    # 100 responses: 60 <= 1 ms, 90 <= 5 ms, 99 <= 50 ms, one above 30 s.
    assert s == {"p50": 1.0, "p90": 5.0, "p99": 50.0, "count": 100, "bucket_bounds": True, "top_ms": 30000.0}
    assert B._fmt_pct(s) == "≤1 / ≤5 / ≤50"
    # Without the subtraction the earlier slow responses would dominate every figure.
    assert B.response_summary_ms([_exposition({}), _exposition({})], end)["p50"] == 2500.0
    # p99 above the largest finite bound.
    tail = B.response_summary_ms([_exposition({})], [_exposition({"sim/0": [0.0001] * 90 + [40.0] * 10})])
    assert (tail["p50"], tail["p99"]) == (0.5, INF)
    assert B._fmt_pct(tail) == "≤0.5 / ≤0.5 / >30000"  # the 90th value is the last fast one
    with pytest.raises(ValueError, match="1 scrapes at the start, 2 at the end"):
        B.response_summary_ms(start[:1], end)


def test_in_process_figures_keep_their_format():
    assert B._fmt_pct({"p50": 1.234, "p90": 2.5, "p99": 9.0, "max": 12.0, "count": 10}) == "1.234 / 2.5 / 9.0"
    assert B._fmt_pct({}) == "n/a"
