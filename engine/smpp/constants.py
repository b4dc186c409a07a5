"""SMPP 3.4 numbers: command ids, command statuses, optional-parameter tags, limits.

Every value here is taken from the SMPP v3.4 specification (issue 1.2, 1999):
section 5.1.2 (command_id), 5.1.3 (command_status), 5.2 (field values),
5.3.2 (TLV tags). Nothing here does anything; it only names numbers.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "CommandId",
    "CommandStatus",
    "Tag",
    "MessageState",
    "Ton",
    "Npi",
    "EsmClass",
    "RegisteredDelivery",
    "INTERFACE_VERSION",
    "HEADER_LENGTH",
    "MAX_COMMAND_LENGTH",
    "MAX_SHORT_MESSAGE_LENGTH",
    "MAX_SEQUENCE_NUMBER",
    "RESPONSE_BIT",
]

# Every PDU starts with command_length, command_id, command_status, sequence_number:
# four 32-bit big-endian integers. A command_length below this is never valid.
HEADER_LENGTH = 16

# The largest PDU SMPP 3.4 can produce is a submit_multi with 254 destinations
# (254 x 24 = 6,096 octets of addresses), a 254-octet short_message, the other fixed
# fields (~100 octets) and a full message_payload TLV (4 + 65,535 octets): about
# 72,000 octets. Doubling that leaves room for other TLVs and vendor extensions.
# Anything larger is not a PDU but a peer out of sync (or hostile), and refusing it
# bounds what one connection can make us buffer. The session cannot resynchronise
# after such a length (it no longer knows where the next PDU starts), so it answers
# generic_nack and closes.
MAX_COMMAND_LENGTH = 0x20000  # 131,072 octets

# sm_length is one octet, and the spec (5.2.21) caps short_message at 254 octets;
# longer content goes into the message_payload TLV.
MAX_SHORT_MESSAGE_LENGTH = 254

# Sequence numbers run 0x00000001..0x7FFFFFFF (spec 3.2 / 5.1.4) and wrap to 1.
MAX_SEQUENCE_NUMBER = 0x7FFFFFFF

# A response's command_id is its request's with the top bit set (spec 5.1.2.1).
RESPONSE_BIT = 0x80000000

# interface_version in the binds (spec 5.2.4): 0x34 for SMPP 3.4.
INTERFACE_VERSION = 0x34


class CommandId(IntEnum):
    """command_id values (SMPP 3.4 section 5.1.2.1)."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103

    @property
    def is_response(self) -> bool:
        return bool(self.value & RESPONSE_BIT)


class CommandStatus(IntEnum):
    """command_status values (SMPP 3.4 section 5.1.3, table 5-2).

    A PDU's command_status stays a plain int: SMSCs use vendor codes
    (0x400..0x4FF) that are not members here.
    """

    ESME_ROK = 0x00000000  # No error
    ESME_RINVMSGLEN = 0x00000001  # Message length is invalid
    ESME_RINVCMDLEN = 0x00000002  # Command length is invalid
    ESME_RINVCMDID = 0x00000003  # Invalid command ID
    ESME_RINVBNDSTS = 0x00000004  # Incorrect BIND status for given command
    ESME_RALYBND = 0x00000005  # ESME already in bound state
    ESME_RINVPRTFLG = 0x00000006  # Invalid priority flag
    ESME_RINVREGDLVFLG = 0x00000007  # Invalid registered delivery flag
    ESME_RSYSERR = 0x00000008  # System error
    ESME_RINVSRCADR = 0x0000000A  # Invalid source address
    ESME_RINVDSTADR = 0x0000000B  # Invalid destination address
    ESME_RINVMSGID = 0x0000000C  # Message ID is invalid
    ESME_RBINDFAIL = 0x0000000D  # Bind failed
    ESME_RINVPASWD = 0x0000000E  # Invalid password
    ESME_RINVSYSID = 0x0000000F  # Invalid system ID
    ESME_RCANCELFAIL = 0x00000011  # Cancel SM failed
    ESME_RREPLACEFAIL = 0x00000013  # Replace SM failed
    ESME_RMSGQFUL = 0x00000014  # Message queue full
    ESME_RINVSERTYP = 0x00000015  # Invalid service type
    ESME_RINVNUMDESTS = 0x00000033  # Invalid number of destinations
    ESME_RINVDLNAME = 0x00000034  # Invalid distribution list name
    ESME_RINVDESTFLAG = 0x00000040  # Destination flag is invalid (submit_multi)
    ESME_RINVSUBREP = 0x00000042  # Invalid 'submit with replace' request
    ESME_RINVESMCLASS = 0x00000043  # Invalid esm_class field data
    ESME_RCNTSUBDL = 0x00000044  # Cannot submit to distribution list
    ESME_RSUBMITFAIL = 0x00000045  # submit_sm or submit_multi failed
    ESME_RINVSRCTON = 0x00000048  # Invalid source address TON
    ESME_RINVSRCNPI = 0x00000049  # Invalid source address NPI
    ESME_RINVDSTTON = 0x00000050  # Invalid destination address TON
    ESME_RINVDSTNPI = 0x00000051  # Invalid destination address NPI
    ESME_RINVSYSTYP = 0x00000053  # Invalid system_type field
    ESME_RINVREPFLAG = 0x00000054  # Invalid replace_if_present flag
    ESME_RINVNUMMSGS = 0x00000055  # Invalid number of messages
    ESME_RTHROTTLED = 0x00000058  # Throttling error (ESME has exceeded allowed message limits)
    ESME_RINVSCHED = 0x00000061  # Invalid scheduled delivery time
    ESME_RINVEXPIRY = 0x00000062  # Invalid message validity period (expiry time)
    ESME_RINVDFTMSGID = 0x00000063  # Predefined message invalid or not found
    ESME_RX_T_APPN = 0x00000064  # ESME receiver temporary app error code
    ESME_RX_P_APPN = 0x00000065  # ESME receiver permanent app error code
    ESME_RX_R_APPN = 0x00000066  # ESME receiver reject message error code
    ESME_RQUERYFAIL = 0x00000067  # query_sm request failed
    ESME_RINVOPTPARSTREAM = 0x000000C0  # Error in the optional part of the PDU body
    ESME_ROPTPARNOTALLWD = 0x000000C1  # Optional parameter not allowed
    ESME_RINVPARLEN = 0x000000C2  # Invalid parameter length
    ESME_RMISSINGOPTPARAM = 0x000000C3  # Expected optional parameter missing
    ESME_RINVOPTPARAMVAL = 0x000000C4  # Invalid optional parameter value
    ESME_RDELIVERYFAILURE = 0x000000FE  # Delivery failure (data_sm_resp)
    ESME_RUNKNOWNERR = 0x000000FF  # Unknown error


class Tag(IntEnum):
    """Optional parameter (TLV) tags of SMPP 3.4 (section 5.3.2, table 5-3)."""

    DEST_ADDR_SUBUNIT = 0x0005
    DEST_NETWORK_TYPE = 0x0006
    DEST_BEARER_TYPE = 0x0007
    DEST_TELEMATICS_ID = 0x0008
    SOURCE_ADDR_SUBUNIT = 0x000D
    SOURCE_NETWORK_TYPE = 0x000E
    SOURCE_BEARER_TYPE = 0x000F
    SOURCE_TELEMATICS_ID = 0x0010
    QOS_TIME_TO_LIVE = 0x0017
    PAYLOAD_TYPE = 0x0019
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    RECEIPTED_MESSAGE_ID = 0x001E
    MS_MSG_WAIT_FACILITIES = 0x0030
    PRIVACY_INDICATOR = 0x0201
    SOURCE_SUBADDRESS = 0x0202
    DEST_SUBADDRESS = 0x0203
    USER_MESSAGE_REFERENCE = 0x0204
    USER_RESPONSE_CODE = 0x0205
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    CALLBACK_NUM_PRES_IND = 0x0302
    CALLBACK_NUM_ATAG = 0x0303
    NUMBER_OF_MESSAGES = 0x0304
    CALLBACK_NUM = 0x0381
    DPF_RESULT = 0x0420
    SET_DPF = 0x0421
    MS_AVAILABILITY_STATUS = 0x0422
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427
    USSD_SERVICE_OP = 0x0501
    DISPLAY_TIME = 0x1201
    SMS_SIGNAL = 0x1203
    MS_VALIDITY = 0x1204
    ALERT_ON_MESSAGE_DELIVERY = 0x130C
    ITS_REPLY_TYPE = 0x1380
    ITS_SESSION_INFO = 0x1383


class MessageState(IntEnum):
    """message_state values (SMPP 3.4 section 5.2.28): query_sm_resp and the TLV 0x0427."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


class Ton(IntEnum):
    """Type of number (SMPP 3.4 section 5.2.5)."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER_NUMBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6


class Npi(IntEnum):
    """Numbering plan indicator (SMPP 3.4 section 5.2.6)."""

    UNKNOWN = 0
    ISDN = 1  # E.163 / E.164
    DATA = 3  # X.121
    TELEX = 4  # F.69
    LAND_MOBILE = 6  # E.212
    NATIONAL = 8
    PRIVATE = 9
    ERMES = 10
    INTERNET = 14  # IP
    WAP = 18  # WAP client id


class EsmClass:
    """esm_class bits (SMPP 3.4 section 5.2.12). Masks first, then the values under each mask."""

    MODE_MASK = 0x03  # bits 1-0: messaging mode
    MODE_DEFAULT = 0x00
    MODE_DATAGRAM = 0x01
    MODE_FORWARD = 0x02  # transaction mode
    MODE_STORE_AND_FORWARD = 0x03

    TYPE_MASK = 0x3C  # bits 5-2: message type
    TYPE_DEFAULT = 0x00
    TYPE_DELIVERY_RECEIPT = 0x04  # SMSC delivery receipt (deliver_sm)
    TYPE_DELIVERY_ACK = 0x08  # SME delivery acknowledgement
    TYPE_MANUAL_ACK = 0x10  # SME manual/user acknowledgement
    TYPE_CONVERSATION_ABORT = 0x18  # Korean CDMA
    TYPE_INTERMEDIATE_NOTIFICATION = 0x20

    UDHI = 0x40  # bit 6: short_message starts with a user data header
    REPLY_PATH = 0x80  # bit 7


class RegisteredDelivery:
    """registered_delivery bits (SMPP 3.4 section 5.2.17)."""

    RECEIPT_MASK = 0x03  # bits 1-0: SMSC delivery receipt
    RECEIPT_NONE = 0x00
    RECEIPT_FINAL = 0x01  # on final outcome, success or failure
    RECEIPT_FAILURE = 0x02  # on failure only

    SME_ACK_MASK = 0x0C  # bits 3-2: SME originated acknowledgement
    SME_ACK_DELIVERY = 0x04
    SME_ACK_MANUAL = 0x08
    SME_ACK_BOTH = 0x0C

    INTERMEDIATE_NOTIFICATION = 0x10  # bit 4
