//! Decoding of a short_message / message_payload: UDH parsing and the alphabets
//! named by data_coding (SMPP 3.4 §5.2.19, TS 23.038 §4 coding groups).

use super::error::DecodeError;
use super::septets::unpack;
use super::tables::{basic_table, ext_table, Language, ESC, NO};
use super::{fill_bits, IEI_CONCAT16, IEI_CONCAT8, IEI_LOCKING_SHIFT, IEI_SINGLE_SHIFT};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Udh {
    /// (ref, total, seq) of the concatenation IE (the last one when repeated, TS 23.040 §9.2.3.24).
    pub concat: Option<(u16, u8, u8)>,
    pub ref_bits: Option<u8>,
    pub locking: Option<Language>,
    pub single: Option<Language>,
    /// Every IE in order, concat and shift IEs included, unknown ones kept.
    pub elements: Vec<(u8, Vec<u8>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// None for binary data.
    pub text: Option<String>,
    /// Offset of the data after the UDH in the payload.
    pub data_offset: usize,
    pub encoding: &'static str,
    pub udh: Option<Udh>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Gsm7,
    Ascii,
    Latin1,
    Ucs2,
    Binary,
}

/// SMPP 3.4 values 0x00..0x0F, then the TS 23.038 coding groups by their alphabet bits.
fn kind_of(data_coding: u8) -> Result<Kind, DecodeError> {
    let by_alphabet_bits = |dc: u8| match (dc >> 2) & 0x03 {
        0 => Ok(Kind::Gsm7),
        1 => Ok(Kind::Binary),
        2 => Ok(Kind::Ucs2),
        _ => Err(DecodeError::UnsupportedDataCoding(dc)),
    };
    match data_coding {
        0x00 => Ok(Kind::Gsm7),
        0x01 => Ok(Kind::Ascii),
        0x02 | 0x04 => Ok(Kind::Binary),
        0x03 => Ok(Kind::Latin1),
        0x08 => Ok(Kind::Ucs2),
        0x10..=0x1F | 0x40..=0x7F => by_alphabet_bits(data_coding),
        0xF0..=0xFF => Ok(if data_coding & 0x04 != 0 { Kind::Binary } else { Kind::Gsm7 }),
        _ => Err(DecodeError::UnsupportedDataCoding(data_coding)),
    }
}

fn language(iei: u8, body: &[u8]) -> Result<Language, DecodeError> {
    if body.len() != 1 {
        return Err(DecodeError::BadIeLength { iei, len: body.len(), expected: 1 });
    }
    Language::from_id(body[0]).ok_or(DecodeError::UnsupportedLanguage { iei, id: body[0] })
}

/// Parses the UDH at the start of `payload`; returns it and its length (UDHL + 1).
pub fn parse_udh(payload: &[u8]) -> Result<(Udh, usize), DecodeError> {
    let udhl = *payload.first().ok_or(DecodeError::MissingUdh)? as usize;
    if 1 + udhl > payload.len() {
        return Err(DecodeError::UdhTooLong { udhl, available: payload.len() - 1 });
    }
    let ies = &payload[1..1 + udhl];
    let mut udh = Udh { concat: None, ref_bits: None, locking: None, single: None, elements: Vec::new() };
    let mut i = 0;
    while i < ies.len() {
        if i + 2 > ies.len() || i + 2 + ies[i + 1] as usize > ies.len() {
            return Err(DecodeError::IeTruncated { offset: i + 1 });
        }
        let iei = ies[i];
        let body = &ies[i + 2..i + 2 + ies[i + 1] as usize];
        match iei {
            IEI_CONCAT8 => {
                if body.len() != 3 {
                    return Err(DecodeError::BadIeLength { iei, len: body.len(), expected: 3 });
                }
                udh.concat = Some((body[0] as u16, body[1], body[2]));
                udh.ref_bits = Some(8);
            }
            IEI_CONCAT16 => {
                if body.len() != 4 {
                    return Err(DecodeError::BadIeLength { iei, len: body.len(), expected: 4 });
                }
                udh.concat = Some((u16::from_be_bytes([body[0], body[1]]), body[2], body[3]));
                udh.ref_bits = Some(16);
            }
            IEI_SINGLE_SHIFT => udh.single = Some(language(iei, body)?),
            IEI_LOCKING_SHIFT => {
                let lang = language(iei, body)?;
                if lang.locking().is_none() {
                    return Err(DecodeError::UnsupportedLanguage { iei, id: body[0] });
                }
                udh.locking = Some(lang);
            }
            _ => {}
        }
        udh.elements.push((iei, body.to_vec()));
        i += 2 + body.len();
    }
    Ok((udh, 1 + udhl))
}

/// Septets to text with the chosen tables. ESC + a code that the extension table
/// lacks is the basic character; ESC ESC and a trailing ESC are a space.
pub fn septets_to_text(s: &[u8], locking: Option<Language>, single: Option<Language>, out: &mut String) {
    let basic = basic_table(locking);
    let ext = ext_table(single);
    out.reserve(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == ESC {
            match s.get(i + 1) {
                None | Some(&ESC) => out.push(' '),
                Some(&d) => out.push(if ext[d as usize] != NO { ext[d as usize] } else { basic[d as usize] }),
            }
            i += 2;
        } else {
            out.push(basic[c as usize]);
            i += 1;
        }
    }
}

pub fn decode(payload: &[u8], data_coding: u8, udhi: bool, packed: bool) -> Result<Decoded, DecodeError> {
    let kind = kind_of(data_coding)?;
    let (udh, offset) = if udhi {
        let (u, len) = parse_udh(payload)?;
        (Some(u), len)
    } else {
        (None, 0)
    };
    let data = &payload[offset..];
    let (locking, single) = udh.as_ref().map_or((None, None), |u| (u.locking, u.single));
    let (text, encoding) = match kind {
        Kind::Gsm7 => {
            let mut septets = Vec::new();
            if packed {
                unpack(data, if udhi { fill_bits(offset) } else { 0 }, &mut septets);
            } else {
                if let Some(i) = data.iter().position(|&b| b >= 0x80) {
                    return Err(DecodeError::HighOctet { octet: data[i], index: offset + i, alphabet: "GSM 7-bit" });
                }
                septets.extend_from_slice(data);
            }
            let mut t = String::new();
            septets_to_text(&septets, locking, single, &mut t);
            (Some(t), "gsm7")
        }
        Kind::Ascii => {
            if let Some(i) = data.iter().position(|&b| b >= 0x80) {
                return Err(DecodeError::HighOctet { octet: data[i], index: offset + i, alphabet: "ASCII" });
            }
            (Some(data.iter().map(|&b| b as char).collect()), "ascii")
        }
        Kind::Latin1 => (Some(data.iter().map(|&b| b as char).collect()), "latin1"),
        Kind::Ucs2 => {
            let units = data.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]]));
            let mut t: String =
                char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
            if data.len() % 2 == 1 {
                t.push(char::REPLACEMENT_CHARACTER);
            }
            (Some(t), "ucs2")
        }
        Kind::Binary => (None, "binary"),
    };
    Ok(Decoded { text, data_offset: offset, encoding, udh })
}
