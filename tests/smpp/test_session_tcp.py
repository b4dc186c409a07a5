"""The sans-IO session over real TCP on 127.0.0.1 against the SMSC simulator.

A thin asyncio driver (the test's own, a dozen lines) feeds the socket to ``Session``
and writes what it says; everything SMPP is decided by the session. The simulator has
its own protocol logic, so this checks the session against an independent peer:
binding, a window of submits, receipts matched by normalised message id, deliver_sm
answered, enquire_link, unbind, and a malformed PDU from the peer.
"""

from __future__ import annotations

import asyncio

import pytest

from engine.simulator import Faults, Simulator
from engine.smpp import pdu as P
from engine.smpp.constants import CommandStatus, RegisteredDelivery
from engine.smpp.receipts import normalize_message_id, parse_receipt
from engine.smpp.session import MalformedPdu, RequestReceived, ResponseReceived, Session, StateChanged, Unanswered
from engine.smpp.states import State

pytestmark = pytest.mark.timeout(60)


class Driver:
    """Socket <-> Session, with time from the event loop's clock."""

    def __init__(self, reader, writer, session):
        self.reader, self.writer, self.s = reader, writer, session
        self.loop = asyncio.get_running_loop()
        self.events: list = []
        self.timed_out: list[Unanswered] = []

    def now(self) -> float:
        return self.loop.time()

    def send(self, pdu, **kw):
        self.writer.write(self.s.send(pdu, self.now(), **kw))

    async def run_until(self, done, limit=10.0):
        end = self.now() + limit
        while not done():
            if self.now() > end:
                raise AssertionError(f"condition not met in {limit} s; events: {self.events[-5:]}")
            deadline = self.s.next_deadline()
            wait = max(0.0, min(end, deadline if deadline is not None else end) - self.now())
            try:
                data = await asyncio.wait_for(self.reader.read(65536), timeout=min(wait, 0.2) or 0.001)
            except asyncio.TimeoutError:
                data = None
            if data == b"":
                self.events.append("eof")
                return
            if data:
                for e in self.s.receive_data(data, self.now()):
                    self.events.append(e)
                    if isinstance(e, RequestReceived) and e.pdu._response_class is not None:
                        self.send(e.pdu.response())  # answer deliver_sm (receipts) at once
            self.timed_out += self.s.expire(self.now())
            out = self.s.data_to_send()
            if out:
                self.writer.write(out)
            await self.writer.drain()


async def _connect(sim, **session_kw):
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    loop = asyncio.get_running_loop()
    return Driver(reader, writer, Session("esme", now=loop.time(), **session_kw))


async def _bind(d):
    d.send(P.BindTransceiver(system_id="acme", password="pw"))
    await d.run_until(lambda: d.s.state is not State.BINDING)
    assert d.s.state is State.BOUND_TRX


@pytest.mark.parametrize("id_format", ["hex", "dec"])
def test_bind_submit_window_receipts_unbind(id_format):
    async def main():
        async with Simulator(users={"acme": "pw"}, id_format=id_format, receipt_delay=0.01) as sim:
            d = await _connect(sim, window=10, response_timeout=5.0, enquire_link_interval=30.0)
            await _bind(d)
            n, sent = 60, 0
            ids: dict[str, int] = {}
            while sent < n or d.s.in_flight:
                while sent < n and d.s.can_send():
                    d.send(
                        P.SubmitSm(
                            source_addr="Acme",
                            destination_addr=f"4477009{sent:05d}",
                            registered_delivery=RegisteredDelivery.RECEIPT_FINAL,
                            short_message=f"message {sent}".encode(),
                        ),
                        context=sent,
                    )
                    sent += 1
                    assert d.s.in_flight <= 10
                before = len(d.events)
                await d.run_until(lambda: len(d.events) > before)
            responses = [e for e in d.events if isinstance(e, ResponseReceived) and isinstance(e.request, P.SubmitSm)]
            assert sorted(e.context for e in responses) == list(range(n))
            assert all(e.response.command_status == 0 for e in responses)
            for e in responses:
                ids[normalize_message_id(e.response.message_id, id_format)] = e.context
            assert len(ids) == n
            # receipts: deliver_sm, answered by the driver, matched by normalised id
            await d.run_until(
                lambda: sum(isinstance(e, RequestReceived) and isinstance(e.pdu, P.DeliverSm) for e in d.events) >= n
            )
            receipts = [parse_receipt(e.pdu) for e in d.events if isinstance(e, RequestReceived)]
            assert {ids[normalize_message_id(r.message_id, id_format)] for r in receipts} == set(range(n))
            assert {r.state for r in receipts} == {"delivered"}
            assert d.s.peer_outstanding == 0
            # graceful unbind
            d.writer.write(d.s.unbind(d.now()))
            await d.run_until(lambda: d.s.state is State.UNBOUND)
            assert d.s.close(d.now()) == []
            assert d.timed_out == []
            # what the simulator saw: every message once, never more than the window at once
            assert (sim.record.submit_count, sim.record.duplicates) == (n, 0)
            assert sim.record.max_outstanding <= 10
            assert (sim.record.receipts_acked, sim.record.unbinds) == (n, 1)
            d.writer.close()

    asyncio.run(main())


def test_enquire_link_keeps_the_link_and_a_silent_peer_is_detected():
    async def main():
        async with Simulator(receipt_delay=None) as sim:
            d = await _connect(sim, window=5, response_timeout=0.3, enquire_link_interval=0.1)
            await _bind(d)
            await d.run_until(
                lambda: sum(isinstance(e, ResponseReceived) and isinstance(e.request, P.EnquireLink) for e in d.events) >= 2,
                limit=5.0,
            )
            assert d.timed_out == []
            sim.faults.ignore_enquire_link = True
            await d.run_until(lambda: any(isinstance(u.request, P.EnquireLink) for u in d.timed_out), limit=5.0)
            d.writer.close()

    asyncio.run(main())


def test_dropped_responses_time_out_and_close_hands_back_the_rest():
    async def main():
        async with Simulator(receipt_delay=None, faults=Faults(drop_rate=1.0)) as sim:
            d = await _connect(sim, window=4, response_timeout=0.3, enquire_link_interval=None)
            await _bind(d)
            for i in range(4):
                d.send(P.SubmitSm(destination_addr="1", short_message=b"x"), context=i, timeout=0.2 if i < 2 else 30.0)
            assert not d.s.can_send()
            await d.run_until(lambda: len(d.timed_out) >= 2, limit=5.0)
            assert sorted(u.context for u in d.timed_out) == [0, 1] and d.s.in_flight == 2
            back = d.s.close(d.now())
            assert [u.context for u in back] == [2, 3] and all(u.reason == "closed" for u in back)
            d.writer.close()

    asyncio.run(main())


def test_malformed_pdu_from_the_peer_is_reported_and_the_session_goes_on():
    async def main():
        async with Simulator(receipt_delay=None, faults=Faults(malformed_after=2)) as sim:
            d = await _connect(sim, window=5, response_timeout=2.0, enquire_link_interval=None)
            await _bind(d)
            for i in range(3):
                d.send(P.SubmitSm(destination_addr="1", short_message=b"x"), context=i)
            await d.run_until(lambda: d.s.in_flight == 0 or d.timed_out, limit=5.0)
            bad = [e for e in d.events if isinstance(e, MalformedPdu)]
            assert bad and bad[0].error.status == CommandStatus.ESME_RINVOPTPARSTREAM
            assert not bad[0].error.fatal
            assert d.s.state is State.BOUND_TRX  # it goes on
            # a malformed response hands its request back; every request is accounted for
            answered = {e.context for e in d.events if isinstance(e, ResponseReceived) and isinstance(e.request, P.SubmitSm)}
            handed_back = {e.context for e in bad if e.request is not None}
            assert answered | handed_back | {u.context for u in d.timed_out} == {0, 1, 2}
            d.writer.close()

    asyncio.run(main())


def test_state_changes_are_reported_for_a_refused_bind():
    async def main():
        async with Simulator(users={"acme": "right"}, receipt_delay=None) as sim:
            d = await _connect(sim)
            d.send(P.BindTransmitter(system_id="acme", password="wrong"))
            await d.run_until(lambda: d.s.state is not State.BINDING)
            changed = [e for e in d.events if isinstance(e, StateChanged)]
            assert changed[-1].new is State.OPEN
            resp = [e for e in d.events if isinstance(e, ResponseReceived)][-1].response
            assert resp.command_status == CommandStatus.ESME_RINVPASWD
            d.writer.close()

    asyncio.run(main())
