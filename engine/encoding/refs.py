"""Concatenation references from a counter the caller can own (one per destination).

A random reference can repeat within a handset's reassembly window and merge two
messages; a counter per destination cannot until it wraps.
"""

from __future__ import annotations

import threading

__all__ = ["RefCounter", "DEFAULT_REFS"]


class RefCounter:
    """Hands out concatenation references: start+1, start+2, ... within the bit width.

    0 is skipped because some handsets treat a zero reference as "not concatenated".
    ``next_ref(bits)`` is what both encoding backends call, once per message that needs
    a reference.
    """

    __slots__ = ("_value", "_lock")

    def __init__(self, start: int = 0) -> None:
        if start < 0:
            raise ValueError(f"RefCounter start must be >= 0, got {start}")
        self._value = start
        self._lock = threading.Lock()

    def next_ref(self, bits: int) -> int:
        if bits not in (8, 16):
            raise ValueError(f"reference width must be 8 or 16 bits, got {bits}")
        modulus = 1 << bits
        with self._lock:
            value = (self._value % (modulus - 1)) + 1  # 1 .. modulus-1
            self._value = value
            return value


DEFAULT_REFS = RefCounter()
