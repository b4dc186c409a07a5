"""The asyncio client against the simulator over real TCP on 127.0.0.1.

Every fault test checks the same invariant by comparing the simulator's record with
the client's results: no message lost, none submitted twice, except the ones the
client reported as outcome "unknown".
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess

import pytest

from engine.client import (
    ClientClosed,
    Engine,
    MoMessage,
    NotBound,
    Observer,
    OutboundMessage,
    Outcome,
    Receipt,
    SmscClient,
)
from engine.config import parse_config
from engine.simulator import Faults, Simulator
from engine.smpp.constants import CommandStatus

from .conftest import PASSWORD, arun, smsc_config

pytestmark = pytest.mark.timeout(60)
USERS = {"esme": PASSWORD}


def msg(i: int, **kw) -> OutboundMessage:
    return OutboundMessage("ACME", "+4915112345678", f"message number {i}", reference=i, **kw)


def sim_texts(sim: Simulator) -> list[str]:
    return [s.short_message.decode("latin-1") for s in sim.record.submits]


def check_no_loss_no_dup(sim: Simulator, results, n: int) -> None:
    """Every accepted message is in the simulator with the id the client got; nothing twice
    except parts reported unknown; rejected ones are not in the record."""
    by_text: dict[str, list] = {}
    for s in sim.record.submits:
        by_text.setdefault(s.short_message.decode("latin-1"), []).append(s)
    assert len(results) == n
    for i, r in enumerate(results):
        text = f"message number {i}"
        got = by_text.get(text, [])
        if r.outcome is Outcome.OK:
            assert len(got) == 1, (text, got)
            assert got[0].message_id == r.parts[0].message_id
        elif r.outcome is Outcome.UNKNOWN:
            assert len(got) <= 1, (text, got)  # written once, maybe received
        else:
            assert got == [], (text, r)
    assert sim.record.duplicates == 0


class Recorder(Observer):
    def __init__(self):
        self.events = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            events = object.__getattribute__(self, "events")
            return lambda *a: events.append((name, a))
        return object.__getattribute__(self, name)

    def count(self, name):
        return sum(1 for e in self.events if e[0] == name)


def test_bind_submit_and_receipt():
    async def main():
        async with Simulator(users=USERS, receipt_delay=0.05) as sim:
            receipts: list[Receipt] = []
            async with SmscClient(smsc_config(sim.port), on_receipt=receipts.append) as client:
                r = await client.submit(msg(1, registered_delivery=1))
                assert r.ok and r.segments == 1 and r.encoding == "gsm7" and r.data_coding == 0
                mid = r.parts[0].message_id
                assert mid == sim.record.submits[0].message_id
                assert await sim.wait_for(lambda s: receipts, 3)
            rc = receipts[0]
            assert rc.message_id == mid and rc.state == "DELIVRD" and rc.message_state == 2
            assert rc.source == "4915112345678" and rc.destination == "ACME"
            pdu = sim.record.submits[0].pdu
            assert (pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr) == (5, 0, "ACME")
            assert (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr) == (1, 1, "4915112345678")
            assert pdu.registered_delivery == 1
            assert sim.record.unbinds == 1 and sim.record.receipts_acked == 1

    arun(main())


@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar", "payload"])
def test_long_message_every_concat_method(concat):
    text = "Long message € " * 30  # extension characters: 2 septets each
    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            async with SmscClient(smsc_config(sim.port, concat=concat)) as client:
                r = await client.submit(OutboundMessage("ACME", "4915112345678", text))
            assert r.ok, r
            pdus = [s.pdu for s in sim.record.submits]
            from engine.encoding import reference

            if concat == "payload":
                assert len(pdus) == 1 and pdus[0].short_message == b"" and r.segments == 1
                assert reference.decode(pdus[0].message_payload, 0).text == text
                return
            assert len(pdus) == r.segments >= 3
            texts = []
            for k, p in enumerate(pdus):
                udhi = bool(p.esm_class & 0x40)
                assert udhi == (concat in ("udh8", "udh16"))
                d = reference.decode(p.short_message, p.data_coding, udhi)
                texts.append(d.text)
                if concat == "sar":
                    assert p.sar[1:] == (len(pdus), k + 1)
                else:
                    assert d.udh.concat[1:] == (len(pdus), k + 1)
                    assert d.udh.ref_bits == (8 if concat == "udh8" else 16)
            assert "".join(texts) == text

    arun(main())


def test_gsm_data_coding_and_encoding_errors():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            async with SmscClient(smsc_config(sim.port, gsm_data_coding=1)) as client:
                r = await client.submit(msg(1))
                assert r.ok and sim.record.submits[0].pdu.data_coding == 1
                u = await client.submit(OutboundMessage("ACME", "4915112345678", "Привет"))
                assert u.ok and u.data_coding == 8 and sim.record.submits[1].pdu.data_coding == 8
                bad = await client.submit(OutboundMessage("ACME", "4915112345678", "Ça va ç", encoding="gsm7"))
                assert bad.outcome is Outcome.FAILED and "UnencodableCharacter" in bad.error and "'ç'" in bad.error
                long_src = await client.submit(OutboundMessage("A" * 30, "4915112345678", "x"))
                assert long_src.outcome is Outcome.FAILED and "source_addr" in long_src.error
                own = await client.submit(OutboundMessage("12345", "4915112345678", "x", source_ton_npi=(6, 0),
                                                          dest_ton_npi=(0, 1)))
                assert own.ok
            assert len(sim.record.submits) == 3
            p = sim.record.submits[2].pdu
            assert (p.source_addr_ton, p.source_addr_npi, p.dest_addr_ton, p.dest_addr_npi) == (6, 0, 0, 1)
            short = sim.record.submits[0].pdu  # "ACME" alphanumeric by the default rules
            assert (short.source_addr_ton, short.source_addr_npi) == (5, 0)

    arun(main())


def test_wrong_password_is_refused_with_its_status():
    async def main():
        async with Simulator(users={"esme": "other"}) as sim:
            client = SmscClient(smsc_config(sim.port))
            with pytest.raises(NotBound) as e:
                await client.start()
            assert "ESME_RINVPASWD" in str(e.value)
            assert sim.record.bind_failures == 1
            await client.close()

    arun(main())


def test_connect_refused_names_host_and_port():
    async def main():
        async with Simulator() as sim:
            port = sim.port
        client = SmscClient(smsc_config(port))
        with pytest.raises(NotBound, match=f"127.0.0.1:{port}"):
            await client.start()

    arun(main())


def test_window_is_never_exceeded():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None, faults=Faults(delay=0.02)) as sim:
            async with SmscClient(smsc_config(sim.port, window=7)) as client:
                results = await asyncio.gather(*(client.submit(msg(i)) for i in range(150)))
            assert all(r.ok for r in results)
            assert sim.record.max_outstanding == 7  # reached, never passed
            check_no_loss_no_dup(sim, results, 150)

    arun(main())


def test_throttling_retries_in_order_with_window_one():
    """An SMSC taking 100/s (ESME_RTHROTTLED above) and now and then ESME_RMSGQFUL."""

    async def main():
        faults = Faults(max_tps=100, queue_full_rate=0.03)
        async with Simulator(users=USERS, receipt_delay=None, faults=faults, seed=7) as sim:
            rec = Recorder()
            async with SmscClient(smsc_config(sim.port, window=1), rec) as client:
                results = await asyncio.gather(*(client.submit(msg(i)) for i in range(150)))
            assert all(r.ok for r in results), [r for r in results if not r.ok]
            assert sim.record.throttled >= 5
            assert rec.count("on_throttle") == sim.record.throttled
            assert sim_texts(sim) == [f"message number {i}" for i in range(150)]  # order kept
            assert sum(p.attempts - 1 for r in results for p in r.parts) == sim.record.throttled
            check_no_loss_no_dup(sim, results, 150)

    arun(main())


def test_throttling_with_a_window_loses_and_duplicates_nothing():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None, faults=Faults(throttle_rate=0.1), seed=3) as sim:
            async with SmscClient(smsc_config(sim.port, window=20)) as client:
                results = await asyncio.gather(*(client.submit(msg(i)) for i in range(200)))
            assert all(r.ok for r in results)
            assert sim.record.throttled > 10 and sim.record.submit_count == 200
            check_no_loss_no_dup(sim, results, 200)

    arun(main())


def test_throttling_slows_the_bind_down():
    """An SMSC that accepts 400/s: after the first burst the bind settles under that limit."""

    async def main():
        async with Simulator(users=USERS, receipt_delay=None, faults=Faults(max_tps=400)) as sim:
            async with SmscClient(smsc_config(sim.port, window=50, throttle_pause=0.05)) as client:
                bind = client.binds[0]
                # Two warm-up bursts: when the first one straddles the simulator's
                # one-second counting window it draws few throttles, and the bind has
                # not settled yet when the measured part starts.
                first = await asyncio.gather(*(client.submit(msg(i)) for i in range(1000)))
                assert bind.rate.throttled  # adapted
                warmup = sim.record.throttled
                t0 = asyncio.get_running_loop().time()
                second = await asyncio.gather(*(client.submit(msg(i)) for i in range(1000, 1600)))
                elapsed = asyncio.get_running_loop().time() - t0
            results = first + second
            assert all(r.ok for r in results)
            steady = sim.record.throttled - warmup
            # Most go through the first time. (Probing above the limit costs a burst of
            # throttles now and then: at most about a fifth of the parts in our runs.)
            assert steady < 0.6 * 600, (warmup, steady)
            assert elapsed < 2.5, elapsed  # and the bind still uses most of the 400/s
            check_no_loss_no_dup(sim, results, 1600)

    arun(main())


def test_rejections_are_reported_not_retried():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None, faults=Faults(fail_rate=0.25), seed=5) as sim:
            async with SmscClient(smsc_config(sim.port, window=10)) as client:
                results = await asyncio.gather(*(client.submit(msg(i)) for i in range(200)))
            rejected = [r for r in results if r.outcome is Outcome.REJECTED]
            assert len(rejected) == sim.record.rejected > 20
            assert all(r.parts[0].command_status == CommandStatus.ESME_RSUBMITFAIL for r in rejected)
            assert all(r.parts[0].attempts == 1 for r in rejected)
            check_no_loss_no_dup(sim, results, 200)

    arun(main())


def test_missing_responses_become_unknown_and_are_not_resent():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None, faults=Faults(drop_rate=0.1), seed=11) as sim:
            rec = Recorder()
            cfg = smsc_config(sim.port, window=10, response_timeout=0.3)
            async with SmscClient(cfg, rec) as client:
                results = await asyncio.gather(*(client.submit(msg(i)) for i in range(150)))
            unknown = [r for r in results if r.outcome is Outcome.UNKNOWN]
            assert len(unknown) == sim.record.dropped > 5
            assert all("response_timeout" in r.parts[0].error for r in unknown)
            assert sim.record.submit_count == 150  # each written exactly once
            check_no_loss_no_dup(sim, results, 150)

    arun(main())


def test_out_of_order_responses_match_their_requests():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None, faults=Faults(reorder=True, delay=0.01)) as sim:
            async with SmscClient(smsc_config(sim.port, window=50)) as client:
                results = await asyncio.gather(*(client.submit(msg(i)) for i in range(300)))
            assert all(r.ok for r in results)
            check_no_loss_no_dup(sim, results, 300)  # ids checked message by message

    arun(main())


def test_slow_responses_wait_within_the_response_timeout():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None, faults=Faults(delay=0.2)) as sim:
            async with SmscClient(smsc_config(sim.port, window=5, response_timeout=1.0)) as client:
                results = await asyncio.gather(*(client.submit(msg(i)) for i in range(10)))
            assert all(r.ok for r in results)
            assert min(r.parts[0].latency for r in results) >= 0.19

    arun(main())


def test_disconnect_reconnects_and_reports_in_flight_as_unknown():
    async def main():
        faults = Faults(disconnect_after=41, delay=0.005)
        async with Simulator(users=USERS, receipt_delay=None, faults=faults) as sim:
            rec = Recorder()
            async with SmscClient(smsc_config(sim.port, window=10), rec) as client:
                results = await asyncio.gather(*(client.submit(msg(i)) for i in range(200)))
                bind = client.binds[0]
                assert bind.bound_count >= 4  # 200 PDUs, a drop every 41 (bind included)
            outcomes = [r.outcome for r in results]
            assert Outcome.UNKNOWN in outcomes and outcomes.count(Outcome.OK) > 100
            assert set(outcomes) <= {Outcome.OK, Outcome.UNKNOWN}
            assert rec.count("on_reconnect") >= 3 and rec.count("on_unknown") >= 3
            check_no_loss_no_dup(sim, results, 200)
            # Only messages never reported unknown were sent; none twice.
            assert sim.record.submit_count == len(set(sim_texts(sim)))

    arun(main())


def test_simulator_crash_then_restart_rebinds():
    async def main():
        sim = Simulator(users=USERS, receipt_delay=None)
        await sim.start()
        port = sim.port
        client = SmscClient(smsc_config(port))
        await client.start()
        assert (await client.submit(msg(0))).ok
        await sim.stop()
        await asyncio.sleep(0.3)
        assert client.bound == 0
        sim2 = Simulator("127.0.0.1", port, users=USERS, receipt_delay=None)
        await sim2.start()
        r = await client.submit(msg(1))  # queued until the bind is back
        assert r.ok and sim2.record.submit_count == 1
        await client.close()
        await sim2.stop()

    arun(main())


def test_silent_peer_is_detected_and_the_bind_rebuilt():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None, faults=Faults(ignore_enquire_link=True)) as sim:
            cfg = smsc_config(sim.port, enquire_link_interval=0.1, response_timeout=0.2)
            async with SmscClient(cfg) as client:
                assert await sim.wait_for(lambda s: client.binds[0].bound_count >= 2, 5)
                assert sim.record.enquire_links >= 1
                sim.faults.ignore_enquire_link = False
                assert (await client.submit(msg(0))).ok

    arun(main())


def test_enquire_link_both_ways_and_idle_keepalive():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            cfg = smsc_config(sim.port, enquire_link_interval=0.1)
            async with SmscClient(cfg) as client:
                await asyncio.sleep(0.5)
                assert sim.record.enquire_links >= 2  # ours, answered
                assert client.binds[0].bound_count == 1  # answered: no reconnect
                # The SMSC's enquire_link is answered by the client.
                conn = sim.connections[0]
                from engine.smpp import pdu as P

                conn.transport.write(P.encode(P.EnquireLink(sequence_number=77)))
                await asyncio.sleep(0.1)
                assert sim.record.other["EnquireLinkResp"] >= 1

    arun(main())


def test_malformed_pdu_is_answered_with_its_error_status_and_the_bind_goes_on():
    """A deliver_sm with a valid header and a broken TLV is answered with its own
    response carrying the error (SMPP 3.4 4.3: generic_nack is for a header that cannot
    be read: bad command_length, unknown command_id), and the bind goes on."""

    async def main():
        async with Simulator(users=USERS, receipt_delay=None, faults=Faults(malformed_after=3)) as sim:
            async with SmscClient(smsc_config(sim.port, window=1)) as client:
                results = [await client.submit(msg(i)) for i in range(6)]
                assert client.binds[0].bound_count == 1
            assert all(r.ok for r in results)
            assert sim.record.deliver_resp_statuses == {CommandStatus.ESME_RINVOPTPARSTREAM: 1}
            assert sim.record.generic_nacks_received == 0

    arun(main())


def test_graceful_close_drains_the_window_then_unbinds():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None, faults=Faults(delay=0.15)) as sim:
            client = SmscClient(smsc_config(sim.port, window=10))
            await client.start()
            tasks = [asyncio.ensure_future(client.submit(msg(i))) for i in range(25)]
            await asyncio.sleep(0.05)  # some in flight, some queued
            assert client.binds[0].in_flight > 0
            await client.close()
            results = [t.result() for t in tasks]
            assert all(r.ok for r in results), results
            assert sim.record.unbinds == 1
            with pytest.raises(ClientClosed):
                await client.submit(msg(99))
            check_no_loss_no_dup(sim, results, 25)

    arun(main())


def test_close_with_a_dead_window_gives_up_after_drain_timeout():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None, faults=Faults(drop_rate=1.0)) as sim:
            client = SmscClient(smsc_config(sim.port, window=5, drain_timeout=0.2, response_timeout=5.0))
            await client.start()
            tasks = [asyncio.ensure_future(client.submit(msg(i))) for i in range(8)]
            await asyncio.sleep(0.05)
            await client.close()
            results = [t.result() for t in tasks]
            outs = sorted(r.outcome.value for r in results)
            assert outs == ["failed"] * 3 + ["unknown"] * 5  # 5 written, 3 never sent
            assert sim.record.submit_count == 5

    arun(main())


def test_several_binds_share_the_load_and_receipts_come_back_on_any():
    async def main():
        async with Simulator(users=USERS, receipt_delay=0.01) as sim:
            receipts = []
            cfg = smsc_config(sim.port, binds=[{"bind_type": "tx", "count": 3}, {"bind_type": "rx"}])
            async with SmscClient(cfg, on_receipt=receipts.append) as client:
                results = await asyncio.gather(*(client.submit(msg(i, registered_delivery=1)) for i in range(300)))
                assert await sim.wait_for(lambda s: len(receipts) == 300, 5)
            assert all(r.ok for r in results)
            used = {r.parts[0].bind for r in results}
            assert used == {"sim/0", "sim/1", "sim/2"}
            assert {r.bind for r in receipts} == {"sim/3"}
            assert sorted(r.message_id for r in receipts) == sorted(r.parts[0].message_id for r in results)
            check_no_loss_no_dup(sim, results, 300)

    arun(main())


def test_rate_limit_counts_segments():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            async with SmscClient(smsc_config(sim.port, rate=100, window=50)) as client:
                loop = asyncio.get_running_loop()
                t0 = loop.time()
                long = "x" * 400  # 3 segments
                results = await asyncio.gather(*(client.submit(OutboundMessage("ACME", "49151", long)) for _ in range(20)))
                elapsed = loop.time() - t0
            assert all(r.ok and r.segments == 3 for r in results)
            assert 0.5 <= elapsed <= 1.5, elapsed  # 60 segments at 100/s

    arun(main())


def test_mo_messages_reach_the_client():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            mos: list[MoMessage] = []
            async with SmscClient(smsc_config(sim.port), on_mo=mos.append) as client:
                q = client.enable_inbound_queue()
                sim.send_mo("4915112345678", "12345", "Hello from a handset")
                sim.send_mo("4915112345678", "12345", "Привет")
                assert await sim.wait_for(lambda s: len(mos) == 2, 3)
                event = await q.get()
                assert isinstance(event, MoMessage) and event.text == "Hello from a handset"
            assert mos[1].text == "Привет" and mos[1].data_coding == 8 and mos[1].complete
            assert mos[0].source == "4915112345678" and mos[0].destination == "12345"
            assert sim.record.mo_acked == 2

    arun(main())


def test_engine_routes_by_smsc_name():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as a, Simulator(users=USERS, receipt_delay=None) as b:
            base = {"host": "127.0.0.1", "system_id": "esme", "password_env": "SIM_PW"}
            cfg = parse_config(
                {"smscs": [dict(base, name="a", port=a.port), dict(base, name="b", port=b.port)],
                 "engine": {"default_smsc": "b"}},
                {"SIM_PW": PASSWORD},
            )
            async with Engine(cfg) as engine:
                assert (await engine.submit(msg(0), smsc="a")).ok
                assert (await engine.submit(msg(1))).ok
                with pytest.raises(KeyError, match="no SMSC named 'c'"):
                    await engine.submit(msg(2), smsc="c")
            assert a.record.submit_count == 1 and b.record.submit_count == 1

    arun(main())


def test_password_never_in_logs(caplog):
    async def main():
        async with Simulator(users={"esme": "different"}) as sim:
            client = SmscClient(smsc_config(sim.port, reconnect={"initial": 0.01, "max": 0.02, "jitter": 0}))
            with pytest.raises(NotBound):
                await client.start()
            # Keep retrying in the background for a moment: reconnect logs too.
            for b in client.binds:
                b.start()
            await asyncio.sleep(0.1)
            text = repr(client.config) + repr(client.binds[0].config)
            await client.close()
            return text

    with caplog.at_level(logging.DEBUG):
        text = arun(main())
    assert "reconnecting" in caplog.text  # the logs are there ...
    assert PASSWORD not in caplog.text and PASSWORD not in text  # ... the password is not


def _self_signed(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=30,
    )
    return key, cert


def test_tls_bind_with_ca_file(tmp_path):
    key, cert = _self_signed(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)

    async def main():
        async with Simulator(users=USERS, receipt_delay=None, ssl=server) as sim:
            good = smsc_config(sim.port, tls={"ca_file": str(cert)})
            async with SmscClient(good) as client:
                assert (await client.submit(msg(0))).ok
            untrusted = SmscClient(smsc_config(sim.port, tls=True))  # system CAs: not ours
            with pytest.raises(NotBound, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
                await untrusted.start()
            assert sim.record.submit_count == 1

    arun(main())


def test_requests_the_client_does_not_serve_are_refused_and_alerts_ignored():
    from engine.smpp import pdu as P

    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            async with SmscClient(smsc_config(sim.port)) as client:
                conn = sim.connections[0]
                conn.transport.write(P.encode(P.AlertNotification(sequence_number=50, source_addr="1", esme_addr="2")))
                conn.transport.write(P.encode(P.QuerySm(sequence_number=51, message_id="1")))
                await sim.wait_for(lambda s: s.record.other["QuerySmResp"] == 1, 2)
                assert (await client.submit(msg(0))).ok
                assert client.binds[0].bound_count == 1
            # query_sm is the ESME's to send: refused per the operation matrix; the
            # alert (which has no response) is not answered at all.
            assert sim.record.other["QuerySmResp"] == 1 and sim.record.generic_nacks_received == 0

    arun(main())


def test_deliver_sm_on_a_transmitter_is_refused_by_the_operation_matrix():
    from engine.smpp import pdu as P

    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            mos = []
            async with SmscClient(smsc_config(sim.port, bind_type="tx"), on_mo=mos.append):
                conn = sim.connections[0]
                conn.send_deliver([("mo", None, P.encode(P.DeliverSm(source_addr="1", destination_addr="2",
                                                                      short_message=b"hi")))])
                await sim.wait_for(lambda s: s.record.other["DeliverSmResp"] == 1, 2)
            assert mos == [] and sim.record.mo_acked == 0  # refused (ESME_RINVBNDSTS), not taken

    arun(main())


def test_unbind_from_the_smsc_is_answered_and_the_bind_comes_back():
    from engine.smpp import pdu as P

    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            async with SmscClient(smsc_config(sim.port)) as client:
                conn = sim.connections[0]
                conn.transport.write(P.encode(P.Unbind(sequence_number=99)))
                assert await sim.wait_for(lambda s: s.record.other["UnbindResp"] == 1, 2)
                assert await sim.wait_for(lambda s: client.binds[0].bound_count == 2, 3)
                assert (await client.submit(msg(0))).ok

    arun(main())
