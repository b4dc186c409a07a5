"""The SMPP hot path in Rust, behind the API of ``engine.smpp.pdu``; pure Python when the extension is missing.

This module and ``engine/encoding/__init__.py`` are the only importers of the compiled
``engine._smsencode``. Everything here gives exactly what the pure-Python codec gives
(same PDU objects, same bytes, same ``PduError`` with the same message and status);
``tests/native/`` holds the two to that with differential tests.

``NATIVE``
    True when the Rust extension is in use.

``Framer(max_command_length=MAX_COMMAND_LENGTH)``
    ``engine.smpp.pdu.Framer`` with the hot PDUs (submit_sm_resp, deliver_sm,
    deliver_sm_resp, data_sm_resp, submit_sm, enquire_link(_resp), generic_nack,
    unbind(_resp), cancel_sm_resp, replace_sm_resp) cut and decoded in one Rust call
    per chunk; other PDUs are decoded by ``engine.smpp.pdu.decode``. ``feed(data)``,
    ``feed_frames(data)``, ``broken``, ``buffered``, ``max_command_length``; the Rust
    one also has ``feed_receipts(data) -> (items, rows)``: ``feed`` with the common
    delivery receipts (esm_class receipt, not UCS-2, what ``receipt_standard`` reads)
    given as rows ``(sequence_number, message_id, state, stat, err, message_state)``
    instead of DeliverSm objects, up to the first PDU that could change the session's
    state (the pure-Python framer has no such lane: ``hasattr`` tells).

``decode(frame) -> Pdu``
    ``engine.smpp.pdu.decode``.

``encode(pdu) -> bytes``
    ``engine.smpp.pdu.encode``; ``SubmitSm`` and ``DeliverSm`` are encoded in Rust
    (a drop-in for the hot paths: a client's submit_sm, a simulator's receipts).

``encode_submit_sm_batch(pdus) -> list[bytes]``
    ``[engine.smpp.pdu.encode(p) for p in pdus]`` for ``SubmitSm`` objects, in one call.

``encode_sm_batch(pdus) -> list[bytes]``
    The same for ``SubmitSm`` and ``DeliverSm`` objects, mixed.

``build_submit_sm_batch(template, items) -> list[bytes]``
    submit_sm PDUs sharing a template ``SubmitSm``: each item is
    ``(destination_addr, short_message)`` or ``(destination_addr, short_message,
    esm_class, data_coding, tlvs)``, and gives the bytes of
    ``encode(dataclasses.replace(template, **those fields))``. The template's own
    fields are checked once (it must itself be encodable).

``build_submit_sm_encoded(template, destinations, encoded, gsm_data_coding, payload)``
    The submit_sm PDUs of encoded messages (``engine.encoding.encode_batch``) sharing
    a template: per message ``(list of PDU bytes, encoding, data_coding)`` as
    ``engine.client.smsc.build_submits`` gives it (no "+" in the destination, UDHI,
    GSM data_coding, SAR TLVs or message_payload), or None where a PDU cannot be built.

``receipt_standard(short_message, tlvs) -> engine.smpp.receipts.Receipt | None``
    The receipt of a deliver_sm whose text is exactly the appendix B layout (keys in
    any case, printable ASCII before ``text:``) and whose TLVs are the plain ones
    (no message_payload, a one-octet message_state): what
    ``engine.smpp.receipts.parse_receipt`` gives for it. None for anything else: the
    caller asks the reference parser. None without the extension.

``SimLane(hex_ids, ring)``, ``SimReader()``
    The SMSC simulator's no-fault lane (``engine.simulator.server``): ``run`` answers
    the submit_sm and deliver_sm_resp of a read (cut by a connection's ``SimReader``,
    which is also a ``Framer`` for ``feed_frames``) and builds their receipts,
    ``write_receipts`` writes a batch of receipts; see engine/_smsencode.pyi. None
    without the extension (the simulator then keeps its Python path).

``fast_classes() -> list[str]``
    The PDU classes the Rust side builds without their ``__init__`` (all twelve it
    decodes, unless ``engine.smpp.pdu`` changed their fields; then it calls the
    class, slower but still right).

Where it pays (``python -m bench smpp``, bench/RESULTS.md): framing and decoding a
chunk is 4-8x the Python codec per PDU; the template builder is ~50x
``replace`` + ``encode``; encoding SubmitSm objects one by one only ~2x, because
reading twenty attributes of a Python object is most of the work either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from engine.smpp import pdu as _pdu
from engine.smpp.constants import EsmClass, Tag
from engine.smpp.tlv import Tlv, sar_tlvs

__all__ = [
    "NATIVE",
    "Framer",
    "decode",
    "encode",
    "encode_submit_sm_batch",
    "encode_sm_batch",
    "build_submit_sm_batch",
    "build_submit_sm_encoded",
    "receipt_standard",
    "SimLane",
    "SimReader",
]

try:
    from engine._smsencode import PduFramer as _RustFramer
    from engine._smsencode import SimLane as _RustSimLane
    from engine._smsencode import SimReader as _RustSimReader
    from engine._smsencode import build_submit_sm_batch as _rust_build
    from engine._smsencode import build_submit_sm_encoded as _rust_build_encoded
    from engine._smsencode import encode_sm_batch as _rust_encode_sm_batch
    from engine._smsencode import encode_submit_sm_batch as _rust_encode_batch
    from engine._smsencode import pdu_decode as _rust_decode
    from engine._smsencode import pdu_fast_classes as _rust_fast_classes
    from engine._smsencode import receipt_standard as _rust_receipt_standard
except ImportError:  # the extension is not built: the pure-Python codec does the work
    NATIVE = False
else:
    NATIVE = True


def _py_encode_submit_sm_batch(pdus: Iterable[_pdu.SubmitSm]) -> list[bytes]:
    out = []
    for i, p in enumerate(pdus):
        if type(p) is not _pdu.SubmitSm:
            raise TypeError(f"pdus[{i}] must be a SubmitSm, not {type(p).__name__}")
        out.append(_pdu.encode(p))
    return out


def _py_encode_sm_batch(pdus: Iterable[_pdu.SubmitSm | _pdu.DeliverSm]) -> list[bytes]:
    out = []
    for i, p in enumerate(pdus):
        if type(p) is not _pdu.SubmitSm and type(p) is not _pdu.DeliverSm:
            raise TypeError(f"pdus[{i}] must be a SubmitSm or DeliverSm, not {type(p).__name__}")
        out.append(_pdu.encode(p))
    return out


def _py_build_submit_sm_batch(template: _pdu.SubmitSm, items: Iterable[Sequence]) -> list[bytes]:
    if type(template) is not _pdu.SubmitSm:
        raise TypeError(f"template must be a SubmitSm, not {type(template).__name__}")
    _pdu.encode(template)  # the template is checked once, as the Rust path does
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, tuple) or len(item) not in (2, 5):
            raise TypeError(
                f"items[{i}] must be (destination_addr, short_message) or "
                f"(destination_addr, short_message, esm_class, data_coding, tlvs), not {type(item).__name__}"
            )
        if len(item) == 2:
            pdu = replace(template, destination_addr=item[0], short_message=item[1])
        else:
            dest, sm, esm, dc, tlvs = item
            pdu = replace(template, destination_addr=dest, short_message=sm, esm_class=esm, data_coding=dc, tlvs=tlvs)
        out.append(_pdu.encode(pdu))
    return out


def _py_build_submit_sm_encoded(template: _pdu.SubmitSm, destinations: list[str], encoded: list,
                                gsm_data_coding: int, payload: bool) -> list[tuple[list[bytes], str, int] | None]:
    if type(template) is not _pdu.SubmitSm:
        raise TypeError(f"template must be a SubmitSm, not {type(template).__name__}")
    if len(destinations) != len(encoded):
        raise ValueError("destinations and encoded must have the same length")
    _pdu.encode(template)
    out: list[tuple[list[bytes], str, int] | None] = []
    for dest, e in zip(destinations, encoded):
        if dest.startswith("+"):
            dest = dest[1:]
        dc = gsm_data_coding if e.encoding == "gsm7" else e.data_coding
        esm = template.esm_class | EsmClass.UDHI if e.udhi else template.esm_class
        parts = e.parts
        sar = e.sar if len(parts) > 1 else None
        try:
            pdus = []
            for k, body in enumerate(parts):
                if payload:
                    fields = {"short_message": b"", "tlvs": (Tlv(Tag.MESSAGE_PAYLOAD, bytes(body)),)}
                elif sar is not None:
                    fields = {"short_message": body, "tlvs": sar_tlvs(*sar[k])}
                else:
                    fields = {"short_message": body}
                pdus.append(_pdu.encode(replace(template, destination_addr=dest, esm_class=esm, data_coding=dc,
                                                **fields)))
        except ValueError:  # PduError, or a SAR total beyond one octet: build_submits names it
            out.append(None)
        else:
            out.append((pdus, e.encoding, dc))
    return out


if NATIVE:
    Framer = _RustFramer
    decode = _rust_decode
    encode_submit_sm_batch = _rust_encode_batch
    encode_sm_batch = _rust_encode_sm_batch
    build_submit_sm_batch = _rust_build
    build_submit_sm_encoded = _rust_build_encoded

    _RUST_ENCODED = (_pdu.SubmitSm, _pdu.DeliverSm)

    def encode(pdu: _pdu.Pdu) -> bytes:
        """``engine.smpp.pdu.encode``, in Rust for SubmitSm and DeliverSm."""
        if type(pdu) in _RUST_ENCODED:
            return _rust_encode_sm_batch((pdu,))[0]  # type: ignore[arg-type]
        return _pdu.encode(pdu)

    def fast_classes() -> list[str]:
        """PDU classes the Rust path builds without their ``__init__`` (see src/python/pdu.rs)."""
        return list(_rust_fast_classes())

    receipt_standard = _rust_receipt_standard
    SimLane = _RustSimLane
    SimReader = _RustSimReader

else:
    Framer = _pdu.Framer  # type: ignore[misc,assignment]
    decode = _pdu.decode  # type: ignore[assignment]
    encode = _pdu.encode
    encode_submit_sm_batch = _py_encode_submit_sm_batch
    encode_sm_batch = _py_encode_sm_batch
    build_submit_sm_batch = _py_build_submit_sm_batch
    build_submit_sm_encoded = _py_build_submit_sm_encoded

    def fast_classes() -> list[str]:
        return []

    def receipt_standard(short_message: bytes, tlvs: tuple) -> object | None:  # type: ignore[misc]
        """Without the extension: None (the caller's own parser reads every receipt)."""
        return None

    SimLane = None  # type: ignore[assignment,misc]
    SimReader = None  # type: ignore[assignment,misc]

