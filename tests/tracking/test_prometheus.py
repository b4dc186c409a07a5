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


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_real_prometheus_scrapes_and_every_dashboard_and_alert_query_has_data():
    _need(PROMETHEUS)
    t0 = time.monotonic()
    metrics = EngineMetrics()
    server = start_metrics_server(0, metrics.registry)
    traffic = Traffic(metrics)
    traffic.start()
    tmp = Path(tempfile.mkdtemp(prefix="smpp-prometheus-"))
    proc = None
    log = tmp / "prometheus.log"
    try:
        # The repository's own scrape config and rules, pointed at the test endpoint
        # and made fast: what is checked is what ships.
        cfg = (PROM_DIR / "prometheus.yml").read_text()
        assert "127.0.0.1:9108" in cfg and "scrape_interval: 15s" in cfg
        cfg = cfg.replace("127.0.0.1:9108", f"127.0.0.1:{server.port}")
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

        def query(expr: str) -> list:
            url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            res = _get(url)
            assert res["status"] == "success", (expr, res)
            return res["data"]["result"]

        # Ready, and at least five scrapes of the endpoint in the last minute.
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
        up = query('up{job="smpp-engine"}')
        assert [float(r["value"][1]) for r in up] == [1.0]

        queries = dashboard_queries() + alert_queries()
        while True:
            empty = []
            for where, expr in queries:
                result = query(expand(expr))
                values = [r["value"][1] for r in result]
                if not values:
                    empty.append(f"{where}: {expand(expr)}  -> no data")
                elif all(v in ("NaN", "+Inf", "-Inf") for v in values):
                    empty.append(f"{where}: {expand(expr)}  -> only {values}")
            if not empty or time.monotonic() - t0 > DEADLINE_S:
                break
            time.sleep(1.0)
        assert not empty, "queries without data:\n" + "\n".join(empty)

        # The rules loaded and evaluate without errors, and every alert is active
        # (pending: its for: is minutes, this test is seconds).
        rules = _get(f"{base}/api/v1/rules")["data"]["groups"]
        health = {r["name"]: (r["health"], r.get("lastError", "")) for g in rules for r in g["rules"]}
        assert all(h == "ok" for h, _ in health.values()), health
        while True:
            active = {a["labels"]["alertname"] for a in _get(f"{base}/api/v1/alerts")["data"]["alerts"]}
            if len(active) == 5 or time.monotonic() - t0 > DEADLINE_S:
                break
            time.sleep(0.5)
        assert active == {n.removeprefix("alert ") for n, _ in alert_queries()}
        firing_binds = {
            a["labels"].get("bind")
            for a in _get(f"{base}/api/v1/alerts")["data"]["alerts"]
            if a["labels"]["alertname"] == "SmppBindDown"
        }
        assert firing_binds == {"local/1"}  # the healthy bind does not alert
    finally:
        traffic.stop.set()
        traffic.join(timeout=5)
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)
