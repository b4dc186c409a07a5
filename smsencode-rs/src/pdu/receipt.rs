//! The common delivery receipt, read in one pass: the SMPP 3.4 appendix B text in
//! exactly its standard layout, and the receipt TLVs.
//!
//! This is a fast lane, not the parser: `engine/smpp/receipts.py` is the reference and
//! reads every variant SMSCs send (any layout, UCS-2, message_payload, bad TLVs).
//! [`parse_standard`] answers only for the plain case and returns `None` for anything
//! else, so that the caller falls back to the reference; where it answers, its fields
//! are the reference's, octet for octet (tests/native/test_receipt_native.py).
//!
//! The plain case: no message_payload TLV, the text before `text:` is printable ASCII
//! (so the reference's `\S` and `\d` are the ASCII classes), keys in any case, one space
//! between fields, a receipted_message_id TLV (if any) of printable ASCII, a
//! message_state TLV (if any) of one octet.

use super::decode::Tlv;

pub const TAG_RECEIPTED_MESSAGE_ID: u16 = 0x001E;
pub const TAG_NETWORK_ERROR_CODE: u16 = 0x0423;
pub const TAG_MESSAGE_PAYLOAD: u16 = 0x0424;
pub const TAG_MESSAGE_STATE: u16 = 0x0427;

/// The receipt's fields as the reference gives them. Octet slices of the input; the
/// text is Latin-1 (every octet one character).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardReceipt<'a> {
    pub message_id: &'a [u8],
    pub state: &'static str,
    pub message_state: Option<u8>,
    pub network_error_code: Option<(u8, u16)>,
    pub id: &'a [u8],
    pub sub: &'a [u8],
    pub dlvrd: &'a [u8],
    pub submit_date: &'a [u8],
    pub done_date: &'a [u8],
    pub stat: &'a [u8],
    pub err: &'a [u8],
    pub text: &'a [u8],
}

/// SMPP 3.4 5.2.28 message_state values and the reference's vocabulary.
fn state_of_message_state(v: u8) -> &'static str {
    match v {
        1 => "enroute",
        2 => "delivered",
        3 => "expired",
        4 => "deleted",
        5 => "undeliverable",
        6 => "accepted",
        7 => "unknown",
        8 => "rejected",
        _ => "unknown",
    }
}

/// `state_from_stat`: the stat word matched by prefix, in the reference's order.
fn state_of_stat(stat: &[u8]) -> &'static str {
    const PREFIXES: [(&[u8], &str); 10] = [
        (b"UNDELIV", "undeliverable"),
        (b"UNDELIVERABLE", "undeliverable"),
        (b"FAIL", "undeliverable"),
        (b"DELIV", "delivered"),
        (b"EXPIR", "expired"),
        (b"DELET", "deleted"),
        (b"ACCEPT", "accepted"),
        (b"REJECT", "rejected"),
        (b"ENROUT", "enroute"),
        (b"UNKNOWN", "unknown"),
    ];
    for (p, state) in PREFIXES {
        if stat.len() >= p.len() && stat[..p.len()].eq_ignore_ascii_case(p) {
            return state;
        }
    }
    "unknown"
}

/// `key` (lower case, ASCII) at the start of `s`, any case; returns the rest.
fn key<'a>(s: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    if s.len() >= key.len() && s[..key.len()].eq_ignore_ascii_case(key) {
        Some(&s[key.len()..])
    } else {
        None
    }
}

/// A run of non-space octets (at least one) and the rest, which starts with the space.
fn word(s: &[u8], digits: bool) -> Option<(&[u8], &[u8])> {
    let end = s.iter().position(|&b| b == b' ').unwrap_or(s.len());
    let w = &s[..end];
    if w.is_empty() || (digits && !w.iter().all(u8::is_ascii_digit)) {
        return None;
    }
    Some((w, &s[end..]))
}

/// The standard text's eight fields, or None when it is not exactly that layout.
fn standard_text(t: &[u8]) -> Option<[&[u8]; 8]> {
    // Printable ASCII before "text:" (the reference's classes are Unicode ones; on
    // these octets they are the ASCII ones). Found by the layout itself below.
    let s = key(t, b"id:")?;
    let (id, s) = word(s, false)?;
    let s = key(s, b" sub:")?;
    let (sub, s) = word(s, false)?;
    let s = key(s, b" dlvrd:")?;
    let (dlvrd, s) = word(s, false)?;
    let s = key(s, b" submit date:")?;
    let (submit_date, s) = word(s, true)?;
    let s = key(s, b" done date:")?;
    let (done_date, s) = word(s, true)?;
    let s = key(s, b" stat:")?;
    let (stat, s) = word(s, false)?;
    let s = key(s, b" err:")?;
    let (err, s) = word(s, false)?;
    let text = key(s, b" text:")?;
    let head = &t[..t.len() - text.len()];
    if !head.iter().all(|&b| (0x20..0x7F).contains(&b)) {
        return None;
    }
    Some([id, sub, dlvrd, submit_date, done_date, stat, err, text])
}

/// The receipt in `short_message` and `tlvs` when it is the plain case, else None.
pub fn parse_standard<'a>(short_message: &'a [u8], tlvs: &[Tlv<'a>]) -> Option<StandardReceipt<'a>> {
    let (mut rid, mut mstate, mut nec) = (None, None, None);
    for t in tlvs {
        match t.tag {
            TAG_RECEIPTED_MESSAGE_ID if rid.is_none() => rid = Some(t.value),
            TAG_MESSAGE_STATE if mstate.is_none() => mstate = Some(t.value),
            TAG_NETWORK_ERROR_CODE if nec.is_none() => nec = Some(t.value),
            TAG_MESSAGE_PAYLOAD => return None,
            _ => {}
        }
    }
    let [id, sub, dlvrd, submit_date, done_date, stat, err, text] = standard_text(short_message)?;
    // The TLV id up to its NUL; it wins over the text's when not empty.
    let tlv_id = rid.map(|v| &v[..v.iter().position(|&b| b == 0).unwrap_or(v.len())]);
    let message_id = match tlv_id {
        Some(v) if !v.is_empty() => {
            if !v.iter().all(|&b| (0x21..0x7F).contains(&b)) {
                return None; // the reference strips Unicode spaces: let it
            }
            v
        }
        _ => id,
    };
    let message_state = match mstate {
        None => None,
        Some([v]) => Some(*v),
        Some(_) => return None, // a wrong length is the reference's error to raise
    };
    let state = match message_state {
        Some(v) => state_of_message_state(v),
        None => state_of_stat(stat),
    };
    let network_error_code = match nec {
        Some(&[t, hi, lo]) => Some((t, u16::from_be_bytes([hi, lo]))),
        _ => None,
    };
    Some(StandardReceipt {
        message_id,
        state,
        message_state,
        network_error_code,
        id,
        sub,
        dlvrd,
        submit_date,
        done_date,
        stat,
        err,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &[u8] = b"id:0000a1b2 sub:001 dlvrd:001 submit date:2611220705 done date:2611220706 stat:DELIVRD err:000 text:Hi: there";

    #[test]
    fn standard_text_with_tlvs() {
        let tlvs = [
            Tlv { tag: TAG_RECEIPTED_MESSAGE_ID, value: b"A1B2\0" },
            Tlv { tag: TAG_MESSAGE_STATE, value: &[5] },
            Tlv { tag: TAG_NETWORK_ERROR_CODE, value: &[3, 0, 12] },
        ];
        let r = parse_standard(TEXT, &tlvs).unwrap();
        assert_eq!(r.message_id, b"A1B2");
        assert_eq!(r.state, "undeliverable");
        assert_eq!(r.message_state, Some(5));
        assert_eq!(r.network_error_code, Some((3, 12)));
        assert_eq!(r.id, b"0000a1b2");
        assert_eq!(r.done_date, b"2611220706");
        assert_eq!(r.stat, b"DELIVRD");
        assert_eq!(r.text, b"Hi: there");
    }

    #[test]
    fn text_only_any_case() {
        let t = b"ID:7 SUB:1 DLVRD:1 SUBMIT DATE:1 DONE DATE:2 STAT:undeliv ERR:1 TEXT:";
        let r = parse_standard(t, &[]).unwrap();
        assert_eq!(r.message_id, b"7");
        assert_eq!(r.state, "undeliverable");
        assert_eq!(r.text, b"");
    }

    #[test]
    fn anything_else_falls_back() {
        let payload = [Tlv { tag: TAG_MESSAGE_PAYLOAD, value: b"x" }];
        assert!(parse_standard(TEXT, &payload).is_none());
        let bad_state = [Tlv { tag: TAG_MESSAGE_STATE, value: &[0, 2] }];
        assert!(parse_standard(TEXT, &bad_state).is_none());
        assert!(parse_standard(b"id:1 stat:DELIVRD", &[]).is_none());
        assert!(parse_standard(b"id:1  sub:001 dlvrd:001 submit date:1 done date:2 stat:X err:0 text:", &[]).is_none());
        assert!(parse_standard(b"id:\xe91 sub:001 dlvrd:001 submit date:1 done date:2 stat:X err:0 text:", &[]).is_none());
        assert!(parse_standard(b"id:1 sub:001 dlvrd:001 submit date:1a done date:2 stat:X err:0 text:", &[]).is_none());
        let spaced_id = [Tlv { tag: TAG_RECEIPTED_MESSAGE_ID, value: b" 12\0" }];
        assert!(parse_standard(TEXT, &spaced_id).is_none());
    }

    #[test]
    fn empty_tlv_id_takes_the_text_id() {
        let tlvs = [Tlv { tag: TAG_RECEIPTED_MESSAGE_ID, value: b"\0" }];
        assert_eq!(parse_standard(TEXT, &tlvs).unwrap().message_id, b"0000a1b2");
    }
}
