"""Stub of the compiled module engine._smsencode (hand-written; checked by mypy.stubtest
in tests/test_smsencode_stub.py). Import it only through engine.encoding (and the PDU
facade): the rest of the code base never imports this module directly."""

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Protocol, final

# A section appends its names with `__all__ += [...]` (stubtest checks the list).
__all__ = ["__version__", "DEBUG_BUILD"]

__version__: str
DEBUG_BUILD: bool

# --- encoding ---
# The Rust core of engine.encoding; the contract is docs/encoding.md, and
# engine.encoding.reference is the pure-Python oracle with the same API.

__all__ += ["EncodedMessage", "Count", "Decoded", "Udh", "encode", "encode_batch", "count", "decode"]

class _RefSource(Protocol):
    def next_ref(self, bits: int, /) -> int: ...

_National = tuple[str | None, str | None]

@final
class EncodedMessage:
    __hash__: ClassVar[None]  # type: ignore[assignment]
    @property
    def encoding(self) -> str: ...
    @property
    def data_coding(self) -> int: ...
    @property
    def segments(self) -> int: ...
    @property
    def units(self) -> int: ...
    @property
    def parts(self) -> list[bytes]: ...
    @property
    def udhi(self) -> bool: ...
    @property
    def sar(self) -> list[tuple[int, int, int]] | None: ...
    @property
    def ref(self) -> int | None: ...
    @property
    def national(self) -> _National: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@final
class Count:
    __hash__: ClassVar[None]  # type: ignore[assignment]
    @property
    def encoding(self) -> str: ...
    @property
    def data_coding(self) -> int: ...
    @property
    def segments(self) -> int: ...
    @property
    def units(self) -> int: ...
    @property
    def chars(self) -> int: ...
    @property
    def per_segment(self) -> int: ...
    @property
    def national(self) -> _National: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@final
class Udh:
    __hash__: ClassVar[None]  # type: ignore[assignment]
    @property
    def concat(self) -> tuple[int, int, int] | None: ...
    @property
    def ref_bits(self) -> int | None: ...
    @property
    def national(self) -> _National: ...
    @property
    def elements(self) -> list[tuple[int, bytes]]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@final
class Decoded:
    __hash__: ClassVar[None]  # type: ignore[assignment]
    @property
    def text(self) -> str | None: ...
    @property
    def data(self) -> bytes: ...
    @property
    def encoding(self) -> str: ...
    @property
    def udh(self) -> Udh | None: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

def encode(
    text: str | bytes,
    *,
    encoding: str = ...,
    concat: str = ...,
    ref: int | _RefSource | None = None,
    max_parts: int = ...,
    packed: bool = ...,
    national: Sequence[str] | None = None,
) -> EncodedMessage: ...
def encode_batch(
    texts: Iterable[str | bytes],
    *,
    encoding: str = ...,
    concat: str = ...,
    ref: int | _RefSource | Sequence[int] | None = None,
    max_parts: int = ...,
    packed: bool = ...,
    national: Sequence[str] | None = None,
) -> list[EncodedMessage]: ...
def count(
    text: str | bytes,
    *,
    encoding: str = ...,
    concat: str = ...,
    max_parts: int = ...,
    national: Sequence[str] | None = None,
) -> Count: ...
def decode(payload: bytes, data_coding: int, udhi: bool = ..., *, packed: bool = ...) -> Decoded: ...

# --- pdu ---
# The Rust PDU hot path of engine.smpp; use it through engine.smpp._native (its
# docstring is the contract; engine.smpp.pdu is the pure-Python reference).

from engine.smpp.errors import PduError as _PduError
from engine.smpp.pdu import Pdu as _Pdu
from engine.smpp.pdu import DeliverSm as _DeliverSm
from engine.smpp.pdu import SubmitSm as _SubmitSm
from engine.smpp.receipts import Receipt as _Receipt
from engine.queue.consumer import Entry as _Entry

__all__ += [
    "PDU_MAX_COMMAND_LENGTH",
    "PduFramer",
    "pdu_decode",
    "encode_submit_sm_batch",
    "encode_sm_batch",
    "build_submit_sm_encoded",
    "build_submit_sm_batch",
    "receipt_standard",
    "pdu_fast_classes",
]

PDU_MAX_COMMAND_LENGTH: int

@final
class PduFramer:
    def __new__(cls, max_command_length: int = ...) -> PduFramer: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[_Pdu | _PduError]: ...
    def feed_frames(self, data: bytes | bytearray | memoryview) -> list[bytes | _PduError]: ...
    def feed_receipts(
        self, data: bytes | bytearray | memoryview
    ) -> tuple[list[_Pdu | _PduError], list[tuple[int, str, str, str, str, int | None]]]: ...
    @property
    def broken(self) -> bool: ...
    @property
    def buffered(self) -> int: ...
    @property
    def max_command_length(self) -> int: ...

def pdu_decode(frame: bytes | bytearray | memoryview) -> _Pdu: ...
def encode_submit_sm_batch(pdus: Iterable[_SubmitSm]) -> list[bytes]: ...
def encode_sm_batch(pdus: Iterable[_SubmitSm | _DeliverSm]) -> list[bytes]: ...
def build_submit_sm_batch(template: _SubmitSm, items: Iterable[tuple[object, ...]]) -> list[bytes]: ...
def build_submit_sm_encoded(
    template: _SubmitSm, destinations: list[str], encoded: list[EncodedMessage], gsm_data_coding: int, payload: bool
) -> list[tuple[list[bytes], str, int] | None]: ...
def receipt_standard(short_message: bytes, tlvs: tuple[tuple[int, bytes], ...]) -> _Receipt | None: ...
def pdu_fast_classes() -> list[str]: ...

# --- intake (src/python/intake.rs; facade engine/queue/_native.py) ---

__all__ += ["intake_entries"]

def intake_entries(
    items: Iterable[tuple[str, dict[str, object] | None] | list[object]], stream: str, reclaimed: bool, now: float
) -> list[_Entry | None]: ...

# --- sim ---
# The SMSC simulator's no-fault lane (engine.simulator.server; its Python general
# path is the reference). Use it through engine.smpp._native.SimLane.

from collections.abc import Callable as _Callable

__all__ += ["SimLane", "SimReader"]

@final
class SimReader:
    def __new__(cls) -> SimReader: ...
    def load(self, data: bytes | bytearray) -> int: ...
    def take_fatal(self) -> _PduError | None: ...
    def feed_frames(self, data: bytes | bytearray) -> list[bytes | _PduError]: ...
    @property
    def broken(self) -> bool: ...
    @property
    def buffered(self) -> int: ...

@final
class SimLane:
    def __new__(cls, hex_ids: bool, ring: bytearray) -> SimLane: ...
    def set_receipts(self, texts: list[tuple[int, bytes, bytes]], cum_weights: list[float]) -> None: ...
    def run(
        self,
        reader: SimReader,
        n: int,
        can_submit: bool,
        system_id: str,
        items: list[tuple[str, int, int, bytes]] | None,
        receipts: dict[int, Any],
        others: dict[int, Any],
        out: list[bytes],
        recorded: list[tuple[bytes, bytes]] | None,
        random: _Callable[[], float] | None,
    ) -> tuple[bytes | None, int, int, int, int, int]: ...
    def write_receipts(
        self, items: list[tuple[str, int, int, bytes]], seq: int, receipts: dict[int, Any], oldest: int
    ) -> tuple[bytes, int]: ...
