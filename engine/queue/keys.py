"""Names of every Redis key the intake uses (the layout is documented in the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Keys"]


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix. Tests give each test its own prefix.

    The defaults match ``engine.config.EngineConfig`` (``key_prefix = "smpp:"``,
    ``stream = "smpp:outbound"``, ``priority_stream = "smpp:outbound:priority"``,
    ``group = "smpp-engine"``).
    """

    prefix: str = "smpp:"
    bulk_stream: str = ""
    transactional_stream: str = ""
    group: str = "smpp-engine"

    def __post_init__(self) -> None:
        if not self.bulk_stream:
            object.__setattr__(self, "bulk_stream", f"{self.prefix}outbound")
        if not self.transactional_stream:
            object.__setattr__(self, "transactional_stream", f"{self.prefix}outbound:priority")
        if self.bulk_stream == self.transactional_stream:
            raise ValueError(f"the bulk and transactional streams must differ, both are {self.bulk_stream!r}")

    @classmethod
    def from_config(cls, engine: Any) -> "Keys":
        """From an ``engine.config.EngineConfig``."""
        return cls(
            prefix=engine.key_prefix,
            bulk_stream=engine.stream,
            transactional_stream=engine.priority_stream,
            group=engine.group,
        )

    @classmethod
    def with_prefix(cls, prefix: str, group: str = "smpp-engine") -> "Keys":
        return cls(prefix=prefix, group=group)

    def stream(self, priority: str) -> str:
        if priority == "transactional":
            return self.transactional_stream
        if priority == "bulk":
            return self.bulk_stream
        raise ValueError(f"priority must be 'transactional' or 'bulk', got {priority!r}")

    @property
    def streams(self) -> tuple[str, str]:
        """Read order: transactional first."""
        return (self.transactional_stream, self.bulk_stream)

    @property
    def dead(self) -> str:
        return f"{self.prefix}dead"

    @property
    def attempts(self) -> str:
        """Hash of hand-off records: message id -> "state:n:ts:consumer"."""
        return f"{self.prefix}attempts"

    def attempt(self, message_id: str) -> str:
        """The hand-off record of one message as versions before the ``attempts`` hash
        kept it (a string key); still read when such an entry is reclaimed."""
        return f"{self.prefix}attempt:{message_id}"

    @property
    def campaigns(self) -> str:
        return f"{self.prefix}campaigns"

    def campaign(self, campaign_id: str) -> str:
        return f"{self.prefix}campaign:{campaign_id}"

    def campaign_rejected(self, campaign_id: str) -> str:
        return f"{self.prefix}campaign:{campaign_id}:rejected"

    def campaign_bucket(self, campaign_id: str) -> str:
        return f"{self.prefix}campaign:{campaign_id}:bucket"

    def campaign_stream(self, campaign_id: str) -> str:
        """A rate-limited campaign's own stream (so it never blocks other traffic)."""
        return f"{self.prefix}outbound:campaign:{campaign_id}"

    @property
    def campaign_streams(self) -> str:
        """Set of campaign ids that have their own stream."""
        return f"{self.prefix}outbound:campaigns"

    def campaign_states(self, campaign_id: str) -> str:
        return f"{self.prefix}campaign:{campaign_id}:states"
