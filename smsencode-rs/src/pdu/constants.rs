//! SMPP 3.4 numbers this codec needs; the same values as `engine/smpp/constants.py`
//! (the differential tests would catch a drift).

/// command_length, command_id, command_status, sequence_number: four 32-bit integers.
pub const HEADER_LENGTH: usize = 16;

/// The largest command_length accepted. A submit_multi with 254 destinations, a full
/// short_message and a full message_payload TLV is about 72,000 octets; doubling that
/// leaves room for other TLVs and vendor extensions. Anything larger is a peer out of
/// sync (or hostile), and refusing it bounds what one connection can make us buffer.
/// Same value and reason as `MAX_COMMAND_LENGTH` in engine/smpp/constants.py.
pub const MAX_COMMAND_LENGTH: u32 = 0x20000;

/// sm_length is one octet and SMPP 3.4 (5.2.21) caps short_message at 254 octets.
pub const MAX_SHORT_MESSAGE_LENGTH: usize = 254;

/// The TLV length field is two octets.
pub const MAX_TLV_VALUE_LENGTH: usize = 0xFFFF;

/// A response's command_id is its request's with the top bit set (5.1.2.1).
pub const RESPONSE_BIT: u32 = 0x8000_0000;

/// command_id values (SMPP 3.4 section 5.1.2.1).
pub mod command_id {
    pub const GENERIC_NACK: u32 = 0x8000_0000;
    pub const BIND_RECEIVER: u32 = 0x0000_0001;
    pub const BIND_RECEIVER_RESP: u32 = 0x8000_0001;
    pub const BIND_TRANSMITTER: u32 = 0x0000_0002;
    pub const BIND_TRANSMITTER_RESP: u32 = 0x8000_0002;
    pub const QUERY_SM: u32 = 0x0000_0003;
    pub const QUERY_SM_RESP: u32 = 0x8000_0003;
    pub const SUBMIT_SM: u32 = 0x0000_0004;
    pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;
    pub const DELIVER_SM: u32 = 0x0000_0005;
    pub const DELIVER_SM_RESP: u32 = 0x8000_0005;
    pub const UNBIND: u32 = 0x0000_0006;
    pub const UNBIND_RESP: u32 = 0x8000_0006;
    pub const REPLACE_SM: u32 = 0x0000_0007;
    pub const REPLACE_SM_RESP: u32 = 0x8000_0007;
    pub const CANCEL_SM: u32 = 0x0000_0008;
    pub const CANCEL_SM_RESP: u32 = 0x8000_0008;
    pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
    pub const BIND_TRANSCEIVER_RESP: u32 = 0x8000_0009;
    pub const OUTBIND: u32 = 0x0000_000B;
    pub const ENQUIRE_LINK: u32 = 0x0000_0015;
    pub const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
    pub const SUBMIT_MULTI: u32 = 0x0000_0021;
    pub const SUBMIT_MULTI_RESP: u32 = 0x8000_0021;
    pub const ALERT_NOTIFICATION: u32 = 0x0000_0102;
    pub const DATA_SM: u32 = 0x0000_0103;
    pub const DATA_SM_RESP: u32 = 0x8000_0103;

    /// Every command_id of SMPP 3.4: a frame with another one is ESME_RINVCMDID.
    pub const ALL: [u32; 27] = [
        GENERIC_NACK, BIND_RECEIVER, BIND_RECEIVER_RESP, BIND_TRANSMITTER, BIND_TRANSMITTER_RESP,
        QUERY_SM, QUERY_SM_RESP, SUBMIT_SM, SUBMIT_SM_RESP, DELIVER_SM, DELIVER_SM_RESP, UNBIND,
        UNBIND_RESP, REPLACE_SM, REPLACE_SM_RESP, CANCEL_SM, CANCEL_SM_RESP, BIND_TRANSCEIVER,
        BIND_TRANSCEIVER_RESP, OUTBIND, ENQUIRE_LINK, ENQUIRE_LINK_RESP, SUBMIT_MULTI,
        SUBMIT_MULTI_RESP, ALERT_NOTIFICATION, DATA_SM, DATA_SM_RESP,
    ];

    pub fn is_known(id: u32) -> bool {
        ALL.contains(&id)
    }
}

/// command_status values used by the codec (SMPP 3.4 section 5.1.3).
pub mod status {
    pub const ESME_ROK: u32 = 0x00;
    pub const ESME_RINVMSGLEN: u32 = 0x01;
    pub const ESME_RINVCMDLEN: u32 = 0x02;
    pub const ESME_RINVCMDID: u32 = 0x03;
    pub const ESME_RSYSERR: u32 = 0x08;
    pub const ESME_RINVSRCADR: u32 = 0x0A;
    pub const ESME_RINVDSTADR: u32 = 0x0B;
    pub const ESME_RINVMSGID: u32 = 0x0C;
    pub const ESME_RINVSERTYP: u32 = 0x15;
    pub const ESME_RINVSCHED: u32 = 0x61;
    pub const ESME_RINVEXPIRY: u32 = 0x62;
    pub const ESME_RINVOPTPARSTREAM: u32 = 0xC0;
    pub const ESME_RINVPARLEN: u32 = 0xC2;
}
