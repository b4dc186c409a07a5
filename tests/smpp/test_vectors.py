"""The golden PDU vectors file is what the Python codec says, and every vector holds."""

from __future__ import annotations

import json

import pytest

from engine.smpp import pdu as P

from .vectors import PATH, build_vectors, dumps, pdu_from_json

pytestmark = pytest.mark.timeout(60)

VECTORS = json.loads(PATH.read_text(encoding="ascii"))


def test_file_is_up_to_date():
    assert PATH.read_text(encoding="ascii") == dumps(build_vectors()), "run: python -m tests.smpp.vectors"


def test_covers_every_pdu_type_and_errors():
    types = {v["pdu"]["type"] for v in VECTORS if "pdu" in v}
    assert types == {cls.__name__ for cls in P.PDU_CLASSES.values()}
    assert sum("error" in v for v in VECTORS) >= 10


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector):
    frame = bytes.fromhex(vector["hex"])
    if "error" in vector:
        with pytest.raises(P.PduError) as info:
            P.decode(frame)
        got = info.value
        assert (got.status, got.command_id, got.sequence_number) == (
            vector["error"]["status"],
            vector["error"]["command_id"],
            vector["error"]["sequence_number"],
        )
        return
    pdu = pdu_from_json(vector["pdu"])
    assert P.decode(frame) == pdu
    if len(frame) > 16 or not type(pdu)._ops:  # an absent response body re-encodes with its body
        assert P.encode(pdu) == frame
