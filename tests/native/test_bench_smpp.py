"""bench/bench_smpp.py: its report rewrites only its own section of bench/RESULTS.md."""

from __future__ import annotations

import pytest

from bench import bench_smpp as B

pytestmark = pytest.mark.timeout(30)


def test_write_section_replaces_only_its_own_section(tmp_path, monkeypatch):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Encoding\n\nmine: 1\n\n## SMPP throughput\n\nold numbers\n\n## End to end\n\ntheirs: 2\n")
    monkeypatch.setattr(B, "RESULTS", results)
    B._write_section("## SMPP throughput\n\nnew numbers\n")
    text = results.read_text()
    assert "old numbers" not in text and "new numbers" in text
    assert text.index("## Encoding") < text.index("## SMPP throughput") < text.index("## End to end")
    assert "mine: 1" in text and "theirs: 2" in text


def test_write_section_appends_when_missing(tmp_path, monkeypatch):
    results = tmp_path / "RESULTS.md"
    monkeypatch.setattr(B, "RESULTS", results)
    B._write_section("## SMPP throughput\n\nfirst\n")
    assert results.read_text() == "# Benchmark results\n\n## SMPP throughput\n\nfirst\n"
    results.write_text("# Benchmark results\n\n## Encoding\n\nx\n")
    B._write_section("## SMPP throughput\n\nsecond\n")
    assert results.read_text() == "# Benchmark results\n\n## Encoding\n\nx\n\n## SMPP throughput\n\nsecond\n"


def test_report_states_targets_and_ratios():
    def run(name, window, binds, count, seconds, ok=None, receipts=None):
        r = B.Run(name, window, binds, count, seconds=seconds, ok=count if ok is None else ok, receipts=receipts)
        r.latencies = [0.001, 0.002]
        return r

    runs = [
        run("ours (batch path)", 100, 1, 100_000, 1.0),
        run("smpplib (synchronous)", 1, 1, 1000, 0.5),
        run("smpp34", 100, 1, 10_000, 1.0),
        run("aiosmpplib", "none", 1, 1000, 1.0, ok=999),
        run("ours with a receipt per message", 100, 1, 10_000, 1.0, receipts=10_000),
    ]

    class Args:
        quick, count = False, None

    text = B._report(runs, Args())
    assert "target ≥ 50,000: met" in text
    assert "smpp34 (10,000/s): **10.0×**" in text
    assert "smpplib (synchronous) (2,000/s): **50.0×**" in text
    assert "aiosmpplib (" not in text.split("Ratios")[1]  # an incorrect run is no yardstick
    assert "**no** (999/1000 ok)" in text
    assert "With a receipt per message (best: window 100, 1 bind(s)): 10,000 messages/s" in text
    assert "target ≥ 20,000: **not met**" in text
