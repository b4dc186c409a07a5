"""GSM-7 / UCS-2 encoding, segmentation and UDH: the Rust-backed facade (docs/encoding.md).

This is the only module that imports the compiled ``engine._smsencode``. The pure-Python
oracle with the same API is ``engine.encoding.reference``; the differential tests hold
the two to identical answers.
"""

from engine._smsencode import Count, Decoded, EncodedMessage, Udh, count, decode, encode, encode_batch
from engine.encoding.errors import DecodeError, EncodingError, TooManyParts, UnencodableCharacter
from engine.encoding.refs import DEFAULT_REFS, RefCounter

__all__ = [
    "encode",
    "encode_batch",
    "count",
    "decode",
    "EncodedMessage",
    "Count",
    "Decoded",
    "Udh",
    "DecodeError",
    "EncodingError",
    "TooManyParts",
    "UnencodableCharacter",
    "RefCounter",
    "DEFAULT_REFS",
]
