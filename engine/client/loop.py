"""Event-loop choice: uvloop when installed (it roughly halves per-PDU overhead), else asyncio's;
and the garbage collector's pace for a process whose main job is that loop.

``run`` raises the young generation's collection threshold (``GC_THRESHOLDS``): the
engine makes and drops a few dozen objects per message, nearly all freed by their
reference counts, and CPython's default (a young collection every 700 allocations)
spent about a tenth of the Redis service's CPU walking them (bench e2e, 60,000
messages, back to back: engine 72-74 -> 63-65 us per message). Cycles are still
collected, just less often; RSS stays flat (bench/RESULTS.md, 1,000,000 messages).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["install", "run", "uvloop_available", "GC_THRESHOLDS", "tune_gc"]

T = TypeVar("T")

# Young-generation threshold (allocations less deallocations) and the two older
# generations' (collections of the younger one), for gc.set_threshold.
GC_THRESHOLDS = (100_000, 50, 100)


def tune_gc() -> None:
    """``gc.set_threshold(*GC_THRESHOLDS)`` unless the thresholds were set already (by
    the embedding application, or PYTHONGC-like tuning): only CPython's defaults are
    replaced."""
    if gc.get_threshold() == (700, 10, 10):
        gc.set_threshold(*GC_THRESHOLDS)


def uvloop_available() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def install() -> bool:
    """Make new event loops uvloop loops when uvloop is installed. Returns whether it is."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = True, gc_tuning: bool = True) -> T:
    """``asyncio.run`` on uvloop when available (and wanted), with ``tune_gc()`` first
    (``gc_tuning=False`` leaves the collector as it is)."""
    if gc_tuning:
        tune_gc()
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main)
    return asyncio.run(main)
