"""``smpp-engine demo``: the whole engine on one machine, in one command.

Uses the configured Redis (or starts a private ``redis-server`` when none answers),
starts the SMSC simulator (receipts on, a realistic mix of final states), submits a
mixed campaign (GSM, GSM with extension characters, Unicode, long messages) through
Redis with the campaign API, runs the service in this process, shows progress, and
ends with a summary: delivered and failed counts, segments, throughput, latency
percentiles, and where the metrics are served.

Exit status: 0 when every message reached a final status; 1 when some did not
within ``--timeout``; 3 when no Redis can be had (the message says how to fix it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from typing import Any

from engine.localredis import LocalRedis

__all__ = ["register", "EXIT_INCOMPLETE", "EXIT_NO_REDIS", "demo_texts"]

EXIT_INCOMPLETE = 1
EXIT_NO_REDIS = 3
DEFAULT_COUNT = 10_000
# The simulator's final states, weighted like a healthy route: most delivered, a few
# percent undeliverable or expired, a trickle of the rest.
DEMO_STATES = {"DELIVRD": 92.0, "UNDELIV": 4.0, "EXPIRED": 2.0, "REJECTD": 1.0, "DELETED": 0.5, "UNKNOWN": 0.5}
# Share of submit_sm the simulator refuses outright (ESME_RSUBMITFAIL): real routes
# reject some messages at submission too.
DEMO_FAIL_RATE = 0.01
# Seconds from submit to receipt in the simulator: long enough that receipts are not
# all "early" (before their submit_sm_resp is recorded), short enough for a quick demo.
DEMO_RECEIPT_DELAY = 0.5
# How long Redis may take to answer the first ping before we start our own.
REDIS_PROBE_TIMEOUT_S = 1.5
# Key prefix of the demo: its streams never mix with a production "smpp:" keyspace.
DEMO_PREFIX = "smpp-demo:"
DEMO_PASSWORD_ENV = "SMPP_DEMO_PASSWORD"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="run a 10,000-message campaign through Redis, the engine and "
                              "the SMSC simulator, and summarise it", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=DEFAULT_COUNT, metavar="N",
                   help=f"messages in the campaign (default {DEFAULT_COUNT:,})")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object (progress on stderr)")
    p.add_argument("--config", metavar="PATH", help="engine TOML config: its [redis], [metrics] and window are "
                   "used (default config/engine.toml when present); the SMSC is always the simulator")
    p.add_argument("--redis", metavar="URL", help="Redis URL (default: $REDIS_URL, then the config's)")
    p.add_argument("--prefix", default=DEMO_PREFIX, help=f"Redis key prefix (default {DEMO_PREFIX})")
    p.add_argument("--receipt-delay", type=float, default=DEMO_RECEIPT_DELAY, metavar="S",
                   help=f"simulator: seconds from submit to receipt (default {DEMO_RECEIPT_DELAY})")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="give up waiting for final statuses after S seconds (default 120 + N/500)")
    p.add_argument("--seed", type=int, default=7, help="seed of the campaign's texts and the simulator")
    p.add_argument("--no-uvloop", action="store_true")
    p.set_defaults(func=run)


# --- the campaign ------------------------------------------------------------------------

_GSM_SHORT = (
    "Hi {name}, your code is {code}.",
    "{name}, your parcel {code} arrives tomorrow between 9 and 12.",
    "Reminder: appointment on Monday at 10:30. Reply STOP to opt out.",
)
_GSM_EXT = (
    "{name}: your balance is 12.50 € [ref {code}]",
    "Offer {code}: ~20% off {{all}} items | today only ^^",
)
_UNICODE = (
    "Здравствуйте, {name}! Ваш код: {code}",
    "{name}, 您的验证码是 {code}",
    "Your order {code} has shipped 🚚📦",
    "Merhaba {name}, şifreniz {code} ğüş",
)
_LONG_GSM = (
    "Dear {name}, thank you for being a customer. This is a longer notice to let you know that "
    "our terms of service change next month. The main changes concern data retention and the way "
    "we contact you. Read them at example.com/terms. Your reference is {code}. Kind regards.",
)
_LONG_UNICODE = (
    "Уважаемый {name}! Сообщаем, что с понедельника меняется расписание работы отделения: "
    "с 9:00 до 18:00 без перерыва. Ваш номер обращения {code}. Спасибо, что вы с нами!",
)
# Shares of the mix (they add up to 100).
_MIX = ((_GSM_SHORT, 55), (_GSM_EXT, 10), (_UNICODE, 20), (_LONG_GSM, 10), (_LONG_UNICODE, 5))
_NAMES = ("Anna", "Ben", "Chloé", "Dmitri", "Eva", "Farid", "Greta", "Hiro", "Ines", "Jonas")


def demo_texts(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """``count`` (destination, text) pairs: German mobile numbers in E.164, texts from
    the mix above (deterministic for a seed)."""
    rnd = random.Random(seed)
    pools = [p for p, _ in _MIX]
    weights = [w for _, w in _MIX]
    out = []
    for i in range(count):
        pool = rnd.choices(pools, weights)[0]
        template = pool[rnd.randrange(len(pool))]
        text = template.format(name=_NAMES[i % len(_NAMES)], code=f"{rnd.randrange(10**6):06d}")
        out.append((f"+49151{i:08d}", text))
    return out


def _write_campaign(path: str, rows: list[tuple[str, str]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for phone, text in rows:
            fh.write(json.dumps({"phone": phone, "text": text}, ensure_ascii=False))
            fh.write("\n")


# --- Redis: the configured one, or our own -------------------------------------------------


async def _probe(url: str, password: str | None) -> bool:
    import asyncio

    from engine.queue import connect

    client = connect(url, password, socket_connect_timeout=REDIS_PROBE_TIMEOUT_S,
                     socket_timeout=REDIS_PROBE_TIMEOUT_S)
    try:
        await asyncio.wait_for(client.ping(), REDIS_PROBE_TIMEOUT_S + 0.5)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False
    finally:
        try:
            await client.aclose()
        except Exception:  # noqa: BLE001
            pass


NO_REDIS_MESSAGE = (
    "smpp-engine demo: no Redis answers at {url} and redis-server is not installed, so the demo "
    "cannot start its own.\n"
    "Fix: install it (Debian/Ubuntu: `apt-get install redis-server`), or run `./dev demo`, which "
    "installs it; or point the demo at a Redis with --redis URL (or REDIS_URL)."
)


# --- the run ------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from engine.client.loop import run as run_loop

    if args.count < 1:
        print(f"smpp-engine demo: --count must be at least 1, got {args.count}", file=sys.stderr)
        return 2
    if args.receipt_delay < 0:
        print("smpp-engine demo: --receipt-delay must be >= 0", file=sys.stderr)
        return 2
    if not args.prefix:
        print("smpp-engine demo: --prefix must not be empty", file=sys.stderr)
        return 2
    return run_loop(_main(args), use_uvloop=not args.no_uvloop)


def _load_base_config(args: argparse.Namespace):
    from engine.config import load_config

    path = args.config
    if path is None and os.path.exists("config/engine.toml"):
        path = "config/engine.toml"
    if path is None:
        return None
    # The configured SMSC's password is not needed (the demo talks to the simulator);
    # give its variables a value so that the file validates on a fresh machine.
    import tomllib

    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    env = dict(os.environ)
    for s in raw.get("smscs", []) or []:
        for t in [s, *(s.get("binds") or [])]:
            if isinstance(t, dict) and isinstance(t.get("password_env"), str):
                env.setdefault(t["password_env"], "demo")
    return load_config(path, env)


async def _main(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import tempfile
    import time

    from engine.campaign import CampaignOptions, submit_campaign
    from engine.config import ConfigError, parse_config
    from engine.queue import connect, resolve_redis_settings
    from engine.service import Service
    from engine.simulator import Faults, Simulator

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = _Output(json_mode=args.json)
    try:
        base = _load_base_config(args)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"smpp-engine demo: {exc}", file=sys.stderr)
        return 2
    url, password, _ca = resolve_redis_settings(args.redis, config=base)
    local: LocalRedis | None = None
    if not await _probe(url, password):
        try:
            local = LocalRedis(prefix="smpp-demo-redis-")
        except FileNotFoundError:
            print(NO_REDIS_MESSAGE.format(url=url), file=sys.stderr)
            return EXIT_NO_REDIS
        except RuntimeError as exc:
            print(f"smpp-engine demo: no Redis at {url}, and {exc}", file=sys.stderr)
            return EXIT_NO_REDIS
        out.note(f"no Redis at {url}: started a local redis-server on port {local.port}")
        url, password = local.url, None
    sim = Simulator(
        receipt_delay=args.receipt_delay,
        receipt_states=DEMO_STATES,
        faults=Faults(fail_rate=DEMO_FAIL_RATE),
        record=False,
        seed=args.seed,
    )
    tmp = tempfile.mkdtemp(prefix="smpp-demo-")
    service: Service | None = None
    redis = None
    try:
        await sim.start()
        window = base.smscs[0].binds[0].window if base is not None and base.smscs else 100
        metrics = base.metrics if base is not None else None
        p = args.prefix
        raw: dict[str, Any] = {
            "redis": {"url": url, "batch_size": base.redis.batch_size if base is not None else 500},
            "metrics": {"host": metrics.host if metrics else "127.0.0.1", "port": metrics.port if metrics else 9108,
                        "enabled": True},
            "engine": {"key_prefix": p, "stream": f"{p}outbound", "priority_stream": f"{p}outbound:priority",
                       "status_stream": f"{p}status", "group": "smpp-engine", "default_region": "DE"},
            "smscs": [{"name": "simulator", "host": "127.0.0.1", "port": sim.port, "system_id": "demo",
                       "password_env": DEMO_PASSWORD_ENV, "window": window, "registered_delivery": 1,
                       # The simulator spells receipt ids exactly like its responses
                       # ("str"); "auto" would also try hex<->decimal readings, and its
                       # all-digit hex ids are ambiguous.
                       "message_id_format": "str",
                       "binds": [{"bind_type": "trx", "count": 2}]}],
        }
        cfg = parse_config(raw, {DEMO_PASSWORD_ENV: "demo"})
        redis = connect(url, password)
        service = Service(cfg, redis=redis)
        rows = demo_texts(args.count, args.seed)
        path = os.path.join(tmp, "campaign.jsonl")
        _write_campaign(path, rows)
        t0 = time.monotonic()
        # The campaign goes in before the service starts: submit_campaign records
        # "queued" after its XADDs, and a message the engine records first would not
        # be counted in the campaign (see the report of this module's author).
        intake = await submit_campaign(
            redis, path,
            CampaignOptions(sender="SMPPDemo", text="{text}", region="DE", name="demo"),
            keys=service.keys, tracker=service.tracker,
        )
        intake_s = time.monotonic() - t0
        try:
            await service.start()
        except OSError:
            # The configured metrics port is taken (an engine already runs here): any free one.
            raw["metrics"]["port"] = 0
            cfg = parse_config(raw, {DEMO_PASSWORD_ENV: "demo"})
            service = Service(cfg, redis=redis)
            await service.start()
        out.note(f"campaign {intake.id}: {intake.accepted:,} messages queued in {intake_s:.2f} s; simulator on "
                 f"127.0.0.1:{sim.port}; Redis {url}; metrics {service.metrics_url}")
        total = intake.accepted
        timeout = args.timeout if args.timeout is not None else 120 + args.count / 500
        counts: dict[str, int] = {}
        finals = 0
        acked_at: float | None = None
        progress = out.progress(total)
        deadline = t0 + timeout
        while True:
            counts = await service.tracker.campaign_counts(intake.id)
            finals = sum(v for k, v in counts.items() if k in _FINAL)
            now = time.monotonic()
            if acked_at is None and service.stats.acked >= total:
                acked_at = now
            progress.update(finals, counts, service.stats, now - t0)
            if finals >= total or now > deadline:
                break
            await asyncio.sleep(0.25)
        seconds = time.monotonic() - t0
        progress.close()
        summary = _summary(args, intake, counts, finals, total, seconds, intake_s, acked_at and acked_at - t0,
                           service, url, local is not None)
    finally:
        if service is not None:
            await service.close()
        await sim.stop()
        if redis is not None:
            await redis.aclose()
        if local is not None:
            local.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    out.summary(summary)
    return 0 if summary["all_final"] else EXIT_INCOMPLETE


_FINAL = ("delivered", "undeliverable", "expired", "rejected", "deleted", "unknown", "failed")


def _summary(args, intake, counts, finals, total, seconds, intake_s, acked_s, service, url, local) -> dict:
    stats = service.stats
    failed_by_state = {k: counts.get(k, 0) for k in _FINAL if k != "delivered" and counts.get(k, 0)}
    not_final = {k: v for k, v in counts.items() if k not in _FINAL and k not in ("total", "segments") and v}
    return {
        "campaign": intake.id,
        "submitted": total,
        "rejected_rows": intake.rejected,
        "delivered": counts.get("delivered", 0),
        "failed": sum(failed_by_state.values()),
        "failed_by_state": failed_by_state,
        "not_final": not_final,
        "all_final": finals >= total,
        "segments": stats.segments,
        "seconds": round(seconds, 3),
        "intake_seconds": round(intake_s, 3),
        "submit_seconds": None if acked_s is None else round(acked_s, 3),
        "throughput_msg_s": round(total / seconds, 1) if seconds > 0 else None,
        "submit_throughput_msg_s": round(total / acked_s, 1) if acked_s else None,
        "latency_ms": {
            "submit_to_response": stats.response_latency.summary_ms(),
            "submit_to_receipt": stats.receipt_latency.summary_ms(),
        },
        "receipts": stats.receipts,
        "outcome_unknown_parts": stats.unknown_parts,
        "metrics_url": service.metrics_url,
        "redis": url,
        "redis_started_locally": local,
        "key_prefix": service.keys.prefix,
        "status_command": None if local else f"smpp-engine status {intake.id}:1 --redis {url} --prefix {service.keys.prefix}",
    }


class _Output:
    """Progress and summary: rich on a terminal, plain lines otherwise; with --json,
    stdout carries only the summary object and progress goes to stderr."""

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        stream = sys.stderr if json_mode else sys.stdout
        self.stream = stream
        self.tty = stream.isatty()

    def note(self, text: str) -> None:
        print(text, file=self.stream if not self.json_mode else sys.stderr, flush=True)

    def progress(self, total: int) -> "_Progress":
        return _Progress(total, self.stream, self.tty)

    def summary(self, s: dict) -> None:
        if self.json_mode:
            print(json.dumps(s, ensure_ascii=False), flush=True)
            return
        lat = s["latency_ms"]

        def pct(d: dict) -> str:
            if not d.get("count"):
                return "n/a"
            return f"p50 {d['p50']} ms, p90 {d['p90']} ms, p99 {d['p99']} ms"

        failed = ", ".join(f"{k} {v}" for k, v in s["failed_by_state"].items()) or "none"
        lines = [
            ("submitted", f"{s['submitted']:,} messages ({s['rejected_rows']} bad rows)"),
            ("delivered", f"{s['delivered']:,}"),
            ("failed", f"{s['failed']:,} ({failed})"),
            ("not final", ", ".join(f"{k} {v}" for k, v in s["not_final"].items()) or "none"),
            ("segments", f"{s['segments']:,}"),
            ("time", f"{s['seconds']} s (intake {s['intake_seconds']} s, all submitted after "
                     f"{s['submit_seconds']} s)"),
            ("throughput", f"{s['throughput_msg_s']} msg/s to final status; {s['submit_throughput_msg_s']} msg/s "
                           "submitted"),
            ("submit -> response", pct(lat["submit_to_response"])),
            ("submit -> receipt", pct(lat["submit_to_receipt"])),
            ("metrics", f"{s['metrics_url']} (served while the demo runs)"),
            ("redis", s["redis"] + (" (local redis-server, stopped)" if s["redis_started_locally"] else "")),
            ("look at one message", s["status_command"] or "(the local Redis is gone; run with --redis URL to keep the records)"),
        ]
        if self.tty:
            from rich.console import Console
            from rich.table import Table

            table = Table(title="smpp-engine demo" + ("" if s["all_final"] else " (INCOMPLETE)"), show_header=False)
            table.add_column(style="bold")
            table.add_column()
            for k, v in lines:
                table.add_row(k, v)
            Console(file=self.stream).print(table)
        else:
            print("smpp-engine demo" + ("" if s["all_final"] else " (INCOMPLETE: not every message is final)"),
                  file=self.stream)
            for k, v in lines:
                print(f"  {k + ':':<20} {v}", file=self.stream)
            self.stream.flush()


class _Progress:
    def __init__(self, total: int, stream, tty: bool) -> None:
        import time

        self.total = total
        self.stream = stream
        self.tty = tty
        self._last = 0.0
        self._time = time.monotonic
        self._rich = None
        if tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._rich = Progress(TextColumn("[bold]final statuses"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
                                  console=Console(file=stream))
            self._task = self._rich.add_task("demo", total=total, info="")
            self._rich.start()

    def update(self, finals: int, counts: dict, stats, elapsed: float) -> None:
        info = (f"sent+recorded {stats.acked:,} · delivered {counts.get('delivered', 0):,} · "
                f"receipts {stats.receipts:,}")
        if self._rich is not None:
            self._rich.update(self._task, completed=finals, info=info)
            return
        now = self._time()
        if now - self._last >= 1.0 or finals >= self.total:
            self._last = now
            print(f"[{elapsed:6.1f}s] final {finals:,}/{self.total:,} · {info}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
