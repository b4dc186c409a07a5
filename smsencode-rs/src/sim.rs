//! The SMSC simulator's no-fault lane, plain Rust: what `engine/simulator/server.py`
//! does per submit_sm, deliver_sm receipt and deliver_sm_resp when no fault is
//! configured, so that a read's worth of them is one call from Python.
//!
//! The Python general path (`_Conn._data_faults`, `_submit`, `_receipt_item`,
//! `_receipt_body`) is the reference: the same message ids, the same
//! submit_sm_resp and the same receipt octets; tests/native/test_sim_lane.py and
//! tests/simulator hold the lane to it byte for byte. Python objects (receipt
//! items, the unacknowledged-receipt dict) are handled in `python/sim.rs`.

use crate::pdu::constants::{command_id, MAX_SHORT_MESSAGE_LENGTH};
use crate::pdu::decode::{decode, Body, Header};

/// message_payload: a receipt quotes it instead of short_message when present.
const TAG_MESSAGE_PAYLOAD: u16 = 0x0424;
/// receipted_message_id and message_state, the two TLVs of every receipt.
const TAG_RECEIPTED_MESSAGE_ID: u16 = 0x001E;
const TAG_MESSAGE_STATE: u16 = 0x0427;
/// esm_class of a delivery receipt (SMSC delivery receipt, bits 2-5 = 0001).
const ESM_DELIVERY_RECEIPT: u8 = 0x04;
/// esm_class bit: short_message starts with a UDH (the receipt quotes what follows it).
const ESM_UDHI: u8 = 0x40;
/// How many octets of the message a receipt's `text:` quotes (SMPP 3.4 appendix B).
pub const RECEIPT_TEXT_QUOTE: usize = 20;
/// Largest sequence number; the next one is 1 (SMPP 3.4 section 3.2: 0x00000001..0x7FFFFFFF).
pub const MAX_SEQUENCE: u32 = 0x7FFF_FFFF;

/// Appends a PDU header.
pub fn push_header(out: &mut Vec<u8>, length: u32, cid: u32, status: u32, seq: u32) {
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&cid.to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
}

/// Appends message id `n` as the simulator writes it: `%08x` (hex) or `%d` (dec).
pub fn push_message_id(out: &mut Vec<u8>, n: u64, hex: bool) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    let base = if hex { 16 } else { 10 };
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(v % base) as usize];
        v /= base;
        if v == 0 {
            break;
        }
    }
    if hex {
        let width = digits.len() - i;
        for _ in width..8 {
            out.push(b'0');
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A submit_sm_resp accepting the PDU with sequence number `seq` under message id `mid`.
pub fn push_submit_sm_resp(out: &mut Vec<u8>, seq: u32, mid: &[u8]) {
    push_header(out, 17 + mid.len() as u32, command_id::SUBMIT_SM_RESP, 0, seq);
    out.extend_from_slice(mid);
    out.push(0);
}

/// The receipt text of one final state, split around the message id:
/// `prefix` + id + `middle` + quoted text (`_receipt_template`'s text template).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptText {
    pub state: u8,
    pub prefix: Vec<u8>,
    pub middle: Vec<u8>,
}

/// An address as a receipt writes it: ton, npi, the octets (NUL excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address<'a> {
    pub ton: u8,
    pub npi: u8,
    pub addr: &'a [u8],
}

/// What a receipt takes from its submit_sm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiptFields<'a> {
    /// registered_delivery & 3: 0 none, 1 always, 2 on failure only (3 is reserved:
    /// treated as "always", as the Python path does).
    pub wanted: u8,
    pub source: Address<'a>,
    pub destination: Address<'a>,
    /// The first 20 octets of the message after its UDH.
    pub text: &'a [u8],
}

/// The receipt fields of a submit_sm frame, or None when it does not decode (it is
/// accepted all the same, without a receipt, as `_receipt_item` does).
pub fn submit_receipt_fields(frame: &[u8]) -> Option<ReceiptFields<'_>> {
    let d = decode(frame).ok()?;
    let Body::Sm(b) = d.body else { return None };
    let payload = b.tlvs.iter().find(|t| t.tag == TAG_MESSAGE_PAYLOAD).map_or(b.short_message, |t| t.value);
    let text = if b.esm_class & ESM_UDHI != 0 && !payload.is_empty() {
        // A UDH length past the end leaves nothing to quote (Python slicing).
        payload.get(1 + payload[0] as usize..).unwrap_or(&[])
    } else {
        payload
    };
    Some(ReceiptFields {
        wanted: b.registered_delivery & 0x03,
        source: Address { ton: b.source_addr_ton, npi: b.source_addr_npi, addr: b.source_addr },
        destination: Address { ton: b.dest_addr_ton, npi: b.dest_addr_npi, addr: b.destination_addr },
        text: &text[..text.len().min(RECEIPT_TEXT_QUOTE)],
    })
}

fn push_address(out: &mut Vec<u8>, a: &Address<'_>) {
    out.push(a.ton);
    out.push(a.npi);
    out.extend_from_slice(a.addr);
    out.push(0);
}

/// Appends the deliver_sm body of a receipt (`_receipt_body`): from the handset (the
/// submit's destination) to the sender, esm_class 0x04, the text cut to 254 octets,
/// then receipted_message_id and message_state.
pub fn push_receipt_body(out: &mut Vec<u8>, t: &ReceiptText, f: &ReceiptFields<'_>, mid: &[u8]) {
    out.push(0); // service_type ""
    push_address(out, &f.destination);
    push_address(out, &f.source);
    // esm_class, protocol_id, priority_flag, schedule_delivery_time "", validity_period "",
    // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
    out.extend_from_slice(&[ESM_DELIVERY_RECEIPT, 0, 0, 0, 0, 0, 0, 0, 0]);
    let at = out.len();
    out.push(0); // sm_length, set below
    out.extend_from_slice(&t.prefix);
    out.extend_from_slice(mid);
    out.extend_from_slice(&t.middle);
    out.extend_from_slice(f.text);
    let sm_length = (out.len() - at - 1).min(MAX_SHORT_MESSAGE_LENGTH);
    out.truncate(at + 1 + sm_length);
    out[at] = sm_length as u8;
    out.extend_from_slice(&TAG_RECEIPTED_MESSAGE_ID.to_be_bytes());
    out.extend_from_slice(&(mid.len() as u16 + 1).to_be_bytes());
    out.extend_from_slice(mid);
    out.push(0);
    out.extend_from_slice(&TAG_MESSAGE_STATE.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.push(t.state);
}

/// Appends a receipt's deliver_sm: header with sequence number `seq`, then `body`.
pub fn push_deliver_sm(out: &mut Vec<u8>, seq: u32, body: &[u8]) {
    push_header(out, 16 + body.len() as u32, command_id::DELIVER_SM, 0, seq);
    out.extend_from_slice(body);
}

/// The sequence number after `seq` (1 after 0x7FFFFFFF), as `_Conn.next_seq`.
pub fn next_sequence(seq: u32) -> u32 {
    if seq < MAX_SEQUENCE {
        seq + 1
    } else {
        1
    }
}

/// The index `random.choices` picks for a draw `x = random() * total` over the
/// cumulative weights: `bisect_right(cum, x, 0, len - 1)`, the same comparisons.
pub fn bisect_draw(cum: &[f64], x: f64) -> usize {
    let (mut lo, mut hi) = (0, cum.len().saturating_sub(1));
    while lo < hi {
        let mid = (lo + hi) / 2;
        if x < cum[mid] {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// What the lane does with one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A submit_sm from a transmitter: accepted, its receipt built.
    Submit { seq: u32 },
    /// A deliver_sm_resp with status 0 and an empty body (or only the NUL of an empty
    /// message_id): the deliver_sm it answers is done.
    Ack { seq: u32 },
    /// Anything else: the Python path (binds, enquire_link, error statuses...).
    Other,
}

pub fn classify(frame: &[u8], can_submit: bool) -> Step {
    let h = Header::read(frame);
    match h.command_id {
        command_id::SUBMIT_SM if can_submit => Step::Submit { seq: h.sequence_number },
        command_id::DELIVER_SM_RESP
            if h.command_status == 0
                && (h.command_length == 16 || (h.command_length == 17 && frame.get(16) == Some(&0))) =>
        {
            Step::Ack { seq: h.sequence_number }
        }
        _ => Step::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mid(n: u64, hex: bool) -> String {
        let mut v = Vec::new();
        push_message_id(&mut v, n, hex);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn message_ids_are_printf_formats() {
        assert_eq!(mid(0, true), "00000000");
        assert_eq!(mid(0xabc, true), "00000abc");
        assert_eq!(mid(0xffff_ffff, true), "ffffffff");
        assert_eq!(mid(0x1_0000_0000, true), "100000000");
        assert_eq!(mid(u64::MAX, true), "ffffffffffffffff");
        assert_eq!(mid(0, false), "0");
        assert_eq!(mid(1_000_000_000_007, false), "1000000000007");
        assert_eq!(mid(u64::MAX, false), "18446744073709551615");
    }

    #[test]
    fn sequence_numbers_wrap_to_one() {
        assert_eq!(next_sequence(1), 2);
        assert_eq!(next_sequence(0x7FFF_FFFE), 0x7FFF_FFFF);
        assert_eq!(next_sequence(0x7FFF_FFFF), 1);
    }

    #[test]
    fn bisect_is_bisect_right() {
        let cum = [2.0, 3.0, 3.0, 4.0];
        let got: Vec<usize> = [0.0, 1.99, 2.0, 2.5, 3.0, 3.99, 4.0].iter().map(|&x| bisect_draw(&cum, x)).collect();
        assert_eq!(got, vec![0, 0, 1, 1, 3, 3, 3]);
        assert_eq!(bisect_draw(&[1.0], 0.5), 0);
    }

    fn submit(body: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        push_header(&mut f, 16 + body.len() as u32, command_id::SUBMIT_SM, 0, 7);
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn receipt_fields_and_body() {
        // service_type "", src 5/0 "ACME", dst 1/1 "49", esm 0x40, pid, prio, "", "",
        // rd 1, rip, dc, dmi, sm_length 9: a UDH of 3 then "abcde"
        let mut body = b"\0\x05\0ACME\0\x01\x0149\0\x40\0\0\0\0\x01\0\0\0".to_vec();
        body.push(9);
        body.extend_from_slice(b"\x02\x00\x00abcdef");
        let frame = submit(&body);
        let f = submit_receipt_fields(&frame).unwrap();
        assert_eq!(f.wanted, 1);
        assert_eq!(f.text, b"abcdef");
        assert_eq!(f.source, Address { ton: 5, npi: 0, addr: b"ACME" });
        let t = ReceiptText { state: 2, prefix: b"id:".to_vec(), middle: b" stat:DELIVRD text:".to_vec() };
        let mut out = Vec::new();
        push_receipt_body(&mut out, &t, &f, b"0000000a");
        let mut want = b"\0\x01\x0149\0\x05\0ACME\0\x04\0\0\0\0\0\0\0\0".to_vec();
        let sm = b"id:0000000a stat:DELIVRD text:abcdef";
        want.push(sm.len() as u8);
        want.extend_from_slice(sm);
        want.extend_from_slice(b"\x00\x1e\x00\x090000000a\0\x04\x27\x00\x01\x02");
        assert_eq!(out, want);
    }

    #[test]
    fn receipt_text_is_cut_to_254() {
        let f = ReceiptFields {
            wanted: 1,
            source: Address { ton: 0, npi: 0, addr: b"" },
            destination: Address { ton: 0, npi: 0, addr: b"" },
            text: b"12345678901234567890",
        };
        let t = ReceiptText { state: 5, prefix: b"id:".to_vec(), middle: vec![b'm'; 240] };
        let mut out = Vec::new();
        push_receipt_body(&mut out, &t, &f, b"123");
        // "\0" + 2 empty addresses (3 each) + 9 fixed, then sm_length
        assert_eq!(out[16], 254);
        assert_eq!(out.len(), 17 + 254 + 4 + 4 + 4 + 1);
        assert_eq!(&out[17 + 254..17 + 254 + 4], b"\x00\x1e\x00\x04");
    }

    #[test]
    fn udh_past_the_end_quotes_nothing_and_bad_frames_have_no_receipt() {
        let mut body = b"\0\0\0\0\0\0\0\x40\0\0\0\0\x01\0\0\0".to_vec();
        body.extend_from_slice(b"\x03\xc8\x01\x02");
        let frame = submit(&body);
        assert_eq!(submit_receipt_fields(&frame).unwrap().text, b"");
        assert_eq!(submit_receipt_fields(&submit(b"")), None);
        assert_eq!(submit_receipt_fields(&submit(&body[..body.len() - 1])), None);
    }

    #[test]
    fn classify_takes_only_the_plain_cases() {
        let mut ack = Vec::new();
        push_header(&mut ack, 17, command_id::DELIVER_SM_RESP, 0, 9);
        ack.push(0);
        assert_eq!(classify(&ack, false), Step::Ack { seq: 9 });
        assert_eq!(classify(&ack[..16], false), Step::Other); // torn: no message_id NUL
        ack[16] = b'x';
        assert_eq!(classify(&ack, false), Step::Other);
        let mut nack = Vec::new();
        push_header(&mut nack, 16, command_id::DELIVER_SM_RESP, 0x58, 9);
        assert_eq!(classify(&nack, true), Step::Other);
        let s = submit(b"");
        assert_eq!(classify(&s, true), Step::Submit { seq: 7 });
        assert_eq!(classify(&s, false), Step::Other);
    }
}
