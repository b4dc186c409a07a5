"""``smpp-engine run --processes N``: the split of the configuration (no Redis), and
whole-process runs against the simulator in this process and a real redis-server:
every message delivered exactly once by two processes that both worked, SIGTERM
draining both, a killed process restarted under its own consumer name, a process
that cannot start stopping the run."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli._procs import SplitError, check_split, consumer_name, parse_slot, process_config
from engine.config import parse_config

from service.conftest import (  # tests/ is on sys.path (rootdir-relative packages)
    PASSWORD,
    PASSWORD_ENV,
    ROOT,
    EngineProcess,
    check_no_loss_and_flagged_duplicates,
    config_dict,
    enqueue_campaign,
    make_config,
    prefix,  # noqa: F401 - fixture
    run_bounded,
    sends_by_destination,
    wait_final,
    write_toml,
)

# --- the split (no Redis) ---------------------------------------------------------


def _cfg(binds: list[dict], *, metrics_port: int = 9108, enabled: bool = True, smscs: int = 1):
    return parse_config({
        "metrics": {"enabled": enabled, "port": metrics_port},
        "smscs": [{"name": f"c{k}", "host": "127.0.0.1", "port": 2775, "system_id": "esme",
                   "password_env": "PW", "rate": 50, "window": 7, "binds": binds} for k in range(smscs)],
    }, {"PW": "x"}, path="engine.toml")


def test_two_binds_two_processes_one_bind_each_settings_kept():
    cfg = _cfg([{"bind_type": "trx", "count": 2}])
    p0, p1 = process_config(cfg, 0, 2), process_config(cfg, 1, 2)
    assert [b.name for b in p0.smscs[0].binds] == ["c0/0"]
    assert [b.name for b in p1.smscs[0].binds] == ["c0/1"]
    # Per-bind settings untouched: a rate limit stays per bind, the window too.
    for p in (p0, p1):
        (b,) = p.smscs[0].binds
        assert (b.rate, b.window, b.bind_type) == (50.0, 7, "trx")
        assert p.redis == cfg.redis and p.engine == cfg.engine
    assert (p0.metrics.port, p1.metrics.port) == (9108, 9109)
    assert process_config(cfg, 0, 1) is cfg


def test_binds_split_not_multiplied_every_bind_once():
    cfg = _cfg([{"bind_type": "trx", "count": 5}], smscs=2)
    shares = [process_config(cfg, i, 3) for i in range(3)]
    for k in range(2):
        names = [b.name for s in shares for b in s.smscs[k].binds]
        assert sorted(names) == sorted(b.name for b in cfg.smscs[k].binds)  # each once, none added
        assert [len(s.smscs[k].binds) for s in shares] == [2, 2, 1]


def test_receive_only_binds_do_not_count_as_senders():
    cfg = _cfg([{"bind_type": "tx", "count": 2}, {"bind_type": "rx", "count": 1}])
    shares = [process_config(cfg, i, 2) for i in range(2)]
    for s in shares:
        assert any(b.can_transmit for b in s.smscs[0].binds), s.smscs[0].binds
    assert sorted(b.name for s in shares for b in s.smscs[0].binds) == ["c0/0", "c0/1", "c0/2"]
    # One tx and two rx: two processes would leave one without a sender.
    bad = _cfg([{"bind_type": "tx", "count": 1}, {"bind_type": "rx", "count": 2}])
    with pytest.raises(SplitError, match=r"SMSC 'c0' has 1 transmit-capable bind .*--processes 1 or fewer.*count = 2"):
        check_split(bad, 2)


def test_more_processes_than_binds_is_refused_with_the_fix():
    cfg = _cfg([{"bind_type": "trx", "count": 2}])
    with pytest.raises(SplitError) as err:
        process_config(cfg, 0, 3)
    msg = str(err.value)
    assert "--processes 3" in msg and "'c0' has 2 transmit-capable binds" in msg
    assert "--processes 2 or fewer" in msg and "count = 3" in msg and "engine.toml" in msg


def test_metrics_ports_and_slots():
    assert process_config(_cfg([{"count": 2}], metrics_port=0), 1, 2).metrics.port == 0  # any free port
    with pytest.raises(SplitError, match="beyond 65535"):
        check_split(_cfg([{"count": 3}], metrics_port=65534), 3)
    check_split(_cfg([{"count": 3}], metrics_port=65534, enabled=False), 3)
    assert parse_slot("1/2") == (1, 2)
    for bad in ("2/2", "x", "-1/2", "0/0"):
        with pytest.raises(ValueError):
            parse_slot(bad)
    assert consumer_name("edge-a", 1) == "edge-a-1"


def test_cli_refuses_more_processes_than_binds(tmp_path):
    d = config_dict("redis://127.0.0.1:1/0", "x:", 2775, binds=2)
    path = write_toml(d, tmp_path / "engine.toml")
    proc = subprocess.run([sys.executable, "-m", "engine", "run", "--config", str(path), "--processes", "3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **{PASSWORD_ENV: PASSWORD}))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--processes 2 or fewer" in proc.stderr and "count = 3" in proc.stderr


# --- whole processes ----------------------------------------------------------------


def _run(path: Path, log_path: Path) -> EngineProcess:
    """``smpp-engine run --processes 2`` with consumers edge-0 and edge-1."""
    return EngineProcess(path, "edge", log_path, processes=2)


async def _bound(sim, n: int, timeout: float = 30.0) -> bool:
    return await sim.wait_for(lambda s: len([c for c in s.connections if c.bind_type and not c.closed]) >= n,
                              timeout)


def _port_pair() -> tuple[socket.socket, int]:
    """A listening socket on port P where P - 1 is free too (process 0's metrics)."""
    for _ in range(50):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        try:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port - 1))
        except OSError:
            taken.close()
            continue
        taken.listen()
        return taken, port
    raise AssertionError("no free pair of ports")


def _both_sending(threshold: int):
    """A wait_for predicate: ``threshold`` submits, and both processes' binds among
    them (the processes start at different moments; one alone can reach any count)."""
    return lambda s: s.record.submit_count >= threshold and len({r.connection for r in s.record.submits}) >= 2


def _live_binds(sim) -> int:
    return len([c for c in sim.connections if c.bind_type and not c.closed])


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_processes_deliver_every_message_once_and_sigterm_drains_both(redis_url, prefix, tmp_path):
    from engine.simulator import Faults, Simulator

    async def main():
        async with Simulator(receipt_delay=0.05, faults=Faults(delay=0.002)) as sim:
            d = config_dict(redis_url, prefix, sim.port, window=20, binds=2, batch=50)
            cfg = make_config(d)
            path = write_toml(d, tmp_path / "engine.toml")
            redis = __import__("engine.queue", fromlist=["connect"]).connect(redis_url)
            run = _run(path, tmp_path / "run.log")
            try:
                assert await _bound(sim, 2), run.log()
                await asyncio.sleep(0.5)
                # count = 2 and two processes: one bind each, not two each.
                assert _live_binds(sim) == 2, sim.record.binds
                cid, ids = await enqueue_campaign(redis, cfg, 3000)
                await wait_final(redis, cfg, cid, 3000, 120)
                assert _live_binds(sim) == 2
            finally:
                rc = run.terminate()
            log = run.log()
            assert rc == 0, log
            report = await check_no_loss_and_flagged_duplicates(redis, cfg, sim, ids)
            sends = sends_by_destination(sim)
            assert len(sends) == 3000 and max(sends.values()) == 1, "a message was sent twice"
            assert sim.record.duplicates == 0 and report["flagged_outcome_unknown"] == 0, report
            # Both processes worked: by their own counters and by the simulator's connections.
            stats = run.stopped_stats_by_consumer()
            print("two processes:", stats, report)
            assert set(stats) == {"edge-0", "edge-1"}, log
            assert all(s["acked"] > 0 and s["unknown parts"] == 0 for s in stats.values()), stats
            assert sum(s["acked"] for s in stats.values()) == 3000
            assert sum(s["accepted"] for s in stats.values()) == 3000
            assert len({s.connection for s in sim.record.submits}) == 2
            # SIGTERM drained and unbound both, and the parent said so.
            assert sim.record.unbinds >= 2
            assert "process 0 (consumer edge-0" in log and "process 1 (consumer edge-1" in log
            assert "all 2 engine processes stopped: 0 restarts, 0 failures; exit status 0" in log
            assert not [p for p in run.child_pids().values() if Path(f"/proc/{p}").exists()]
            await redis.aclose()

    run_bounded(main(), 200)


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigterm_mid_campaign_drains_both_processes_then_a_restart_finishes(redis_url, prefix, tmp_path):
    from engine.queue import connect
    from engine.simulator import Faults, Simulator

    async def main():
        async with Simulator(receipt_delay=0.05, faults=Faults(delay=0.02)) as sim:
            d = config_dict(redis_url, prefix, sim.port, window=50, binds=2, batch=100, claim_idle=1.5)
            cfg = make_config(d)
            path = write_toml(d, tmp_path / "engine.toml")
            redis = connect(redis_url)
            cid, ids = await enqueue_campaign(redis, cfg, 2500)
            run = _run(path, tmp_path / "a.log")
            try:
                assert await _bound(sim, 2), run.log()
                assert await sim.wait_for(_both_sending(600), 60), run.log()
                run.proc.send_signal(signal.SIGTERM)
                rc = await asyncio.to_thread(run.proc.wait, 60)
            finally:
                run.terminate()
            log = run.log()
            assert rc == 0, log
            stopped_at = sim.record.submit_count
            stats = run.stopped_stats_by_consumer()
            print(f"SIGTERM after {stopped_at} submits:", stats)
            assert set(stats) == {"edge-0", "edge-1"}, log
            for s in stats.values():
                # Each drained: everything it sent was recorded and acked before it exited.
                assert s["unknown parts"] == 0 and s["acked"] == s["accepted"] > 0, stats
            assert sum(s["accepted"] for s in stats.values()) == stopped_at
            assert stopped_at < 2500
            assert sim.record.unbinds >= 2
            # The next run (the same consumer names) sends the rest: no duplicate, nothing flagged.
            again = _run(path, tmp_path / "b.log")
            try:
                await wait_final(redis, cfg, cid, 2500, 120)
            finally:
                assert again.terminate() == 0, again.log()
            report = await check_no_loss_and_flagged_duplicates(redis, cfg, sim, ids)
            assert report["duplicates"] == 0 and report["flagged_outcome_unknown"] == 0, report
            assert sim.record.duplicates == 0
            await redis.aclose()

    run_bounded(main(), 200)


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_killed_process_is_restarted_under_its_name_and_takes_back_its_entries(redis_url, prefix, tmp_path):
    """kill -9 of one child: the parent reports it and starts it again as the same
    consumer, which claims its pending entries back at once — long before the 60 s
    after which another consumer would reclaim them. No message lost; a duplicate
    only where the status says the outcome was unknown. The run's exit status then
    says a process failed (1)."""
    from engine.queue import connect
    from engine.simulator import Faults, Simulator

    async def main():
        async with Simulator(receipt_delay=0.05, faults=Faults(delay=0.03)) as sim:
            d = config_dict(redis_url, prefix, sim.port, window=50, binds=2, batch=100, claim_idle=60.0)
            cfg = make_config(d)
            path = write_toml(d, tmp_path / "engine.toml")
            redis = connect(redis_url)
            cid, ids = await enqueue_campaign(redis, cfg, 3000)
            run = _run(path, tmp_path / "run.log")
            try:
                assert await _bound(sim, 2), run.log()
                assert await sim.wait_for(_both_sending(600), 60), run.log()
                victim = run.child_pids()[1]
                os.kill(victim, signal.SIGKILL)
                killed = time.monotonic()
                await wait_final(redis, cfg, cid, 3000, 120, settled=("delivered", "undeliverable", "expired",
                                 "rejected", "deleted", "unknown", "failed", "submitted"), quiet=1.0)
                took = time.monotonic() - killed
                restarted = run.child_pids()[1]
            finally:
                rc = run.terminate()
            log = run.log()
            print(f"killed pid {victim}, restarted as {restarted}, all recorded {took:.1f} s later")
            assert restarted != victim, log
            assert re.search(r"process 1 \(consumer edge-1, pid \d+\) ended unexpectedly: killed by SIGKILL; "
                             r"restarting it in 1 s under the same consumer name", log), log
            assert took < 40, "the restarted process did not take back its entries at once"
            assert rc == 1, log
            assert "1 restart, 1 failure; exit status 1" in log
            report = await check_no_loss_and_flagged_duplicates(redis, cfg, sim, ids, allow_submitted=True)
            print(report)
            # Receipts the killed process had not stored were not answered: delivered again.
            assert report["receipt_lost"] == 0, report
            assert report["flagged_outcome_unknown"] >= report["duplicates"]
            assert len(sends_by_destination(sim)) == 3000
            assert max(sends_by_destination(sim).values()) <= 2
            await redis.aclose()

    run_bounded(main(), 200)


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_process_that_cannot_start_stops_the_run(redis_url, prefix, tmp_path):
    """Process 1's metrics port (port + 1) is taken: it exits 4, the parent stops
    process 0 and exits 4 too, with the reason in the log."""
    from engine.simulator import Simulator

    async def main():
        async with Simulator() as sim:
            taken, port = _port_pair()
            with taken:
                d = config_dict(redis_url, prefix, sim.port, binds=2)
                d["metrics"] = {"enabled": True, "host": "127.0.0.1", "port": port - 1}
                path = write_toml(d, tmp_path / "engine.toml")
                run = _run(path, tmp_path / "run.log")
                try:
                    rc = await asyncio.to_thread(run.proc.wait, 60)
                finally:
                    run.terminate()
            log = run.log()
            assert rc == 4, log
            assert f"process 1 serves on port + 1 = {port}" in log, log
            assert "process 1 (consumer edge-1" in log and "could not start" in log
            assert not [p for p in run.child_pids().values() if Path(f"/proc/{p}").exists()]

    run_bounded(main(), 100)
