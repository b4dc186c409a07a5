"""The SMSC simulator: an independent client (smpplib) against it, its faults and records,
and the send / load / simulate commands against each other as subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.simulator import Faults, Simulator
from engine.smpp import pdu as P
from engine.smpp.constants import CommandStatus
from engine.simulator.server import _resp

pytestmark = pytest.mark.timeout(60)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMPP_ENGINE = [sys.executable, "-m", "engine"]


class SimThread:
    """The simulator on its own loop in a thread, for synchronous clients (smpplib)."""

    def __init__(self, **kw):
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(**kw)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(5)
        return self.sim

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def test_fast_submit_sm_resp_is_what_the_codec_encodes():
    for seq, mid in [(1, "00000001"), (0x7FFFFFFF, "12345678901234567890"), (42, "")]:
        assert _resp(seq, mid) == P.encode(P.SubmitSmResp(sequence_number=seq, message_id=mid))


@settings(max_examples=150, deadline=None)
@given(
    ton=st.integers(0, 255), npi=st.integers(0, 255),
    src=st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=20),
    dst=st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=20),
    sm=st.binary(max_size=254), mid=st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=64),
    state=st.integers(0, 255),
)
def test_fast_receipt_frame_is_what_the_codec_encodes(ton, npi, src, dst, sm, mid, state):
    from engine.simulator.server import _receipt_frame
    from engine.smpp.constants import Tag
    from engine.smpp.tlv import Tlv

    expected = P.encode(P.DeliverSm(
        source_addr_ton=ton, source_addr_npi=npi, source_addr=src, dest_addr_ton=npi, dest_addr_npi=ton,
        destination_addr=dst, esm_class=0x04, short_message=sm,
        tlvs=(Tlv(Tag.RECEIPTED_MESSAGE_ID, mid.encode("latin-1") + b"\0"), Tlv(Tag.MESSAGE_STATE, bytes((state,)))),
    ))
    assert _receipt_frame(ton, npi, src, npi, ton, dst, sm, mid, state) == expected


def test_smpplib_binds_submits_and_gets_the_receipt():
    import smpplib.client
    import smpplib.consts
    import smpplib.gsm

    with SimThread(users={"smpplib": "secret"}, receipt_delay=0.05) as sim:
        client = smpplib.client.Client("127.0.0.1", sim.port, timeout=5)
        sent, received = [], []
        client.set_message_sent_handler(lambda pdu: sent.append(pdu))
        client.set_message_received_handler(lambda pdu: received.append(pdu))
        client.connect()
        client.bind_transceiver(system_id="smpplib", password="secret")
        parts, coding, esm = smpplib.gsm.make_parts("Hello from smpplib")
        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="ACME",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL, destination_addr="4915112345678",
            short_message=parts[0], data_coding=coding, esm_class=esm, registered_delivery=True,
        )
        deadline = time.monotonic() + 5
        while (not sent or not received) and time.monotonic() < deadline:
            client.read_once()
        client.unbind()
        client.disconnect()
        assert len(sent) == 1 and sent[0].status == 0
        mid = sent[0].message_id.decode()
        assert mid == sim.record.submits[0].message_id == "00000001"
        receipt = received[0]
        assert receipt.receipted_message_id.decode() == mid
        assert b"stat:DELIVRD" in receipt.short_message and f"id:{mid}".encode() in receipt.short_message
        assert sim.record.submits[0].short_message == b"Hello from smpplib"
        assert sim.record.receipts_acked == 1 and sim.record.unbinds == 1


def test_smpplib_wrong_password_gets_esme_rinvpaswd():
    import smpplib.client
    import smpplib.exceptions

    with SimThread(users={"smpplib": "secret"}) as sim:
        client = smpplib.client.Client("127.0.0.1", sim.port, timeout=5)
        client.connect()
        with pytest.raises(smpplib.exceptions.PDUError) as e:
            client.bind_transmitter(system_id="smpplib", password="wrong")
        assert e.value.args[1] == CommandStatus.ESME_RINVPASWD
        client.disconnect()
        client = smpplib.client.Client("127.0.0.1", sim.port, timeout=5)
        client.connect()
        with pytest.raises(smpplib.exceptions.PDUError) as e:
            client.bind_transmitter(system_id="nobody", password="secret")
        assert e.value.args[1] == CommandStatus.ESME_RINVSYSID
        client.disconnect()
        assert sim.record.bind_failures == 2 and sim.record.binds == []


async def _raw(port: int, *pdus, read: int = 1, timeout: float = 3.0):
    """Send PDUs over a raw socket; return the first ``read`` PDUs that come back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(P.encode(p) for p in pdus))
    framer, out = P.Framer(), []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(out) < read:
        data = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - asyncio.get_running_loop().time()))
        if not data:
            break
        out += framer.feed(data)
    writer.close()
    return out


def test_operation_matrix_and_other_commands():
    async def main():
        async with Simulator(receipt_delay=0.0, id_format="dec", id_start=99) as sim:
            # submit_sm before binding: ESME_RINVBNDSTS, not accepted
            (r,) = await _raw(sim.port, P.SubmitSm(sequence_number=5, destination_addr="1", short_message=b"x"))
            assert isinstance(r, P.SubmitSmResp) and r.command_status == CommandStatus.ESME_RINVBNDSTS and r.sequence_number == 5
            # a receiver may not submit
            _, r = await _raw(sim.port, P.BindReceiver(sequence_number=1, system_id="a"),
                              P.SubmitSm(sequence_number=2, destination_addr="1"), read=2)
            assert r.command_status == CommandStatus.ESME_RINVBNDSTS
            # a transmitter: submit_sm, data_sm, submit_multi, query_sm, cancel_sm, enquire_link, unbind
            got = await _raw(
                sim.port,
                P.BindTransmitter(sequence_number=1, system_id="a"),
                P.SubmitSm(sequence_number=2, destination_addr="1", short_message=b"x", registered_delivery=0),
                P.DataSm(sequence_number=3, destination_addr="1"),
                P.SubmitMulti(sequence_number=4, dest_addresses=(P.SmeAddress(1, 1, "2"),)),
                P.QuerySm(sequence_number=5, message_id="100"),
                P.QuerySm(sequence_number=6, message_id="nope"),
                P.CancelSm(sequence_number=7, message_id="100"),
                P.EnquireLink(sequence_number=8),
                P.BindTransmitter(sequence_number=9, system_id="a"),
                P.Unbind(sequence_number=10),
                read=10,
            )
            kinds = [(type(p).__name__, p.sequence_number, p.command_status) for p in got]
            assert kinds == [
                ("BindTransmitterResp", 1, 0), ("SubmitSmResp", 2, 0), ("DataSmResp", 3, 0),
                ("SubmitMultiResp", 4, 0), ("QuerySmResp", 5, 0),
                ("QuerySmResp", 6, CommandStatus.ESME_RQUERYFAIL), ("CancelSmResp", 7, 0),
                ("EnquireLinkResp", 8, 0), ("BindTransmitterResp", 9, CommandStatus.ESME_RALYBND), ("UnbindResp", 10, 0),
            ]
            assert got[1].message_id == "100"  # decimal ids from id_start + 1
            assert got[4].message_id == "100" and got[4].message_state == 1  # ENROUTE: no receipt asked

    asyncio.run(main())


def test_malformed_input_gets_generic_nack_or_the_right_status():
    async def main():
        async with Simulator() as sim:
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
            # unknown command_id, sane length: generic_nack ESME_RINVCMDID, the stream goes on
            writer.write(bytes.fromhex("00000010" "000000ff" "00000000" "00000007"))
            writer.write(P.encode(P.EnquireLink(sequence_number=8)))
            framer, out = P.Framer(), []
            while len(out) < 2:
                out += framer.feed(await asyncio.wait_for(reader.read(4096), 3))
            assert isinstance(out[0], P.GenericNack) and out[0].command_status == CommandStatus.ESME_RINVCMDID
            assert out[0].sequence_number == 7 and isinstance(out[1], P.EnquireLinkResp)
            # command_length below 16: cannot resynchronise: generic_nack then close
            writer.write(bytes.fromhex("00000008" "00000015" "00000000" "00000009"))
            data = await asyncio.wait_for(reader.read(4096), 3)
            (nack,) = framer.feed(data)
            assert nack.command_status == CommandStatus.ESME_RINVCMDLEN
            assert await asyncio.wait_for(reader.read(4096), 3) == b""
            writer.close()

    asyncio.run(main())


def test_receipt_state_mix_and_tlvs():
    from engine.client import SmscClient, OutboundMessage
    from engine.config import parse_config

    async def main():
        states = {"DELIVRD": 2, "UNDELIV": 1, "EXPIRED": 1}
        async with Simulator(receipt_delay=0.01, receipt_states=states, seed=2) as sim:
            cfg = parse_config({"smscs": [{"name": "s", "host": "127.0.0.1", "port": sim.port, "system_id": "a",
                                           "password_env": "P", "window": 50}]}, {"P": ""}).smscs[0]
            receipts = []
            async with SmscClient(cfg, on_receipt=receipts.append) as c:
                rs = await asyncio.gather(*(c.submit(OutboundMessage("A", "49", f"m{i}", registered_delivery=1)) for i in range(200)))
                assert await sim.wait_for(lambda s: len(receipts) == 200, 5)
            seen = {r.state for r in receipts}
            assert seen == set(states)
            counts = {s: sum(r.state == s for r in receipts) for s in states}
            assert 70 <= counts["DELIVRD"] <= 130, counts
            code = {"DELIVRD": 2, "UNDELIV": 5, "EXPIRED": 3}
            assert all(r.message_state == code[r.state] for r in receipts)
            assert sorted(r.message_id for r in receipts) == sorted(x.parts[0].message_id for x in rs)

    asyncio.run(main())


def test_receipts_wait_for_a_receiver_bind_and_failure_only_receipts():
    from engine.client import SmscClient, OutboundMessage
    from engine.config import parse_config

    async def main():
        async with Simulator(receipt_delay=0.0, receipt_states={"DELIVRD": 1, "UNDELIV": 1}, seed=4) as sim:
            base = {"name": "s", "host": "127.0.0.1", "port": sim.port, "system_id": "a", "password_env": "P"}
            tx = parse_config({"smscs": [dict(base, bind_type="tx")]}, {"P": ""}).smscs[0]
            async with SmscClient(tx) as c:
                rs = await asyncio.gather(*(c.submit(OutboundMessage("A", "49", f"m{i}", registered_delivery=1)) for i in range(20)))
                fo = await asyncio.gather(*(c.submit(OutboundMessage("A", "49", f"f{i}", registered_delivery=2)) for i in range(20)))
            await asyncio.sleep(0.05)
            assert sim.record.receipts_sent == 0  # nobody to send them to yet
            receipts = []
            rx = parse_config({"smscs": [dict(base, bind_type="rx")]}, {"P": ""}).smscs[0]
            async with SmscClient(rx, on_receipt=receipts.append):
                assert await sim.wait_for(lambda s: len(receipts) >= 20, 3)
                await asyncio.sleep(0.05)
            ids = {r.message_id for r in receipts}
            assert {x.parts[0].message_id for x in rs} <= ids
            failure_only = {x.parts[0].message_id for x in fo} & ids
            assert failure_only and all(r.state == "UNDELIV" for r in receipts if r.message_id in failure_only)
            assert len(receipts) == 20 + len(failure_only) < 40

    asyncio.run(main())


@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar"])
def test_concatenated_mo_is_reassembled_out_of_order_and_deduplicated(concat):
    from engine.client import SmscClient
    from engine.config import parse_config

    async def main():
        async with Simulator(receipt_delay=None) as sim:
            cfg = parse_config({"smscs": [{"name": "s", "host": "127.0.0.1", "port": sim.port, "system_id": "a",
                                           "password_env": "P"}]}, {"P": ""}).smscs[0]
            async with SmscClient(cfg) as c:
                q = c.enable_inbound_queue()
                text = "A long mobile-originated message, Ελληνικά too. " * 4
                n = sim.send_mo("4915112345678", "12345", text, concat=concat, reverse=True, duplicate_part=0)
                event = await asyncio.wait_for(q.get(), 3)
                await sim.wait_for(lambda s: s.record.mo_acked == n, 3)
                assert q.empty()  # one message, the duplicate part swallowed
                assert c._reassembler.duplicates == 1
            assert event.complete and event.text == text and event.parts == n - 1 >= 3
            assert event.source == "4915112345678" and event.destination == "12345"
            assert event.message.method == concat
            assert sim.record.mo_acked == n

    asyncio.run(main())


def test_incomplete_mo_is_handed_over_with_what_arrived():
    from engine.client import SmscClient
    from engine.config import parse_config
    async def main():
        async with Simulator(receipt_delay=None) as sim:
            cfg = parse_config({"smscs": [{"name": "s", "host": "127.0.0.1", "port": sim.port, "system_id": "a",
                                           "password_env": "P", "mo_reassembly_timeout": 0.2}]}, {"P": ""}).smscs[0]
            async with SmscClient(cfg) as c:
                assert c._reassembler.timeout == 0.2
                q = c.enable_inbound_queue()
                conn = sim.connections[0]
                from engine.client.smsc import _encoder

                enc = _encoder()("x" * 200 + "y" * 200, concat="udh8")
                first = P.DeliverSm(source_addr="49151", destination_addr="12345", esm_class=0x40,
                                    short_message=enc.parts[0])
                conn.send_deliver([("mo", None, P.encode(first))])
                event = await asyncio.wait_for(q.get(), 3)
            assert not event.complete and event.missing == (2, 3) and event.text == "x" * 153

    asyncio.run(main())


# --- the commands, as subprocesses --------------------------------------------------


def _start_simulate(*extra: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [*SMPP_ENGINE, "simulate", "--port", "0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    return proc, json.loads(line)["port"]


def _stop(proc: subprocess.Popen) -> dict:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    return json.loads(out.strip().splitlines()[-1])["summary"]


def _run(*args: str, password: str = "pw", timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, SMPP_PASSWORD=password)
    return subprocess.run([*SMPP_ENGINE, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)


def test_cli_send_with_receipt_against_simulate():
    proc, port = _start_simulate("--system-id", "cli", "--password", "pw", "--receipt-delay", "0.05")
    try:
        r = _run("send", "--port", str(port), "--system-id", "cli", "--source", "ACME", "--dest", "+4915112345678",
                 "--text", "Hello " * 40, "--wait-receipt", "5", "--json")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["outcome"] == "ok" and out["segments"] == 2 and out["encoding"] == "gsm7"
        assert out["message_ids"] == ["00000001", "00000002"] and out["final_state"] == "DELIVRD"
        bad = _run("send", "--port", str(port), "--system-id", "cli", "--source", "ACME", "--dest", "49",
                   "--text", "x", password="wrong-pw")
        assert bad.returncode == 3 and "ESME_RINVPASWD" in bad.stderr
        assert "wrong-pw" not in bad.stderr + bad.stdout
    finally:
        summary = _stop(proc)
    assert summary["submits"] == 2 and summary["receipts_acked"] == 2 and summary["bind_failures"] == 1


def test_cli_load_against_simulate_reports_its_json():
    proc, port = _start_simulate("--no-receipts", "--throttle-rate", "0.05", "--record")
    try:
        r = _run("load", "--port", str(port), "--system-id", "cli", "--count", "3000", "--window", "50",
                 "--binds", "2", "--text", "load {i}")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert {"sent", "ok", "failed", "seconds", "rate", "latency_ms"} <= set(out)
        assert out["sent"] == out["ok"] == 3000 and out["failed"] == 0
        # Speed belongs to bench/; here the figures must only be consistent with each other.
        assert out["seconds"] > 0 and abs(out["rate"] - out["sent"] / out["seconds"]) <= 0.1 * out["rate"]
        assert 0 < out["latency_ms"]["p50"] <= out["latency_ms"]["p99"]
        assert out["throttled"] > 0
        bad = _run("load", "--port", str(port), "--system-id", "cli", "--count", "10", "--window", "0")
        assert bad.returncode == 2 and "--window" in bad.stderr

    finally:
        summary = _stop(proc)
    assert summary["submits"] == 3000 and summary["duplicates"] == 0 and summary["max_outstanding"] <= 50


def test_cli_simulate_rejects_bad_options():
    r = _run("simulate", "--throttle-rate", "1.5")
    assert r.returncode == 2 and "--throttle-rate" in r.stderr and "fraction" in r.stderr
    r = _run("simulate", "--states", "DELIVERED=1")
    assert r.returncode == 2 and "unknown state 'DELIVERED'" in r.stderr


def test_cli_load_with_receipts_and_send_over_a_transmitter():
    proc, port = _start_simulate("--receipt-delay", "0.01", "--states", "DELIVRD=1", "--id-format", "dec")
    try:
        r = _run("load", "--port", str(port), "--system-id", "cli", "--count", "300", "--window", "20",
                 "--receipt", "--unique", "--text", "receipt {i}")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["ok"] == 300 and out["receipts"] == 300 and out["receipt_rate"] > 0
        slow = _run("load", "--port", str(port), "--system-id", "cli", "--count", "400", "--window", "50",
                    "--binds", "2", "--tps", "400", "--text", "paced {i}")
        paced = json.loads(slow.stdout)
        assert paced["ok"] == 400 and 0.8 <= paced["seconds"] <= 2.0 and paced["rate"] <= 500, paced
        # A transmitter cannot receive: send opens a receiver bind beside it to wait.
        s = _run("send", "--port", str(port), "--system-id", "cli", "--bind", "tx", "--source", "12345",
                 "--dest", "4915112345678", "--text", "via tx", "--wait-receipt", "5", "--json")
        assert s.returncode == 0, s.stderr
        sent = json.loads(s.stdout)
        assert sent["final_state"] == "DELIVRD" and sent["message_ids"] == ["701"]
    finally:
        summary = _stop(proc)
    assert summary["submits"] == 701 and summary["receipts_acked"] == 301


def test_cli_simulate_sends_the_requested_mo_to_a_receiver():
    from engine.client import SmscClient
    from engine.config import parse_config

    proc, port = _start_simulate("--mo", "4915112345678,12345,Hello from the simulator, a, b")
    try:
        async def main():
            cfg = parse_config({"smscs": [{"name": "s", "host": "127.0.0.1", "port": port, "system_id": "a",
                                           "password_env": "P", "bind_type": "rx"}]}, {"P": ""}).smscs[0]
            async with SmscClient(cfg) as c:
                q = c.enable_inbound_queue()
                return await asyncio.wait_for(q.get(), 5)

        mo = asyncio.run(main())
    finally:
        summary = _stop(proc)
    assert mo.text == "Hello from the simulator, a, b" and mo.source == "4915112345678"
    assert summary["mo_sent"] == 1 and summary["mo_acked"] == 1


def test_cli_send_over_tls_to_simulate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=30,
    )
    proc, port = _start_simulate("--tls-cert", str(cert), "--tls-key", str(key), "--no-receipts")
    try:
        ok = _run("send", "--port", str(port), "--system-id", "cli", "--tls", "--tls-ca-file", str(cert),
                  "--source", "ACME", "--dest", "4915112345678", "--text", "over TLS", "--json")
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["message_ids"] == ["00000001"]
        plain = _run("send", "--port", str(port), "--system-id", "cli", "--connect-timeout", "1",
                     "--bind-timeout", "1", "--source", "ACME", "--dest", "49", "--text", "plain")
        assert plain.returncode == 3  # a TLS server does not answer a plain bind
    finally:
        summary = _stop(proc)
    assert summary["submits"] == 1
    bad = _run("simulate", "--tls-cert", str(cert))
    assert bad.returncode == 2 and "go together" in bad.stderr
