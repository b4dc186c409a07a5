//! Errors of the encoding core: enums carrying the numbers, converted to Python
//! exceptions in one place (src/python/encoding.rs).

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A forced encoding cannot carry code point `cp` (a char, or a lone surrogate
    /// of a Python str) at code-point `index`.
    Unencodable { cp: u32, index: usize },
    /// The message needs `actual` segments, more than `max`.
    TooManyParts { actual: usize, max: usize },
    /// `binary` given text, or a text encoding given bytes.
    WrongInputType { encoding: &'static str, expected: &'static str },
    /// An option value outside its domain (unknown name, number out of range).
    InvalidOption { option: &'static str, reason: String },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Unencodable { cp, index } => match char::from_u32(*cp) {
                Some(ch) => write!(f, "character {ch:?} (U+{cp:04X}) at index {index} cannot be encoded"),
                None => write!(f, "lone surrogate U+{cp:04X} at index {index} cannot be encoded"),
            },
            EncodeError::TooManyParts { actual, max } => {
                write!(f, "message needs {actual} parts, more than the maximum of {max}")
            }
            EncodeError::WrongInputType { encoding, expected } => {
                write!(f, "encoding={encoding:?} needs {expected}")
            }
            EncodeError::InvalidOption { option, reason } => write!(f, "{option}: {reason}"),
        }
    }
}

impl std::error::Error for EncodeError {}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// udhi set on an empty payload.
    MissingUdh,
    /// The UDHL says `udhl` octets follow, only `available` do.
    UdhTooLong { udhl: usize, available: usize },
    /// An information element header or body runs past the end of the UDH.
    IeTruncated { offset: usize },
    /// A known IE with a length its definition does not allow.
    BadIeLength { iei: u8, len: usize, expected: usize },
    /// A national language id this engine has no table for.
    UnsupportedLanguage { iei: u8, id: u8 },
    /// An octet >= 0x80 where septets or ASCII are expected.
    HighOctet { octet: u8, index: usize, alphabet: &'static str },
    /// A data_coding value that is reserved or names an alphabet we do not decode.
    UnsupportedDataCoding(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::MissingUdh => write!(f, "udhi is set but the payload is empty (no UDHL octet)"),
            DecodeError::UdhTooLong { udhl, available } => {
                write!(f, "UDH length {udhl} is longer than the {available} octets that follow it")
            }
            DecodeError::IeTruncated { offset } => {
                write!(f, "information element at UDH offset {offset} runs past the end of the UDH")
            }
            DecodeError::BadIeLength { iei, len, expected } => {
                write!(f, "information element 0x{iei:02X} has length {len}, expected {expected}")
            }
            DecodeError::UnsupportedLanguage { iei, id } => {
                write!(f, "information element 0x{iei:02X} names national language {id}, which has no table here")
            }
            DecodeError::HighOctet { octet, index, alphabet } => {
                write!(f, "octet 0x{octet:02X} at index {index} is not a {alphabet} code (>= 0x80)")
            }
            DecodeError::UnsupportedDataCoding(dc) => write!(f, "data_coding 0x{dc:02X} is reserved or not supported"),
        }
    }
}

impl std::error::Error for DecodeError {}
