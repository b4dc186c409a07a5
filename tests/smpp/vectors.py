"""Golden PDU vectors for every codec (the Python reference, the Rust hot path).

``tests/smpp/vectors/pdus.json`` is written by ``python -m tests.smpp.vectors`` (run
from the repository root) from the hand-written golden PDUs and malformed frames of
``test_pdu.py`` plus one default PDU of every type; ``test_vectors.py`` checks that
the file is what this module builds, so it cannot drift from the Python codec.

Format: a JSON list of objects, each with ``name`` and ``hex`` (the frame) and either
``pdu`` (``{"type": "SubmitSm", "fields": {...}}``: every field; C-strings as JSON
strings (their octets are Latin-1); ``short_message`` as ``{"hex": ...}``; ``tlvs``
as ``[[tag, "hex"], ...]``; ``dest_addresses`` as objects with ``dest_flag``;
``unsuccess_smes`` as objects) or ``error`` (``{"status", "command_id",
"sequence_number"}``: what decoding the frame must raise; ids are null when the
header could not be read).
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import fields

from engine.smpp import pdu as P

PATH = pathlib.Path(__file__).resolve().parent / "vectors" / "pdus.json"


def pdu_to_json(pdu: P.Pdu) -> dict:
    out: dict = {}
    for f in fields(pdu):
        value = getattr(pdu, f.name)
        if f.name == "tlvs":
            value = [[t.tag, t.value.hex()] for t in value]
        elif f.name == "short_message":
            value = {"hex": value.hex()}
        elif f.name == "dest_addresses":
            value = [
                {"dest_flag": 1, **d._asdict()} if isinstance(d, P.SmeAddress) else {"dest_flag": 2, **d._asdict()}
                for d in value
            ]
        elif f.name == "unsuccess_smes":
            value = [e._asdict() for e in value]
        out[f.name] = value
    return {"type": type(pdu).__name__, "fields": out}


def pdu_from_json(obj: dict) -> P.Pdu:
    cls = getattr(P, obj["type"])
    kw = dict(obj["fields"])
    if "tlvs" in kw:
        kw["tlvs"] = tuple(P.Tlv(tag, bytes.fromhex(h)) for tag, h in kw["tlvs"])
    if "short_message" in kw:
        kw["short_message"] = bytes.fromhex(kw["short_message"]["hex"])
    if "dest_addresses" in kw:
        kw["dest_addresses"] = tuple(
            P.SmeAddress(d["dest_addr_ton"], d["dest_addr_npi"], d["destination_addr"])
            if d["dest_flag"] == 1
            else P.DistributionList(d["dl_name"])
            for d in kw["dest_addresses"]
        )
    if "unsuccess_smes" in kw:
        kw["unsuccess_smes"] = tuple(P.UnsuccessSme(**e) for e in kw["unsuccess_smes"])
    return cls(**kw)


def build_vectors() -> list[dict]:
    from . import test_pdu as T

    out = []
    for name, frame in [
        ("bind_transmitter (spec 4.1.1)", T.BIND_TRANSMITTER),
        ("submit_sm with TLVs (spec 4.4.1)", T.SUBMIT_SM),
        ("deliver_sm receipt with TLVs (spec 4.6.1, appendix B)", T.DELIVER_SM_RECEIPT),
    ]:
        out.append({"name": name, "hex": frame.hex(), "pdu": pdu_to_json(P.decode(frame))})
    for cls in P.PDU_CLASSES.values():
        pdu = cls(sequence_number=0x7FFFFFFF)
        out.append({"name": f"default {cls.__name__}", "hex": P.encode(pdu).hex(), "pdu": pdu_to_json(pdu)})
    edge = [
        ("submit_multi, both destination kinds", P.SubmitMulti(sequence_number=9, source_addr="Acme", dest_addresses=(P.SmeAddress(1, 1, "447700900123"), P.DistributionList("friends")), short_message=b"hi")),
        ("submit_multi_resp with an unsuccessful SME", P.SubmitMultiResp(sequence_number=9, message_id="m1", unsuccess_smes=(P.UnsuccessSme(1, 1, "447700900123", 0x0B),))),
        ("submit_sm, fields at their maximum lengths", P.SubmitSm(sequence_number=1, service_type="A" * 5, source_addr="1" * 20, destination_addr="2" * 20, schedule_delivery_time="261122040500004+", validity_period="000001000000000R", short_message=bytes(range(254)))),
        ("data_sm with an unknown TLV kept", P.DataSm(sequence_number=3, source_addr="x" * 64, tlvs=(P.Tlv(0x1401, b"vendor"), P.Tlv(0x0424, b"payload")))),
        ("query_sm_resp", P.QuerySmResp(sequence_number=4, message_id="abc", final_date="261122040500004+", message_state=2, error_code=0)),
        ("latin-1 octets in a C-string", P.SubmitSmResp(sequence_number=5, message_id="\xe9\xff\x01")),
        ("submit_sm_resp with a throttling status", P.SubmitSmResp(sequence_number=6, command_status=0x58)),
    ]
    for name, pdu in edge:
        out.append({"name": name, "hex": P.encode(pdu).hex(), "pdu": pdu_to_json(pdu)})
    out.append(
        {
            "name": "submit_sm_resp with no body at all (error responses may omit it)",
            "hex": "00000010800000040000005800000007",
            "pdu": pdu_to_json(P.SubmitSmResp(command_status=0x58, sequence_number=7)),
        }
    )
    for name, frame, status, seq in T.MALFORMED:
        try:
            P.decode(frame)
        except P.PduError as exc:
            err = {"status": int(exc.status), "command_id": exc.command_id, "sequence_number": exc.sequence_number}
        else:
            raise AssertionError(f"malformed vector {name!r} decodes")
        assert err["status"] == status and err["sequence_number"] == seq
        out.append({"name": f"malformed: {name}", "hex": frame.hex(), "error": err})
    return out


def dumps(vectors: list[dict]) -> str:
    return json.dumps(vectors, indent=1, ensure_ascii=True) + "\n"


if __name__ == "__main__":
    PATH.parent.mkdir(exist_ok=True)
    PATH.write_text(dumps(build_vectors()), encoding="ascii")
    print(f"wrote {PATH}")
