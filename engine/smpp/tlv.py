"""Optional parameters (TLVs) of SMPP 3.4: the ``Tlv`` value and typed access to it.

A TLV is kept as it came: ``Tlv(tag, value)`` with the raw value octets, so an
unknown tag (a vendor's 0x1400..0x3FFF, or a 5.0 tag an SMSC sends anyway) is passed
on unchanged. Typed views (``tlv_int``, ``tlv_str``...) interpret a value only when
asked and check its length against the spec then, so one odd TLV never makes a
whole PDU undecodable.
"""

from __future__ import annotations

from typing import NamedTuple

from engine.smpp.constants import CommandStatus, Tag
from engine.smpp.errors import PduError

__all__ = [
    "Tlv",
    "TLV_FORMATS",
    "tlv_name",
    "int_tlv",
    "str_tlv",
    "find_tlv",
    "tlv_int",
    "tlv_str",
    "cstr_value",
    "sar_tlvs",
]

# The TLV length field is two octets.
MAX_TLV_VALUE_LENGTH = 0xFFFF


class Tlv(NamedTuple):
    """One optional parameter: ``tag`` (int, 0..0xFFFF) and its raw ``value`` octets.

    The length on the wire is derived from ``value``; it is never set.
    A NamedTuple rather than a dataclass: a PDU can carry many TLVs and the decoder
    builds one per TLV, so construction cost matters; it is immutable either way.
    """

    tag: int
    value: bytes

    def __repr__(self) -> str:
        return f"Tlv({tlv_name(self.tag)}, {self.value!r})"


# How SMPP 3.4 (section 5.3.2) types each tag's value:
#   ("int", n)          an n-octet unsigned big-endian integer
#   ("cstr", max)       a C-octet string, NUL included, at most `max` octets
#   ("octets", lo, hi)  octets, length within lo..hi
TLV_FORMATS: dict[int, tuple] = {
    Tag.DEST_ADDR_SUBUNIT: ("int", 1),
    Tag.DEST_NETWORK_TYPE: ("int", 1),
    Tag.DEST_BEARER_TYPE: ("int", 1),
    Tag.DEST_TELEMATICS_ID: ("int", 2),
    Tag.SOURCE_ADDR_SUBUNIT: ("int", 1),
    Tag.SOURCE_NETWORK_TYPE: ("int", 1),
    Tag.SOURCE_BEARER_TYPE: ("int", 1),
    Tag.SOURCE_TELEMATICS_ID: ("int", 1),
    Tag.QOS_TIME_TO_LIVE: ("int", 4),
    Tag.PAYLOAD_TYPE: ("int", 1),
    Tag.ADDITIONAL_STATUS_INFO_TEXT: ("cstr", 256),
    Tag.RECEIPTED_MESSAGE_ID: ("cstr", 65),
    Tag.MS_MSG_WAIT_FACILITIES: ("int", 1),
    Tag.PRIVACY_INDICATOR: ("int", 1),
    Tag.SOURCE_SUBADDRESS: ("octets", 2, 23),
    Tag.DEST_SUBADDRESS: ("octets", 2, 23),
    Tag.USER_MESSAGE_REFERENCE: ("int", 2),
    Tag.USER_RESPONSE_CODE: ("int", 1),
    Tag.SOURCE_PORT: ("int", 2),
    Tag.DESTINATION_PORT: ("int", 2),
    Tag.SAR_MSG_REF_NUM: ("int", 2),
    Tag.LANGUAGE_INDICATOR: ("int", 1),
    Tag.SAR_TOTAL_SEGMENTS: ("int", 1),
    Tag.SAR_SEGMENT_SEQNUM: ("int", 1),
    Tag.SC_INTERFACE_VERSION: ("int", 1),
    Tag.CALLBACK_NUM_PRES_IND: ("int", 1),
    Tag.CALLBACK_NUM_ATAG: ("octets", 0, 65),
    Tag.NUMBER_OF_MESSAGES: ("int", 1),
    Tag.CALLBACK_NUM: ("octets", 4, 19),
    Tag.DPF_RESULT: ("int", 1),
    Tag.SET_DPF: ("int", 1),
    Tag.MS_AVAILABILITY_STATUS: ("int", 1),
    Tag.NETWORK_ERROR_CODE: ("octets", 3, 3),
    Tag.MESSAGE_PAYLOAD: ("octets", 0, MAX_TLV_VALUE_LENGTH),
    Tag.DELIVERY_FAILURE_REASON: ("int", 1),
    Tag.MORE_MESSAGES_TO_SEND: ("int", 1),
    Tag.MESSAGE_STATE: ("int", 1),
    Tag.USSD_SERVICE_OP: ("int", 1),
    Tag.DISPLAY_TIME: ("int", 1),
    Tag.SMS_SIGNAL: ("int", 2),
    Tag.MS_VALIDITY: ("int", 1),
    Tag.ALERT_ON_MESSAGE_DELIVERY: ("octets", 0, 0),
    Tag.ITS_REPLY_TYPE: ("int", 1),
    Tag.ITS_SESSION_INFO: ("int", 2),
}

_TAG_NAMES = {t.value: t.name.lower() for t in Tag}


def tlv_name(tag: int) -> str:
    """``"sar_msg_ref_num"`` for 0x020C; ``"0x1401"`` for a tag SMPP 3.4 does not define.

    Also used inside error messages about malformed TLVs, so a tag that is not an int
    is named by its repr instead of raising a second, confusing error.
    """
    if not isinstance(tag, int):
        return repr(tag)
    return _TAG_NAMES.get(tag) or f"0x{tag:04X}"


def int_tlv(tag: int, value: int, size: int | None = None) -> Tlv:
    """A TLV holding an unsigned integer; ``size`` defaults to the spec's for the tag."""
    if size is None:
        fmt = TLV_FORMATS.get(tag)
        if fmt is None or fmt[0] != "int":
            raise ValueError(f"TLV {tlv_name(tag)} is not an integer TLV in SMPP 3.4: give its size")
        size = fmt[1]
    if not 0 <= value < (1 << (8 * size)):
        raise ValueError(f"TLV {tlv_name(tag)} value {value} does not fit in {size} octet(s)")
    return Tlv(tag, value.to_bytes(size, "big"))


def str_tlv(tag: int, text: str) -> Tlv:
    """A TLV holding a C-octet string (the NUL is added), e.g. receipted_message_id."""
    if "\0" in text:
        raise ValueError(f"TLV {tlv_name(tag)} text contains a NUL")
    raw = text.encode("latin-1") + b"\0"
    fmt = TLV_FORMATS.get(tag)
    if fmt is not None and fmt[0] == "cstr" and len(raw) > fmt[1]:
        raise ValueError(f"TLV {tlv_name(tag)} is {len(raw)} octets with its NUL; at most {fmt[1]}")
    return Tlv(tag, raw)


def sar_tlvs(ref: int, total: int, seq: int) -> tuple[Tlv, Tlv, Tlv]:
    """The three SAR TLVs for one part of a concatenated message."""
    return (
        int_tlv(Tag.SAR_MSG_REF_NUM, ref),
        int_tlv(Tag.SAR_TOTAL_SEGMENTS, total),
        int_tlv(Tag.SAR_SEGMENT_SEQNUM, seq),
    )


def find_tlv(tlvs: tuple[Tlv, ...], tag: int) -> bytes | None:
    """The value of the first TLV with this tag, or None."""
    for t in tlvs:
        if t.tag == tag:
            return t.value
    return None


def tlv_int(tlvs: tuple[Tlv, ...], tag: int) -> int | None:
    """The first TLV with this tag read as an unsigned integer, or None when absent.

    Raises PduError(ESME_RINVPARLEN) when its length is not the spec's for the tag.
    """
    value = find_tlv(tlvs, tag)
    if value is None:
        return None
    fmt = TLV_FORMATS.get(tag)
    if fmt is not None and fmt[0] == "int" and len(value) != fmt[1]:
        raise PduError(
            f"TLV {tlv_name(tag)} has {len(value)} octet(s); SMPP 3.4 says {fmt[1]}",
            CommandStatus.ESME_RINVPARLEN,
        )
    if not value or len(value) > 8:
        raise PduError(f"TLV {tlv_name(tag)} of {len(value)} octets is not an integer", CommandStatus.ESME_RINVPARLEN)
    return int.from_bytes(value, "big")


def tlv_str(tlvs: tuple[Tlv, ...], tag: int) -> str | None:
    """The first TLV with this tag read as a C-octet string (up to its NUL), or None.

    A value without its NUL is accepted as the whole string: SMSCs send
    receipted_message_id both ways, and refusing it would lose the receipt.
    """
    value = find_tlv(tlvs, tag)
    if value is None:
        return None
    return cstr_value(value)


def cstr_value(value: bytes) -> str:
    """A C-octet string TLV value as text: up to its NUL (the whole value without one),
    Latin-1."""
    nul = value.find(0)
    return (value if nul < 0 else value[:nul]).decode("latin-1")
