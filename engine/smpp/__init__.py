"""SMPP 3.4, sans-IO: the PDU codec, the session state machine, receipts and MO reassembly.

Nothing in this package does I/O or reads a clock: bytes come in, events and bytes
go out, and time is always an argument. The asyncio transport lives elsewhere.

Modules: ``constants`` (command ids, statuses, tags, limits), ``errors``, ``tlv``,
``pdu`` (the codec; its docstring documents the API), ``states`` (the operation
matrix), ``session`` (the sans-IO session), ``receipts``, ``reassembly``.
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
from engine.smpp.reassembly import Incomplete, Message, Reassembler
from engine.smpp.receipts import Receipt, ReceiptError, message_id_forms, normalize_message_id, parse_receipt
from engine.smpp.session import (
    MalformedPdu,
    RequestReceived,
    ResponseReceived,
    Session,
    StateChanged,
    Unanswered,
    UnexpectedPdu,
)
from engine.smpp.states import State

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
    "Reassembler",
    "Message",
    "Incomplete",
    "Receipt",
    "ReceiptError",
    "parse_receipt",
    "normalize_message_id",
    "message_id_forms",
    "Session",
    "State",
    "RequestReceived",
    "ResponseReceived",
    "StateChanged",
    "MalformedPdu",
    "UnexpectedPdu",
    "Unanswered",
]
