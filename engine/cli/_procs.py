"""``smpp-engine run --processes N``: one engine per process, supervised by the parent.

Python runs one process on one core; N service processes (each a full
``engine.service.Service``, a member of the consumer group) use N cores. This module
holds the two halves:

* :func:`process_config` — the configuration of process ``i`` of ``n``. Each SMSC's
  binds are *split* between the processes, never multiplied (a carrier limits the
  binds of an account): transmit-capable binds (tx, trx) round robin, then the
  receive-only binds (rx) round robin. Every process needs a transmit-capable bind of
  every SMSC, so an SMSC with fewer of them than processes is refused
  (:class:`SplitError`, naming the fix). Bind names (``<smsc>/<index>``) stay those of
  the whole configuration, so metrics labels do not collide; per-bind settings (rate,
  window) are untouched: a rate limit stays per bind. The metrics port of process
  ``i`` is ``port + i`` (port 0, "any free port", stays 0).
* :class:`Supervisor` — the parent: starts the children (``smpp-engine run
  --process-slot i/n --consumer <name>-<i>``), forwards SIGTERM/SIGINT, waits for their
  graceful drain, restarts a child that dies, and stops the whole run when a child
  cannot start or keeps dying. See :data:`RESTART_LIMIT` and the README ("Running the
  service") for the rules an operator sees.

The parent is deliberately plain: no event loop, no threads, no Redis — a poll of its
children every :data:`POLL_S` seconds. Everything that touches Redis or an SMSC is in
the children.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.config import Config

__all__ = [
    "SplitError",
    "process_config",
    "check_split",
    "parse_slot",
    "consumer_name",
    "Supervisor",
    "STARTUP_EXIT_CODES",
    "EXIT_CHILD_FAILED",
    "RESTART_LIMIT",
    "RESTART_WINDOW_S",
]

log = logging.getLogger("engine.run")

# A child exiting with one of these failed its start-up (bad configuration, Redis not
# reachable within the start timeout, metrics port taken: see engine/cli/run.py);
# starting it again would fail again, so the whole run stops with the same status.
STARTUP_EXIT_CODES = (2, 3, 4)
# Exit status of the parent when a child failed (died, or stopped with an error) and
# no more specific status applies.
EXIT_CHILD_FAILED = 1
# A child that dies is started again (same consumer name, so it takes back its own
# pending entries at once), after RESTART_DELAY_S doubling per restart in the window,
# at most RESTART_DELAY_MAX_S. More than RESTART_LIMIT restarts of one child within
# RESTART_WINDOW_S is a crash loop: the whole run stops (exit 1) and the service
# manager (systemd, ...) decides what comes next.
RESTART_LIMIT = 5
RESTART_WINDOW_S = 300.0
RESTART_DELAY_S = 1.0
RESTART_DELAY_MAX_S = 30.0
# How often the parent looks at its children (seconds).
POLL_S = 0.1


class SplitError(ValueError):
    """The binds cannot be split between the processes; the message names the fix."""


def _transmit_split(binds: Sequence, n: int) -> list[list]:
    out: list[list] = [[] for _ in range(n)]
    tx = [b for b in binds if b.can_transmit]
    rx = [b for b in binds if not b.can_transmit]
    for j, b in enumerate(tx):
        out[j % n].append(b)
    # Receive-only binds continue the round robin where the transmitters stopped, so
    # that one process does not collect both the last transmitter and the first receiver.
    for j, b in enumerate(rx, start=len(tx)):
        out[j % n].append(b)
    return out


def check_split(config: Config, n: int) -> None:
    """Raise :class:`SplitError` when ``config`` cannot run as ``n`` processes."""
    if n < 1:
        raise SplitError(f"--processes must be at least 1, got {n}")
    if n == 1:
        return
    where = f" in {config.path}" if config.path else ""
    for s in config.smscs:
        tx = sum(1 for b in s.binds if b.can_transmit)
        if tx < n:
            raise SplitError(
                f"--processes {n}: SMSC {s.name!r} has {tx} transmit-capable bind{'s' if tx != 1 else ''} "
                f"(tx or trx; {len(s.binds)} in all), and the binds are split between the processes, not "
                f"multiplied (every process needs one to send). Run with --processes {max(tx, 1)} or fewer, or, "
                f"if the carrier allows {n} binds for this account, set count = {n} (or more) in its "
                f"[[smscs.binds]]{where}."
            )
    m = config.metrics
    if m.enabled and m.port and m.port + n - 1 > 65535:
        raise SplitError(f"--processes {n}: the metrics ports would be {m.port}..{m.port + n - 1} "
                         f"(port + process index), beyond 65535; lower [metrics] port{where}")


def process_config(config: Config, index: int, n: int) -> Config:
    """The configuration process ``index`` (0-based) of ``n`` runs with: its share of
    each SMSC's binds, metrics on ``port + index``. ``n == 1`` returns ``config``."""
    if not 0 <= index < n:
        raise ValueError(f"process index {index} is not in 0..{n - 1}")
    if n == 1:
        return config
    check_split(config, n)
    smscs = tuple(dataclasses.replace(s, binds=tuple(_transmit_split(s.binds, n)[index])) for s in config.smscs)
    metrics = config.metrics
    if metrics.port:
        metrics = dataclasses.replace(metrics, port=metrics.port + index)
    return dataclasses.replace(config, smscs=smscs, metrics=metrics)


def parse_slot(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` (the hidden ``--process-slot`` of a child)."""
    try:
        a, b = text.split("/")
        i, n = int(a), int(b)
    except ValueError:
        raise ValueError(f"--process-slot must be I/N, got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"--process-slot must be I/N with 0 <= I < N, got {text!r}")
    return i, n


def consumer_name(base: str, index: int) -> str:
    """The consumer name of process ``index``: ``<base>-<index>``, the same after every
    restart of that process (so it takes back the entries it left pending)."""
    return f"{base}-{index}"


def describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit status {rc}"


@dataclass
class _Child:
    index: int
    consumer: str
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    restarts: deque = field(default_factory=deque)  # monotonic times of restarts
    last_rc: int | None = None


class Supervisor:
    """Run ``n`` children made by ``argv(i)``; see the module docstring.

    ``run()`` returns the exit status of the whole run: 0 when every child drained and
    exited 0 after SIGTERM/SIGINT and none failed on the way; a start-up status of a
    child (2, 3, 4) when one could not start; 130 after a second SIGTERM/SIGINT (the
    children are told to exit at once with SIGQUIT); otherwise 1 when a child failed
    at any point (also one that was restarted and then ran fine: the log says which).
    """

    def __init__(self, n: int, argv: Callable[[int], list[str]], consumers: Sequence[str], *,
                 env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.n = n
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.children = [_Child(i, consumers[i]) for i in range(n)]
        self._signals: list[int] = []
        self.stopping = False
        self.forced = False
        self.fatal: int | None = None
        self.failures = 0
        self.restarts = 0

    # --- signals ------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals.append(signum)  # handled in the loop (no logging inside a handler)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            name = signal.Signals(signum).name
            if not self.stopping:
                log.info("%s: stopping %d engine processes (each drains, records, unbinds); send it again to "
                         "make them exit at once", name, self.n)
                self._stop(signal.SIGTERM)
            elif not self.forced:
                log.error("second %s: telling the engine processes to exit now; in-flight entries stay pending "
                          "and are reclaimed", name)
                self.forced = True
                self._send(signal.SIGQUIT)

    def _stop(self, sig: int) -> None:
        self.stopping = True
        for c in self.children:
            c.restart_at = None
        self._send(sig)

    def _send(self, sig: int) -> None:
        for c in self.children:
            if c.proc is not None and c.proc.poll() is None:
                try:
                    c.proc.send_signal(sig)
                except ProcessLookupError:
                    pass

    # --- children -----------------------------------------------------------------

    def _start(self, c: _Child) -> None:
        c.proc = subprocess.Popen(self.argv(c.index), env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL)
        c.started_at = time.monotonic()
        c.restart_at = None
        log.info("process %d/%d: pid %d, consumer %s", c.index, self.n, c.proc.pid, c.consumer)

    def _reap(self, c: _Child, rc: int) -> None:
        pid = c.proc.pid if c.proc is not None else 0
        c.proc = None
        c.last_rc = rc
        if self.stopping:
            if rc == 0:
                log.info("process %d (consumer %s, pid %d) stopped", c.index, c.consumer, pid)
            elif rc == -signal.SIGTERM:
                # Still importing when the stop came (its handlers were not installed yet).
                log.info("process %d (consumer %s, pid %d) stopped before it had started", c.index, c.consumer, pid)
            elif not (self.forced and rc == 130):
                self.failures += 1
                log.error("process %d (consumer %s, pid %d) failed during the shutdown: %s",
                          c.index, c.consumer, pid, describe_exit(rc))
            return
        now = time.monotonic()
        if rc in STARTUP_EXIT_CODES:
            self.failures += 1
            self.fatal = rc
            log.error("process %d (consumer %s, pid %d) could not start (%s, see its message above); "
                      "stopping the other engine processes", c.index, c.consumer, pid, describe_exit(rc))
            self._stop(signal.SIGTERM)
            return
        if rc != 0:
            self.failures += 1
        while c.restarts and now - c.restarts[0] > RESTART_WINDOW_S:
            c.restarts.popleft()
        if len(c.restarts) >= RESTART_LIMIT:
            self.fatal = EXIT_CHILD_FAILED
            log.error("process %d (consumer %s, pid %d) ended (%s) after %d restarts within %.0f s: a crash loop; "
                      "stopping the other engine processes", c.index, c.consumer, pid, describe_exit(rc),
                      len(c.restarts), RESTART_WINDOW_S)
            self._stop(signal.SIGTERM)
            return
        delay = min(RESTART_DELAY_S * 2 ** len(c.restarts), RESTART_DELAY_MAX_S)
        what = describe_exit(rc) if rc != 0 else "exit status 0 without a stop from this parent (signalled alone?)"
        log.error("process %d (consumer %s, pid %d) ended unexpectedly: %s; restarting it in %.0f s under the same "
                  "consumer name (it takes back its pending entries)", c.index, c.consumer, pid, what, delay)
        c.restart_at = now + delay

    def run(self) -> int:
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for c in self.children:
                self._start(c)
            while True:
                self._handle_signals()
                now = time.monotonic()
                for c in self.children:
                    if c.proc is not None:
                        rc = c.proc.poll()
                        if rc is not None:
                            self._reap(c, rc)
                    elif c.restart_at is not None and now >= c.restart_at and not self.stopping:
                        c.restarts.append(now)
                        self.restarts += 1
                        self._start(c)
                if self.stopping and all(c.proc is None for c in self.children):
                    break
                time.sleep(POLL_S)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            # Never leave a child behind (an exception in this loop, say).
            for c in self.children:
                if c.proc is not None and c.proc.poll() is None:
                    c.proc.send_signal(signal.SIGTERM)
        if self.forced:
            status = 130
        elif self.fatal is not None:
            status = self.fatal
        elif self.failures:
            status = EXIT_CHILD_FAILED
        else:
            status = 0
        log.info("all %d engine processes stopped: %d restart%s, %d failure%s; exit status %d", self.n,
                 self.restarts, "" if self.restarts == 1 else "s", self.failures,
                 "" if self.failures == 1 else "s", status)
        return status


def child_env() -> dict[str, str]:
    """The environment of a child: ours, plus the directory holding the ``engine``
    package first on PYTHONPATH unless it is a site-packages directory (a source
    checkout started from another directory still finds its own package)."""
    env = dict(os.environ)
    import engine

    root = str(Path(engine.__file__).resolve().parents[1])
    import site

    if root in (os.path.realpath(p) for p in site.getsitepackages()):
        return env
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
