"""Exceptions of the SMPP core.

``PduError`` is what the codec raises for bytes that are not a valid PDU (and for a
PDU object that cannot be encoded). It carries the command_status to answer with and,
when the header could be read, the command_id and sequence_number, so that the session
can answer generic_nack (or the request's own response) with the right numbers.
It subclasses ``ValueError`` so that ordinary ``except ValueError`` keeps working.
"""

from __future__ import annotations

from engine.smpp.constants import CommandStatus

__all__ = ["SmppError", "PduError", "ProtocolError"]


class SmppError(Exception):
    """Base class of every error raised by ``engine.smpp``."""


class PduError(SmppError, ValueError):
    """Bytes that are not a valid SMPP PDU, or a PDU object that cannot be encoded.

    Attributes:
        status: the command_status to answer with (an ``int``; a ``CommandStatus``
            member), e.g. ESME_RINVCMDLEN for a bad command_length, ESME_RINVCMDID
            for an unknown command_id, ESME_RINVSRCADR for a source_addr without its
            NUL within 21 octets.
        command_id: the PDU's command_id when the header could be read, else None.
        sequence_number: the PDU's sequence_number when the header could be read,
            else None.
        fatal: True when the byte stream cannot be resynchronised after this error
            (a command_length below 16 or above MAX_COMMAND_LENGTH): the connection
            must be closed after answering.
    """

    def __init__(
        self,
        message: str,
        status: int = CommandStatus.ESME_RSYSERR,
        *,
        command_id: int | None = None,
        sequence_number: int | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.command_id = command_id
        self.sequence_number = sequence_number
        self.fatal = fatal

    def __reduce__(self):  # keep pickling (multiprocessing, logging) working
        return (
            _rebuild_pdu_error,
            (type(self), self.message, self.status, self.command_id, self.sequence_number, self.fatal),
        )

    def __repr__(self) -> str:
        try:
            status = CommandStatus(self.status).name
        except ValueError:
            status = f"0x{self.status:08X}"
        return (
            f"{type(self).__name__}({self.message!r}, status={status}, command_id="
            f"{'None' if self.command_id is None else f'0x{self.command_id:08X}'}, "
            f"sequence_number={self.sequence_number}, fatal={self.fatal})"
        )

    def __eq__(self, other: object) -> bool:
        # Value equality lets the Framer's output (PDUs and errors mixed) be compared
        # in tests and against the Rust codec.
        if type(other) is not type(self) or not isinstance(other, PduError):
            return NotImplemented
        return (self.message, self.status, self.command_id, self.sequence_number, self.fatal) == (
            other.message,
            other.status,
            other.command_id,
            other.sequence_number,
            other.fatal,
        )

    __hash__ = Exception.__hash__


def _rebuild_pdu_error(cls, message, status, command_id, sequence_number, fatal):
    return cls(message, status, command_id=command_id, sequence_number=sequence_number, fatal=fatal)


class ProtocolError(SmppError):
    """An operation the session's state forbids (sending submit_sm before the bind,
    a receiver sending submit_sm, sending on a closed session, a full window...)."""
