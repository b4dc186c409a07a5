"""GSM-7 / UCS-2 encoding, segmentation and UDH (the Rust-backed facade; see docs/encoding.md)."""

from engine.encoding.errors import DecodeError, EncodingError, TooManyParts, UnencodableCharacter
from engine.encoding.refs import DEFAULT_REFS, RefCounter

__all__ = [
    "DecodeError",
    "EncodingError",
    "TooManyParts",
    "UnencodableCharacter",
    "RefCounter",
    "DEFAULT_REFS",
]
