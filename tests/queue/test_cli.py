"""``smpp-engine enqueue`` and ``smpp-engine campaign submit|status`` run as subprocesses
against the real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


def cli(*args, env=None):
    full_env = dict(os.environ)
    full_env.pop("REDIS_URL", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True,
                          timeout=60, env=full_env)


def test_enqueue_one_message(redis_url, prefix):
    p = cli("enqueue", "--to", "8 (903) 123-45-67", "--sender", "MyShop", "--text", "Привет",
            "--redis", redis_url, "--prefix", prefix, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["to"] == "+79031234567" and out["segments"] == 1 and out["priority"] == "transactional"
    assert (out["source_ton"], out["source_npi"]) == (5, 0)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    entries = r.xrange(f"{prefix}outbound:priority")
    assert len(entries) == 1
    body = json.loads(entries[0][1]["m"])
    assert body["id"] == out["id"] and body["to"] == "+79031234567" and body["text"] == "Привет"
    assert r.hget(f"{prefix}track:{out['id']}", "state") == "queued"
    # plain output: the id alone on stdout
    p = cli("enqueue", "--to", "+447911123456", "--sender", "447400123456", "--text", "hi",
            "--priority", "bulk", "--redis", redis_url, "--prefix", prefix)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.strip()) == 26 and "international" in p.stderr
    assert r.xlen(f"{prefix}outbound") == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--to", "900"], "short code"),
        (["--sender", "Way Too Long Name"], "at most 11"),
        (["--text", "Привет", "--encoding", "gsm7"], "cannot be sent with --encoding gsm7"),
        (["--text", "x" * 400, "--max-parts", "2"], "3 segments"),
        (["--region", "XX"], "unknown default region"),
    ],
)
def test_enqueue_refuses_bad_input_with_the_reason(redis_url, prefix, args, message):
    base = {"--to": "+79031234567", "--sender": "MyShop", "--text": "hello"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    flat = [x for kv in base.items() for x in kv]
    p = cli("enqueue", *flat, "--redis", redis_url, "--prefix", prefix)
    assert p.returncode == 2
    assert message in p.stderr
    assert redis.Redis.from_url(redis_url).exists(f"{prefix}outbound:priority") == 0


def test_unreachable_redis_is_said_plainly(prefix):
    p = cli("enqueue", "--to", "+79031234567", "--sender", "MyShop", "--text", "hi",
            "--redis", "redis://127.0.0.1:1/0", "--prefix", prefix)
    assert p.returncode == 3
    assert "cannot use Redis at 127.0.0.1:1" in p.stderr and "--redis URL" in p.stderr


def test_campaign_submit_and_status(redis_url, prefix, tmp_path):
    f = tmp_path / "spring.csv"
    f.write_text("phone,name\n+7 903 123-45-67,Ivan\n900,Short\n8-903-765-43-21,Olga\nabc,X\n",
                 encoding="utf-8")
    p = cli("campaign", "submit", str(f), "--sender", "MyShop", "--text", "Hi {name}", "--rate", "50",
            "--name", "spring", "--redis", redis_url, "--prefix", prefix, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert (out["total"], out["accepted"], out["rejected"]) == (4, 2, 2)
    assert [(b["row"], b["line"]) for b in out["bad_rows"]] == [(2, 3), (4, 5)]
    assert "short code" in out["bad_rows"][0]["reason"]
    cid = out["campaign"]

    p = cli("campaign", "status", cid, "--redis", redis_url, "--prefix", prefix, "--json")
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)
    assert st["name"] == "spring" and st["accepted"] == 2 and st["rate"] == 50.0
    assert st["states"] == {"queued": 2}
    assert st["stream"] == f"{prefix}outbound:campaign:{cid}"  # rate-limited: its own stream
    own = [q for q in st["queue"] if q["stream"] == st["stream"]][0]
    assert own["lag"] == 2 and own["pending"] == 0

    p = cli("campaign", "status", cid, "--redis", redis_url, "--prefix", prefix)
    assert p.returncode == 0
    assert "accepted 2" in p.stdout and "rate limit 50/s" in p.stdout and "row 2 (line 3)" in p.stdout

    # plain output of submit (not a TTY): counts and the bad rows
    p = cli("campaign", "submit", str(f), "--sender", "MyShop", "--text", "Hi {name}",
            "--redis", redis_url, "--prefix", prefix, "--show-bad", "1")
    assert p.returncode == 0, p.stderr
    assert "accepted 2  rejected 2" in p.stdout
    assert "row 2 (line 3): invalid number '900'" in p.stdout and "1 more" in p.stdout

    p = cli("campaign", "status", "nope", "--redis", redis_url, "--prefix", prefix)
    assert p.returncode == 1 and "no campaign 'nope'" in p.stderr


def test_campaign_submit_refuses_a_bad_campaign(redis_url, prefix, tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("phone\n+79031234567\n", encoding="utf-8")
    p = cli("campaign", "submit", str(f), "--sender", "MyShop", "--text", "Hi {name}",
            "--redis", redis_url, "--prefix", prefix)
    assert p.returncode == 2 and "{name}" in p.stderr
    p = cli("campaign", "submit", str(tmp_path / "missing.csv"), "--sender", "MyShop", "--text", "x",
            "--redis", redis_url, "--prefix", prefix)
    assert p.returncode == 2 and "no such file" in p.stderr
    allbad = tmp_path / "bad.csv"
    allbad.write_text("phone\n900\n", encoding="utf-8")
    p = cli("campaign", "submit", str(allbad), "--sender", "MyShop", "--text", "x",
            "--redis", redis_url, "--prefix", prefix)
    assert p.returncode == 1 and "accepted 0" in p.stdout


def test_config_gives_prefix_and_redis(redis_url, tmp_path, prefix):
    cfg = tmp_path / "engine.toml"
    cfg.write_text(f'[redis]\nurl = "{redis_url}"\n\n[engine]\nkey_prefix = "{prefix}"\n'
                   f'stream = "{prefix}bulk-in"\npriority_stream = "{prefix}tx-in"\ndefault_region = "GB"\n',
                   encoding="utf-8")
    p = cli("enqueue", "--to", "07911 123456", "--sender", "MyShop", "--text", "hi", "--config", str(cfg), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["to"] == "+447911123456" and out["stream"] == f"{prefix}tx-in"
    assert redis.Redis.from_url(redis_url).xlen(f"{prefix}tx-in") == 1


def test_campaign_status_watch_ends_when_every_message_is_final(redis_url, prefix, tmp_path):
    import asyncio

    from engine.queue import connect
    from engine.tracking import Failed, Tracker

    f = tmp_path / "c.csv"
    f.write_text("phone\n+79031234567\n+79031234568\n", encoding="utf-8")
    p = cli("campaign", "submit", str(f), "--sender", "MyShop", "--text", "hi",
            "--redis", redis_url, "--prefix", prefix, "--json")
    cid = json.loads(p.stdout)["campaign"]

    def fail(row):
        async def go():
            r = connect(redis_url)
            await Tracker(r, prefix=prefix).record_failed([Failed(f"{cid}:{row}", 1, 0x45, "acct")])
            await r.aclose()

        asyncio.run(go())

    fail(2)
    p = cli("campaign", "status", cid, "--redis", redis_url, "--prefix", prefix, "--json")
    st = json.loads(p.stdout)
    assert st["final"] == 1 and st["states"] == {"queued": 1, "failed": 1}
    fail(1)
    p = cli("campaign", "status", cid, "--watch", "--interval", "0.2", "--redis", redis_url, "--prefix", prefix,
            "--json")
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)
    assert st["final"] == 2 and st["states"] == {"failed": 2}
    assert "final 2 of 2" in p.stderr  # the plain progress line when not a terminal
