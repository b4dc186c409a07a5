"""The Lua script that applies one batch of tracking records inside Redis.

Why Lua: at 20,000 messages/s a round trip or even a pipelined command per field
would make the Python side the bottleneck (redis-py packs every argument in Python).
One EVALSHA per batch carries the whole batch as one JSON argument; Redis applies it
atomically, so a receipt racing its own submit_sm_resp (two engine processes, or the
receiver bind faster than the transmitter) can never be half-applied.

The script builds key names from the prefix, so it runs on a standalone Redis (or a
primary with replicas), not on Redis Cluster: that would need every key of a batch
in one hash slot.

ARGV: op, prefix, now (seconds, string), config JSON, batch, account (receipts; for
submitted 'new' when the previous batch found no records, so EXISTS is asked before a
record is read), locks JSON (``{account: kind}`` for every account whose id spelling
is learned or fixed by its profile), compact ('1': receipts of an account whose
spelling is known, five strings each, see the receipts op).

Expiries are absolute (PEXPIREAT, PXAT) from Redis's TIME, read once per call.

The batch is one *flat* JSON array of strings, a fixed number per record (a receipt:
its candidate count, then that many (id, kind) pairs, then four more): decoding one
flat array costs half of an array of arrays, and numbers travel as the strings Redis
wants (a Lua number given to ``redis.call`` is formatted with printf on every call).
Results come back as Redis arrays, flat too, not as JSON.

Cost: inside a script each ``redis.call`` costs about a microsecond on top of the
command itself, and so does every table built and unpacked. The common cases (a new
or queued single-part message submitted, a receipt for a single-part message) are
therefore written as direct calls with every argument spelled out; everything else
takes the general path (``commit``), which handles any number of parts.

Held receipts: one entry per receipt in ``early-idx`` (by hold deadline), and a *set*
per candidate key (``early:<account>:<canonical>``), because two receipts can share a
candidate (hex "10" is decimal "16"). A submit applies a held receipt only when the
submit's id is the receipt's spelling the account's format allows: the learned kind,
or, while nothing is learned, the receipt's first (most literal) candidate. Any other
spelling leaves it held; when its hold ends it is resolved once more (learned kind,
else a single candidate with a correlation entry) before it counts as unmatched.
"""

# Strings per record of each op's flat batch (receipts: variable, see above).
STRIDE = {"queued": 4, "submitted": 8, "failed": 6, "unknown": 5}

SCRIPT = r"""
local op, P, now = ARGV[1], ARGV[2], ARGV[3]
local cfg = cjson.decode(ARGV[4])
local B = cjson.decode(ARGV[5])
local nB = #B
local nowf = tonumber(now)
local LOCKS = (ARGV[7] and ARGV[7] ~= '') and cjson.decode(ARGV[7]) or {}
local SEP = '\31'

local FAIL = {failed=true, undeliverable=true, expired=true, rejected=true, deleted=true, unknown=true}
local FINAL = {delivered=true, failed=true, undeliverable=true, expired=true, rejected=true,
               deleted=true, unknown=true}

local KT, KC = P .. 'track:', P .. 'corr:'
local function ekey(acct, c) return P .. 'early:' .. acct .. ':' .. c end
local IDX = P .. 'early-idx'
-- Expiries as absolute times (PEXPIREAT, PXAT) from Redis's own clock, computed once
-- per call: Redis rewrites a relative PEXPIRE / PX into the absolute form anyway
-- (for replicas and the AOF), an allocation per command.
local T = redis.call('TIME')
local nowms = tonumber(T[1]) * 1000 + math.floor(tonumber(T[2]) / 1000)
local TTL = string.format('%d', nowms + tonumber(cfg.ttl))
local CORR_TTL = string.format('%d', nowms + tonumber(cfg.corr_ttl))
local DUP_MS = string.format('%d', nowms + tonumber(cfg.dup_ms))
local EV, EVK, EVMAX = cfg.ev, cfg.events, cfg.events_max
local HIST_MAX = tonumber(cfg.hist_max)
local STATS = P .. 'tracking:stats'

-- Campaign counters move once per batch, not once per message: a batch of 500
-- messages of one campaign costs a handful of HINCRBY instead of a thousand.
local camp_delta = {}
local nev = 0  -- status events added by this call (see event)
local function camp_add(camp, st, n)
  if not camp or camp == '' then return end
  local d = camp_delta[camp]
  if not d then d = {}; camp_delta[camp] = d end
  d[st] = (d[st] or 0) + n
end
local function flush_camps()
  if nev > 0 then
    redis.call('XTRIM', EVK, 'MAXLEN', '~', EVMAX)
    nev = 0
  end
  for camp, d in pairs(camp_delta) do
    local ck = P .. 'campaign:' .. camp .. ':states'
    for st, n in pairs(d) do
      if n ~= 0 then redis.call('HINCRBY', ck, st, n) end
    end
    redis.call('PEXPIREAT', ck, TTL)
  end
  camp_delta = {}
end

-- Field names of a part, built once per part number and batch: string building is a
-- visible share of the script's time at 20,000 messages/s. `part` is a string.
local PFC = {}
local function pfs(part)
  local t = PFC[part]
  if t then return t end
  local pf = 'p' .. part .. '.'
  t = {st = pf .. 'st', n = pf .. 'n', id = pf .. 'id', b = pf .. 'b', ts = pf .. 'ts',
       dt = pf .. 'dt', err = pf .. 'err', stat = pf .. 'stat', cs = pf .. 'cs', uk = pf .. 'uk'}
  PFC[part] = t
  return t
end

-- The history with `new` appended (it stops growing at hist_max bytes). The first
-- entry has the absolute time, later ones "+<ms after the first>": the usual
-- queued;submitted;delivered stays under hash-max-listpack-value (64 bytes), so the
-- record stays a listpack (absolute times made it 81 bytes, and the receipt's HSET
-- converted every record into a hash table: a quarter of the receipt's Redis time, and
-- 2.5 times the memory).
-- The "@+ms" suffix is cached per first time: the records of one batch mostly share
-- it (submitted together), and a usual history starts "queued@" and 17 characters of
-- time (up to 2286), read with string.sub instead of a pattern match, and converted
-- once per batch.
local HC, HH = {}, {}
local function hist_calc(h, new)
  if #h >= HIST_MAX then return h end
  local t0s, d
  if string.byte(h, 7) == 64 then
    local c = string.byte(h, 25)
    if c == 59 or c == nil then t0s = string.sub(h, 8, 24) end
  end
  if t0s then d = HC[t0s] end
  if not d then
    if not t0s then t0s = string.match(h, '^[^@;]*@([^;+]+)') end
    local t0 = tonumber(t0s)
    if not t0 then return h .. ';' .. new .. '@' .. now end
    d = '@+' .. string.format('%d', (nowf - t0) * 1000 + 0.5)
    HC[t0s] = d
  end
  return h .. ';' .. new .. d
end

-- The whole result is cached too, per new state and old history (HH): the receipts of
-- one batch mostly find the same history (their records were created by one submit
-- call), and a table lookup is a tenth of hist_calc's byte/sub/concat calls.
local function hist(h, new)
  if not h then return new .. '@' .. now end
  local byh = HH[new]
  if byh then
    local r = byh[h]
    if r then return r end
  else
    byh = {}
    HH[new] = byh
  end
  local r = hist_calc(h, new)
  byh[h] = r
  return r
end

-- One status event. The optional fields (campaign, smsc_id, err) make eight shapes,
-- each one direct call: no argument table to build and unpack per event. The stream
-- is trimmed (MAXLEN ~) once per call, in flush_camps, not by every XADD.
local function event(id, st, part, camp, sid, err)
  nev = nev + 1
  if camp == '' then camp = false end
  if sid == '' then sid = false end
  if err == '' then err = false end
  if camp then
    if sid then
      if err then
        return redis.call('XADD', EVK, '*', 'msg_id', id, 'state', st, 'ts', now,
          'part', part, 'campaign', camp, 'smsc_id', sid, 'err', err)
      end
      return redis.call('XADD', EVK, '*', 'msg_id', id, 'state', st, 'ts', now,
        'part', part, 'campaign', camp, 'smsc_id', sid)
    end
    if err then
      return redis.call('XADD', EVK, '*', 'msg_id', id, 'state', st, 'ts', now,
        'part', part, 'campaign', camp, 'err', err)
    end
    return redis.call('XADD', EVK, '*', 'msg_id', id, 'state', st, 'ts', now,
      'part', part, 'campaign', camp)
  end
  if sid then
    if err then
      return redis.call('XADD', EVK, '*', 'msg_id', id, 'state', st, 'ts', now,
        'part', part, 'smsc_id', sid, 'err', err)
    end
    return redis.call('XADD', EVK, '*', 'msg_id', id, 'state', st, 'ts', now,
      'part', part, 'smsc_id', sid)
  end
  if err then
    return redis.call('XADD', EVK, '*', 'msg_id', id, 'state', st, 'ts', now,
      'part', part, 'err', err)
  end
  return redis.call('XADD', EVK, '*', 'msg_id', id, 'state', st, 'ts', now, 'part', part)
end

-- The record fields every update reads, in one HMGET:
-- 1 state, 2 parts, 3 fail, 4 campaign, 5 h, 6 the part's state, 7 its tries.
local function load(mk, pf)
  return redis.call('HMGET', mk, 'state', 'parts', 'fail', 'campaign', 'h', pf.st, pf.n)
end

-- Aggregated state; the rules are in engine/tracking/__init__.py. `pstate` is the
-- new state of `part` (a number); the other parts are read only for a multi-part message.
local PSTC = {}
local function aggregate(mk, parts, fail, part, pstate)
  if fail then return fail end
  if parts == 1 then  -- the common case: no other part to read
    if pstate == 'delivered' or pstate == 'outcome_unknown' then return pstate end
    if pstate and pstate ~= 'queued' then return 'submitted' end
    return 'queued'
  end
  local fields, k = {}, 0
  for i = 1, parts do
    if i ~= part then
      local f = PSTC[i]
      if not f then f = 'p' .. i .. '.st'; PSTC[i] = f end
      k = k + 1; fields[k] = f
    end
  end
  local sts = redis.call('HMGET', mk, unpack(fields))
  k = k + 1
  sts[k] = pstate
  local ndlv, unk, sub = 0, false, false
  for i = 1, k do
    local s = sts[i]
    if s == 'delivered' then ndlv = ndlv + 1; sub = true
    elseif s == 'outcome_unknown' then unk = true
    elseif s and s ~= 'queued' then sub = true end
  end
  if ndlv == parts then return 'delivered' end
  if unk then return 'outcome_unknown' end
  if sub then return 'submitted' end
  return 'queued'
end

-- The general path: write the part's fields `f` and, when the message state changes,
-- its state, time, history, campaign counters and one status event. `cur` is load()'s
-- result; `part` a string.
local function commit(mk, id, part, cur, pstate, f, smsc_id, err, created)
  local fail = cur[3]
  local k = #f
  if not fail and FAIL[pstate] then
    fail = pstate
    f[k + 1] = 'fail'; f[k + 2] = pstate; k = k + 2
    if err and err ~= '' then f[k + 1] = 'err'; f[k + 2] = err; k = k + 2 end
  end
  local old = cur[1]
  local new = aggregate(mk, tonumber(cur[2]) or 1, fail, tonumber(part), pstate)
  if old ~= new then
    f[k + 1] = 'state'; f[k + 2] = new
    f[k + 3] = 'h'; f[k + 4] = hist(cur[5], new)
  end
  redis.call('HSET', mk, unpack(f))
  if created then redis.call('PEXPIREAT', mk, TTL) end
  if old ~= new then
    local camp = cur[4]
    if camp and camp ~= '' and not created then
      camp_add(camp, old, -1)
      camp_add(camp, new, 1)
    end
    if EV[new] then event(id, new, part, camp, smsc_id, err) end
  end
end

-- load() for submit-side updates, creating the record of a message the tracker has
-- not seen queued. Returns cur, the field list to extend, created.
local function load_or_create(mk, pf, parts, acct)
  local cur = load(mk, pf)
  if cur[1] then return cur, {}, false end
  local f = {'state', 'queued', 'h', 'queued@' .. now, 'parts', parts, 'account', acct}
  return {'queued', parts, false, false, 'queued@' .. now, false, false}, f, true
end

-- The state of a single-part message follows from its part's state alone (no failure
-- recorded, since a failed part is final): what aggregate() made of it.
local SINGLE = {submitted='submitted', enroute='submitted', accepted='submitted',
                outcome_unknown='outcome_unknown'}
-- ... and what a receipt state makes of it (aggregate() for one part, without failure).
local SINGLE_NEW = {delivered='delivered', enroute='submitted', accepted='submitted'}

-- A receipt (state, err, raw stat) for part `part` (a string) of message `id`.
-- `parts` and `camp` come from the correlation entry (nil when it was written by an
-- earlier version): for a single-part message they spare reading state, parts, fail
-- and campaign, which are all the HMGET needs for no other reason.
-- Returns 'ok', 'dup' (the part was already final) or 'gone' (record expired).
local function apply_to_part(id, part, state, err, stat, corr, shortened, parts, camp)
  local mk = KT .. id
  local pf = pfs(part)
  if parts == '1' and camp then
    local cur = redis.call('HMGET', mk, 'h', pf.st)
    if not cur[1] then return 'gone' end
    local pst = cur[2]
    if pst and FINAL[pst] then return 'dup' end
    if FINAL[state] and not shortened then redis.call('PEXPIREAT', corr, DUP_MS) end
    local old = SINGLE[pst] or 'queued'
    local fail = FAIL[state] and state or nil
    local new = fail or SINGLE_NEW[state] or aggregate(mk, 1, nil, 1, state)
    if fail then
      if err ~= '' then
        redis.call('HSET', mk, pf.st, state, pf.dt, now, pf.err, err, pf.stat, stat, 'fail', fail, 'err', err,
          'state', new, 'h', hist(cur[1], new))
      else
        redis.call('HSET', mk, pf.st, state, pf.dt, now, pf.err, err, pf.stat, stat, 'fail', fail,
          'state', new, 'h', hist(cur[1], new))
      end
    elseif old == new then
      redis.call('HSET', mk, pf.st, state, pf.dt, now, pf.err, err, pf.stat, stat)
      return 'ok'
    else
      redis.call('HSET', mk, pf.st, state, pf.dt, now, pf.err, err, pf.stat, stat,
        'state', new, 'h', hist(cur[1], new))
    end
    if camp ~= '' then
      camp_add(camp, old, -1)
      camp_add(camp, new, 1)
    end
    if EV[new] then event(id, new, part, camp, false, err) end
    return 'ok'
  end
  local cur = redis.call('HMGET', mk, 'state', 'parts', 'fail', 'campaign', 'h', pf.st)
  if not cur[1] then return 'gone' end
  if cur[6] and FINAL[cur[6]] then return 'dup' end
  if FINAL[state] and not shortened then
    -- Keep the entry a little longer so that a duplicate receipt is recognised as a
    -- duplicate, not counted as unmatched.
    redis.call('PEXPIREAT', corr, DUP_MS)
  end
  commit(mk, id, part, cur, state, {pf.st, state, pf.dt, now, pf.err, err, pf.stat, stat}, nil, err, false)
  return 'ok'
end

-- A correlation entry: msg_id, part, submit time, and (since parts and campaign were
-- added) the record's parts and campaign; nil for those two in an older entry.
-- Plain finds: a pattern match of the five fields cost about three times as much
-- (its lazy captures try the rest of the pattern at every character).
local find, sub = string.find, string.sub
local function corr_fields(v)
  local s1 = find(v, SEP, 1, true)
  local s2 = s1 and find(v, SEP, s1 + 1, true)
  if not s2 then return nil end
  local s3 = find(v, SEP, s2 + 1, true)
  local s4 = s3 and find(v, SEP, s3 + 1, true)
  if s4 then
    return sub(v, 1, s1 - 1), sub(v, s1 + 1, s2 - 1), sub(v, s2 + 1, s3 - 1), sub(v, s3 + 1, s4 - 1), sub(v, s4 + 1)
  end
  return sub(v, 1, s1 - 1), sub(v, s1 + 1, s2 - 1), sub(v, s2 + 1), nil, nil
end

-- Held receipt `member` (JSON) is now matched or swept: drop it from its keys.
local function drop_held(h, member)
  for _, c in ipairs(h.c) do redis.call('SREM', ekey(h.a, type(c) == 'table' and c[1] or c), member) end
  redis.call('ZREM', IDX, member)
end

-- May a submit whose canonical id is `canon` take held receipt `h`? Only under the
-- kind the account's format allows (see the module docstring).
local function held_fits(h, canon)
  local lock = LOCKS[h.a]
  for i, c in ipairs(h.c) do
    if type(c) ~= 'table' then c = {c, 'same'} end  -- held by an older version
    if c[1] == canon then
      if lock then return c[2] == lock end
      return i == 1
    end
  end
  return false
end

-- Results of the receipts and sweep ops, filled by the receipts loop and sweep: flat,
-- five strings per match (msg_id, part, state, submit time, kind), returned as one
-- string joined by SEP: a reply of 2,500 strings per batch cost Redis about 3,600
-- instructions per receipt to build, the joined string a few hundred.
local matched, nm, dups_n = {}, 0, 0
local function add_match(id, part, state, subts, kind)
  matched[nm + 1] = id; matched[nm + 2] = part; matched[nm + 3] = state
  matched[nm + 4] = subts; matched[nm + 5] = kind
  nm = nm + 5
end

local function to_unmatched(acct, raw, state, err, stat, received, reason)
  redis.call('XADD', P .. 'unmatched', 'MAXLEN', '~', cfg.unmatched_max, '*',
    'account', acct, 'id', raw, 'state', state, 'err', err, 'stat', stat,
    'received', received, 'reason', reason, 'at', now)
end

-- A held receipt whose hold has ended: one last look under the spellings the account's
-- format allows (a submit may have skipped it while the format was not known). A
-- single correlation entry is taken; several (the format still unknown) or none make
-- it unmatched, with the reason.
local function sweep(limit)
  local due = redis.call('ZRANGEBYSCORE', IDX, '-inf', nowf, 'LIMIT', 0, limit)
  local gone, m0 = 0, nm
  for _, m in ipairs(due) do
    local h = cjson.decode(m)
    drop_held(h, m)
    local lock = LOCKS[h.a]
    local hit, hits = nil, 0
    for _, c in ipairs(h.c) do
      if type(c) ~= 'table' then c = {c, 'same'} end  -- held by an older version
      if not lock or c[2] == lock then
        local corr = KC .. h.a .. ':' .. c[1]
        local v = redis.call('GET', corr)
        if v then hits = hits + 1; hit = {corr, v} end
      end
    end
    local r = nil
    if hits == 1 then
      local id, part, subts, parts, camp = corr_fields(hit[2])
      r = apply_to_part(id, part, h.s, h.e, h.x, hit[1], false, parts, camp)
      if r == 'ok' then
        add_match(id, part, h.s, subts, 'held')
      elseif r == 'dup' then
        dups_n = dups_n + 1
      end
    end
    if r == nil or r == 'gone' then
      local why = 'no submit_sm_resp with this id'
      if hits > 1 then why = 'ambiguous message id: the SMSC id format is not learned' end
      if r == 'gone' then why = 'message record gone' end
      to_unmatched(h.a, h.r, h.s, h.e, h.x, h.t, why)
      gone = gone + 1
    end
  end
  if gone > 0 then redis.call('HINCRBY', STATS, 'unmatched', gone) end
  if nm > m0 then redis.call('HINCRBY', STATS, 'held_applied', (nm - m0) / 5) end
  return gone
end

if op == 'queued' then
  -- id, parts, campaign, account
  local new, dup = 0, 0
  for i = 1, nB, 4 do
    local id, parts, camp, acct = B[i], B[i + 1], B[i + 2], B[i + 3]
    local mk = KT .. id
    if redis.call('HSETNX', mk, 'state', 'queued') == 1 then
      redis.call('HSET', mk, 'h', 'queued@' .. now, 'parts', parts, 'campaign', camp, 'account', acct)
      redis.call('PEXPIREAT', mk, TTL)
      camp_add(camp, 'queued', 1)
      camp_add(camp, 'total', 1)
      camp_add(camp, 'segments', tonumber(parts))
      new = new + 1
    else
      dup = dup + 1
    end
  end
  flush_camps()
  return {new, dup}

elseif op == 'submitted' then
  -- id, part, parts, smsc id, canonical smsc id, account, bind, submit time ('' = now)
  local late, nl, skipped, existing = {}, 0, 0, 0
  -- Held receipts are rare: skip the per-message lookup when there are none.
  local any_held = redis.call('ZCARD', IDX) > 0
  local ev_sub = EV['submitted']
  local h_new = 'queued@' .. now .. ';submitted@+0'
  -- ARGV[6] 'new': the previous batch found no records (messages not queued through
  -- the tracker): a single-part record is created by COPY of a template record (see
  -- below), any other asks EXISTS first, a fraction of an HMGET of seven fields.
  local try_new = ARGV[6] == 'new'
  local NOREC = {false, false, false, false, false, false, false}
  -- The template: a new single-part record as this batch writes it, with the records'
  -- expiry. COPY to a record's key creates the record with its expiry and answers
  -- whether the key existed (0: then it is read and updated as usual), in one call
  -- where EXISTS, an HSET of eight new fields (a listpack insert each) and PEXPIREAT
  -- took three; the record's own values are then written over the template's, in
  -- place when their lengths agree. Made at the first such record, deleted at the end
  -- (a leftover of a failed call is remade before use and expires with the records).
  -- The template costs four calls per script call: for a handful of records (a quiet
  -- engine) EXISTS is cheaper.
  local TMPL, tmpl_acct, tmpl_bind = P .. 'tracking:new-record', nil, nil
  local use_tmpl = try_new and nB >= 8 * 8
  local P1 = pfs('1')
  for i = 1, nB, 8 do
    local id, part, parts, raw, canon, acct, bind = B[i], B[i + 1], B[i + 2], B[i + 3], B[i + 4], B[i + 5], B[i + 6]
    -- When the submit_sm was written (the part's ts and the correlation's time, from
    -- which submit-to-receipt latency counts); the record's state times stay "now".
    local sts = B[i + 7]
    if sts == '' then sts = now end
    local mk = KT .. id
    local pf = pfs(part)
    local cur, copied = nil, false
    if use_tmpl and parts == '1' then
      if not tmpl_acct then
        redis.call('DEL', TMPL)
        redis.call('HSET', TMPL, 'state', 'submitted', 'h', h_new, P1.st, 'submitted', 'account', acct,
          P1.id, raw, P1.b, bind, P1.ts, sts, P1.n, '1')
        redis.call('PEXPIREAT', TMPL, TTL)
        tmpl_acct, tmpl_bind = acct, bind
      end
      if redis.call('COPY', TMPL, mk) == 1 then copied = true; cur = NOREC else cur = load(mk, pf) end
    elseif try_new and redis.call('EXISTS', mk) == 0 then cur = NOREC else cur = load(mk, pf) end
    if cur[1] then existing = existing + 1 end
    if cur[6] and FINAL[cur[6]] then
      skipped = skipped + 1
    else
      local corr = KC .. acct .. ':' .. canon
      -- The record's parts and campaign travel with the correlation entry: the receipt
      -- of a single-part message then reads only its history and part state.
      local rparts, rcamp = parts, ''
      if cur[1] then rparts, rcamp = cur[2] or '1', cur[4] or '' end
      redis.call('SET', corr, id .. SEP .. part .. SEP .. sts .. SEP .. rparts .. SEP .. rcamp, 'PXAT', CORR_TTL)
      if not cur[1] and parts == '1' then
        -- A single-part message not seen queued: create its record, written out.
        -- state, h and the part's state first: a listpack field lookup is a scan from
        -- the front, and every later update reads or writes those three. (No
        -- t.<state> times: the history holds each state's time, nothing read them,
        -- and every field is one more listpack insert, a realloc, per record. No
        -- parts either: a record without it has one part, here and in status().)
        if not copied then
          redis.call('HSET', mk, 'state', 'submitted', 'h', h_new, pf.st, 'submitted',
            'account', acct, pf.id, raw, pf.b, bind, pf.ts, sts, pf.n, '1')
          redis.call('PEXPIREAT', mk, TTL)
        elseif acct == tmpl_acct and bind == tmpl_bind then
          redis.call('HSET', mk, pf.id, raw, pf.ts, sts)
        else
          redis.call('HSET', mk, 'account', acct, pf.id, raw, pf.b, bind, pf.ts, sts)
        end
        if ev_sub then event(id, 'submitted', part, false, raw, false) end
      elseif cur[1] and (cur[2] or '1') == '1' and not cur[3] then
        -- A single-part message queued by the intake (or submitted again): written out.
        local old = cur[1]
        local n = tostring((tonumber(cur[7]) or 0) + 1)
        -- The intake may not know the SMSC account; the submit does.
        if old == 'submitted' then
          redis.call('HSET', mk, pf.st, 'submitted', pf.id, raw, pf.b, bind, pf.ts, sts, pf.n, n,
            'account', acct)
        else
          redis.call('HSET', mk, pf.st, 'submitted', pf.id, raw, pf.b, bind, pf.ts, sts, pf.n, n,
            'account', acct, 'state', 'submitted', 'h', hist(cur[5], 'submitted'))
          local camp = cur[4]
          if camp and camp ~= '' then
            camp_add(camp, old, -1)
            camp_add(camp, 'submitted', 1)
          end
          if ev_sub then event(id, 'submitted', part, camp, raw, false) end
        end
      else
        local created, f = false, nil
        if not cur[1] then
          created = true
          f = {'state', 'queued', 'h', 'queued@' .. now, 'parts', parts, 'account', acct}
          cur = {'queued', parts, false, false, 'queued@' .. now, false, false}
        else
          f = {'account', acct}
        end
        local k = #f
        f[k + 1] = pf.st; f[k + 2] = 'submitted'
        f[k + 3] = pf.id; f[k + 4] = raw
        f[k + 5] = pf.b; f[k + 6] = bind
        f[k + 7] = pf.ts; f[k + 8] = sts
        f[k + 9] = pf.n; f[k + 10] = tostring((tonumber(cur[7]) or 0) + 1)
        commit(mk, id, part, cur, 'submitted', f, raw, nil, created)
      end
      if any_held then
        local members = redis.call('SMEMBERS', ekey(acct, canon))
        local hs = {}
        for j, held in ipairs(members) do hs[j] = {cjson.decode(held), held} end
        if #hs > 1 then
          -- Oldest first, so that ENROUTE then DELIVRD land in that order.
          table.sort(hs, function(a, b) return tonumber(a[1].t) < tonumber(b[1].t) end)
        end
        for _, hm in ipairs(hs) do
          local h, held = hm[1], hm[2]
          if held_fits(h, canon) then
            drop_held(h, held)
            local r = apply_to_part(id, part, h.s, h.e, h.x, corr, false, rparts, rcamp)
            late[nl + 1] = id; late[nl + 2] = part; late[nl + 3] = h.s; late[nl + 4] = h.t; late[nl + 5] = r
            nl = nl + 5
          end
        end
      end
    end
  end
  if tmpl_acct then redis.call('DEL', TMPL) end
  flush_camps()
  if nl > 0 then redis.call('HINCRBY', STATS, 'held_applied', nl / 5) end
  return {late, skipped, existing}

elseif op == 'failed' then
  -- id, part, parts, command status, account, bind
  local n = 0
  for i = 1, nB, 6 do
    local id, part, parts, cs, acct, bind = B[i], B[i + 1], B[i + 2], B[i + 3], B[i + 4], B[i + 5]
    local mk = KT .. id
    local pf = pfs(part)
    local cur, f, created = load_or_create(mk, pf, parts, acct)
    if not (cur[6] and FINAL[cur[6]]) then
      local k = #f
      f[k + 1] = pf.st; f[k + 2] = 'failed'
      f[k + 3] = pf.cs; f[k + 4] = cs
      f[k + 5] = pf.b; f[k + 6] = bind
      f[k + 7] = pf.dt; f[k + 8] = now
      commit(mk, id, part, cur, 'failed', f, nil, cs, created)
      n = n + 1
    end
  end
  flush_camps()
  return n

elseif op == 'unknown' then
  -- id, part, parts, account, bind
  local n = 0
  for i = 1, nB, 5 do
    local id, part, parts, acct, bind = B[i], B[i + 1], B[i + 2], B[i + 3], B[i + 4]
    local mk = KT .. id
    local pf = pfs(part)
    local cur, f, created = load_or_create(mk, pf, parts, acct)
    if not (cur[6] and FINAL[cur[6]]) then
      local k = #f
      f[k + 1] = pf.st; f[k + 2] = 'outcome_unknown'
      f[k + 3] = pf.uk; f[k + 4] = now
      f[k + 5] = pf.b; f[k + 6] = bind
      f[k + 7] = pf.n; f[k + 8] = tostring((tonumber(cur[7]) or 0) + 1)
      redis.call('HINCRBY', mk, 'n.unknown', 1)
      commit(mk, id, part, cur, 'outcome_unknown', f, nil, nil, created)
      n = n + 1
    end
  end
  flush_camps()
  return n

elseif op == 'receipts' then
  -- per receipt: candidate count n, n pairs (canonical id, kind), state, err, raw id,
  -- raw stat; or, with ARGV[8] '1' (the account's spelling is "same": one candidate
  -- each), canonical id, state, err, raw id, raw stat
  local acct = ARGV[6]
  local locked = LOCKS[acct] ~= nil
  local compact = ARGV[8] == '1'
  local held, dups, gone, nrec = 0, 0, 0, 0
  local kinds = {}
  local KA = KC .. acct .. ':'
  local NC = {['0'] = 0, ['1'] = 1, ['2'] = 2, ['3'] = 3}
  local i = 1
  while i <= nB do
    local nc, c0, j
    if compact then
      nc, c0, j = 1, i, i + 1
    else
      nc = NC[B[i]] or tonumber(B[i])
      c0 = i + 1
      j = c0 + 2 * nc
    end
    local state, err, raw, stat = B[j], B[j + 1], B[j + 2], B[j + 3]
    i = j + 4
    nrec = nrec + 1
    local hit = false
    -- Evidence for the detector: a match among several spellings, or under the
    -- learned one. A one-spelling id ("7") says nothing about the format.
    local evidence = locked or nc > 1
    -- A final receipt ends the correlation: GETEX reads the entry and shortens its
    -- life to the duplicate window in one call (Redis >= 6.2).
    local final = FINAL[state]
    for ci = 1, nc do
      local cid, kind
      if compact then cid, kind = B[c0], 'same' else cid, kind = B[c0 + 2 * ci - 2], B[c0 + 2 * ci - 1] end
      local corr = KA .. cid
      local v
      if final then v = redis.call('GETEX', corr, 'PXAT', DUP_MS) else v = redis.call('GET', corr) end
      if v then
        local id, part, subts, parts, camp = corr_fields(v)
        local r
        if ci > 1 and not locked and FINAL[(redis.call('HGET', KT .. id, pfs(part).st))] then
          -- Format not learned, the literal spelling has no entry (yet), and another
          -- spelling names a part that is already final: far more likely a receipt
          -- ahead of its own submit_sm_resp than a resend. Held, not a duplicate.
          r = 'skip'
        else
          r = apply_to_part(id, part, state, err, stat, corr, final, parts, camp)
        end
        if r == 'skip' then
          -- try the next spelling; held below if none fits
        elseif r == 'ok' then
          if evidence then kinds[kind] = (kinds[kind] or 0) + 1 end
          add_match(id, part, state, subts, kind)
          hit = true
          break
        elseif r == 'dup' then
          dups = dups + 1
          hit = true
          break
        else
          -- The correlation outlived the message record (ttl < correlation_ttl is
          -- refused by the tracker, so only a manual DEL gets here): keep the receipt.
          to_unmatched(acct, raw, state, err, stat, now, 'message record gone')
          gone = gone + 1
          hit = true
          break
        end
      end
    end
    if not hit and nc > 0 then
      -- Not (yet) submitted as far as Redis knows: hold it until the response lands
      -- or the hold time passes, then it goes to the unmatched stream.
      local cands = {}
      if compact then
        cands[1] = {B[c0], 'same'}
      else
        for ci = 1, nc do cands[ci] = {B[c0 + 2 * ci - 2], B[c0 + 2 * ci - 1]} end
      end
      local member = cjson.encode({t = now, a = acct, c = cands, s = state, e = err, r = raw, x = stat})
      -- The same receipt sent again (or its next state) replaces the held one.
      -- Another receipt may share a candidate key (hex "10" is decimal "16"): both
      -- stay, each in the set, each applied only under its own allowed spelling.
      for _, old in ipairs(redis.call('SMEMBERS', ekey(acct, cands[1][1]))) do
        local o = cjson.decode(old)
        if o.r == raw then drop_held(o, old) end
      end
      for _, c in ipairs(cands) do
        local k = ekey(acct, c[1])
        redis.call('SADD', k, member)
        redis.call('PEXPIRE', k, cfg.early_key_ms)
      end
      redis.call('ZADD', IDX, nowf + cfg.hold, member)
      held = held + 1
    elseif not hit then
      -- An empty id can never match: straight to the unmatched stream.
      to_unmatched(acct, raw, state, err, stat, now, 'empty message id')
      gone = gone + 1
    end
  end
  local fk = P .. 'idfmt:' .. acct
  local learn, nlearn = {}, 0
  for k, n in pairs(kinds) do
    redis.call('HINCRBY', fk, k, n)
    learn[nlearn + 1] = k; learn[nlearn + 2] = n; nlearn = nlearn + 2
  end
  if nrec > 0 then redis.call('HINCRBY', STATS, 'receipts', nrec) end
  if held > 0 then redis.call('HINCRBY', STATS, 'held', held) end
  if gone > 0 then redis.call('HINCRBY', STATS, 'unmatched', gone) end
  local direct = nm / 5
  local swept = sweep(cfg.sweep_max)
  -- after the sweep: a held receipt it applies moves counters too
  flush_camps()
  dups = dups + dups_n
  if dups > 0 then redis.call('HINCRBY', STATS, 'duplicates', dups) end
  if direct > 0 then redis.call('HINCRBY', STATS, 'matched', direct) end
  return {table.concat(matched, SEP), held, dups, swept, gone, learn}

elseif op == 'sweep' then
  local swept = sweep(cfg.sweep_max)
  flush_camps()
  if dups_n > 0 then redis.call('HINCRBY', STATS, 'duplicates', dups_n) end
  return {swept, table.concat(matched, SEP), dups_n}
end
return redis.error_reply('tracking: unknown op ' .. tostring(op))
"""
