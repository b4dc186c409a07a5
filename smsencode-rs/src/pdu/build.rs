//! Building submit_sm: field checks (in the order the Python codec makes them, so
//! that the first error reported is the same) and the writer, which computes the
//! command_length first and writes the PDU into one buffer with one reservation.

use std::borrow::Cow;

use super::constants::{command_id, status, HEADER_LENGTH, MAX_COMMAND_LENGTH, MAX_SHORT_MESSAGE_LENGTH, MAX_TLV_VALUE_LENGTH};
use super::error::{ErrorKind, PduError};

pub const SUBMIT_SM: &str = "SubmitSm";

/// A C-octet string field of submit_sm: name, maximum size with the NUL, status on error.
#[derive(Clone, Copy, Debug)]
pub struct CStrField {
    pub name: &'static str,
    pub size: usize,
    pub status: u32,
}

pub const SERVICE_TYPE: CStrField = CStrField { name: "service_type", size: 6, status: status::ESME_RINVSERTYP };
pub const SOURCE_ADDR: CStrField = CStrField { name: "source_addr", size: 21, status: status::ESME_RINVSRCADR };
pub const DESTINATION_ADDR: CStrField = CStrField { name: "destination_addr", size: 21, status: status::ESME_RINVDSTADR };
pub const SCHEDULE_DELIVERY_TIME: CStrField =
    CStrField { name: "schedule_delivery_time", size: 17, status: status::ESME_RINVSCHED };
pub const VALIDITY_PERIOD: CStrField = CStrField { name: "validity_period", size: 17, status: status::ESME_RINVEXPIRY };
pub const MESSAGE_ID: CStrField = CStrField { name: "message_id", size: 65, status: status::ESME_RINVMSGID };

/// A text field as Latin-1 octets, checked against its C-octet string size: the
/// first character above U+00FF, then the length, then an embedded NUL, as Python
/// checks them. ASCII text (the usual case) is borrowed, not copied.
pub fn latin1_cstr<'a>(pdu: &'static str, f: CStrField, value: &'a str) -> Result<Cow<'a, [u8]>, PduError> {
    let cid = command_id_of(pdu);
    let octets: Cow<'a, [u8]> = if value.is_ascii() {
        Cow::Borrowed(value.as_bytes())
    } else {
        let mut out = Vec::with_capacity(value.len());
        for (index, ch) in value.chars().enumerate() {
            let cp = ch as u32;
            if cp > 0xFF {
                return Err(PduError::field(
                    ErrorKind::NotLatin1 { pdu, field: f.name, ch, index, status: f.status },
                    cid,
                ));
            }
            out.push(cp as u8);
        }
        Cow::Owned(out)
    };
    if octets.len() >= f.size {
        return Err(PduError::field(
            ErrorKind::CStrTooLong { pdu, field: f.name, len: octets.len(), size: f.size, status: f.status },
            cid,
        ));
    }
    if octets.contains(&0) {
        return Err(PduError::field(ErrorKind::CStrHasNul { pdu, field: f.name, status: f.status }, cid));
    }
    Ok(octets)
}

/// An integer field of one octet; `value` is whatever integer the caller had
/// (`text` renders it when it is too large even for i128).
pub fn u8_field(pdu: &'static str, field: &'static str, value: i128, text: impl FnOnce() -> String) -> Result<u8, PduError> {
    u8::try_from(value).map_err(|_| {
        PduError::field(ErrorKind::IntRange { pdu, field, value: text(), octets: 1 }, command_id_of(pdu))
    })
}

pub fn short_message(pdu: &'static str, value: &[u8]) -> Result<(), PduError> {
    if value.len() > MAX_SHORT_MESSAGE_LENGTH {
        return Err(PduError::field(ErrorKind::SmTooLong { pdu, len: value.len() }, command_id_of(pdu)));
    }
    Ok(())
}

pub fn tlv_value(pdu: &'static str, index: usize, tag: u16, value: &[u8]) -> Result<(), PduError> {
    if value.len() > MAX_TLV_VALUE_LENGTH {
        return Err(PduError::field(
            ErrorKind::TlvValueTooLong { pdu, index, tag, len: value.len() },
            command_id_of(pdu),
        ));
    }
    Ok(())
}

fn command_id_of(pdu: &'static str) -> u32 {
    match pdu {
        "DeliverSm" => command_id::DELIVER_SM,
        _ => command_id::SUBMIT_SM,
    }
}

/// One submit_sm (or deliver_sm: same body) whose fields have passed their checks.
#[derive(Clone, Debug, Default)]
pub struct SmPdu<'a> {
    pub command_id: u32,
    pub command_status: u32,
    pub sequence_number: u32,
    pub service_type: Cow<'a, [u8]>,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: Cow<'a, [u8]>,
    pub dest_addr_ton: u8,
    pub dest_addr_npi: u8,
    pub destination_addr: Cow<'a, [u8]>,
    pub esm_class: u8,
    pub protocol_id: u8,
    pub priority_flag: u8,
    pub schedule_delivery_time: Cow<'a, [u8]>,
    pub validity_period: Cow<'a, [u8]>,
    pub registered_delivery: u8,
    pub replace_if_present_flag: u8,
    pub data_coding: u8,
    pub sm_default_msg_id: u8,
    pub short_message: &'a [u8],
    pub tlvs: Vec<(u16, &'a [u8])>,
}

impl<'a> SmPdu<'a> {
    pub fn submit_sm() -> Self {
        SmPdu { command_id: command_id::SUBMIT_SM, ..Default::default() }
    }

    /// command_length: header, five C-strings with their NULs, eleven one-octet
    /// fields, sm_length, short_message and the TLVs.
    pub fn encoded_len(&self) -> usize {
        HEADER_LENGTH
            + self.service_type.len()
            + self.source_addr.len()
            + self.destination_addr.len()
            + self.schedule_delivery_time.len()
            + self.validity_period.len()
            + 5
            + 11
            + 1
            + self.short_message.len()
            + self.tlvs.iter().map(|(_, v)| 4 + v.len()).sum::<usize>()
    }

    /// Appends the PDU to `out`: the length is computed and checked first, then the
    /// PDU is written with one reservation. `out` is unchanged on error.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), PduError> {
        let pdu = if self.command_id == command_id::DELIVER_SM { "DeliverSm" } else { SUBMIT_SM };
        // The binding checks these in Python's order before it gets here; checked again
        // so that a Rust caller can never write a length field that lies.
        short_message(pdu, self.short_message)?;
        for (index, (tag, value)) in self.tlvs.iter().enumerate() {
            tlv_value(pdu, index, *tag, value)?;
        }
        let len = self.encoded_len();
        if len > MAX_COMMAND_LENGTH as usize {
            return Err(PduError::field(ErrorKind::CommandLengthOver { pdu, len, max: MAX_COMMAND_LENGTH }, self.command_id));
        }
        out.reserve(len);
        let start = out.len();
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend_from_slice(&self.command_id.to_be_bytes());
        out.extend_from_slice(&self.command_status.to_be_bytes());
        out.extend_from_slice(&self.sequence_number.to_be_bytes());
        cstr(out, &self.service_type);
        out.extend_from_slice(&[self.source_addr_ton, self.source_addr_npi]);
        cstr(out, &self.source_addr);
        out.extend_from_slice(&[self.dest_addr_ton, self.dest_addr_npi]);
        cstr(out, &self.destination_addr);
        out.extend_from_slice(&[self.esm_class, self.protocol_id, self.priority_flag]);
        cstr(out, &self.schedule_delivery_time);
        cstr(out, &self.validity_period);
        out.extend_from_slice(&[
            self.registered_delivery,
            self.replace_if_present_flag,
            self.data_coding,
            self.sm_default_msg_id,
            self.short_message.len() as u8,
        ]);
        out.extend_from_slice(self.short_message);
        for (tag, value) in &self.tlvs {
            out.extend_from_slice(&tag.to_be_bytes());
            out.extend_from_slice(&(value.len() as u16).to_be_bytes());
            out.extend_from_slice(value);
        }
        debug_assert_eq!(out.len() - start, len);
        Ok(())
    }

    pub fn encode(&self) -> Result<Vec<u8>, PduError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }
}

fn cstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
    out.push(0);
}

impl<'a> SmPdu<'a> {
    /// The submit_sm / deliver_sm a decoded frame holds, ready to re-encode (it gives
    /// back the very frame: the fuzz target and the unit tests hold it to that).
    pub fn from_decoded(d: &super::decode::Decoded<'a>) -> Option<SmPdu<'a>> {
        let super::decode::Body::Sm(b) = &d.body else { return None };
        Some(SmPdu {
            command_id: d.header.command_id,
            command_status: d.header.command_status,
            sequence_number: d.header.sequence_number,
            service_type: Cow::Borrowed(b.service_type),
            source_addr_ton: b.source_addr_ton,
            source_addr_npi: b.source_addr_npi,
            source_addr: Cow::Borrowed(b.source_addr),
            dest_addr_ton: b.dest_addr_ton,
            dest_addr_npi: b.dest_addr_npi,
            destination_addr: Cow::Borrowed(b.destination_addr),
            esm_class: b.esm_class,
            protocol_id: b.protocol_id,
            priority_flag: b.priority_flag,
            schedule_delivery_time: Cow::Borrowed(b.schedule_delivery_time),
            validity_period: Cow::Borrowed(b.validity_period),
            registered_delivery: b.registered_delivery,
            replace_if_present_flag: b.replace_if_present_flag,
            data_coding: b.data_coding,
            sm_default_msg_id: b.sm_default_msg_id,
            short_message: b.short_message,
            tlvs: b.tlvs.iter().map(|t| (t.tag, t.value)).collect(),
        })
    }
}
