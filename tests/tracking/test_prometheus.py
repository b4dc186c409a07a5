"""The monitoring configuration against real Prometheus tools.

* promtool checks the scrape config and the alert rules, and unit-tests the alerts
  (``alerts_test.yml``: each alert fires on its fault and stays quiet without it);
* a real Prometheus (Debian's package) scrapes a metrics endpoint driven with
  realistic traffic, including the faults the alerts are for (a bind down, a throttling
  storm, unmatched receipts, a growing queue lag, a stuck pending entry); then every
  query of the Grafana dashboard and every alert expression must return data through
  the HTTP API. A failure lists the queries that returned nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from engine.client.types import Receipt as ClientReceipt
from engine.metrics import EngineMetrics, start_metrics_server
from engine.queue.stats import StreamStats
from engine.tracking import ReceiptMatch, ReceiptResult

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "config" / "prometheus"
DASHBOARD = ROOT / "config" / "grafana" / "smpp-engine.json"
HERE = Path(__file__).resolve().parent

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

# Grafana's variables, as Grafana would expand them with "All" binds selected and a
# 1 s scrape interval ($__rate_interval = max(4 x scrape interval, step)).
GRAFANA_VARS = {"$__rate_interval": "10s", "$bind": ".*", "${bind}": ".*"}
# The whole test must end within this (Prometheus start-up + a few scrapes).
DEADLINE_S = 45


def _need(binary: str) -> None:
    if not Path(binary).exists():
        pytest.fail(f"{binary} is not installed: run ./dev setup (apt-get install prometheus)")


def _promtool(*args: str) -> subprocess.CompletedProcess:
    _need(PROMTOOL)
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=30)


@pytest.mark.timeout(60)
def test_promtool_check_config_and_rules():
    cfg = _promtool("check", "config", str(PROM_DIR / "prometheus.yml"))
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    rules = _promtool("check", "rules", str(PROM_DIR / "alerts.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 5 rules found" in rules.stdout


@pytest.mark.timeout(60)
def test_promtool_alert_unit_tests():
    """Each alert fires on its fault after its ``for:`` and not on healthy series."""
    with tempfile.TemporaryDirectory(prefix="smpp-promtool-") as tmp:
        shutil.copy(PROM_DIR / "alerts.yml", Path(tmp) / "alerts.yml")
        shutil.copy(HERE / "alerts_test.yml", Path(tmp) / "alerts_test.yml")
        res = _promtool("test", "rules", str(Path(tmp) / "alerts_test.yml"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every target of every panel and every query variable."""
    dash = json.loads(DASHBOARD.read_text())
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((f"panel {p['title']!r} {t['refId']}", t["expr"]))
            walk(p.get("panels", []))

    walk(dash["panels"])
    for v in dash["templating"]["list"]:
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            # label_values(metric, label) is Grafana's; the metric is the PromQL part.
            if q.startswith("label_values("):
                q = q[len("label_values(") :].rsplit(",", 1)[0]
            out.append((f"variable {v['name']!r}", q))
    return out


def alert_queries() -> list[tuple[str, str]]:
    """(alert name, expression) from alerts.yml, read without a YAML library: each
    rule is ``- alert: NAME`` followed by ``expr:`` (one line or a ``|`` block)."""
    out = []
    lines = (PROM_DIR / "alerts.yml").read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("- alert:"):
            name = line.split(":", 1)[1].strip()
            j = i + 1
            while not lines[j].strip().startswith("expr:"):
                j += 1
            expr = lines[j].strip()[len("expr:") :].strip()
            if expr == "|":
                indent = len(lines[j + 1]) - len(lines[j + 1].lstrip())
                block = []
                k = j + 1
                while k < len(lines) and (not lines[k].strip() or len(lines[k]) - len(lines[k].lstrip()) >= indent):
                    block.append(lines[k].strip())
                    k += 1
                expr = " ".join(b for b in block if b)
            out.append((f"alert {name}", expr))
            i = j
        i += 1
    return out


def expand(expr: str) -> str:
    for k, v in GRAFANA_VARS.items():
        expr = expr.replace(k, v)
    return expr


def test_query_extraction_finds_everything():
    d = dashboard_queries()
    a = alert_queries()
    assert len(d) >= 25
    assert {n for n, _ in a} == {
        "alert SmppBindDown",
        "alert SmppThrottlingStorm",
        "alert SmppUnmatchedReceiptsRising",
        "alert SmppQueueLagGrowing",
        "alert SmppQueuePendingStuck",
    }
    assert all("$" not in expand(q) for _, q in d + a)


class Traffic(threading.Thread):
    """An engine's worth of observer calls every 50 ms: two binds of one SMSC, one of
    them down and reconnecting; 10 % of submits throttled; receipts of which some
    are unmatched, held or duplicated; an intake backlog that grows."""

    def __init__(self, metrics: EngineMetrics) -> None:
        super().__init__(daemon=True)
        self.m = metrics
        self.stop = threading.Event()
        self.rng = random.Random(4)

    def run(self) -> None:
        o, rng = self.m.observer, self.rng
        up, down = "local/0", "local/1"
        o.on_bind_state(up, "connecting")
        o.on_bind_state(up, "binding")
        o.on_bind_state(up, "bound")
        o.on_bind_state(down, "closed")
        tick = 0
        while not self.stop.is_set():
            tick += 1
            o.on_reconnect(down, tick, min(60.0, 2.0**tick), "connection refused")
            o.on_bind_state(down, "connecting")
            o.on_bind_state(down, "closed")
            o.on_submit(up, 40)
            o.on_in_flight(up, rng.randint(10, 100), 100)
            for _ in range(36):
                o.on_response(up, 0, rng.lognormvariate(-6, 0.8))
            for _ in range(4):
                o.on_response(up, 0x58, rng.uniform(0.0005, 0.004))
                o.on_throttle(up, 0x58, 400.0)
            if tick % 5 == 0:
                o.on_unknown(up, 1, "response timeout")
            states = ["DELIVRD"] * 30 + ["UNDELIV", "EXPIRED", "REJECTD"]
            matched = []
            for i in range(33):
                st = states[i]
                o.on_receipt(up, ClientReceipt(up, f"{tick:x}{i:x}", st, None, "000", "", "49151", "ACME"))
                name = {"DELIVRD": "delivered", "UNDELIV": "undeliverable", "EXPIRED": "expired", "REJECTD": "rejected"}[st]
                if i < 30:
                    matched.append(ReceiptMatch(f"m{tick}-{i}", 1, name, 0.0, rng.uniform(0.05, 30.0), "same"))
            self.m.observe_tracking(ReceiptResult(matched=matched, held=1, duplicates=1, unmatched=2))
            o.on_mo(up, object())
            o.on_enquire_link(up, rng.uniform(0.0005, 0.003))
            self.m.observe_stream_stats(
                [
                    StreamStats("smpp:outbound", 5000 + 50 * tick, 200, 4000 + 40 * tick, 2, 420_000),
                    StreamStats("smpp:outbound:priority", 10, 0, 0, 2, 0),
                ]
            )
            self.stop.wait(0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


@contextlib.contextmanager
def running_prometheus(metrics_port: int, t0: float):
    """A real Prometheus scraping 127.0.0.1:metrics_port every second with the
    repository's own scrape config and rules (what is checked is what ships); yields
    ``(query, get, base)`` once it has scraped the endpoint five times."""
    _need(PROMETHEUS)
    tmp = Path(tempfile.mkdtemp(prefix="smpp-prometheus-"))
    proc = None
    log = tmp / "prometheus.log"
    try:
        cfg = (PROM_DIR / "prometheus.yml").read_text()
        assert "127.0.0.1:9108" in cfg and "scrape_interval: 15s" in cfg
        cfg = cfg.replace("127.0.0.1:9108", f"127.0.0.1:{metrics_port}")
        cfg = cfg.replace("scrape_interval: 15s", "scrape_interval: 1s")
        cfg = cfg.replace("evaluation_interval: 15s", "evaluation_interval: 1s")
        (tmp / "prometheus.yml").write_text(cfg)
        shutil.copy(PROM_DIR / "alerts.yml", tmp / "alerts.yml")
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with open(log, "wb") as logf:
            proc = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={tmp / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--storage.tsdb.retention.time=1h",
                ],
                stdout=subprocess.DEVNULL,
                stderr=logf,
                cwd=tmp,
            )

        def get(path: str) -> dict:
            return _get(base + path)

        def query(expr: str) -> list:
            res = get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
            assert res["status"] == "success", (expr, res)
            return res["data"]["result"]

        while True:
            assert proc.poll() is None, "prometheus exited:\n" + log.read_text()[-3000:]
            assert time.monotonic() - t0 < DEADLINE_S, "prometheus not scraping in time:\n" + log.read_text()[-3000:]
            try:
                res = query('count_over_time(up{job="smpp-engine"}[1m])')
                if res and float(res[0]["value"][1]) >= 5:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert [float(r["value"][1]) for r in query('up{job="smpp-engine"}')] == [1.0]
        yield query, get
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)


def assert_every_query_has_data(query, t0: float) -> None:
    """Every dashboard query and alert expression returns at least one value that is
    a number (not only NaN); retried until the deadline, then the empty ones listed."""
    queries = dashboard_queries() + alert_queries()
    while True:
        empty = []
        for where, expr in queries:
            values = [r["value"][1] for r in query(expand(expr))]
            if not values:
                empty.append(f"{where}: {expand(expr)}  -> no data")
            elif all(v in ("NaN", "+Inf", "-Inf") for v in values):
                empty.append(f"{where}: {expand(expr)}  -> only {values}")
        if not empty or time.monotonic() - t0 > DEADLINE_S:
            break
        time.sleep(1.0)
    assert not empty, "queries without data:\n" + "\n".join(empty)


def assert_alerts_active(get, t0: float, down_binds: set[str]) -> None:
    """The rules evaluate without error and every alert is active (pending: their
    for: is minutes, these tests are seconds); only the broken bind is down."""
    groups = get("/api/v1/rules")["data"]["groups"]
    health = {r["name"]: (r["health"], r.get("lastError", "")) for g in groups for r in g["rules"]}
    assert all(h == "ok" for h, _ in health.values()), health
    expected = {n.removeprefix("alert ") for n, _ in alert_queries()}
    while True:
        alerts = get("/api/v1/alerts")["data"]["alerts"]
        active = {a["labels"]["alertname"] for a in alerts}
        if active == expected or time.monotonic() - t0 > DEADLINE_S:
            break
        time.sleep(0.5)
    assert active == expected
    assert {a["labels"].get("bind") for a in alerts if a["labels"]["alertname"] == "SmppBindDown"} == down_binds


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_real_prometheus_synthetic_traffic_every_dashboard_and_alert_query_has_data():
    """Observer calls shaped like an engine's, with every fault: fast and deterministic."""
    t0 = time.monotonic()
    metrics = EngineMetrics()
    server = start_metrics_server(0, metrics.registry)
    traffic = Traffic(metrics)
    traffic.start()
    try:
        with running_prometheus(server.port, t0) as (query, get):
            assert_every_query_has_data(query, t0)
            assert_alerts_active(get, t0, {"local/1"})
    finally:
        traffic.stop.set()
        traffic.join(timeout=5)
        server.close()


LONG_TEXT = "Your order 4711 has shipped and will arrive tomorrow between 9 and 12. " * 3  # 3 parts


class EngineTraffic(threading.Thread):
    """The real pieces, on their own event loop: the SMSC simulator (15 % of submits
    throttled, receipts after 50 ms, some undeliverable or expired), the asyncio client
    with the metrics observer on two binds (the second points at a closed port: down,
    reconnecting), the tracker recording submits and correlating receipts in Redis (the
    correlation of every 10th message is withheld, so its receipts end unmatched), MO
    messages, and an intake stream in Redis filling faster than it is read, with one
    entry left pending by a consumer that died seven minutes ago."""

    def __init__(self, metrics: EngineMetrics, redis_url: str) -> None:
        super().__init__(daemon=True)
        self.m = metrics
        self.redis_url = redis_url
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.stats: dict[str, int] = {"messages": 0, "receipts": 0, "matched": 0}

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by the test
            self.error = exc

    async def _main(self) -> None:
        import uuid

        import redis.asyncio as aredis

        from engine.client import OutboundMessage, Outcome, SmscClient
        from engine.config import parse_config
        from engine.encoding import count
        from engine.metrics import poll_queue_stats
        from engine.queue import Keys
        from engine.simulator import Faults, Simulator
        from engine.tracking import Failed, OutcomeUnknown, Queued, Submitted, Tracker

        prefix = f"test:{uuid.uuid4().hex[:8]}:"
        sim = Simulator(
            receipt_delay=0.05,
            receipt_states={"DELIVRD": 8, "UNDELIV": 1, "EXPIRED": 1},
            faults=Faults(throttle_rate=0.15),
            record=False,
        )
        await sim.start()
        cfg = parse_config(
            {
                "smscs": [
                    {
                        "name": "local", "host": "127.0.0.1", "port": sim.port, "system_id": "demo",
                        "password_env": "SMPP_TEST_PW", "window": 50, "throttle_pause": 0.01,
                        "connect_timeout": 1.0, "bind_timeout": 1.0, "response_timeout": 2.0,
                        "enquire_link_interval": 0.5,
                        "reconnect": {"initial": 0.2, "max": 0.5, "jitter": 0.1},
                        "binds": [{"bind_type": "trx"}, {"bind_type": "trx", "port": _free_port()}],
                    }
                ]
            },
            {"SMPP_TEST_PW": "secret"},
        ).smscs[0]
        r = aredis.from_url(self.redis_url, decode_responses=True)
        tracker = Tracker(r, prefix, early_hold=2.0, events_stream=prefix + "status")
        inbox: list = []
        client = SmscClient(cfg, self.m.observer, on_receipt=inbox.append)
        keys = Keys.with_prefix(prefix)
        tasks: list[asyncio.Task] = []
        try:
            await client.start()

            async def send() -> None:
                seq = 0
                loop = asyncio.get_running_loop()
                last_quiet = loop.time()
                while True:
                    batch = []
                    for _ in range(40):
                        seq += 1
                        text = LONG_TEXT if seq % 5 == 0 else f"Code {seq:06d}"
                        batch.append((f"e2e:{seq}", seq, text))
                    await tracker.record_queued([Queued(mid, count(text).segments, "e2e", "demo") for mid, _, text in batch])
                    results = await asyncio.gather(
                        *(client.submit(OutboundMessage("ACME", "+4915112345678", text, registered_delivery=1, reference=mid))
                          for mid, _, text in batch)
                    )
                    subs, fails, unknown = [], [], []
                    for (mid, n, _), res in zip(batch, results):
                        for p in res.parts:
                            part = p.index + 1
                            if p.outcome == Outcome.OK and n % 10 != 0:
                                subs.append(Submitted(mid, part, p.message_id, "demo", p.bind or "", res.segments))
                            elif p.outcome == Outcome.REJECTED:
                                fails.append(Failed(mid, part, p.command_status or 0, "demo", p.bind or "", res.segments))
                            elif p.outcome == Outcome.UNKNOWN:
                                unknown.append(OutcomeUnknown(mid, part, "demo", p.bind or "", res.segments))
                    # Receipts that beat their response into Redis were held; they are
                    # applied now (under load that is most of them: receipt_delay is 50 ms).
                    late = await tracker.record_submitted(subs)
                    self.m.observe_late_receipts(late)
                    self.stats["matched"] += len(late)
                    await tracker.record_failed(fails)
                    await tracker.record_outcome_unknown(unknown)
                    self.stats["messages"] += len(batch)
                    sim.send_mo("4915112345678", "12345", f"STOP {seq}")
                    # The client sends enquire_link only on an idle bind: a quiet second
                    # now and then, as real traffic has. Paced by the clock, not by the
                    # message count, so a loaded machine still gets its quiet seconds.
                    now = loop.time()
                    if now - last_quiet >= 2.0:
                        await asyncio.sleep(1.2)
                        last_quiet = loop.time()
                    else:
                        await asyncio.sleep(0.05)

            async def correlate() -> None:
                while True:
                    await asyncio.sleep(0.1)
                    batch = inbox[:]
                    del inbox[: len(batch)]
                    if batch:
                        res = await tracker.apply_receipts(batch, "demo")
                        self.m.observe_tracking(res)
                        self.stats["receipts"] += len(batch)
                        self.stats["matched"] += len(res.matched)

            async def intake() -> None:
                # One entry read by a consumer that died 7 minutes ago (XCLAIM IDLE sets
                # how long Redis believes it has been pending) ...
                await r.xadd(keys.bulk_stream, {"m": "stuck"})
                await r.xgroup_create(keys.bulk_stream, keys.group, id="0")
                stuck = await r.xreadgroup(keys.group, "dead-consumer", {keys.bulk_stream: ">"}, count=1)
                entry_id = stuck[0][1][0][0]
                await r.xclaim(keys.bulk_stream, keys.group, "dead-consumer", 0, [entry_id], idle=420_000)
                # ... then 200 entries in, 50 read and acked, every 100 ms: a growing lag.
                while True:
                    async with r.pipeline(transaction=False) as pipe:
                        for i in range(200):
                            pipe.xadd(keys.bulk_stream, {"m": str(i)})
                        await pipe.execute()
                    got = await r.xreadgroup(keys.group, "live", {keys.bulk_stream: ">"}, count=50)
                    ids = [eid for _, entries in got for eid, _ in entries]
                    if ids:
                        await r.xack(keys.bulk_stream, keys.group, *ids)
                        await r.xdel(keys.bulk_stream, *ids)
                    await asyncio.sleep(0.1)

            tasks = [
                asyncio.create_task(send()),
                asyncio.create_task(correlate()),
                asyncio.create_task(intake()),
                asyncio.create_task(tracker.sweep_forever(0.2, self.m.observe_unmatched)),
                asyncio.create_task(poll_queue_stats(self.m, r, keys, 0.5)),
            ]
            while not self.stop.is_set():
                for t in tasks:
                    if t.done():
                        t.result()  # a crashed task fails the test with its error
                await asyncio.sleep(0.1)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.close()
            await sim.stop()
            keys_left = [k async for k in r.scan_iter(match=prefix + "*", count=1000)]
            for i in range(0, len(keys_left), 500):
                await r.delete(*keys_left[i : i + 500])
            await r.aclose()


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.timeout(60)
def test_real_prometheus_real_engine_every_dashboard_and_alert_query_has_data(redis_url):
    """The same checks with the real client, simulator, tracker and Redis streams."""
    t0 = time.monotonic()
    metrics = EngineMetrics()
    server = start_metrics_server(0, metrics.registry)
    traffic = EngineTraffic(metrics, redis_url)
    traffic.start()
    try:
        with running_prometheus(server.port, t0) as (query, get):
            assert traffic.error is None, traffic.error
            assert_every_query_has_data(query, t0)
            assert_alerts_active(get, t0, {"local/1"})
    finally:
        traffic.stop.set()
        traffic.join(timeout=15)
        server.close()
    assert traffic.error is None, repr(traffic.error)
    s = traffic.stats
    print("engine traffic:", s)
    assert s["messages"] > 200 and s["receipts"] > 100
    # Nine messages in ten are correlated; their receipts all matched, directly or after
    # being held (the rest go unmatched; some are still held or in flight at the stop).
    assert s["matched"] >= 0.7 * s["receipts"], s


def test_dashboard_is_well_formed_grafana_json():
    """What Grafana needs to import it: unique panel ids, a 24-column grid without
    overlaps, unique refIds per panel, every query on the ${datasource} variable,
    which the templating defines (so the dashboard works with any Prometheus)."""
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "smpp-engine" and dash["title"] and isinstance(dash["schemaVersion"], int)
    names = {v["name"]: v for v in dash["templating"]["list"]}
    assert names["datasource"]["type"] == "datasource" and names["datasource"]["query"] == "prometheus"
    panels = dash["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panel {p['title']!r} overlaps another at {(x, y)}"
                cells.add((x, y))
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), p["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"])
    # The list, each on at least one panel.
    text = json.dumps(dash)
    for metric in (
        "smpp_segments_sent_total", "smpp_responses_total", "smpp_submit_response_latency_seconds_bucket",
        "smpp_in_flight", "smpp_window_size", "smpp_throttling_events_total", "smpp_reconnects_total",
        "smpp_bind_up", "smpp_receipts_correlated_total", "smpp_submit_receipt_latency_seconds_bucket",
        "smpp_unmatched_receipts_total", "smpp_queue_lag_entries", "smpp_queue_pending_entries",
        "smpp_inbound_messages_total",
    ):
        assert metric in text, metric
