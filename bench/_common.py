"""Shared helpers of the benchmarks: refuse debug builds, time a callable, print ratios."""

from __future__ import annotations

import platform
import time
from datetime import date
from typing import Callable


def require_release_build() -> None:
    """Refuse to measure a debug build of the Rust core: its numbers mean nothing."""
    from engine import _smsencode

    if getattr(_smsencode, "DEBUG_BUILD", False):
        raise SystemExit("bench: the Rust core is a debug build; rebuild with `pip install -e .` (release)")


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """The fastest of ``repeat`` runs, in seconds (the least disturbed by the rest of the machine)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def header(title: str, command: str) -> str:
    return f"## {title}\n\n{date.today().isoformat()} · {platform.machine()} · {platform.python_implementation()} {platform.python_version()} · `{command}`\n"
