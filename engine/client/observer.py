"""Hooks for metrics: the client calls these; the monitoring code implements them.

Every method has a no-op default, so an implementation overrides only what it needs.
They are called on the event loop's thread in the hot path: keep them cheap (a
prometheus-client ``inc``/``observe`` is fine; I/O is not).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Observer", "NULL_OBSERVER", "MultiObserver"]


class Observer:
    """Base class with no-op hooks. ``bind`` is the bind's name (``<smsc>/<index>``)."""

    def on_submit(self, bind: str, segments: int) -> None:
        """``segments`` submit_sm PDUs were written (retries included)."""

    def on_response(self, bind: str, command_status: int, latency: float) -> None:
        """A submit_sm_resp arrived ``latency`` seconds after its submit_sm was written."""

    def on_unknown(self, bind: str, count: int, reason: str) -> None:
        """``count`` in-flight PDUs got outcome unknown (connection lost, response timeout)."""

    def on_throttle(self, bind: str, command_status: int, rate_limit: float | None) -> None:
        """The SMSC throttled (0x58 / 0x14); ``rate_limit`` is the new limit in segments/s."""

    def on_in_flight(self, bind: str, in_flight: int, window: int) -> None:
        """The number of outstanding requests changed (called at most once per batch)."""

    def on_bind_state(self, bind: str, state: str) -> None:
        """``state`` is one of connecting, binding, bound, unbinding, closed."""

    def on_reconnect(self, bind: str, attempt: int, delay: float, reason: str) -> None:
        """The bind will reconnect after ``delay`` seconds (``attempt`` counts from 1)."""

    def on_receipt(self, bind: str, receipt: Any) -> None:
        """A delivery receipt arrived (an ``engine.client.Receipt``)."""

    def on_receipt_rows(self, bind: str, rows: list[tuple]) -> None:
        """Receipts that came by the receipt lane (``Bind.on_receipt_rows``), as rows
        ``(sequence_number, message_id, state, stat, err, message_state)``. By default
        each goes to ``on_receipt`` as the ``engine.client.Receipt`` the row stands for
        (``receipt_from_row``: no PDU, no text), so an observer that counts receipts
        sees every one; the hot path's observers count the rows themselves."""
        if type(self).on_receipt is Observer.on_receipt:
            return
        from engine.client.types import receipt_from_row

        for r in rows:
            self.on_receipt(bind, receipt_from_row(bind, r))

    def on_mo(self, bind: str, message: Any) -> None:
        """A mobile-originated message arrived (reassembled when concatenated)."""

    def on_enquire_link(self, bind: str, latency: float | None) -> None:
        """Our enquire_link was answered after ``latency`` s (None: the peer's was answered)."""


NULL_OBSERVER = Observer()


class MultiObserver(Observer):
    """Fans every hook out to several observers (metrics and a test recorder, say)."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def __getattribute__(self, name: str):
        if name.startswith("on_"):
            observers = object.__getattribute__(self, "observers")

            def fan(*args, **kwargs):
                for o in observers:
                    getattr(o, name)(*args, **kwargs)

            return fan
        return object.__getattribute__(self, name)
