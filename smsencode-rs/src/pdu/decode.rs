//! Decoding one whole frame: the header, and the body of the PDUs the hot path
//! receives (submit_sm_resp, deliver_sm, enquire_link and the other header-only
//! PDUs, plus submit_sm / deliver_sm_resp / data_sm_resp for the simulator's side).
//! Any other SMPP 3.4 PDU comes back as `Body::Other` for the caller's full codec.
//!
//! The checks, their order and their errors are those of `engine/smpp/pdu.py`
//! (`decode` / `_decode_body`): nothing here may accept what Python refuses or
//! refuse what Python accepts. Decoded values borrow from the frame.

use super::build::{CStrField, DESTINATION_ADDR, MESSAGE_ID, SCHEDULE_DELIVERY_TIME, SERVICE_TYPE, SOURCE_ADDR, VALIDITY_PERIOD};
use super::constants::{command_id as id, HEADER_LENGTH, MAX_SHORT_MESSAGE_LENGTH, RESPONSE_BIT};
use super::error::{ErrorKind, PduError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub command_length: u32,
    pub command_id: u32,
    pub command_status: u32,
    pub sequence_number: u32,
}

impl Header {
    /// The four header integers of a buffer holding at least 16 octets.
    pub fn read(buf: &[u8]) -> Header {
        let u = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        Header { command_length: u(0), command_id: u(4), command_status: u(8), sequence_number: u(12) }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u16,
    pub value: &'a [u8],
}

/// The body of submit_sm and deliver_sm. C-strings are raw octets (Latin-1), NUL excluded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmBody<'a> {
    pub service_type: &'a [u8],
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: &'a [u8],
    pub dest_addr_ton: u8,
    pub dest_addr_npi: u8,
    pub destination_addr: &'a [u8],
    pub esm_class: u8,
    pub protocol_id: u8,
    pub priority_flag: u8,
    pub schedule_delivery_time: &'a [u8],
    pub validity_period: &'a [u8],
    pub registered_delivery: u8,
    pub replace_if_present_flag: u8,
    pub data_coding: u8,
    pub sm_default_msg_id: u8,
    pub short_message: &'a [u8],
    pub tlvs: Vec<Tlv<'a>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// A header-only PDU (enquire_link, generic_nack, unbind...).
    Empty,
    /// submit_sm_resp, deliver_sm_resp, data_sm_resp: message_id and TLVs.
    MessageId { message_id: &'a [u8], tlvs: Vec<Tlv<'a>> },
    /// submit_sm, deliver_sm.
    Sm(SmBody<'a>),
    /// A valid SMPP 3.4 command_id whose body this module does not decode.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub header: Header,
    pub body: Body<'a>,
}

/// How a command_id's body is laid out here, and its Python class name (errors name it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Empty,
    MessageId,
    Sm,
    Other,
}

pub fn layout(command_id: u32) -> Option<(Layout, &'static str)> {
    Some(match command_id {
        id::GENERIC_NACK => (Layout::Empty, "GenericNack"),
        id::UNBIND => (Layout::Empty, "Unbind"),
        id::UNBIND_RESP => (Layout::Empty, "UnbindResp"),
        id::ENQUIRE_LINK => (Layout::Empty, "EnquireLink"),
        id::ENQUIRE_LINK_RESP => (Layout::Empty, "EnquireLinkResp"),
        id::CANCEL_SM_RESP => (Layout::Empty, "CancelSmResp"),
        id::REPLACE_SM_RESP => (Layout::Empty, "ReplaceSmResp"),
        id::SUBMIT_SM_RESP => (Layout::MessageId, "SubmitSmResp"),
        id::DELIVER_SM_RESP => (Layout::MessageId, "DeliverSmResp"),
        id::DATA_SM_RESP => (Layout::MessageId, "DataSmResp"),
        id::SUBMIT_SM => (Layout::Sm, "SubmitSm"),
        id::DELIVER_SM => (Layout::Sm, "DeliverSm"),
        other if id::is_known(other) => (Layout::Other, ""),
        _ => return None,
    })
}

/// Exactly one whole PDU (`frame.len()` must equal its command_length).
pub fn decode(frame: &[u8]) -> Result<Decoded<'_>, PduError> {
    let n = frame.len();
    if n < HEADER_LENGTH {
        return Err(PduError::new(ErrorKind::FrameTooShort { actual: n }));
    }
    let header = Header::read(frame);
    let (cid, seq) = (header.command_id, header.sequence_number);
    if header.command_length as usize != n {
        return Err(PduError::at(ErrorKind::LengthMismatch { declared: header.command_length, actual: n }, cid, seq));
    }
    let (layout, pdu) = layout(cid).ok_or_else(|| PduError::at(ErrorKind::UnknownCommandId { id: cid }, cid, seq))?;
    let mut r = Reader { buf: frame, pos: HEADER_LENGTH, pdu, cid, seq };
    let body = match layout {
        Layout::Other => Body::Other,
        Layout::Empty => {
            if n > HEADER_LENGTH {
                return Err(r.err(ErrorKind::TrailingOctets { pdu, count: n - HEADER_LENGTH }));
            }
            Body::Empty
        }
        Layout::MessageId => {
            // A response whose body is entirely absent (error responses, and some
            // SMSCs on success) decodes with its defaults.
            if n == HEADER_LENGTH && cid & RESPONSE_BIT != 0 {
                Body::MessageId { message_id: b"", tlvs: Vec::new() }
            } else {
                let message_id = r.cstr(MESSAGE_ID)?;
                let tlvs = r.tlvs()?;
                Body::MessageId { message_id, tlvs }
            }
        }
        Layout::Sm => Body::Sm(r.sm_body()?),
    };
    Ok(Decoded { header, body })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    pdu: &'static str,
    cid: u32,
    seq: u32,
}

impl<'a> Reader<'a> {
    fn err(&self, kind: ErrorKind) -> PduError {
        PduError::at(kind, self.cid, self.seq)
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn cstr(&mut self, f: CStrField) -> Result<&'a [u8], PduError> {
        let end = self.buf.len();
        let limit = self.pos + f.size;
        let window = &self.buf[self.pos..limit.min(end)];
        match window.iter().position(|&b| b == 0) {
            Some(nul) => {
                let s = &window[..nul];
                self.pos += nul + 1;
                Ok(s)
            }
            None if limit > end => {
                Err(self.err(ErrorKind::CStrTruncated { pdu: self.pdu, field: f.name, remaining: end - self.pos }))
            }
            None => Err(self.err(ErrorKind::CStrNoNul { pdu: self.pdu, field: f.name, max: f.size, status: f.status })),
        }
    }

    /// A run of one-octet fields; a short body is reported against the run's first field.
    fn octets<const N: usize>(&mut self, first: &'static str) -> Result<[u8; N], PduError> {
        if self.remaining() < N {
            return Err(self.err(ErrorKind::Truncated { pdu: self.pdu, field: first, remaining: self.remaining() }));
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        Ok(out)
    }

    fn short_message(&mut self) -> Result<&'a [u8], PduError> {
        if self.remaining() == 0 {
            return Err(self.err(ErrorKind::Truncated { pdu: self.pdu, field: "sm_length", remaining: 0 }));
        }
        let sm_length = self.buf[self.pos] as usize;
        self.pos += 1;
        if sm_length > MAX_SHORT_MESSAGE_LENGTH {
            return Err(self.err(ErrorKind::SmLengthTooLarge { pdu: self.pdu, sm_length }));
        }
        if sm_length > self.remaining() {
            return Err(self.err(ErrorKind::SmLengthPastEnd { pdu: self.pdu, sm_length, remaining: self.remaining() }));
        }
        let sm = &self.buf[self.pos..self.pos + sm_length];
        self.pos += sm_length;
        Ok(sm)
    }

    fn tlvs(&mut self) -> Result<Vec<Tlv<'a>>, PduError> {
        let mut out = Vec::new();
        let end = self.buf.len();
        while self.pos < end {
            let left = end - self.pos;
            if left < 4 {
                return Err(self.err(ErrorKind::TlvHeaderTruncated { pdu: self.pdu, remaining: left }));
            }
            let b = &self.buf[self.pos..];
            let tag = u16::from_be_bytes([b[0], b[1]]);
            let length = u16::from_be_bytes([b[2], b[3]]) as usize;
            self.pos += 4;
            if length > end - self.pos {
                return Err(self.err(ErrorKind::TlvPastEnd { pdu: self.pdu, tag, length, remaining: end - self.pos }));
            }
            out.push(Tlv { tag, value: &self.buf[self.pos..self.pos + length] });
            self.pos += length;
        }
        Ok(out)
    }

    fn sm_body(&mut self) -> Result<SmBody<'a>, PduError> {
        let service_type = self.cstr(SERVICE_TYPE)?;
        let [source_addr_ton, source_addr_npi] = self.octets::<2>("source_addr_ton")?;
        let source_addr = self.cstr(SOURCE_ADDR)?;
        let [dest_addr_ton, dest_addr_npi] = self.octets::<2>("dest_addr_ton")?;
        let destination_addr = self.cstr(DESTINATION_ADDR)?;
        let [esm_class, protocol_id, priority_flag] = self.octets::<3>("esm_class")?;
        let schedule_delivery_time = self.cstr(SCHEDULE_DELIVERY_TIME)?;
        let validity_period = self.cstr(VALIDITY_PERIOD)?;
        let [registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id] =
            self.octets::<4>("registered_delivery")?;
        let short_message = self.short_message()?;
        let tlvs = self.tlvs()?;
        Ok(SmBody {
            service_type,
            source_addr_ton,
            source_addr_npi,
            source_addr,
            dest_addr_ton,
            dest_addr_npi,
            destination_addr,
            esm_class,
            protocol_id,
            priority_flag,
            schedule_delivery_time,
            validity_period,
            registered_delivery,
            replace_if_present_flag,
            data_coding,
            sm_default_msg_id,
            short_message,
            tlvs,
        })
    }
}
