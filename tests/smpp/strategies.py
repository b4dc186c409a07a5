"""Hypothesis strategies for SMPP PDUs, shared by the codec, session and differential tests.

``pdus()`` draws any valid PDU of any type (``pdus(SubmitSm)`` one type); every PDU it
draws encodes. Strings aim at the edges: empty, exactly the field's maximum, Latin-1
octets above 0x7F.
"""

from __future__ import annotations

from dataclasses import fields

from hypothesis import strategies as st

from engine.smpp import pdu as P
from engine.smpp.constants import Tag
from engine.smpp.tlv import Tlv

__all__ = ["pdus", "tlvs", "PDU_TYPES"]

PDU_TYPES = tuple(P.PDU_CLASSES.values())

_LATIN1 = st.characters(min_codepoint=1, max_codepoint=0xFF)


def cstr(size: int) -> st.SearchStrategy[str]:
    """A C-octet string value for a field of ``size`` octets, NUL included."""
    return st.one_of(
        st.text(_LATIN1, max_size=size - 1),
        st.text(_LATIN1, min_size=size - 1, max_size=size - 1),
    )


def tlvs(max_count: int = 4) -> st.SearchStrategy[tuple]:
    tag = st.one_of(st.sampled_from([t.value for t in Tag]), st.integers(0, 0xFFFF))
    value = st.one_of(st.binary(max_size=8), st.binary(max_size=300))
    return st.lists(st.builds(Tlv, tag, value), max_size=max_count).map(tuple)


_u8 = st.integers(0, 0xFF)
_u32 = st.integers(0, 0xFFFFFFFF)


def _field_strategy(cls: type, name: str) -> st.SearchStrategy:
    if name == "tlvs":
        return tlvs()
    if name in ("command_status", "sequence_number"):
        return st.one_of(st.integers(0, 0x7FFFFFFF), _u32)
    if name == "short_message":
        return st.one_of(st.binary(max_size=160), st.binary(min_size=254, max_size=254))
    if name == "dest_addresses":
        return st.lists(
            st.one_of(st.builds(P.SmeAddress, _u8, _u8, cstr(21)), st.builds(P.DistributionList, cstr(21))),
            max_size=6,
        ).map(tuple)
    if name == "unsuccess_smes":
        return st.lists(st.builds(P.UnsuccessSme, _u8, _u8, cstr(21), _u32), max_size=6).map(tuple)
    for spec in cls._body:
        if spec[1] == name:
            if spec[0] == "cstr":
                return cstr(spec[2])
            return {"B": _u8, "H": st.integers(0, 0xFFFF), "I": _u32}[spec[0]]
    raise AssertionError(f"no strategy for {cls.__name__}.{name}")


def pdus(*classes: type) -> st.SearchStrategy:
    classes = classes or PDU_TYPES
    return st.one_of(
        [st.builds(cls, **{f.name: _field_strategy(cls, f.name) for f in fields(cls)}) for cls in classes]
    )
