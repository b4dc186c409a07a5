//! GSM 03.38 alphabets, transcribed from 3GPP TS 23.038 (§6.2.1, §6.2.1.1, annex A).
//!
//! Each table is the spec's 128-position column layout flattened: index = septet value.
//! `NO` marks a position that holds no character (the escape 0x1B, reserved codes such
//! as CR2 0x0D and the unused positions of the shift tables). NUL never appears in any
//! GSM table, so it is a safe marker: a text containing U+0000 is simply unencodable.

/// Marker for "no character at this position".
pub const NO: char = '\0';
/// The escape to the extension / single-shift table (TS 23.038 §6.2.1, note 1).
pub const ESC: u8 = 0x1B;
/// Carriage return: the padding septet of §6.1.2.3.1.
pub const CR: u8 = 0x0D;

pub type Table = [char; 128];

const fn ext(entries: &[(u8, char)]) -> Table {
    let mut t = [NO; 128];
    let mut i = 0;
    while i < entries.len() {
        t[entries[i].0 as usize] = entries[i].1;
        i += 1;
    }
    t
}

/// Rows are the spec's table read row by row (0x00..0x0F, 0x10..0x1F, ...).
const fn rows(rows: [[char; 16]; 8]) -> Table {
    let mut t = [NO; 128];
    let mut r = 0;
    while r < 8 {
        let mut c = 0;
        while c < 16 {
            t[r * 16 + c] = rows[r][c];
            c += 1;
        }
        r += 1;
    }
    t
}

/// §6.2.1 GSM 7 bit default alphabet (basic table). 0x1B is the escape.
pub static DEFAULT_BASIC: Table = rows([
    ['@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å'],
    ['Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', NO, 'Æ', 'æ', 'ß', 'É'],
    [' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/'],
    ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?'],
    ['¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O'],
    ['P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§'],
    ['¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o'],
    ['p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à'],
]);

/// §6.2.1.1 default extension table (reached by ESC).
pub static DEFAULT_EXT: Table = ext(&[
    (0x0A, '\u{000C}'), // form feed (page break)
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
]);

/// A.3.1 Turkish national language locking shift table.
pub static TURKISH_LOCKING: Table = rows([
    ['@', '£', '$', '¥', '€', 'é', 'ù', 'ı', 'ò', 'Ç', '\n', 'Ğ', 'ğ', '\r', 'Å', 'å'],
    ['Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', NO, 'Ş', 'ş', 'ß', 'É'],
    [' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/'],
    ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?'],
    ['İ', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O'],
    ['P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§'],
    ['ç', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o'],
    ['p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à'],
]);

/// A.2.1 Turkish national language single shift table.
pub static TURKISH_SINGLE: Table = ext(&[
    (0x0A, '\u{000C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x47, 'Ğ'),
    (0x49, 'İ'),
    (0x53, 'Ş'),
    (0x63, 'ç'),
    (0x65, '€'),
    (0x67, 'ğ'),
    (0x69, 'ı'),
    (0x73, 'ş'),
]);

/// A.2.2 Spanish national language single shift table (Spanish has no locking table).
pub static SPANISH_SINGLE: Table = ext(&[
    (0x09, 'ç'),
    (0x0A, '\u{000C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x41, 'Á'),
    (0x49, 'Í'),
    (0x4F, 'Ó'),
    (0x55, 'Ú'),
    (0x61, 'á'),
    (0x65, '€'),
    (0x69, 'í'),
    (0x6F, 'ó'),
    (0x75, 'ú'),
]);

/// A.3.3 Portuguese national language locking shift table.
pub static PORTUGUESE_LOCKING: Table = rows([
    ['@', '£', '$', '¥', 'ê', 'é', 'ú', 'í', 'ó', 'ç', '\n', 'Ô', 'ô', '\r', 'Á', 'á'],
    ['Δ', '_', 'ª', 'Ç', 'À', '∞', '^', '\\', '€', 'Ó', '|', NO, 'Â', 'â', 'Ê', 'É'],
    [' ', '!', '"', '#', 'º', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/'],
    ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?'],
    ['Í', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O'],
    ['P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ã', 'Õ', 'Ú', 'Ü', '§'],
    ['~', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o'],
    ['p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ã', 'õ', '`', 'ü', 'à'],
]);

/// A.2.3 Portuguese national language single shift table (0x0D is CR2, reserved).
pub static PORTUGUESE_SINGLE: Table = ext(&[
    (0x05, 'ê'),
    (0x09, 'ç'),
    (0x0A, '\u{000C}'),
    (0x0B, 'Ô'),
    (0x0C, 'ô'),
    (0x0E, 'Á'),
    (0x0F, 'á'),
    (0x12, 'Φ'),
    (0x13, 'Γ'),
    (0x14, '^'),
    (0x15, 'Ω'),
    (0x16, 'Π'),
    (0x17, 'Ψ'),
    (0x18, 'Σ'),
    (0x19, 'Θ'),
    (0x1F, 'Ê'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x41, 'À'),
    (0x49, 'Í'),
    (0x4F, 'Ó'),
    (0x55, 'Ú'),
    (0x5B, 'Ã'),
    (0x5C, 'Õ'),
    (0x61, 'Â'),
    (0x65, '€'),
    (0x69, 'í'),
    (0x6F, 'ó'),
    (0x75, 'ú'),
    (0x7B, 'ã'),
    (0x7C, 'õ'),
    (0x7F, 'â'),
]);

/// National languages of TS 23.038 annex A that this engine supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    Turkish,
    Spanish,
    Portuguese,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::Turkish, Language::Spanish, Language::Portuguese];

    /// National language identifier carried by the shift IEs (TS 23.038 §6.2.1.2.4).
    pub const fn id(self) -> u8 {
        match self {
            Language::Turkish => 1,
            Language::Spanish => 2,
            Language::Portuguese => 3,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Language::Turkish => "turkish",
            Language::Spanish => "spanish",
            Language::Portuguese => "portuguese",
        }
    }

    pub fn from_name(name: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.name() == name)
    }

    pub fn from_id(id: u8) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.id() == id)
    }

    /// The locking shift table; Spanish has none (A.3.2 is not defined).
    pub fn locking(self) -> Option<&'static Table> {
        match self {
            Language::Turkish => Some(&TURKISH_LOCKING),
            Language::Spanish => None,
            Language::Portuguese => Some(&PORTUGUESE_LOCKING),
        }
    }

    pub fn single(self) -> &'static Table {
        match self {
            Language::Turkish => &TURKISH_SINGLE,
            Language::Spanish => &SPANISH_SINGLE,
            Language::Portuguese => &PORTUGUESE_SINGLE,
        }
    }

    fn index(self) -> usize {
        match self {
            Language::Turkish => 0,
            Language::Spanish => 1,
            Language::Portuguese => 2,
        }
    }
}

pub fn basic_table(locking: Option<Language>) -> &'static Table {
    locking.and_then(Language::locking).unwrap_or(&DEFAULT_BASIC)
}

pub fn ext_table(single: Option<Language>) -> &'static Table {
    single.map(Language::single).unwrap_or(&DEFAULT_EXT)
}

/// Reverse lookup for one (basic-or-locking, extension-or-single) pair of tables:
/// char -> septet (basic) or `EXT | septet` (ESC + septet), `NONE` when absent.
/// A character in both tables maps to the basic one (one septet, docs/encoding.md).
pub struct Charmap {
    latin: [u16; 256],
    /// The basic/locking septet of U+0000..U+00FF, 0xFF when absent or ESC-coded:
    /// the fast path for the common text that needs no extension character.
    basic8: [u8; 256],
    other: Box<[(u32, u16)]>,
}

pub const EXT: u16 = 0x100;
pub const NONE: u16 = 0xFFFF;

impl Charmap {
    fn build(basic: &Table, ext: &Table) -> Charmap {
        let mut latin = [NONE; 256];
        let mut other: Vec<(u32, u16)> = Vec::new();
        let mut put = |c: char, v: u16, latin: &mut [u16; 256]| {
            if c == NO {
                return;
            }
            if (c as u32) < 256 {
                if latin[c as usize] == NONE {
                    latin[c as usize] = v;
                }
            } else if !other.iter().any(|&(o, _)| o == c as u32) {
                other.push((c as u32, v));
            }
        };
        // Basic first so that it wins over the extension for a character in both.
        for (code, &c) in basic.iter().enumerate() {
            put(c, code as u16, &mut latin);
        }
        for (code, &c) in ext.iter().enumerate() {
            if code as u8 != ESC {
                put(c, EXT | code as u16, &mut latin);
            }
        }
        other.sort_unstable_by_key(|&(c, _)| c);
        let mut basic8 = [0xFF; 256];
        for (b, &v) in basic8.iter_mut().zip(latin.iter()) {
            if v < 0x80 {
                *b = v as u8;
            }
        }
        Charmap { latin, basic8, other: other.into_boxed_slice() }
    }

    #[inline(always)]
    pub fn get(&self, c: char) -> u16 {
        self.get_cp(c as u32)
    }

    /// Lookup of a code point (a lone surrogate is simply absent).
    #[inline(always)]
    pub fn get_cp(&self, u: u32) -> u16 {
        if u < 256 {
            self.latin[u as usize]
        } else {
            match self.other.binary_search_by_key(&u, |&(o, _)| o) {
                Ok(i) => self.other[i].1,
                Err(_) => NONE,
            }
        }
    }

    /// Septets of Latin-1 code points when every one is in the basic/locking table
    /// (appended to `out`); false, with `out` unspecified, otherwise.
    #[inline]
    pub fn basic_only(&self, text: &[u8], out: &mut Vec<u8>) -> bool {
        let mut missing = 0u8;
        out.extend(text.iter().map(|&b| {
            let v = self.basic8[b as usize];
            missing |= v;
            v
        }));
        missing & 0x80 == 0
    }
}

/// The charmap of a (locking, single) pair; built once, on first use.
pub fn charmap(locking: Option<Language>, single: Option<Language>) -> &'static Charmap {
    use std::sync::OnceLock;
    static MAPS: [OnceLock<Charmap>; 16] = [const { OnceLock::new() }; 16];
    let li = locking.map_or(0, |l| l.index() + 1);
    let si = single.map_or(0, |l| l.index() + 1);
    MAPS[li * 4 + si].get_or_init(|| Charmap::build(basic_table(locking), ext_table(single)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_landmarks() {
        assert_eq!(DEFAULT_BASIC[0x00], '@');
        assert_eq!(DEFAULT_BASIC[0x09], 'Ç');
        assert_eq!(DEFAULT_BASIC[0x1B], NO);
        assert_eq!(DEFAULT_BASIC[0x24], '¤');
        assert_eq!(DEFAULT_BASIC[0x5F], '§');
        assert_eq!(DEFAULT_BASIC[0x60], '¿');
        assert_eq!(DEFAULT_BASIC[0x7F], 'à');
        let m = charmap(None, None);
        assert_eq!(m.get('ç'), NONE);
        assert_eq!(m.get('`'), NONE);
        assert_eq!(m.get('€'), EXT | 0x65);
        assert_eq!(m.get('\u{1B}'), NONE);
        assert_eq!(m.get('\0'), NONE);
    }

    #[test]
    fn every_table_char_is_unique_within_its_table() {
        for t in [&DEFAULT_BASIC, &DEFAULT_EXT, &TURKISH_LOCKING, &TURKISH_SINGLE, &SPANISH_SINGLE,
                  &PORTUGUESE_LOCKING, &PORTUGUESE_SINGLE] {
            let mut seen: Vec<char> = t.iter().copied().filter(|&c| c != NO).collect();
            let n = seen.len();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), n);
        }
    }

    #[test]
    fn national_landmarks() {
        assert_eq!(TURKISH_LOCKING[0x07], 'ı');
        assert_eq!(TURKISH_LOCKING[0x40], 'İ');
        assert_eq!(TURKISH_LOCKING[0x60], 'ç');
        assert_eq!(PORTUGUESE_LOCKING[0x15], '∞');
        assert_eq!(PORTUGUESE_LOCKING[0x7D], '`');
        assert_eq!(PORTUGUESE_SINGLE[0x0D], NO);
        assert_eq!(PORTUGUESE_SINGLE[0x7F], 'â');
        assert_eq!(SPANISH_SINGLE[0x09], 'ç');
        // In the Portuguese locking table '^' is a basic character, so it costs one septet.
        assert_eq!(charmap(Some(Language::Portuguese), None).get('^'), 0x16);
    }
}
