"""Several binds of one SMSC (``SmscClient``) and several SMSCs (``Engine``).

A message is encoded with its bind's settings (concatenation method, GSM packing,
GSM data_coding, national tables, TON/NPI rules), all its parts go through that one
bind (in order, one concatenation reference), and ``submit`` returns when every part
has its outcome. Inbound deliver_sm become ``Receipt`` and ``MoMessage`` events.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from engine.client.bind import Bind, BindError, SubmitJob
from engine.client.observer import NULL_OBSERVER, Observer
from engine.client.types import (
    MESSAGE_STATE_WORDS,
    ClientClosed,
    MoMessage,
    NotBound,
    OutboundMessage,
    Outcome,
    PartResult,
    PlainMessage,
    Receipt,
    SubmitResult,
    receipt_state_word,
)
from engine.config import BindConfig, Config, SmscConfig
from engine.encoding import EncodingError
from engine.encoding import decode as _decode
from engine.encoding import encode as _encode
from engine.encoding import encode_batch as _encode_batch
from engine.encoding.refs import RefCounter
from engine.smpp import _native
from engine.smpp import pdu as P
from engine.smpp import receipts as _RECEIPTS
from engine.smpp.constants import EsmClass, Tag
from engine.smpp.errors import PduError
from engine.smpp.reassembly import ConcatPart, concat_part
from engine.smpp.tlv import Tlv, sar_tlvs

__all__ = ["SmscClient", "Engine", "build_submits", "parse_deliver"]

# Messages queued on one bind per pick in ``submit_batch``: small enough that a batch
# spreads over the binds (each pick takes the least loaded), large enough that the
# Rust calls are few.
BATCH_PER_PICK = 64

log = logging.getLogger("engine.client")


def _encoder():
    """``engine.encoding.encode`` (the Rust core; the facade falls back to nothing else)."""
    return _encode


def _decoder():
    return _decode




def build_submits(message: OutboundMessage | PlainMessage, cfg: BindConfig, refs: Any = None) -> tuple[list[bytes], str | None, int]:
    """The encoded submit_sm PDUs (sequence number 0) for one message, with the
    encoding name and data_coding used. Raises ``EncodingError``/``ValueError``/``PduError``
    naming the problem (unencodable text, too many parts, a field the wire cannot carry).
    """
    concat = message.concat or cfg.concat
    src, src_ton, src_npi = cfg.addr.for_source(message.source, national=message.national)
    dst, dst_ton, dst_npi = cfg.addr.for_destination(message.destination, national=message.national)
    if message.source_ton_npi is not None:
        src, (src_ton, src_npi) = message.source, message.source_ton_npi
    if message.dest_ton_npi is not None:
        dst_ton, dst_npi = message.dest_ton_npi
    extra: tuple[Tlv, ...] = tuple(message.tlvs)
    esm = message.esm_class
    if message.parts is not None:
        if message.data_coding is None:
            raise ValueError("pre-encoded parts need their data_coding")
        parts = list(message.parts)
        data_coding = message.data_coding
        encoding = None
        udhi = message.udhi
        sar = message.sar
        payload = False
    else:
        if message.text is None:
            raise ValueError("a message needs text or pre-encoded parts")
        enc = _encoder()(
            message.text,
            encoding=message.encoding,
            concat=concat,
            packed=cfg.gsm_packed,
            national=cfg.national,
            **({"ref": refs} if refs is not None else {}),
        )
        parts = list(enc.parts)
        encoding = enc.encoding
        data_coding = cfg.gsm_data_coding if enc.encoding == "gsm7" else enc.data_coding
        udhi = enc.udhi
        sar = enc.sar
        payload = concat == "payload"
    if udhi:
        esm |= EsmClass.UDHI
    rd = cfg.registered_delivery if message.registered_delivery is None else message.registered_delivery
    pdus: list[P.SubmitSm] = []
    total = len(parts)
    for i, body in enumerate(parts):
        tlvs = extra
        if sar is not None and total > 1:
            tlvs = tlvs + sar_tlvs(*sar[i])
        if payload:
            tlvs = tlvs + (Tlv(Tag.MESSAGE_PAYLOAD, bytes(body)),)
            body = b""
        pdu = P.SubmitSm(
            service_type=message.service_type,
            source_addr_ton=src_ton,
            source_addr_npi=src_npi,
            source_addr=src,
            dest_addr_ton=dst_ton,
            dest_addr_npi=dst_npi,
            destination_addr=dst,
            esm_class=esm,
            protocol_id=message.protocol_id,
            priority_flag=message.priority,
            schedule_delivery_time=message.schedule_delivery_time,
            validity_period=message.validity_period,
            registered_delivery=rd,
            data_coding=data_coding,
            short_message=bytes(body),
            tlvs=tlvs,
        )
        pdus.append(pdu)
    # Every part in one call: Rust when the extension is built (same bytes and errors
    # as pdu.encode, tests/native), pdu.encode otherwise.
    return _native.encode_submit_sm_batch(pdus), encoding, data_coding


def _plain(m: OutboundMessage | PlainMessage) -> bool:
    """A message ``build_submits_many`` builds from a template: text, the bind's
    addressing rules, no per-message TLVs or fields beyond the common ones."""
    return (m.parts is None and m.text is not None and not m.tlvs and m.source_ton_npi is None
            and m.dest_ton_npi is None and not m.national and not m.service_type and not m.protocol_id
            and not m.validity_period and not m.schedule_delivery_time)


_REF_BITS = {"udh8": 8, "udh16": 16, "sar": 16}


def build_submits_many(messages: Sequence[OutboundMessage | PlainMessage], cfg: BindConfig, refs_for: Callable[[str], Any],
                       templates: dict | None = None) -> list[tuple[list[bytes], str | None, int] | Exception]:
    """``build_submits`` for many messages with one bind's settings, in a few Rust calls:
    the texts encoded together (``encode_batch``, per encoding and concatenation
    method), the PDUs built from a template per source (``build_submit_sm_batch``).
    Each item is what ``build_submits`` returns for that message, or the exception it
    would raise (same bytes, same errors: tests/client/test_submit_batch.py). Messages
    with fields of their own (pre-encoded parts, TLVs, TON/NPI overrides...) go through
    ``build_submits`` one by one.

    ``refs_for(destination)``: the destination's reference counter; a message takes
    a reference from it only when it has several parts, as in ``build_submits``.
    """
    out: list[Any] = [None] * len(messages)
    groups: dict[tuple, list[int]] = {}
    for i, m in enumerate(messages):
        if type(m) is PlainMessage or _plain(m):
            key = (m.encoding, m.concat or cfg.concat)
            g = groups.get(key)
            if g is None:
                groups[key] = [i]
            else:
                g.append(i)
        else:
            try:
                out[i] = build_submits(m, cfg, refs_for(m.destination))
            except (ValueError, TypeError) as exc:
                out[i] = exc
    if templates is None:
        templates = {}
    gsm_dc = cfg.gsm_data_coding
    dst_ton, dst_npi = cfg.addr.destination
    for (encoding, concat), idx in groups.items():
        # A message is in a group only with a text (_plain).
        texts: list[str | bytes] = [messages[i].text for i in idx]  # type: ignore[misc]
        bits = _REF_BITS.get(concat)
        # Encoded with reference 0 first; the few that need parts are encoded again
        # with their destination's next reference (a counter is only consumed by a
        # message that has parts, as in build_submits).
        ref0 = {"ref": 0} if bits else {}
        encoded: list[Any]
        try:
            encoded = _encode_batch(texts, encoding=encoding, concat=concat, packed=cfg.gsm_packed,
                                    national=cfg.national, **ref0)
        except (ValueError, TypeError):
            # One text cannot be sent: find which, one by one (the others still go).
            encoded = []
            for text in texts:
                try:
                    encoded.append(_encode(text, encoding=encoding, concat=concat, packed=cfg.gsm_packed,
                                           national=cfg.national, **ref0))
                except (ValueError, TypeError) as exc:
                    encoded.append(exc)
        if bits:
            multi = [k for k, e in enumerate(encoded) if not isinstance(e, Exception) and len(e.parts) > 1]
            if multi:
                refs = [refs_for(messages[idx[k]].destination).next_ref(bits) for k in multi]
                again = _encode_batch([texts[k] for k in multi], encoding=encoding, concat=concat,
                                      packed=cfg.gsm_packed, national=cfg.national, ref=refs)
                for k, e in zip(multi, again):
                    encoded[k] = e
        payload = concat == "payload"
        by_template: dict[tuple, list[int]] = {}
        for k, i in enumerate(idx):
            e = encoded[k]
            if isinstance(e, Exception):
                out[i] = e
                continue
            m = messages[i]
            rd = cfg.registered_delivery if m.registered_delivery is None else m.registered_delivery
            tkey = (m.source, rd, m.esm_class, m.priority)
            t = by_template.get(tkey)
            if t is None:
                by_template[tkey] = [k]
            else:
                t.append(k)
        for tkey, ks in by_template.items():
            source, rd, esm, prio = tkey
            template = templates.get(tkey)
            if template is None:
                src, src_ton, src_npi = cfg.addr.for_source(source)
                template = P.SubmitSm(source_addr_ton=src_ton, source_addr_npi=src_npi, source_addr=src,
                                      dest_addr_ton=dst_ton, dest_addr_npi=dst_npi, esm_class=esm,
                                      priority_flag=prio, registered_delivery=rd)
                templates[tkey] = template
            # One Rust call builds every part of every message of the template.
            try:
                built = _native.build_submit_sm_encoded(template, [messages[idx[k]].destination for k in ks],
                                                        [encoded[k] for k in ks], gsm_dc, payload)
            except (ValueError, TypeError):  # the template itself (a sender too long...)
                built = [None] * len(ks)
            b: Any
            for k, b in zip(ks, built):
                i = idx[k]
                if b is None:  # a PDU cannot be built (a field too long): build_submits names it
                    try:
                        b = build_submits(messages[i], cfg, refs_for(messages[i].destination))
                    except (ValueError, TypeError) as exc:
                        b = exc
                out[i] = b
    return out


def parse_deliver(bind: str, pdu: Any) -> Receipt | MoMessage:
    """A deliver_sm / data_sm as a ``Receipt`` (esm_class receipt bits) or ``MoMessage``."""
    esm = getattr(pdu, "esm_class", 0)
    payload = getattr(pdu, "payload", None)
    if payload is None:
        payload = pdu.message_payload or b""
    if (esm & 0x3C) in (0x04, 0x20):
        # engine.smpp.receipts reads the appendix B text and the TLVs; a receipt it
        # cannot read (no id anywhere, a bad TLV) is still handed over, with what the
        # TLVs say and parsed=None.
        parsed = None
        try:
            parsed, body = _RECEIPTS.parse_receipt_body(pdu)
        except ValueError as exc:  # ReceiptError, PduError
            log.warning("%s: receipt not understood: %s", bind, exc)
            body = None
        # The text as the SMSC sent it, octet for octet (latin-1: the body read above,
        # unless that was UCS-2 or the payload TLV).
        text = body if body is not None and pdu.data_coding != 0x08 and payload is getattr(pdu, "short_message", None) \
            else payload.decode("latin-1", "replace")
        if parsed is not None:
            return Receipt(bind, parsed.message_id, receipt_state_word(parsed.stat, parsed.message_state, parsed.state),
                           parsed.message_state, parsed.error, text, pdu.source_addr, pdu.destination_addr, parsed, pdu)
        try:
            mid = pdu.receipted_message_id
        except PduError:
            mid = None
        try:
            mstate = pdu.message_state
        except PduError:
            mstate = None
        return Receipt(bind, mid, MESSAGE_STATE_WORDS.get(mstate or 0), mstate, None, text,
                       pdu.source_addr, pdu.destination_addr, None, pdu)
    udhi = bool(esm & EsmClass.UDHI)
    try:
        decoded = _decoder()(payload, pdu.data_coding, udhi)
        text = decoded.text
        data = decoded.data
    except (ValueError, EncodingError):
        text, data = None, payload
    return MoMessage(bind, pdu.source_addr, pdu.destination_addr, text, data, pdu.data_coding, 1, pdu=pdu)


def _random_ref_start() -> int:
    return int.from_bytes(os.urandom(2), "big")


def _not_built(message: OutboundMessage | PlainMessage, exc: Exception) -> SubmitResult:
    """The result of a message that never left: nothing encoded, nothing sent."""
    return SubmitResult(
        message.reference, [PartResult(0, Outcome.FAILED, error=str(exc))], 0, error=f"{type(exc).__name__}: {exc}"
    )


def _mo_from(bind: str, m: Any) -> MoMessage:
    """An ``engine.smpp.reassembly`` Message or Incomplete as an MoMessage."""
    from engine.smpp.reassembly import Incomplete

    if isinstance(m, Incomplete):
        # The text of what arrived, decoded by the reassembler as a whole message's parts
        # are (part by part for packed GSM: joined, the octets would be read shifted).
        data = b"".join(p.data for p in m.parts)
        return MoMessage(bind, m.source, m.destination, m.text, data, m.data_coding, m.total, False, m.missing,
                         None, m, m.parts[-1].pdu if m.parts else None)
    return MoMessage(bind, m.source, m.destination, m.text, m.data, m.data_coding, m.total, True, (),
                     m.decode_error, m, m.parts[-1].pdu if m.parts else None)


class _Collector:
    """The parts of one message of ``submit_batch``: the result once each has its outcome."""

    __slots__ = ("reference", "results", "left", "encoding", "data_coding", "on_result")

    def __init__(self, reference: Any, n: int, encoding: str | None, data_coding: int,
                 on_result: Callable[[SubmitResult], Any]) -> None:
        self.reference = reference
        self.results: list[PartResult | None] = [None] * n
        self.left = n
        self.encoding = encoding
        self.data_coding = data_coding
        self.on_result = on_result

    def done(self, r: PartResult) -> None:
        self.results[r.index] = r
        self.left -= 1
        if self.left == 0:
            n = len(self.results)
            self.on_result(SubmitResult(self.reference, self.results, n, self.encoding,  # type: ignore[arg-type]
                                        self.data_coding))


class SmscClient:
    """All binds of one SMSC. ``await start()``, ``await submit(msg)``, ``await close()``.

    Inbound events go to ``on_receipt`` / ``on_mo`` callbacks when given, and to the
    async iterator ``inbound()`` when someone iterates it. A callback may return an
    awaitable that resolves once the event is stored: the deliver_sm is answered
    ESME_ROK only then, ESME_RX_T_APPN if it raises or takes longer than the bind's
    ``deliver_ack_timeout`` (the SMSC delivers it again); None answers at once.

    ``on_receipt_rows(bind name, rows)``, when given, takes the common receipts
    instead of ``on_receipt``, as rows ``(sequence_number, message_id, state, stat,
    err, message_state)`` without a ``Receipt`` object each (``Bind.on_receipt_rows``;
    a service storing receipts in bulk); its return value is waited for as
    ``on_receipt``'s. Receipts the lane does not take still go to ``on_receipt``. The
    lane closes when someone asks for ``inbound()``, which yields ``Receipt`` objects.
    """

    def __init__(
        self,
        config: SmscConfig,
        observer: Observer | None = None,
        *,
        on_receipt: Callable[[Receipt], Any] | None = None,
        on_mo: Callable[[MoMessage], Any] | None = None,
        on_receipt_rows: Callable[[str, list[tuple]], Any] | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.observer = observer or NULL_OBSERVER
        self.on_receipt = on_receipt
        self.on_mo = on_mo
        self.on_receipt_rows = on_receipt_rows
        # ``on_mo_part(bind_name, part, pdu)``: where the parts of concatenated MO go
        # instead of the in-memory reassembler (the service sets it); its awaitable is
        # what the bind waits for before answering, as for ``on_mo``.
        self.on_mo_part: Callable[[str, ConcatPart, Any], Any] | None = None
        self.binds = [Bind(b, self.observer, self._on_deliver) for b in config.binds]
        if on_receipt_rows is not None:
            for b in self.binds:
                b.on_receipt_rows = self._on_rows
        self._tx = [b for b in self.binds if b.config.can_transmit]
        self._refs: dict[str, RefCounter] = {}
        self._template_cache: dict[str, dict] = {}
        self._inbound: asyncio.Queue | None = None
        self._closed = False
        from engine.smpp.reassembly import Reassembler

        # One per SMSC: the parts of one MO message may come over different binds.
        first = config.binds[0] if config.binds else None
        self._reassembler = Reassembler(
            first.mo_reassembly_timeout if first else 300.0, packed=first.gsm_packed if first else False
        )
        self._reassembly_timer: asyncio.TimerHandle | None = None

    async def start(self, *, timeout: float | None = None) -> None:
        """Open every bind once (raising :class:`NotBound` when none binds), then keep them up.

        A bind that fails its first attempt keeps retrying in the background.
        """
        results = await asyncio.gather(*(b.open() for b in self.binds), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if len(errors) == len(self.binds):
            first = errors[0]
            raise NotBound(f"{self.name}: no bind could be established: {first}") from (
                first if isinstance(first, Exception) else None
            )
        for b in self.binds:
            b.start()

    def _pick(self) -> Bind:
        best = None
        for b in self._tx:
            if b.is_bound and (best is None or b.load < best.load):
                best = b
        if best is None:
            if not self._tx:
                raise NotBound(f"{self.name}: no transmitter or transceiver bind is configured")
            best = min(self._tx, key=lambda b: b.load)
        return best

    def ref_counter_for(self, destination: str) -> RefCounter:
        """The concatenation-reference counter of one destination (a handset reassembles
        by sender and reference, so references only need to be unique per destination)."""
        r = self._refs.get(destination)
        if r is None:
            if len(self._refs) > 100_000:  # bounded: old destinations' counters are dropped
                self._refs.clear()
            # A random start: engine processes sharing one SMSC account (run --processes,
            # or several machines) each keep their own counters, and a long message
            # from each to the same handset at the same moment must not share a
            # reference (counters all starting at 0 would).
            r = self._refs[destination] = RefCounter(_random_ref_start())
        return r

    async def submit(self, message: OutboundMessage) -> SubmitResult:
        """Encode and send every part; returns when each part has its outcome.

        Never raises for a bad message: an encoding error comes back as a result with
        outcome ``failed`` and ``error`` naming the problem. Raises ``ClientClosed`` after
        ``close()``.
        """
        if self._closed:
            raise ClientClosed(f"{self.name} is closed")
        bind = self._pick()
        try:
            datas, encoding, data_coding = build_submits(message, bind.config, self.ref_counter_for(message.destination))
        except (ValueError, TypeError) as exc:  # EncodingError and PduError are ValueErrors
            return _not_built(message, exc)
        await bind.wait_space()
        return await self._send(bind, message, datas, encoding, data_coding)

    def submit_nowait(self, message: OutboundMessage) -> asyncio.Future[SubmitResult]:
        """``submit`` without waiting for room and without a task per message: every part
        is encoded and queued on the least loaded bind now, and the future resolves with
        the ``SubmitResult`` when each part has its outcome. For callers that keep many
        messages going (the Redis service): check ``has_space()`` first, or ``await
        wait_space()``, to keep the backpressure ``submit`` gives.

        Like ``submit`` it never fails for a bad message: an encoding error, or no
        transmitting bind configured, resolves at once with outcome ``failed``,
        ``segments`` 0 and ``error`` naming the problem. Raises ``ClientClosed`` after
        ``close()``.
        """
        if self._closed:
            raise ClientClosed(f"{self.name} is closed")
        try:
            bind = self._pick()
            datas, encoding, data_coding = build_submits(message, bind.config, self.ref_counter_for(message.destination))
        except (NotBound, ValueError, TypeError) as exc:  # EncodingError and PduError are ValueErrors
            fut: asyncio.Future[SubmitResult] = asyncio.get_running_loop().create_future()
            fut.set_result(_not_built(message, exc))
            return fut
        return self._send(bind, message, datas, encoding, data_coding)

    def submit_batch(self, messages: Sequence[OutboundMessage | PlainMessage], on_result: Callable[[SubmitResult], Any],
                     start: int = 0) -> int:
        """``submit_nowait`` for ``messages[start:]`` without a future per message: they
        are queued on the least loaded binds, ``BATCH_PER_PICK`` at a time and only while
        the bind picked has queue room (the backpressure ``has_space`` gives), encoded
        and built in a few Rust calls per bind (``build_submits_many``).
        ``on_result(SubmitResult)`` is called once per message queued, when each of its
        parts has its outcome (at once for one that cannot be built, or when no
        transmitting bind is configured: outcome ``failed``, ``segments`` 0, ``error``
        naming the problem). Returns the index of the first message not queued
        (``len(messages)`` when all were); wait with ``wait_space()`` and call again.
        Raises ``ClientClosed`` after ``close()``.
        """
        if self._closed:
            raise ClientClosed(f"{self.name} is closed")
        n = len(messages)
        i = start
        while i < n:
            try:
                bind = self._pick()
            except NotBound as exc:
                for m in messages[i:]:
                    on_result(_not_built(m, exc))
                return n
            room = bind.room()
            if room <= 0:
                break
            chunk = messages[i:i + min(room, BATCH_PER_PICK)]
            i += len(chunk)
            built = build_submits_many(chunk, bind.config, self.ref_counter_for, self._templates(bind))
            jobs: list[SubmitJob] = []
            for m, b in zip(chunk, built):
                if isinstance(b, Exception):
                    on_result(_not_built(m, b))
                    continue
                datas, encoding, data_coding = b
                cb = _Collector(m.reference, len(datas), encoding, data_coding, on_result).done
                prio = m.priority
                for k, d in enumerate(datas):
                    jobs.append(SubmitJob(d, cb, k, prio))
            if jobs:
                bind.enqueue_many(jobs)
        return i

    def room(self) -> int:
        """Messages ``submit_batch`` could take now at most (the queue room of the
        transmitting binds; a message with parts takes no more of it than one)."""
        return sum(b.room() for b in self._tx)

    def _templates(self, bind: Bind) -> dict:
        t = self._template_cache.get(bind.name)
        if t is None:
            t = self._template_cache[bind.name] = {}
        if len(t) > 1000:  # bounded: many distinct senders
            t.clear()
        return t

    def has_space(self) -> bool:
        """Whether the bind the next message goes to has queue room (window x
        ``QUEUE_FACTOR``); True when there is none to wait for (``submit_nowait`` then
        fails the message at once)."""
        try:
            return self._pick().has_space()
        except NotBound:
            return True

    async def wait_space(self) -> None:
        """Wait until the bind the next message goes to has queue room. Raises
        ``ClientClosed`` when the client (or that bind) is shutting down."""
        if self._closed:
            raise ClientClosed(f"{self.name} is closed")
        try:
            bind = self._pick()
        except NotBound:
            return
        await bind.wait_space()

    def _send(self, bind: Bind, message: OutboundMessage, datas: list[bytes], encoding, data_coding) -> asyncio.Future[SubmitResult]:
        fut: asyncio.Future = asyncio.get_running_loop().create_future()

        def resolve(result: SubmitResult) -> None:
            if not fut.done():
                fut.set_result(result)

        done = _Collector(message.reference, len(datas), encoding, data_coding, resolve).done
        for i, d in enumerate(datas):
            bind.enqueue(SubmitJob(d, done, i, message.priority))
        return fut

    def _on_deliver(self, bind: Bind, pdu: Any) -> Any:
        """What the bind waits for before it answers the deliver_sm: the awaitable the
        ``on_receipt`` / ``on_mo`` callback returned, or None (answer at once).

        A part of a concatenated MO goes to ``on_mo_part`` when set (the service stores
        it in Redis, shared by every bind and process, and the bind answers once it is
        stored). Without it, a part that does not complete its message is answered at
        once and held by the in-memory reassembler (lost if the process dies): holding
        its answer until the last part came could outlast any SMSC's patience."""
        if (getattr(pdu, "esm_class", 0) & 0x3C) in (0x04, 0x20):
            event = parse_deliver(bind.name, pdu)
            assert isinstance(event, Receipt)
            return self._emit_receipt(event)
        loop = asyncio.get_running_loop()
        if self.on_mo_part is not None:
            try:
                part = concat_part(pdu, self._reassembler.packed)
            except Exception as exc:  # noqa: BLE001 - the reassembler below delivers it as received
                log.warning("%s: concatenation marker not read (%s)", bind.name, exc)
                part = None
            if part is not None:
                return self.on_mo_part(bind.name, part, pdu)
        try:
            m = self._reassembler.add(pdu, loop.time())
        except Exception as exc:  # never lose an MO to a reassembly bug: deliver it as is
            log.warning("%s: reassembly failed (%s); delivering the part as received", bind.name, exc)
            return self._emit_mo(parse_deliver(bind.name, pdu))  # type: ignore[arg-type]
        ack = None
        if m is not None:
            ack = self._emit_mo(_mo_from(bind.name, m))
        self._schedule_reassembly_expiry(bind.name)
        return ack

    def _schedule_reassembly_expiry(self, bind_name: str) -> None:
        deadline = self._reassembler.next_deadline()
        if deadline is None or self._reassembly_timer is not None:
            return
        loop = asyncio.get_running_loop()

        def expire() -> None:
            self._reassembly_timer = None
            for inc in self._reassembler.expire(loop.time()):
                log.warning("%s: MO message from %s incomplete after %.0f s, missing parts %s",
                            self.name, inc.source, self._reassembler.timeout, list(inc.missing))
                self._emit_mo(_mo_from(bind_name, inc))
            self._schedule_reassembly_expiry(bind_name)

        self._reassembly_timer = loop.call_at(max(deadline, loop.time()), expire)

    def _on_rows(self, bind: Bind, rows: list[tuple]) -> Any:
        """The receipt lane of ``bind`` (``Bind.on_receipt_rows``): what
        ``on_receipt_rows(bind name, rows)`` returns is what the bind waits for."""
        self.observer.on_receipt_rows(bind.name, rows)
        return self.on_receipt_rows(bind.name, rows)  # type: ignore[misc]

    @property
    def mo_reassembly_timeout(self) -> float:
        """How long the parts of one MO message may take to all arrive (seconds)."""
        return self._reassembler.timeout

    @property
    def mo_packed(self) -> bool:
        """Whether this SMSC sends GSM 7-bit MO text packed (``gsm_packed``)."""
        return self._reassembler.packed

    def assemble_mo(self, bind: str, now: float, **parts: Any) -> MoMessage:
        """The MoMessage of parts kept elsewhere (``Reassembler.assemble``'s keywords):
        decoded as the in-memory reassembler decodes, flagged incomplete when parts are
        missing."""
        return _mo_from(bind, self._reassembler.assemble(now=now, **parts))

    def _emit_receipt(self, event: Receipt) -> Any:
        self.observer.on_receipt(event.bind, event)
        ack = self.on_receipt(event) if self.on_receipt is not None else None
        if self._inbound is not None:
            self._inbound.put_nowait(event)
        return ack

    def _emit_mo(self, event: MoMessage) -> Any:
        self.observer.on_mo(event.bind, event)
        ack = self.on_mo(event) if self.on_mo is not None else None
        if self._inbound is not None:
            self._inbound.put_nowait(event)
        return ack

    async def inbound(self) -> AsyncIterator[Receipt | MoMessage]:
        """Receipts and MO messages as they arrive (events start queueing on first call)."""
        queue = self.enable_inbound_queue()
        while True:
            yield await queue.get()

    def enable_inbound_queue(self) -> asyncio.Queue:
        """Start queueing inbound events now (before iterating), and return the queue.
        The queue gets ``Receipt`` objects: the receipt lane (rows) is closed from now on."""
        if self._inbound is None:
            self._inbound = asyncio.Queue()
            for b in self.binds:
                b.on_receipt_rows = None
        return self._inbound

    async def close(self, *, drain: bool = True) -> None:
        """Drain every bind's window, unbind, close."""
        self._closed = True
        await asyncio.gather(*(b.close(drain=drain) for b in self.binds), return_exceptions=True)
        if self._reassembly_timer is not None:
            self._reassembly_timer.cancel()
            self._reassembly_timer = None

    @property
    def bound(self) -> int:
        return sum(1 for b in self.binds if b.is_bound)

    async def __aenter__(self) -> SmscClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Engine:
    """Routes messages to SMSCs by name; ``engine.default_smsc`` (or the only SMSC) otherwise."""

    def __init__(
        self,
        config: Config,
        observer: Observer | None = None,
        *,
        on_receipt: Callable[[Receipt], Any] | None = None,
        on_mo: Callable[[MoMessage], Any] | None = None,
        on_receipt_rows: Callable[[str, list[tuple]], Any] | None = None,
    ) -> None:
        if not config.smscs:
            raise ValueError("the configuration has no [[smscs]]: nothing to send through")
        self.config = config
        self.smscs = {
            s.name: SmscClient(s, observer, on_receipt=on_receipt, on_mo=on_mo, on_receipt_rows=on_receipt_rows)
            for s in config.smscs
        }
        self.default = config.engine.default_smsc or config.smscs[0].name

    async def start(self) -> None:
        """Start every SMSC; raises NotBound if one of them cannot bind at all."""
        await asyncio.gather(*(c.start() for c in self.smscs.values()))

    def client(self, smsc: str | None = None) -> SmscClient:
        name = smsc or self.default
        try:
            return self.smscs[name]
        except KeyError:
            raise KeyError(f"no SMSC named {name!r}; configured: {sorted(self.smscs)}") from None

    async def submit(self, message: OutboundMessage, smsc: str | None = None) -> SubmitResult:
        return await self.client(smsc).submit(message)

    def submit_nowait(self, message: OutboundMessage, smsc: str | None = None) -> asyncio.Future[SubmitResult]:
        """``SmscClient.submit_nowait`` on the named (or default) SMSC."""
        return self.client(smsc).submit_nowait(message)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.smscs.values()), return_exceptions=True)

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
