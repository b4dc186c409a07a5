"""Reconnect delays: exponential backoff with jitter, so that many binds (and many engine
processes) that lost the same SMSC do not all come back in the same millisecond."""

from __future__ import annotations

import random

from engine.config import BackoffConfig

__all__ = ["Backoff"]


class Backoff:
    """``next()`` gives initial, 2x, 4x ... up to ``max``, each times a factor in 1 ± jitter."""

    __slots__ = ("config", "_attempt", "_random")

    def __init__(self, config: BackoffConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self._attempt = 0
        self._random = rng or random.Random()

    def next(self) -> float:
        base = min(self.config.max, self.config.initial * (2 ** min(self._attempt, 30)))
        self._attempt += 1
        j = self.config.jitter
        return max(0.0, base * (1 + self._random.uniform(-j, j)))

    def reset(self) -> None:
        """After a successful bind: the next failure starts again from ``initial``."""
        self._attempt = 0

    @property
    def attempts(self) -> int:
        return self._attempt
