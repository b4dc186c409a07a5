"""The GSM 7-bit alphabets as plain data, transcribed from 3GPP TS 23.038.

Basic / locking shift tables are written the way the specification prints them: one
string per column of 16 septets (column ``c`` holds septets ``c*16 .. c*16+15``).
Septet 0x1B is the escape in every one of them and never a character; it is
written here as ``_ESC`` and left out of the lookup maps.

Extension / single shift tables map a septet (the code after ESC) to its character;
only codes that carry a character are listed. 0x0D (CR2, a control) and 0x1B (SS2,
reserved for another extension table) are left out, as the specification leaves
them without a character.

Cross-checked (Nov 2026) against two independent transcriptions of TS 23.038:
the lookup tables of ndf-zz/gsmcodecs (from v18.0.0) and CyberChef's GSM-7
operation (from v16.0.0); all seven tables agree entry for entry.
"""

from __future__ import annotations

__all__ = [
    "ESC",
    "LANGUAGE_IDS",
    "LANGUAGE_NAMES",
    "BASIC",
    "EXTENSION",
    "LOCKING",
    "SINGLE",
]

ESC = 0x1B
_ESC = "\x1b"  # placeholder in the column strings; never a character


def _columns(*columns: str) -> dict[int, str]:
    """Septet -> char for a 128-septet table printed as 8 columns of 16."""
    assert len(columns) == 8 and all(len(c) == 16 for c in columns), "a table is 8 columns of 16"
    table: dict[int, str] = {}
    for col, chars in enumerate(columns):
        for row, char in enumerate(chars):
            septet = col * 16 + row
            if septet == ESC:
                assert char == _ESC
                continue
            table[septet] = char
    return table


# TS 23.038 §6.2.1: the GSM 7 bit default alphabet.
BASIC: dict[int, str] = _columns(
    "@£$¥èéùìòÇ\nØø\rÅå",
    "Δ_ΦΓΛΩΠΨΣΘΞ" + _ESC + "ÆæßÉ",
    " !\"#¤%&'()*+,-./",
    "0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNO",
    "PQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmno",
    "pqrstuvwxyzäöñüà",
)

# TS 23.038 §6.2.1.1: the default alphabet extension table (after ESC).
EXTENSION: dict[int, str] = {
    0x0A: "\f",  # form feed ("page break")
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

# National language identifiers, TS 23.038 §6.2.1.2.4 (the value carried in the
# 0x24 / 0x25 information elements).
LANGUAGE_IDS: dict[str, int] = {"turkish": 1, "spanish": 2, "portuguese": 3}
LANGUAGE_NAMES: dict[int, str] = {v: k for k, v in LANGUAGE_IDS.items()}

# TS 23.038 annex A.3: national language locking shift tables (replace BASIC).
LOCKING: dict[str, dict[int, str]] = {
    # A.3.1 Turkish
    "turkish": _columns(
        "@£$¥€éùıòÇ\nĞğ\rÅå",
        "Δ_ΦΓΛΩΠΨΣΘΞ" + _ESC + "ŞşßÉ",
        " !\"#¤%&'()*+,-./",
        "0123456789:;<=>?",
        "İABCDEFGHIJKLMNO",
        "PQRSTUVWXYZÄÖÑÜ§",
        "çabcdefghijklmno",
        "pqrstuvwxyzäöñüà",
    ),
    # A.3.3 Portuguese
    "portuguese": _columns(
        "@£$¥êéúíóç\nÔô\rÁá",
        "Δ_ªÇÀ∞^\\€Ó|" + _ESC + "ÂâÊÉ",
        " !\"#º%&'()*+,-./",
        "0123456789:;<=>?",
        "ÍABCDEFGHIJKLMNO",
        "PQRSTUVWXYZÃÕÚÜ§",
        "~abcdefghijklmno",
        "pqrstuvwxyzãõ`üà",
    ),
    # There is no Spanish locking shift table (A.3.2 is reserved).
}

# TS 23.038 annex A.2: national language single shift tables (replace EXTENSION).
SINGLE: dict[str, dict[int, str]] = {
    # A.2.1 Turkish
    "turkish": {
        0x0A: "\f",
        0x14: "^",
        0x28: "{",
        0x29: "}",
        0x2F: "\\",
        0x3C: "[",
        0x3D: "~",
        0x3E: "]",
        0x40: "|",
        0x47: "Ğ",
        0x49: "İ",
        0x53: "Ş",
        0x63: "ç",
        0x65: "€",
        0x67: "ğ",
        0x69: "ı",
        0x73: "ş",
    },
    # A.2.2 Spanish
    "spanish": {
        0x09: "ç",
        0x0A: "\f",
        0x14: "^",
        0x28: "{",
        0x29: "}",
        0x2F: "\\",
        0x3C: "[",
        0x3D: "~",
        0x3E: "]",
        0x40: "|",
        0x41: "Á",
        0x49: "Í",
        0x4F: "Ó",
        0x55: "Ú",
        0x61: "á",
        0x65: "€",
        0x69: "í",
        0x6F: "ó",
        0x75: "ú",
    },
    # A.2.3 Portuguese
    "portuguese": {
        0x05: "ê",
        0x09: "ç",
        0x0A: "\f",
        0x0B: "Ô",
        0x0C: "ô",
        0x0E: "Á",
        0x0F: "á",
        0x12: "Φ",
        0x13: "Γ",
        0x14: "^",
        0x15: "Ω",
        0x16: "Π",
        0x17: "Ψ",
        0x18: "Σ",
        0x19: "Θ",
        0x1F: "Ê",
        0x28: "{",
        0x29: "}",
        0x2F: "\\",
        0x3C: "[",
        0x3D: "~",
        0x3E: "]",
        0x40: "|",
        0x41: "À",
        0x49: "Í",
        0x4F: "Ó",
        0x55: "Ú",
        0x5B: "Ã",
        0x5C: "Õ",
        0x61: "Â",
        0x65: "€",
        0x69: "í",
        0x6F: "ó",
        0x75: "ú",
        0x7B: "ã",
        0x7C: "õ",
        0x7F: "â",
    },
}
