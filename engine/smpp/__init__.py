"""SMPP 3.4, sans-IO: the PDU codec, the session state machine, receipts and MO reassembly.

Nothing in this package does I/O or reads a clock: bytes come in, events and bytes
go out, and time is always an argument. The asyncio transport lives elsewhere.
"""

from engine.smpp.constants import (
    MAX_COMMAND_LENGTH,
    CommandId,
    CommandStatus,
    EsmClass,
    MessageState,
    Npi,
    RegisteredDelivery,
    Tag,
    Ton,
)
from engine.smpp.errors import PduError, ProtocolError, SmppError
from engine.smpp.pdu import PDU_CLASSES, Framer, Pdu, Tlv, decode, encode

__all__ = [
    "MAX_COMMAND_LENGTH",
    "CommandId",
    "CommandStatus",
    "EsmClass",
    "MessageState",
    "Npi",
    "RegisteredDelivery",
    "Tag",
    "Ton",
    "PduError",
    "ProtocolError",
    "SmppError",
    "PDU_CLASSES",
    "Framer",
    "Pdu",
    "Tlv",
    "decode",
    "encode",
]
