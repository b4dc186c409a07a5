"""What goes into the client and what comes out: messages, per-part results, inbound events."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = [
    "Outcome",
    "OutboundMessage",
    "PartResult",
    "SubmitResult",
    "Receipt",
    "MoMessage",
    "ClientClosed",
    "NotBound",
]


class Outcome(str, Enum):
    """What became of a part (or, aggregated, of a message).

    ``ok``: the SMSC accepted it (submit_sm_resp with ESME_ROK and a message_id).
    ``rejected``: the SMSC refused it with an error status; it was not accepted.
    ``unknown``: it was written but no response came (connection lost, response
    timeout): the SMSC may or may not have it. Never resubmitted by the client; a
    caller that resubmits must record that it did.
    ``failed``: never sent (encoding error, shutdown before it could go out).
    """

    OK = "ok"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    FAILED = "failed"


@dataclass(slots=True)
class OutboundMessage:
    """One message to submit. Give ``text`` (encoded by the bind's config) or ``parts``.

    ``parts``: pre-encoded ``short_message`` octets (UDH included when ``udhi``), with
    ``data_coding``; ``sar``: per-part (ref, total, seq) when the parts use SAR TLVs.
    ``registered_delivery``: None takes the bind's configured value.
    ``national``: the numbers are national (TON 2) rather than international.
    ``source_ton_npi`` / ``dest_ton_npi``: ``(ton, npi)`` to use instead of the bind's
    rules (``[smscs.source_ton_npi]``) for this message.
    ``reference``: the caller's own id, echoed in the result.
    """

    source: str
    destination: str
    text: str | bytes | None = None
    parts: list[bytes] | None = None
    data_coding: int | None = None
    udhi: bool = False
    sar: list[tuple[int, int, int]] | None = None
    encoding: str = "auto"
    concat: str | None = None
    registered_delivery: int | None = None
    priority: int = 0
    national: bool = False
    reference: Any = None
    validity_period: str = ""
    schedule_delivery_time: str = ""
    service_type: str = ""
    protocol_id: int = 0
    esm_class: int = 0
    tlvs: tuple = ()
    source_ton_npi: tuple[int, int] | None = None
    dest_ton_npi: tuple[int, int] | None = None


@dataclass(slots=True)
class PartResult:
    index: int
    outcome: Outcome
    command_status: int | None = None
    message_id: str | None = None
    # Seconds from the (last) write of the submit_sm to its response.
    latency: float | None = None
    attempts: int = 1
    bind: str | None = None
    error: str | None = None
    # When the submit_sm was (last) written, unix seconds (None if it never was).
    submitted_at: float | None = None


@dataclass(slots=True)
class SubmitResult:
    """Per-part results of one message and their aggregate ``outcome``.

    The aggregate is the worst part's: unknown > rejected > failed > ok (an unknown
    part is the one case where the caller must not assume anything).
    """

    reference: Any
    parts: list[PartResult]
    segments: int
    encoding: str | None = None
    data_coding: int | None = None
    error: str | None = None

    @property
    def outcome(self) -> Outcome:
        outcomes = {p.outcome for p in self.parts}
        for o in (Outcome.UNKNOWN, Outcome.REJECTED, Outcome.FAILED):
            if o in outcomes:
                return o
        return Outcome.OK if self.parts else Outcome.FAILED

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def message_ids(self) -> list[str | None]:
        return [p.message_id for p in self.parts]


@dataclass(slots=True)
class Receipt:
    """A delivery receipt (deliver_sm with esm_class 0x04), parsed.

    ``message_id``: receipted_message_id TLV when present, else the text's ``id:``;
    ``state``: the final state word (DELIVRD, UNDELIV, EXPIRED, ...); ``parsed``:
    what ``engine.smpp.receipts`` made of it (None if that module could not).
    """

    bind: str
    message_id: str | None
    state: str | None
    message_state: int | None
    error: str | None
    text: str
    source: str
    destination: str
    parsed: Any = None
    pdu: Any = field(default=None, repr=False)


# SMPP 3.4 5.2.28 message_state values as the appendix B stat words.
MESSAGE_STATE_WORDS = {
    1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD",
}


def receipt_state_word(stat: str | None, message_state: int | None, state: str) -> str:
    """``Receipt.state`` of a parsed receipt: its stat word, else the message_state
    TLV's word, else the parser's state, upper case."""
    return (stat or MESSAGE_STATE_WORDS.get(message_state or 0) or state.upper()).upper()


def receipt_from_row(bind: str, row: tuple) -> Receipt:
    """The ``Receipt`` a receipt lane row ``(sequence_number, message_id, state, stat,
    err, message_state)`` stands for, without what the row leaves out (the PDU, the
    text, the addresses, the parsed receipt)."""
    _, message_id, state, stat, err, message_state = row
    return Receipt(bind, message_id, receipt_state_word(stat, message_state, state), message_state, err, "", "", "")


@dataclass(slots=True)
class MoMessage:
    """A mobile-originated message, reassembled when it came in several parts.

    ``parts``: how many it had; ``complete`` False when parts never arrived within the
    reassembly timeout (``missing`` names them; ``data``/``text`` hold what did arrive,
    so nothing is dropped silently). ``message``: the ``engine.smpp.reassembly``
    Message/Incomplete; ``pdu``: the (last) deliver_sm.
    """

    bind: str
    source: str
    destination: str
    text: str | None
    data: bytes
    data_coding: int
    parts: int = 1
    complete: bool = True
    missing: tuple = ()
    decode_error: str | None = None
    message: Any = field(default=None, repr=False)
    pdu: Any = field(default=None, repr=False)


class ClientClosed(RuntimeError):
    """The client was shut down; the message was not (or no longer) accepted."""


class NotBound(RuntimeError):
    """No bind of this SMSC could be established (the reason names the last error)."""
