"""``smpp-engine status MSG_ID`` against a real redis-server, as a subprocess."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import uuid

import pytest
import redis.asyncio as aredis

from engine.tracking import Failed, OutcomeUnknown, Queued, Receipt, Submitted, Tracker

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", "status", *args], capture_output=True, text=True, timeout=30
    )


@pytest.fixture
def populated(redis_url):
    prefix = f"test:{uuid.uuid4().hex[:10]}:"

    async def fill():
        r = aredis.from_url(redis_url)
        try:
            t = Tracker(r, prefix)
            await t.record_queued([Queued("camp7:12", 3, "camp7", "acme"), Queued("solo", 1, "", "acme")])
            await t.record_submitted([Submitted("camp7:12", 1, "00A1", "acme", "local/0", 3)])
            await t.record_outcome_unknown([OutcomeUnknown("camp7:12", 2, "acme", "local/1", 3)])
            await t.record_submitted([Submitted("camp7:12", 2, "A2", "acme", "local/0", 3)])
            await t.record_failed([Failed("camp7:12", 3, 0x0B, "acme", "local/0", 3)])
            await t.apply_receipts([Receipt(id="161", stat="DELIVRD", err="000")], "acme")
            # Two receipts nobody submitted: held, then (hold over) unmatched.
            await t.apply_receipts([Receipt(id="FFFF", stat="UNDELIV", err="011"), Receipt(id="", stat="DELIVRD")], "acme")
            await t.sweep(now=time.time() + 120)
        finally:
            await r.aclose()

    asyncio.run(fill())
    return prefix


def test_status_json(redis_url, populated):
    res = cli("camp7:12", "--redis", redis_url, "--prefix", populated, "--json")
    assert res.returncode == 0, res.stderr
    st = json.loads(res.stdout)
    assert st["state"] == "failed"
    assert st["error"] == "0x0000000b"
    assert st["campaign"] == "camp7" and st["parts"] == 3 and st["outcome_unknown"] == 1
    assert [h["state"] for h in st["history"]] == ["queued", "submitted", "outcome_unknown", "submitted", "failed"]
    p1, p2, p3 = st["part_detail"]
    assert (p1["state"], p1["smsc_message_id"], p1["bind"], p1["error"], p1["stat"]) == (
        "delivered", "00A1", "local/0", "000", "DELIVRD",
    )
    assert p1["done_at"] >= p1["submitted_at"] > 1e9
    assert (p2["state"], p2["tries"], p2["outcome_unknown_at"] is not None) == ("submitted", 2, True)
    assert (p3["state"], p3["command_status"]) == ("failed", 0x0B)


def test_status_text(redis_url, populated):
    res = cli("camp7:12", "--redis", redis_url, "--prefix", populated)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "state     failed" in out
    assert "the submit outcome was unknown 1 time(s)" in out
    assert "00A1" in out and "0x0000000B" in out and "DELIVRD" in out
    history = out.split("history\n", 1)[1].split("parts\n", 1)[0].splitlines()
    assert [line.split()[-1] for line in history] == ["queued", "submitted", "outcome_unknown", "submitted", "failed"]
    assert all(line.split()[1].endswith("Z") for line in history)


def test_status_not_found(redis_url, populated):
    res = cli("nope", "--redis", redis_url, "--prefix", populated)
    assert res.returncode == 1
    assert "no tracking record for 'nope'" in res.stderr
    res = cli("nope", "--redis", redis_url, "--prefix", populated, "--json")
    assert res.returncode == 1 and json.loads(res.stdout)["state"] is None


def test_status_redis_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = cli("x", "--redis", f"redis://127.0.0.1:{port}/0")
    assert res.returncode == 3
    assert f"cannot use Redis at 127.0.0.1:{port}" in res.stderr


def test_status_unmatched(redis_url, populated):
    res = cli("--unmatched", "--redis", redis_url, "--prefix", populated, "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert [(u["id"], u["state"], u["err"]) for u in info["unmatched"]] == [("FFFF", "undeliverable", "011"), ("", "delivered", "")]
    assert info["stats"]["unmatched"] == 2 and info["held"] == 0
    text = cli("--unmatched", "--redis", redis_url, "--prefix", populated).stdout
    assert "newest 2 unmatched receipts" in text and "id FFFF  undeliverable (stat UNDELIV, err 011)" in text


def test_status_needs_exactly_one_of_msg_id_and_unmatched(redis_url):
    for args in ((), ("m1", "--unmatched")):
        res = cli(*args, "--redis", redis_url)
        assert res.returncode == 2
        assert "give a MSG_ID, or --unmatched" in res.stderr
