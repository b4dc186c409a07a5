"""The intake's hot path in Rust; None when the extension is missing.

This module, ``engine/encoding/__init__.py`` and ``engine/smpp/_native.py`` are the only
importers of the compiled ``engine._smsencode`` (tests/test_layout.py).

``intake_entries(items, stream, reclaimed, now) -> list[Entry | None]``
    For each ``(entry_id, fields)`` of a stream's XREADGROUP reply, the ``Entry`` the
    consumer makes of it (``Entry(stream, entry_id, Message.from_fields(fields,
    entry_id), reclaimed, read_at=now)``), or None where the record is not the plain
    case (a field of another type than the producer writes, a value
    ``Message``'s checks refuse, no ``m`` field...): ``Message.from_fields`` then gives
    the message or the ``MalformedEntry`` that names the problem. Equal to the
    reference wherever it answers (tests/native/test_intake_lane.py).
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["intake_entries"]

intake_entries: Callable[..., list[Any]] | None
try:
    from engine._smsencode import intake_entries
except ImportError:  # no extension, or one built before the intake lane
    intake_entries = None
