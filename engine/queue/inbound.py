"""The parts of concatenated MO messages, kept in Redis until their message is published.

An SMSC does not send a deliver_sm again once it has its deliver_sm_resp, so a part
held only in the memory of the process that answered it is lost when that process
dies. The service therefore stores every part here before the part is answered, in
one record per message that every bind and every engine process of the account
shares, and publishes the whole message to the inbound stream exactly once.

Key layout (``P`` is the key prefix)::

    P mo:{account}:{source}:{destination}:{method}:{ref}:{total}
                       hash  one message being reassembled (':' and '%' in the
                             addresses and the account are %-escaped)
        src dst acct bind  the addresses, the SMSC account, the bind of the first part
        m ref tot          udh8 | udh16 | sar, the reference, the part count
        dc pk              data_coding of the first part, the bind's gsm_packed (0|1)
        t0                 first part stored (ms, Redis TIME)
        n                  parts stored
        p:{seq}            one part: "dc:per_part:udh_length:received_ms:hex payload"
                           (blanked once published; the field stays, so that a
                           repeated part is recognised)
        done               "1" once the message was published
    P mo-due           zset  record key -> deadline (ms, Redis TIME): t0 + the bind's
                             mo_reassembly_timeout. Left when the message is published.

The three scripts:

* ``STORE`` adds one part (HSETNX: a repeated part changes nothing) and, when every
  part is in, gives the whole record back, also to a repeated part: the completing
  part is answered only after the publish, so when a process dies in between, the
  SMSC sends that part again and the message is published then.
* ``PUBLISH`` XADDs the message to the inbound stream, marks the record done, leaves
  the due index and keeps the record ``timeout`` longer for repeats, all atomically
  and only when the record is not done yet: two binds or two processes that both saw
  the message complete publish it once. A record that gained a part since it was read
  (the sweep raced a late part) is not published; the caller reads it again.
* ``DUE`` gives back the records whose deadline passed and are not done: the
  housekeeping sweep of every process publishes them, complete or flagged incomplete,
  so a restart finds what a dead process left.

Each script takes a whole batch in one call. They run on a standalone Redis (or a
primary with replicas), not on Redis Cluster: a call writes several records, the
index and the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from engine.smpp.reassembly import ConcatPart, Part

__all__ = ["InboundParts", "Record", "Stored", "record_key", "due_key", "RECORD_TTL", "STORED", "DUPLICATE", "COMPLETE"]

# An incomplete record is published by the sweep at its deadline; this only bounds
# what stays in Redis when no engine runs at all for this long (the tracker keeps its
# records a week too).
RECORD_TTL = 7 * 24 * 3600.0

STORED = "stored"  # a new part, the message still waits for others
DUPLICATE = "dup"  # a part stored before (or one of a message published already)
COMPLETE = "complete"  # every part is in: publish, then answer

# One call per batch, its parts as one flat JSON array of strings (STORE_STRIDE per
# part): redis-py packs every argument in Python, and with a pipelined call of thirteen
# arguments per part that packing was most of the 87 us of Python CPU a part cost
# (store, decode, publish; 38 us like this, batches of 50).
STORE_STRIDE = 12

_STORE = r"""
local due = KEYS[1]
local B = cjson.decode(ARGV[1])
local ttl = ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 0, #B / STRIDE - 1 do
  local o = i * STRIDE
  local k = KEYS[i + 2]
  local seq, value, total = B[o + 1], B[o + 2], tonumber(B[o + 3])
  local f = 'p:' .. seq
  local res = nil
  if redis.call('HGET', k, 'done') then
    if redis.call('HEXISTS', k, f) == 1 then
      res = 'dup'
    else
      -- A part the published message never had: a new message under the same
      -- reference (the in-memory reassembler does the same).
      redis.call('DEL', k)
    end
  end
  if not res then
    if redis.call('EXISTS', k) == 0 then
      redis.call('HSET', k, 'src', B[o + 5], 'dst', B[o + 6], 'acct', B[o + 7], 'bind', B[o + 8], 'm', B[o + 9],
                 'ref', B[o + 10], 'tot', B[o + 3], 'dc', B[o + 11], 'pk', B[o + 12],
                 't0', string.format('%d', now), 'n', '0')
      redis.call('PEXPIRE', k, ttl)
      redis.call('ZADD', due, string.format('%d', now + tonumber(B[o + 4])), k)
    end
    local n
    if redis.call('HSETNX', k, f, value) == 1 then
      res = 'stored'
      n = redis.call('HINCRBY', k, 'n', 1)
    else
      res = 'dup'
      n = tonumber(redis.call('HGET', k, 'n'))
    end
    if n >= total then res = {'complete', redis.call('HGETALL', k)} end
  end
  out[i + 1] = res
end
return out
""".replace("STRIDE", str(STORE_STRIDE))

# Per message: the part count read, how long to keep the record (ms), the number of
# stream fields, then field, value, ...
_PUBLISH = r"""
local due, stream, maxlen = KEYS[1], KEYS[2], ARGV[1]
local B = cjson.decode(ARGV[2])
local out = {}
local o = 0
for i = 1, #KEYS - 2 do
  local k = KEYS[i + 2]
  local count, keep, nf = B[o + 1], B[o + 2], tonumber(B[o + 3])
  local h = redis.call('HMGET', k, 'n', 'done')
  if not h[1] or h[2] then
    out[i] = 0
  elseif h[1] ~= count then
    out[i] = -1
  else
    local fields = {}
    for j = 1, nf do fields[j] = B[o + 3 + j] end
    redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', unpack(fields))
    for _, name in ipairs(redis.call('HKEYS', k)) do
      if string.sub(name, 1, 2) == 'p:' then redis.call('HSET', k, name, '') end
    end
    redis.call('HSET', k, 'done', '1')
    redis.call('ZREM', due, k)
    redis.call('PEXPIRE', k, keep)
    out[i] = 1
  end
  o = o + 3 + nf
end
return out
"""

_DUE = r"""
local due = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local keys = redis.call('ZRANGEBYSCORE', due, '-inf', string.format('%d', now), 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for _, k in ipairs(keys) do
  local h = redis.call('HGETALL', k)
  local done = false
  for i = 1, #h, 2 do if h[i] == 'done' then done = true end end
  if #h == 0 or done then
    redis.call('ZREM', due, k)
  else
    out[#out + 1] = k
    out[#out + 1] = h
  end
end
return out
"""


def _esc(s: str) -> str:
    return s.replace("%", "%25").replace(":", "%3A")


def record_key(prefix: str, account: str, part: ConcatPart) -> str:
    """The record of the message ``part`` belongs to (the reassembler's key, per account)."""
    return (f"{prefix}mo:{_esc(account)}:{_esc(part.source)}:{_esc(part.destination)}:"
            f"{part.method}:{part.ref}:{part.total}")


def due_key(prefix: str) -> str:
    return f"{prefix}mo-due"


def _encode_part(part: ConcatPart, received_at: float) -> str:
    udh = len(part.short_message) - len(part.data)
    return f"{part.data_coding}:{int(part.per_part)}:{udh}:{int(received_at * 1000)}:{part.short_message.hex()}"


@dataclass(frozen=True, slots=True)
class Record:
    """A message's record as read from Redis: what ``Reassembler.assemble`` needs.

    ``count``: parts stored (``PUBLISH`` checks it); ``bind``: the bind of the first part.
    """

    key: str
    account: str
    bind: str
    source: str
    destination: str
    method: str
    ref: int
    total: int
    data_coding: int
    packed: bool
    first_at: float
    count: int
    parts: tuple[Part, ...]
    per_part: bool

    @property
    def missing(self) -> tuple[int, ...]:
        have = {p.seq for p in self.parts}
        return tuple(i for i in range(1, self.total + 1) if i not in have)

    def assemble_args(self) -> dict[str, Any]:
        """Keyword arguments of ``Reassembler.assemble`` (``now`` aside)."""
        return {
            "source": self.source, "destination": self.destination, "method": self.method, "ref": self.ref,
            "total": self.total, "data_coding": self.data_coding, "parts": list(self.parts),
            "per_part": self.per_part, "packed": self.packed, "first_at": self.first_at,
        }


def _record(key: str, flat: list[str]) -> Record:
    h = dict(zip(flat[::2], flat[1::2]))
    parts = []
    per_part = False
    for name, value in h.items():
        if not name.startswith("p:") or not value:
            continue
        dc, pp, udh, received, hexdata = value.split(":", 4)
        sm = bytes.fromhex(hexdata)
        parts.append(Part(int(name[2:]), sm[int(udh):], sm, int(received) / 1000))
        per_part = per_part or pp == "1"
    parts.sort(key=lambda p: p.seq)
    return Record(
        key=key, account=h.get("acct", ""), bind=h.get("bind", ""), source=h.get("src", ""),
        destination=h.get("dst", ""), method=h.get("m", ""), ref=int(h.get("ref", 0)),
        total=int(h.get("tot", 0)), data_coding=int(h.get("dc", 0)), packed=h.get("pk") == "1",
        first_at=int(h.get("t0", 0)) / 1000, count=int(h.get("n", 0)), parts=tuple(parts), per_part=per_part,
    )


@dataclass(frozen=True, slots=True)
class Stored:
    """What ``InboundParts.store`` did with one part: ``outcome`` STORED, DUPLICATE or
    COMPLETE; ``record`` the whole message when COMPLETE."""

    outcome: str
    record: Record | None = None


class InboundParts:
    """The Redis side of MO reassembly; see the module docstring.

    ``store([(account, bind, part, packed, timeout, received_at), ...])`` stores parts
    (one script call); ``publish([(record, fields, keep), ...], stream,
    maxlen)`` publishes messages; ``due(limit)`` reads records past their deadline.
    """

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.due_key = due_key(prefix)
        self._store = redis.register_script(_STORE)
        self._publish = redis.register_script(_PUBLISH)
        self._due = redis.register_script(_DUE)

    async def store(self, items: list[tuple[str, str, ConcatPart, bool, float, float]]) -> list[Stored]:
        if not items:
            return []
        keys = [self.due_key]
        flat: list[str] = []
        for account, bind, part, packed, timeout, received_at in items:
            keys.append(record_key(self.prefix, account, part))
            flat += (str(part.seq), _encode_part(part, received_at), str(part.total), str(int(timeout * 1000)),
                     part.source, part.destination, account, bind, part.method, str(part.ref),
                     str(part.data_coding), "1" if packed else "0")
        replies = await self._store(keys=keys, args=[orjson.dumps(flat), str(int(RECORD_TTL * 1000))])
        return [Stored(COMPLETE, _record(key, r[1])) if isinstance(r, list) else Stored(r)
                for key, r in zip(keys[1:], replies)]

    async def publish(self, items: list[tuple[Record, dict[Any, Any], float]], stream: str,
                      maxlen: int) -> list[int]:
        """``items``: (record, stream entry fields, how long the published record stays
        to recognise repeated parts: the reassembly timeout). Per message: 1 published
        now, 0 published before (by another bind or process), -1 not published because
        a part arrived since the record was read."""
        if not items:
            return []
        keys = [self.due_key, stream]
        flat: list[str] = []
        for record, fields, keep in items:
            keys.append(record.key)
            flat += (str(record.count), str(max(1, int(keep * 1000))), str(2 * len(fields)))
            for name, value in fields.items():
                flat += (name, value)
        return [int(r) for r in await self._publish(keys=keys, args=[str(maxlen), orjson.dumps(flat)])]

    async def due(self, limit: int) -> list[Record]:
        """Up to ``limit`` records whose deadline passed and that are not published."""
        flat = await self._due(keys=[self.due_key], args=[str(limit)])
        return [_record(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
