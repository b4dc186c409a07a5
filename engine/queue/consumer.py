"""Reading the intake streams through a consumer group: batches, priorities, per-campaign
rate limits, reclaiming a dead consumer's entries, hand-off records and acknowledgement.

The life of an entry, for the caller (the engine's submit loop)::

    entries = await consumer.read()          # transactional first, rate limits applied
    await consumer.begin(entries)            # just before handing them to SMPP
    for e in entries:
        if not e.sendable:                   # ALREADY_ACKED / CLAIMED_ELSEWHERE: someone
            continue                         # else owns it now; do not send, do not ack
        if e.attempt is Attempt.OUTCOME_UNKNOWN:
            # handed to SMPP before by a consumer that never recorded the outcome: the
            # earlier submit may have gone out. Either record "unknown" without sending,
            # or send again with the status saying it may be a duplicate.
        ...                                  # Attempt.FIRST: never handed before
    ...record each submit_sm_resp or final failure...
    await consumer.ack(done_entries)         # only now does the entry leave the stream

Entries never handed (shutdown before submit) can be given back with ``release``;
another consumer (or this one) reclaims them after ``claim_idle_ms`` as FIRST.
Entries in flight for long (a throttled SMSC) should be ``touch``ed so that they
are not taken for a dead consumer's.

Rate limits: a campaign submitted with a rate has its own stream, read through a
Lua call that takes tokens and reads at most that many entries. A limit set on a
campaign already in the shared bulk stream is enforced by holding its entries back
in this consumer (in order, their idle time refreshed); with more than ``hold_max``
held, the bulk stream is not read until tokens free some (head-of-line blocking
for that case only).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable

from redis.exceptions import ResponseError

from engine.queue._native import intake_entries as _intake_entries
from engine.queue.keys import Keys
from engine.queue.message import MalformedEntry, Message

__all__ = ["Attempt", "Consumer", "Entry", "READ_COUNT", "CLAIM_IDLE_MS"]

# Entries per XREADGROUP / XAUTOCLAIM: hundreds amortise the round trip (issue 4 asks
# for >= 20,000 msg/s) while one batch still fits a typical SMPP window several times.
READ_COUNT = 500
# A consumer that has not touched its pending entries for a minute is taken as dead:
# far above any submit_sm round trip (seconds), short enough that a crash delays
# its messages by about a minute.
CLAIM_IDLE_MS = 60_000
# How long to wait in XREADGROUP BLOCK when there is nothing to do: short enough for a
# responsive shutdown, long enough not to spin.
BLOCK_MS = 1000
# An attempt record must outlive any entry still pending in the stream: a week covers
# an engine left down over a long weekend.
ATTEMPT_TTL_S = 7 * 24 * 3600
# Hand-off records looked at per prune step (one step per scan for dead consumers).
PRUNE_COUNT = 1000
# Entries held back by a campaign's rate limit, per consumer; above this the consumer
# stops reading the bulk stream (transactional is still read).
HOLD_MAX = 5000
# Lua scripts take this many keys per call, to keep one call short (Redis is single
# threaded: a call over 100k keys would stall every other client).
SCRIPT_CHUNK = 1000


class Attempt(Enum):
    """What ``Consumer.begin`` found for an entry."""

    FIRST = "first"  # never handed to SMPP before: send it
    OUTCOME_UNKNOWN = "outcome_unknown"  # handed before, outcome never recorded: may have gone out
    ALREADY_ACKED = "acked"  # its outcome was recorded meanwhile: do not send, do not ack
    CLAIMED_ELSEWHERE = "claimed"  # another consumer reclaimed it: do not send, do not ack


# The begin script's verdict letters.
_VERDICTS = {"a": Attempt.ALREADY_ACKED, "c": Attempt.CLAIMED_ELSEWHERE, "f": Attempt.FIRST,
             "u": Attempt.OUTCOME_UNKNOWN}
_TOKENS = {f"{c}{n}": (a, n) for c, a in _VERDICTS.items() for n in range(10)}


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _id_range(ids: list[str]) -> tuple[str, str]:
    """The lowest and highest stream entry id of a batch ("" "" if one is malformed:
    the script then asks about each entry alone)."""
    try:
        # A batch read by XREADGROUP is in stream order: check the ends first.
        first, last = _id_key(ids[0]), _id_key(ids[-1])
        lo, hi = min(first, last), max(first, last)
        for i in ids:
            k = _id_key(i)
            if k < lo:
                lo = k
            elif k > hi:
                hi = k
    except ValueError:
        return "", ""
    return f"{lo[0]}-{lo[1]}", f"{hi[0]}-{hi[1]}"


def _bulk_last(e: "Entry") -> bool:
    return e.message.priority != "transactional"


def _by_stream(entries: Iterable["Entry"]) -> dict[str, list["Entry"]]:
    out: dict[str, list[Entry]] = {}
    for e in entries:
        out.setdefault(e.stream, []).append(e)
    return out


@dataclass(slots=True)
class Entry:
    stream: str
    entry_id: str
    message: Message
    reclaimed: bool = False
    attempt: Attempt | None = None
    attempts: int = 0
    read_at: float = 0.0

    @property
    def key(self) -> tuple[str, str]:
        """(stream, entry id): entry ids are unique per stream only (two streams can
        hand out the same millisecond-sequence id), so key in-flight tables by this."""
        return (self.stream, self.entry_id)

    @property
    def sendable(self) -> bool:
        """After ``begin``: True for FIRST and OUTCOME_UNKNOWN (the latter only with a
        status that says the message may be a duplicate)."""
        return self.attempt is Attempt.FIRST or self.attempt is Attempt.OUTCOME_UNKNOWN


# The hash's layout field: a name no message id can have (ids have no newline) and a
# value longer than hash-max-listpack-value (64 by default), so that Redis makes the
# hash a hash table from its first HSET. As a listpack (up to hash-max-listpack-entries,
# 512 by default, fields) every field written is a linear search: one batch's HSET of
# 500 records took 1.6 ms instead of about 0.15 ms.
_LAYOUT = ("\n", "hand-off records of the intake streams: message id -> state:n:ts:consumer "
                  "(this field keeps the hash a hash table: a listpack would make every batch "
                  "write a linear search per field)")

# Hand-off records live in one hash, ``P attempts``: field = message id, value
# "state:n:ts:consumer" (state handed | released; n = hand-offs; ts = unix seconds of
# the last change). A field exists only while its entry is pending AND has been handed
# to SMPP; ack deletes it in the same call that XACKs, so the hash holds what is in
# flight, not traffic. One hash rather than a key per message: the batch scripts read
# and write every record of a batch in one HMGET and one HSET, and ack drops them in
# one HDEL (a key per message cost a SET with an expiry at hand-off and an UNLINK at
# ack, each a command of its own). Fields have no TTL of their own: the hash expires
# after ``attempt_ttl_s`` without any hand-off, and ``Consumer.read`` prunes fields
# older than that a slice at a time (the safety net the per-key TTL used to be).
#
# The batch scripts get the entry ids and message ids as two newline-joined strings:
# four arguments per batch instead of two per entry, because redis-py packs every
# argument in Python and that was a fifth of the consumer's cost.
#
# KEYS: stream, attempts hash. ARGV: group, consumer, now (unix s), entry ids, message
# ids, lowest and highest entry id, legacy attempt key prefix, reclaimed flags (one
# "0"/"1" per entry, or "" when none was reclaimed), attempt_ttl_s, layout note, "1"
# when a message id occurs twice in the batch. Which entries are still pending
# under this consumer is asked once per batch (XPENDING over the batch's id range,
# filtered by consumer) rather than once per entry: that was a third of the script's
# Redis time. An entry not in that answer (or past its COUNT) is asked about alone.
# A reclaimed entry whose message has no field may have been handed by an earlier
# version of the engine, which kept one key per message (``P attempt:<id>``): that
# key is read (and moved into the hash), so its hand-off still counts.
# Returns one space-separated token per entry: a verdict letter and the hand-offs:
#   a0 - acked: no longer pending, someone recorded its outcome; do not send
#   c0 - claimed: pending under another consumer (it reclaimed it); do not send
#   fN - first: never handed before (or released), N-th hand-off; send
#   uN - outcome unknown: handed before with no recorded outcome; it may have gone out
_BEGIN = """
local ids, mids = {}, {}
for x in string.gmatch(ARGV[4], '[^\\n]+') do ids[#ids + 1] = x end
for x in string.gmatch(ARGV[5], '[^\\n]+') do mids[#mids + 1] = x end
local me = ARGV[2]
local pend = {}
if ARGV[6] ~= '' then pend = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[6], ARGV[7], #ids * 2 + 16, me) end
-- XPENDING answers in id order, as a batch usually is: walk both; a set of the answer
-- is built only when they part (an entry not ours, or a batch out of order).
local k, mine = 1, nil
local out, ours, no = {}, {}, 0
for i = 1, #ids do
  local id = ids[i]
  local found
  if mine then
    found = mine[id]
  else
    local e = pend[k]
    if e and e[1] == id then
      found = true
      k = k + 1
    else
      mine = {}
      for _, e2 in ipairs(pend) do mine[e2[1]] = true end
      found = mine[id]
    end
  end
  local p = nil
  if not found then p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1) end
  if p and #p == 0 then
    out[i] = 'a0'
  elseif p and p[1][2] ~= me then
    out[i] = 'c0'
  else
    no = no + 1
    ours[no] = i
  end
end
if no > 0 then
  local fields = {}
  for k = 1, no do fields[k] = mids[ours[k]] end
  local vals = redis.call('HMGET', KEYS[2], unpack(fields))
  local flags = ARGV[9]
  local legacy = flags ~= '' and string.find(flags, '1', 1, true)
  local tail = ':' .. ARGV[3] .. ':' .. me
  local first = 'handed:1' .. tail
  -- The same message twice in one batch (ARGV[12] '1', Python checks): the second
  -- hand-off sees the first.
  -- set starts with the layout field (see _LAYOUT): it keeps the hash a hash table.
  local cur = ARGV[12] == '1' and {} or nil
  local set, ns = {'\\n', ARGV[11]}, 2
  for k = 1, no do
    local i = ours[k]
    local mid = mids[i]
    local v = nil
    if cur then v = cur[mid] end
    if v == nil then
      v = vals[k]
      if not v and legacy and string.byte(flags, i) == 49 then
        local lk = ARGV[8] .. mid
        v = redis.call('GET', lk)
        if v then redis.call('DEL', lk) end
      end
    end
    local nv
    if not v then
      -- the common case: never handed before
      nv = first
      out[i] = 'f1'
    else
      local st, c = string.match(v, '^(%a+):(%d+)')
      local n = (tonumber(c) or 0) + 1
      nv = 'handed:' .. n .. tail
      if st == 'handed' then out[i] = 'u' .. n else out[i] = 'f' .. n end
    end
    if cur then cur[mid] = nv end
    set[ns + 1] = mid
    set[ns + 2] = nv
    ns = ns + 2
  end
  redis.call('HSET', KEYS[2], unpack(set))
  redis.call('EXPIRE', KEYS[2], ARGV[10])
end
-- One string, "f1 u2 a0 ...": a reply of nested arrays cost more than the rest.
return table.concat(out, ' ')
"""

# KEYS: stream, attempts hash. ARGV: group, delete (0/1), entry ids, message ids
# (newline-joined). Returns how many were still pending.
#
# Deleting acked entries: XDEL costs more than anything else in the ack (a search and
# an in-place delete per entry). Every entry older than the group's oldest pending one
# has been delivered and acked, so one XTRIM MINID up to it removes them, a whole
# stream node at a time; only acked entries newer than that (an older one is still in
# flight) are XDELed one by one. That holds only when this group is the stream's only
# group and was created at 0 (as ensure_groups does); with another group the script
# XDELs, as before. Entries newer than the group's last-delivered id are never
# touched (not yet read), nor is any entry still pending.
_ACK = """
local ids, mids = {}, {}
for x in string.gmatch(ARGV[3], '[^\\n]+') do ids[#ids + 1] = x end
for x in string.gmatch(ARGV[4], '[^\\n]+') do mids[#mids + 1] = x end
local acked = redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
if ARGV[2] == '1' then
  local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
  local last, pending = nil, nil
  if #groups == 1 then
    local g = groups[1]
    local name = nil
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1]
      elseif g[i] == 'pending' then pending = g[i + 1]
      elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
    end
    if name ~= ARGV[1] then last = nil end
  end
  if last and last ~= '0-0' then
    local bound = last
    if pending > 0 then bound = redis.call('XPENDING', KEYS[1], ARGV[1])[2] end
    -- everything older than bound is delivered and not pending: acked
    redis.call('XTRIM', KEYS[1], 'MINID', bound)
    if pending == 0 then
      redis.call('XDEL', KEYS[1], last)
    else
      -- acked entries at or after bound (a still older one is in flight): one by one
      local sms, sseq = string.match(bound, '^(%d+)-(%d+)$')
      local bms, bseq = tonumber(sms), tonumber(sseq)
      local blen, bdash = #bound, #sms + 1
      local rest, nr = {}, 0
      for i = 1, #ids do
        local id = ids[i]
        local ge
        if #id == blen and string.byte(id, bdash) == 45 then
          -- as many digits before and after the '-' as bound: text order is number order
          ge = id >= bound
        else
          local ms, seq = string.match(id, '^(%d+)-(%d+)$')
          ms = tonumber(ms)
          ge = not ms or ms > bms or (ms == bms and tonumber(seq) >= bseq)
        end
        if ge then
          nr = nr + 1
          rest[nr] = id
        end
      end
      if nr > 0 then redis.call('XDEL', KEYS[1], unpack(rest)) end
    end
  else
    redis.call('XDEL', KEYS[1], unpack(ids))
  end
end
redis.call('HDEL', KEYS[2], unpack(mids))
-- Nothing in flight any more: no key either (only the layout field is left).
if redis.call('HLEN', KEYS[2]) == 1 and redis.call('HEXISTS', KEYS[2], '\\n') == 1 then redis.call('DEL', KEYS[2]) end
return acked
"""

# KEYS: attempts hash. ARGV: consumer, message ids (newline-joined). Gives back
# entries this consumer marked handed but never sent: the next hand-off counts as first.
_RELEASE = """
local mids = {}
for x in string.gmatch(ARGV[2], '[^\\n]+') do mids[#mids + 1] = x end
local vals = redis.call('HMGET', KEYS[1], unpack(mids))
local set, ns, n, seen = {}, 0, 0, {}
for i = 1, #mids do
  local mid, v = mids[i], vals[i]
  if v and not seen[mid] then
    seen[mid] = true
    local rest, who = string.match(v, '^handed(:%d+:%d+):(.*)$')
    if who == ARGV[1] then
      set[ns + 1] = mid
      set[ns + 2] = 'released' .. rest .. ':' .. who
      ns = ns + 2
      n = n + 1
    end
  end
end
if ns > 0 then redis.call('HSET', KEYS[1], unpack(set)) end
return n
"""

# KEYS: attempts hash. ARGV: HSCAN cursor, count, cutoff (unix s). Drops records last
# changed before the cutoff (their entry was deleted while pending, or the engine was
# away longer than attempt_ttl_s); returns {next cursor, dropped}.
_PRUNE = """
local r = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local kv, old, n = r[2], {}, 0
local cutoff = tonumber(ARGV[3])
for i = 1, #kv, 2 do
  if kv[i] ~= '\\n' then
    local ts = tonumber(string.match(kv[i + 1], '^%a+:%d+:(%d+):') or '0')
    if ts < cutoff then n = n + 1; old[n] = kv[i] end
  end
end
if n > 0 then
  redis.call('HDEL', KEYS[1], unpack(old))
  if redis.call('HLEN', KEYS[1]) == 1 and redis.call('HEXISTS', KEYS[1], '\\n') == 1 then redis.call('DEL', KEYS[1]) end
end
return {r[1], n}
"""

# Token bucket per campaign, its rate read from the campaign record so that every
# engine process shares one limit. KEYS: campaign hash, bucket hash. ARGV: wanted.
# Returns {granted, ms until the next token (0 when all granted or no limit)}.
_TAKE = """
local rate = tonumber(redis.call('HGET', KEYS[1], 'rate') or '0') or 0
local want = tonumber(ARGV[1])
if rate <= 0 then return {want, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = math.max(rate, 1)
local b = redis.call('HMGET', KEYS[2], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then tokens = cap ts = now end
if now > ts then tokens = math.min(cap, tokens + (now - ts) * rate / 1000) end
local grant = math.min(want, math.floor(tokens))
tokens = tokens - grant
redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[2], 86400000)
local wait = 0
if grant < want then wait = math.ceil((1 - tokens) * 1000 / rate) end
return {grant, wait}
"""


# A rate-limited campaign's own stream: take tokens, read at most that many new entries,
# keep only the tokens used, atomically (no token is spent on an empty stream).
# KEYS: campaign hash, bucket hash, campaign stream. ARGV: group, consumer, wanted.
# Returns {entries as XREADGROUP gives them, ms until the next token, XLEN, state}.
_READ_CAMPAIGN = """
local rate = tonumber(redis.call('HGET', KEYS[1], 'rate') or '0') or 0
local want = tonumber(ARGV[3])
local grant = want
local tokens, now
if rate > 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local cap = math.max(rate, 1)
  local b = redis.call('HMGET', KEYS[2], 'tokens', 'ts')
  tokens = tonumber(b[1])
  local ts = tonumber(b[2])
  if tokens == nil or ts == nil then tokens = cap ts = now end
  if now > ts then tokens = math.min(cap, tokens + (now - ts) * rate / 1000) end
  grant = math.min(want, math.floor(tokens))
end
local items = {}
if grant > 0 then
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', grant, 'STREAMS', KEYS[3], '>')
  if r then items = r[1][2] end
end
local wait = 0
if rate > 0 then
  tokens = tokens - #items
  redis.call('HSET', KEYS[2], 'tokens', tostring(tokens), 'ts', now)
  redis.call('PEXPIRE', KEYS[2], 86400000)
  if #items == grant and grant < want then wait = math.ceil((1 - tokens) * 1000 / rate) end
end
return {items, wait, redis.call('XLEN', KEYS[3]), redis.call('HGET', KEYS[1], 'state') or ''}
"""
# How often a consumer re-reads the set of campaigns with their own stream: a new
# campaign starts within this delay.
CAMPAIGN_REFRESH_S = 1.0


def _default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"


class Consumer:
    """One member of the consumer group on the intake streams (transactional, bulk, and
    the rate-limited campaigns' own streams)."""

    def __init__(
        self,
        redis: Any,
        keys: Keys | None = None,
        *,
        name: str | None = None,
        count: int = READ_COUNT,
        block_ms: int = BLOCK_MS,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        claim_interval_ms: int | None = None,
        attempt_ttl_s: int = ATTEMPT_TTL_S,
        hold_max: int = HOLD_MAX,
        delete_acked: bool = True,
    ) -> None:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if claim_idle_ms < 1:
            raise ValueError(f"claim_idle_ms must be at least 1, got {claim_idle_ms}")
        self.redis = redis
        self.keys = keys or Keys()
        self.name = name or _default_name()
        self.count = count
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        # Scanning for dead consumers' entries twice per idle period bounds the extra
        # delay to half the timeout without scanning on every read.
        self.claim_interval_ms = claim_interval_ms if claim_interval_ms is not None else max(claim_idle_ms // 2, 100)
        self.attempt_ttl_s = attempt_ttl_s
        self.hold_max = hold_max
        # With XDEL after XACK the stream holds only unread and pending entries, so its
        # memory stays flat and lag = XLEN - pending. Only correct with one group per
        # stream, which is how the engine uses them.
        self.delete_acked = delete_acked
        self._groups_ready = False
        self._next_claim = 0.0
        self._claim_cursor: dict[str, str] = {s: "0-0" for s in self.keys.streams}
        self._campaigns: list[str] = []  # campaign ids with their own stream
        self._campaigns_ready: set[str] = set()
        self._campaigns_at = -1e9
        self._held: dict[str, deque[Entry]] = {}
        self._held_count = 0
        self._next_token_at = 0.0
        self._scripts: dict[str, Any] = {}
        self._prune_cursor = "0"
        self.reclaimed_total = 0
        self.dead_lettered_total = 0

    @classmethod
    def from_config(cls, redis: Any, config: Any, **overrides: Any) -> "Consumer":
        """From an ``engine.config.Config``: keys and group from ``[engine]``, the
        consumer name and ``claim_idle_seconds`` too, batch size from ``[redis]``."""
        kwargs: dict[str, Any] = {
            "name": config.engine.consumer,
            "count": config.redis.batch_size,
            "claim_idle_ms": int(config.engine.claim_idle_seconds * 1000),
        }
        kwargs.update(overrides)
        return cls(redis, Keys.from_config(config.engine), **kwargs)

    # --- set-up ---------------------------------------------------------------------

    async def ensure_groups(self) -> None:
        """Create the group on both streams (and the streams) if missing."""
        for stream in self.keys.streams:
            try:
                await self.redis.xgroup_create(stream, self.keys.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups_ready = True

    def _script(self, name: str, source: str) -> Any:
        s = self._scripts.get(name)
        if s is None:
            s = self._scripts[name] = self.redis.register_script(source)
        return s

    # --- reading ----------------------------------------------------------------------

    @property
    def held(self) -> int:
        """Entries read but held back by a campaign's rate limit."""
        return self._held_count

    async def read(self, count: int | None = None, block_ms: int | None = None) -> list[Entry]:
        """Up to ``count`` entries per stream: held entries whose campaign has tokens again,
        entries reclaimed from dead consumers, then new ones, transactional first.

        Blocks up to ``block_ms`` only when there is nothing to return.
        """
        if not self._groups_ready:
            await self.ensure_groups()
        want = count or self.count
        block = self.block_ms if block_ms is None else block_ms
        out: list[Entry] = []
        now = time.monotonic()
        if self._held_count and now >= self._next_token_at:
            out.extend(await self._release_held(want))
        if now * 1000 >= self._next_claim:
            self._next_claim = now * 1000 + self.claim_interval_ms
            claimed = await self._autoclaim(want - len(out))
            out.extend(await self._rate_limit(claimed))
            await self.prune_attempts()
        if len(out) < want and await self._campaign_ids():
            # Rate-limited campaigns are read before the bulk stream (which would take
            # every slot while it has a backlog), so transactional must come before them.
            out.extend(await self._rate_limit(await self._read_new(want - len(out), 0, bulk=False)))
            if len(out) < want:
                out.extend(await self._read_campaigns(want - len(out)))
        if len(out) < want:
            fresh = await self._read_new(want - len(out), 0 if out else block)
            out.extend(await self._rate_limit(fresh))
        await self._refresh_held()
        if len(out) > 1:
            out.sort(key=_bulk_last)  # stable: order within a priority is kept
        return out

    # --- rate-limited campaigns' own streams ----------------------------------------------

    async def _campaign_ids(self) -> list[str]:
        now = time.monotonic()
        if now - self._campaigns_at >= CAMPAIGN_REFRESH_S:
            self._campaigns_at = now
            ids = sorted(await self.redis.smembers(self.keys.campaign_streams))
            self._campaigns = [c if isinstance(c, str) else c.decode() for c in ids]
            self._campaigns_ready &= set(self._campaigns)
            for c in self._campaigns:
                self._claim_cursor.setdefault(self.keys.campaign_stream(c), "0-0")
        return self._campaigns

    async def _campaign_group(self, cid: str) -> bool:
        """Make sure the group exists on the campaign's stream; False if the stream is gone."""
        if cid in self._campaigns_ready:
            return True
        try:
            # No MKSTREAM: a stream that is gone was finished and removed; do not revive it.
            await self.redis.xgroup_create(self.keys.campaign_stream(cid), self.keys.group, id="0")
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                self._forget_campaign(cid)
                return False
        self._campaigns_ready.add(cid)
        return True

    def _forget_campaign(self, cid: str) -> None:
        if cid in self._campaigns:
            self._campaigns.remove(cid)
        self._campaigns_ready.discard(cid)
        self._claim_cursor.pop(self.keys.campaign_stream(cid), None)

    async def _read_campaigns(self, n: int) -> list[Entry]:
        """New entries of rate-limited campaigns, as many as each one's tokens allow."""
        ids = await self._campaign_ids()
        if not ids or n <= 0:
            if not ids and not self._held_count:
                self._next_token_at = 0.0
            return []
        ready = [c for c in ids if await self._campaign_group(c)]
        if not ready:
            return []
        script = self._script("read_campaign", _READ_CAMPAIGN)
        pipe = self.redis.pipeline(transaction=False)
        for cid in ready:
            await script(keys=[self.keys.campaign(cid), self.keys.campaign_bucket(cid), self.keys.campaign_stream(cid)],
                         args=[self.keys.group, self.name, n], client=pipe)
        results = await pipe.execute(raise_on_error=False)
        entries: list[Entry] = []
        bad: list[tuple[str, str, dict[str, Any], str]] = []
        now = time.monotonic()
        wait_ms = None
        finished = []
        for cid, res in zip(ready, results):
            if isinstance(res, Exception):
                if "NOGROUP" in str(res):
                    self._forget_campaign(cid)  # removed by another consumer meanwhile
                    continue
                raise res
            items, wait, length, state = res
            stream = self.keys.campaign_stream(cid)
            for entry_id, flat in items:
                fields = dict(zip(flat[::2], flat[1::2])) if flat else None
                self._parse(stream, entry_id, fields, False, now, entries, bad)
            if int(wait) > 0:
                wait_ms = int(wait) if wait_ms is None else min(wait_ms, int(wait))
            if not items and int(length) == 0 and state in ("queued", "failed") and self.delete_acked:
                finished.append(cid)
        if bad:
            await self._dead_letter(bad)
        if wait_ms is not None:
            self._next_token_at = time.monotonic() + wait_ms / 1000
        elif not self._held_count:
            self._next_token_at = 0.0
        for cid in finished:
            # Intake is over and every entry was acked (acked entries are deleted, so an
            # empty stream has nothing pending): the stream has done its job.
            await self.redis.srem(self.keys.campaign_streams, cid)
            await self.redis.delete(self.keys.campaign_stream(cid))
            self._forget_campaign(cid)
        return entries

    async def _read_new(self, n: int, block: int, *, bulk: bool = True) -> list[Entry]:
        streams = {self.keys.transactional_stream: ">"}
        if bulk and self._held_count < self.hold_max:
            streams[self.keys.bulk_stream] = ">"
        if block and self._next_token_at > time.monotonic():
            # Wake up in time for the next token of a rate-limited campaign.
            wait_ms = max(int((self._next_token_at - time.monotonic()) * 1000), 1)
            block = min(block, wait_ms)
        elif block and self._held_count:
            block = min(block, 10)  # held entries whose tokens are due: do not sleep on them
        try:
            reply = await self.redis.xreadgroup(self.keys.group, self.name, streams, count=n,
                                                block=block or None)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream or group vanished (a Redis restarted without persistence, or a
            # stream deleted by hand): recreate them and read again.
            await self.ensure_groups()
            reply = await self.redis.xreadgroup(self.keys.group, self.name, streams, count=n,
                                                block=block or None)
        if not reply:
            return []
        entries: list[Entry] = []
        bad: list[tuple[str, str, dict[str, Any], str]] = []
        now = time.monotonic()
        # The reply lists streams in the order asked: transactional first.
        by_name = {(s if isinstance(s, str) else s.decode()): items for s, items in reply}
        for stream in self.keys.streams:
            items = by_name.get(stream)
            if not items:
                continue
            # The Rust lane makes the Entry of every plain record in one call; the
            # others (None) are parsed here, which names what is wrong with them.
            lane = _intake_entries(items, stream, False, now) if _intake_entries is not None else None
            if lane is not None and None not in lane:
                entries += lane
                continue
            for k, (entry_id, fields) in enumerate(items):
                e = lane[k] if lane is not None else None
                if e is not None:
                    entries.append(e)
                else:
                    self._parse(stream, entry_id, fields, False, now, entries, bad)
        if bad:
            await self._dead_letter(bad)
        return entries

    def _parse(self, stream: str, entry_id: str, fields: Any, reclaimed: bool, now: float,
               entries: list[Entry], bad: list[tuple[str, str, dict[str, Any], str]]) -> None:
        if fields is None:
            return  # deleted while pending (Redis 6.2 XAUTOCLAIM); nothing to send
        try:
            message = Message.from_fields(fields, entry_id)
        except MalformedEntry as exc:
            bad.append((stream, entry_id, dict(fields), exc.reason))
            return
        entries.append(Entry(stream, entry_id, message, reclaimed, read_at=now))

    async def _dead_letter(self, bad: list[tuple[str, str, dict[str, Any], str]]) -> None:
        """Move entries that are not message records to the dead-letter stream, with the
        reason, so that they are visible instead of retried forever or dropped."""
        pipe = self.redis.pipeline(transaction=True)
        for stream, entry_id, fields, reason in bad:
            pipe.xadd(self.keys.dead, {"stream": stream, "entry": entry_id, "reason": reason,
                                       "fields": json.dumps(fields, ensure_ascii=False)})
            pipe.xack(stream, self.keys.group, entry_id)
            if self.delete_acked:
                pipe.xdel(stream, entry_id)
        await pipe.execute()
        self.dead_lettered_total += len(bad)

    async def _autoclaim(self, n: int) -> list[Entry]:
        """XAUTOCLAIM entries idle longer than ``claim_idle_ms`` (their consumer is dead)."""
        if n <= 0:
            return []
        entries: list[Entry] = []
        bad: list[tuple[str, str, dict[str, Any], str]] = []
        now = time.monotonic()
        for stream in list(self._claim_cursor):
            if len(entries) >= n:
                break
            start = self._claim_cursor[stream]
            try:
                reply = await self.redis.xautoclaim(stream, self.keys.group, self.name, self.claim_idle_ms,
                                                    start_id=start, count=n - len(entries))
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                if stream in self.keys.streams:
                    await self.ensure_groups()
                else:  # a finished campaign's stream, removed by another consumer
                    self._claim_cursor.pop(stream, None)
                    self._campaigns_ready.discard(stream.rsplit(":", 1)[-1])
                continue
            cursor, items = reply[0], reply[1]
            self._claim_cursor[stream] = cursor if isinstance(cursor, str) else cursor.decode()
            for entry_id, fields in items:
                self._parse(stream, entry_id, fields, True, now, entries, bad)
        if bad:
            await self._dead_letter(bad)
        self.reclaimed_total += len(entries)
        return entries

    # --- per-campaign rate limit --------------------------------------------------------

    async def _rate_limit(self, entries: list[Entry]) -> list[Entry]:
        """Entries whose campaign has tokens (or no limit); the rest are held, in order."""
        if not entries:
            return entries
        by_campaign: dict[str, list[Entry]] = {}
        for e in entries:
            c = e.message.campaign
            if c:
                by_campaign.setdefault(c, []).append(e)
        if not by_campaign:
            return entries
        # A campaign that already has held entries must not overtake them.
        for c, group in by_campaign.items():
            if c in self._held:
                self._held[c].extend(group)
                self._held_count += len(group)
        fresh = {c: g for c, g in by_campaign.items() if c not in self._held}
        grants = await self._take({c: len(g) for c, g in fresh.items()})
        passed: set[int] = set()
        for c, group in fresh.items():
            granted = grants[c]
            for e in group[:granted]:
                passed.add(id(e))
            if granted < len(group):
                self._held[c] = deque(group[granted:])
                self._held_count += len(group) - granted
        return [e for e in entries if not e.message.campaign or id(e) in passed]

    async def _take(self, wants: dict[str, int]) -> dict[str, int]:
        if not wants:
            return {}
        take = self._script("take", _TAKE)
        pipe = self.redis.pipeline(transaction=False)
        order = list(wants)
        for c in order:
            await take(keys=[self.keys.campaign(c), self.keys.campaign_bucket(c)], args=[wants[c]], client=pipe)
        results = await pipe.execute()
        grants: dict[str, int] = {}
        wait_ms = None
        for c, (granted, wait) in zip(order, results):
            grants[c] = int(granted)
            if int(wait) > 0:
                wait_ms = int(wait) if wait_ms is None else min(wait_ms, int(wait))
        if wait_ms is not None:
            self._next_token_at = time.monotonic() + wait_ms / 1000
        return grants

    async def _release_held(self, want: int) -> list[Entry]:
        grants = await self._take({c: min(len(q), want) for c, q in self._held.items()})
        out: list[Entry] = []
        for c, granted in grants.items():
            q = self._held[c]
            for _ in range(min(granted, len(q))):
                out.append(q.popleft())
            if not q:
                del self._held[c]
        self._held_count = sum(len(q) for q in self._held.values())
        return out

    async def _refresh_held(self) -> None:
        """Held entries stay ours: XCLAIM them to ourselves before they look abandoned,
        so no other consumer reclaims (and flags) an entry that is only waiting for tokens."""
        if not self._held_count:
            return
        limit = time.monotonic() - self.claim_idle_ms / 2000
        stale: dict[str, list[Entry]] = {}
        for q in self._held.values():
            for e in q:
                if e.read_at < limit:
                    stale.setdefault(e.stream, []).append(e)
        if stale:
            await self.touch([e for group in stale.values() for e in group])

    async def touch(self, entries: Iterable[Entry]) -> None:
        """Reset the idle time of entries this consumer still works on (XCLAIM JUSTID to
        itself), so that a long wait (a throttled SMSC, a full window) is not taken for a
        dead consumer. Call it for in-flight entries older than half ``claim_idle_ms``."""
        by_stream = _by_stream(entries)
        if not by_stream:
            return
        now = time.monotonic()
        pipe = self.redis.pipeline(transaction=False)
        for stream, group in by_stream.items():
            for i in range(0, len(group), SCRIPT_CHUNK):
                pipe.xclaim(stream, self.keys.group, self.name, 0,
                            [e.entry_id for e in group[i : i + SCRIPT_CHUNK]], justid=True)
            for e in group:
                e.read_at = now
        await pipe.execute()

    # --- hand-off and acknowledgement -----------------------------------------------------

    async def begin(self, entries: Iterable[Entry]) -> list[Entry]:
        """Record that these entries are being handed to SMPP, atomically learning whether
        an earlier hand-off happened; sets ``entry.attempt`` and ``entry.attempts``.

        Entries that are no longer ours (``ALREADY_ACKED``, ``CLAIMED_ELSEWHERE``) must
        not be sent; ``Entry.sendable`` says which may go.
        """
        entries = list(entries)
        script = self._script("begin", _BEGIN)
        now = str(int(time.time()))
        for stream, group in _by_stream(entries).items():
            for i in range(0, len(group), SCRIPT_CHUNK):
                chunk = group[i : i + SCRIPT_CHUNK]
                ids = [e.entry_id for e in chunk]
                lo, hi = _id_range(ids)
                flags = "".join(["1" if e.reclaimed else "0" for e in chunk]) if any(
                    e.reclaimed for e in chunk) else ""
                mids = [e.message.id for e in chunk]
                twice = "1" if len(set(mids)) != len(mids) else ""
                results = await script(
                    keys=[stream, self.keys.attempts],
                    args=[self.keys.group, self.name, now, "\n".join(ids), "\n".join(mids),
                          lo, hi, self.keys.attempt(""), flags, self.attempt_ttl_s, _LAYOUT[1], twice],
                )
                if not isinstance(results, str):
                    results = results.decode()
                for e, tok in zip(chunk, results.split(" ")):
                    v = _TOKENS.get(tok)
                    if v is None:
                        v = (_VERDICTS[tok[0]], int(tok[1:]))
                    e.attempt, e.attempts = v
        return entries

    async def ack(self, entries: Iterable[Entry]) -> int:
        """Acknowledge entries whose outcome the caller has recorded (submit_sm_resp or
        final failure): XACK, delete them from the stream (see _ACK) and delete their
        hand-off records in one atomic call per stream. Returns how many entries were
        still pending."""
        by_stream = _by_stream(entries)
        if not by_stream:
            return 0
        script = self._script("ack", _ACK)
        pipe = self.redis.pipeline(transaction=False)
        attempts = self.keys.attempts
        for stream, group in by_stream.items():
            for i in range(0, len(group), SCRIPT_CHUNK):
                chunk = group[i : i + SCRIPT_CHUNK]
                await script(
                    keys=[stream, attempts],
                    args=[self.keys.group, "1" if self.delete_acked else "0",
                          "\n".join([e.entry_id for e in chunk]), "\n".join([e.message.id for e in chunk])],
                    client=pipe,
                )
        return sum(int(x) for x in await pipe.execute())

    async def release(self, entries: Iterable[Entry]) -> int:
        """Give back entries marked handed by ``begin`` but certainly never sent (for
        example at shutdown before submit): the next consumer gets them as FIRST.
        They stay pending and are reclaimed after ``claim_idle_ms``."""
        mids = [e.message.id for e in entries]
        if not mids:
            return 0
        script = self._script("release", _RELEASE)
        n = 0
        for i in range(0, len(mids), SCRIPT_CHUNK):
            n += int(await script(keys=[self.keys.attempts], args=[self.name, "\n".join(mids[i : i + SCRIPT_CHUNK])]))
        return n

    async def prune_attempts(self, count: int = PRUNE_COUNT) -> int:
        """One slice of the hand-off records' safety net: drop records last changed more
        than ``attempt_ttl_s`` ago (an entry deleted while pending, an engine away for
        longer than that). ``read`` calls it as it scans for dead consumers; returns how
        many were dropped."""
        script = self._script("prune", _PRUNE)
        cutoff = int(time.time()) - self.attempt_ttl_s
        cursor, n = await script(keys=[self.keys.attempts], args=[self._prune_cursor, count, cutoff])
        self._prune_cursor = cursor if isinstance(cursor, str) else cursor.decode()
        return int(n)

    # --- inspection -------------------------------------------------------------------------

    async def close(self) -> None:
        """Leave the group cleanly when nothing of ours is pending (a name per process
        would otherwise pile up in XINFO CONSUMERS)."""
        if self._held_count:
            return
        for stream in self.keys.streams:
            try:
                pending = await self.redis.xpending_range(stream, self.keys.group, "-", "+", 1,
                                                          consumername=self.name)
                if not pending:
                    await self.redis.xgroup_delconsumer(stream, self.keys.group, self.name)
            except ResponseError:
                pass
