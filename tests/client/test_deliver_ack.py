"""deliver_sm_resp follows the store: an ``on_receipt`` / ``on_mo`` callback may return an
awaitable, and the bind answers ESME_ROK only when it resolves; a failed or overdue store
is answered ESME_RX_T_APPN (0x64) so that the SMSC delivers again. Meanwhile the bind
keeps reading (submits go on), and answers keep the order of the deliver_sm.

Over TCP on 127.0.0.1 against the simulator (which redelivers what is refused), and one
hand-made SMSC to see the order of the answers on the wire.
"""

from __future__ import annotations

import asyncio

import pytest

from engine.client import OutboundMessage, Receipt, SmscClient
from engine.simulator import Simulator
from engine.smpp import pdu as P
from engine.smpp.constants import CommandStatus

from .conftest import PASSWORD, arun, smsc_config

pytestmark = pytest.mark.timeout(60)
USERS = {"esme": PASSWORD}
RX_T_APPN = CommandStatus.ESME_RX_T_APPN


def msg(i: int, **kw) -> OutboundMessage:
    return OutboundMessage("ACME", "+4915112345678", f"message number {i}", reference=i, **kw)


def test_receipt_is_answered_only_when_its_store_resolves_and_submits_go_on_meanwhile():
    async def main():
        async with Simulator(users=USERS, receipt_delay=0.02) as sim:
            loop = asyncio.get_running_loop()
            stored = loop.create_future()
            got: list[Receipt] = []

            def on_receipt(r: Receipt):
                got.append(r)
                return stored

            async with SmscClient(smsc_config(sim.port), on_receipt=on_receipt) as client:
                first = await client.submit(msg(0, registered_delivery=1))
                assert first.ok
                assert await sim.wait_for(lambda s: got, 3)
                # Not stored yet: not answered, yet other PDUs keep flowing both ways.
                for i in range(1, 21):
                    assert (await client.submit(msg(i, registered_delivery=0))).ok
                await asyncio.sleep(0.2)
                assert sim.record.receipts_acked == 0 and sim.record.receipts_refused == 0
                stored.set_result(None)
                assert await sim.wait_for(lambda s: s.record.receipts_acked == 1, 3)
            assert len(got) == 1 and got[0].message_id == first.parts[0].message_id
            assert sim.record.receipts_refused == 0

    arun(main())


def test_failed_store_is_answered_rx_t_appn_and_the_receipt_comes_again():
    async def main():
        async with Simulator(users=USERS, receipt_delay=0.02) as sim:
            loop = asyncio.get_running_loop()
            got: list[Receipt] = []

            def on_receipt(r: Receipt):
                got.append(r)
                fut = loop.create_future()
                if len(got) == 1:
                    fut.set_exception(ConnectionError("Redis went away"))  # the first store fails
                else:
                    fut.set_result(None)
                return fut

            async with SmscClient(smsc_config(sim.port), on_receipt=on_receipt) as client:
                r = await client.submit(msg(0, registered_delivery=1))
                assert await sim.wait_for(lambda s: s.record.receipts_acked == 1, 5)
            assert sim.record.receipts_refused == 1
            assert sim.record.receipt_refusal_statuses == {RX_T_APPN: 1}
            assert [x.message_id for x in got] == [r.parts[0].message_id] * 2
            assert sim.record.receipts_sent == 2

    arun(main())


def test_store_past_the_deadline_is_answered_rx_t_appn_and_an_async_callback_is_awaited():
    async def main():
        async with Simulator(users=USERS, receipt_delay=0.02) as sim:
            got: list[Receipt] = []
            never = asyncio.get_running_loop().create_future()

            async def on_receipt(r: Receipt):  # a coroutine callback: awaited before the answer
                got.append(r)
                if len(got) == 1:
                    await never  # hangs: the bind must not wait for ever
                await asyncio.sleep(0.01)

            async with SmscClient(smsc_config(sim.port), on_receipt=on_receipt) as client:
                for b in client.binds:
                    b.deliver_ack_timeout = 0.3
                await client.submit(msg(0, registered_delivery=1))
                assert await sim.wait_for(lambda s: s.record.receipts_refused == 1, 3)
                assert sim.record.receipts_acked == 0
                assert await sim.wait_for(lambda s: s.record.receipts_acked == 1, 3)
            assert len(got) == 2 and got[0].message_id == got[1].message_id
            assert sim.record.receipt_refusal_statuses == {RX_T_APPN: 1}

    arun(main())


def test_a_callback_that_raises_refuses_the_receipt_and_none_answers_at_once():
    async def main():
        async with Simulator(users=USERS, receipt_delay=0.02) as sim:
            got: list[Receipt] = []

            def on_receipt(r: Receipt):
                got.append(r)
                if len(got) == 1:
                    raise RuntimeError("handler bug")
                return None  # nothing to wait for: answered at once

            async with SmscClient(smsc_config(sim.port), on_receipt=on_receipt) as client:
                await client.submit(msg(0, registered_delivery=1))
                assert await sim.wait_for(lambda s: s.record.receipts_acked == 1, 5)
            assert sim.record.receipts_refused == 1 and len(got) == 2

    arun(main())


def test_mo_store_failure_is_refused_and_the_simulator_sends_it_again():
    async def main():
        async with Simulator(users=USERS, receipt_delay=None) as sim:
            loop = asyncio.get_running_loop()
            texts: list[str | None] = []

            def on_mo(m):
                texts.append(m.text)
                fut = loop.create_future()
                if len(texts) == 1:
                    fut.set_exception(OSError("inbound stream unavailable"))
                else:
                    fut.set_result(None)
                return fut

            async with SmscClient(smsc_config(sim.port), on_mo=on_mo):
                sim.send_mo("4915112345678", "12345", "Hello from a handset")
                assert await sim.wait_for(lambda s: s.record.mo_acked == 1, 5)
            assert texts == ["Hello from a handset"] * 2
            assert sim.record.mo_refused == 1

    arun(main())


def test_answers_keep_the_order_of_the_deliver_sm_and_their_sequence_numbers():
    """A hand-made SMSC sends three receipts in one write; the first one's store is slow.
    The answers must come in arrival order, each with its deliver_sm's sequence number,
    and the slow one with ESME_ROK once stored."""

    async def main():
        loop = asyncio.get_running_loop()
        answers: list[P.Pdu] = []
        ready = asyncio.Event()
        conn_w: list[asyncio.StreamWriter] = []

        async def smsc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            framer = P.Framer()
            conn_w.append(writer)
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                for pdu in framer.feed(data):
                    if isinstance(pdu, P.BindTransceiver):
                        writer.write(P.encode(pdu.response(system_id="HAND")))
                        ready.set()
                    elif isinstance(pdu, P.Unbind):
                        writer.write(P.encode(pdu.response()))
                    elif isinstance(pdu, P.EnquireLink):
                        writer.write(P.encode(pdu.response()))
                    elif isinstance(pdu, P.DeliverSmResp):
                        answers.append(pdu)

        server = await asyncio.start_server(smsc, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        slow = loop.create_future()
        futures = {"a1": slow}

        def on_receipt(r: Receipt):
            return futures.get(r.message_id)  # a1 waits; a2 and a3 need nothing

        try:
            async with SmscClient(smsc_config(port), on_receipt=on_receipt):
                await asyncio.wait_for(ready.wait(), 3)
                receipts = [
                    P.DeliverSm(sequence_number=seq, source_addr="1", destination_addr="2", esm_class=4,
                                short_message=f"id:{mid} sub:001 dlvrd:001 submit date:2601010000 done "
                                              f"date:2601010000 stat:DELIVRD err:000 text:".encode())
                    for seq, mid in ((70, "a1"), (71, "a2"), (72, "a3"))
                ]
                conn_w[0].write(b"".join(P.encode(p) for p in receipts))
                await asyncio.sleep(0.3)
                assert answers == [], "an answer overtook the receipt still being stored"
                slow.set_result(None)
                for _ in range(100):
                    if len(answers) == 3:
                        break
                    await asyncio.sleep(0.02)
        finally:
            server.close()
        assert [(a.sequence_number, a.command_status) for a in answers] == [(70, 0), (71, 0), (72, 0)]

    arun(main())


def test_receipts_sharing_one_store_future_are_answered_together_and_each_keeps_its_deadline():
    """The service hands every receipt of one batch the same future: the bind answers the
    whole group when it resolves (refused together when it fails), and a receipt that
    joins a group late still gets its own deliver_ack_timeout."""

    async def main():
        async with Simulator(users=USERS, receipt_delay=0.02) as sim:
            loop = asyncio.get_running_loop()
            got: list[Receipt] = []
            shared = [loop.create_future()]

            def on_receipt(r: Receipt):
                got.append(r)
                return shared[0]

            async with SmscClient(smsc_config(sim.port), on_receipt=on_receipt) as client:
                for b in client.binds:
                    b.deliver_ack_timeout = 5.0
                for i in range(5):
                    assert (await client.submit(msg(i, registered_delivery=1))).ok
                assert await sim.wait_for(lambda s: len(got) == 5, 3)
                await asyncio.sleep(0.1)
                assert sim.record.receipts_acked == 0 and sim.record.receipts_refused == 0
                # The store of the group fails: all five refused, delivered again. The
                # timeout drops to 0.3 s for the receipts that come from now on.
                for b in client.binds:
                    b.deliver_ack_timeout = 0.3
                first, shared[0] = shared[0], loop.create_future()
                first.set_exception(ConnectionError("Redis went away"))
                assert await sim.wait_for(lambda s: s.record.receipts_refused == 5, 3)
                assert await sim.wait_for(lambda s: len(got) == 10, 3)
                # The redelivered five joined the new future, which never resolves in
                # time: each is refused at its own deadline; none waits for ever
                # because it joined a group.
                assert await sim.wait_for(lambda s: s.record.receipts_refused == 10, 3)
                assert sim.record.receipts_acked == 0
                # The store resolves at last: the third delivery, handed the resolved
                # future, is answered ESME_ROK.
                shared[0].set_result(None)
                assert await sim.wait_for(lambda s: s.record.receipts_acked == 5, 5)
                assert len(got) == 15
            assert sim.record.receipt_refusal_statuses == {RX_T_APPN: 10}

    arun(main())


# --- the receipt lane: rows instead of Receipt objects ----------------------------------


def test_receipt_rows_are_answered_when_their_store_resolves_and_failures_come_again():
    async def main():
        async with Simulator(users=USERS, receipt_delay=0.02) as sim:
            loop = asyncio.get_running_loop()
            rows: list[tuple] = []
            objects: list[Receipt] = []
            stores: list[asyncio.Future] = []

            def on_rows(bind: str, chunk: list[tuple]):
                rows.extend((bind, r) for r in chunk)
                fut = loop.create_future()
                stores.append(fut)
                return fut

            async with SmscClient(smsc_config(sim.port), on_receipt=objects.append, on_receipt_rows=on_rows) as client:
                results = [await client.submit(msg(i, registered_delivery=1)) for i in range(20)]
                assert all(r.ok for r in results)
                assert await sim.wait_for(lambda s: len(rows) == 20, 3)
                await asyncio.sleep(0.1)
                assert sim.record.receipts_acked == 0  # nothing stored yet: nothing answered
                # The first store fails: its receipts are refused and delivered again.
                stores[0].set_exception(ConnectionError("Redis went away"))
                for s in stores[1:]:
                    s.set_result(None)
                assert await sim.wait_for(lambda s: s.record.receipts_refused >= 1, 3)
                while sim.record.receipts_acked < 20:
                    for s in stores:
                        if not s.done():
                            s.set_result(None)
                    await asyncio.sleep(0.02)
            assert objects == []  # every receipt took the lane
            ids = {r.parts[0].message_id for r in results}
            assert {row[1] for _, row in rows} == ids
            assert all(bind == "sim/0" and row[2] == "delivered" and row[3] == "DELIVRD" for bind, row in rows)
            assert sim.record.receipts_refused == len(rows) - 20
            assert set(sim.record.receipt_refusal_statuses) == {RX_T_APPN}

    arun(main())


def test_inbound_iterator_closes_the_lane_and_gets_receipt_objects():
    async def main():
        async with Simulator(users=USERS, receipt_delay=0.02) as sim:
            rows: list[tuple] = []
            async with SmscClient(smsc_config(sim.port), on_receipt_rows=lambda b, c: rows.extend(c)) as client:
                queue = client.enable_inbound_queue()
                result = await client.submit(msg(0, registered_delivery=1))
                event = await asyncio.wait_for(queue.get(), 3)
            assert isinstance(event, Receipt) and event.message_id == result.parts[0].message_id
            assert event.state == "DELIVRD" and event.pdu is not None
            assert rows == []

    arun(main())
