"""Exception classes of the encoding core, shared by the Rust and the Python backends.

They subclass ValueError so that ordinary ``except ValueError`` keeps working; the
Rust binding raises these very classes (see smsencode-rs/src/python/encoding.rs).
"""

from __future__ import annotations

__all__ = ["EncodingError", "UnencodableCharacter", "TooManyParts", "DecodeError"]


class EncodingError(ValueError):
    """Base class of the errors raised while encoding a message."""


class UnencodableCharacter(EncodingError):
    """A forced encoding cannot represent a character of the text."""

    def __init__(self, char: str, index: int) -> None:
        super().__init__(f"character {char!r} (U+{ord(char):04X}) at index {index} cannot be encoded")
        self.char = char
        self.index = index

    def __reduce__(self):  # keep pickling (multiprocessing, logging) working
        return (type(self), (self.char, self.index))


class TooManyParts(EncodingError):
    """The message needs more segments than allowed."""

    def __init__(self, actual: int, max: int) -> None:  # noqa: A002 - the issue names it so
        super().__init__(f"message needs {actual} parts, more than the maximum of {max}")
        self.actual = actual
        self.max = max

    def __reduce__(self):
        return (type(self), (self.actual, self.max))


class DecodeError(ValueError):
    """Bytes that cannot be what their data_coding says."""
