"""The Lua script that applies one batch of tracking records inside Redis.

Why Lua: at 20,000 messages/s a round trip or even a pipelined command per field
would make the Python side the bottleneck (redis-py packs every argument in Python).
One EVALSHA per batch carries the whole batch as one JSON argument; Redis applies it
atomically, so a receipt racing its own submit_sm_resp (two engine processes, or the
receiver bind faster than the transmitter) can never be half-applied.

The script builds key names from the prefix, so it runs on a standalone Redis (or a
primary with replicas), not on Redis Cluster: that would need every key of a batch
in one hash slot.

ARGV: op, prefix, now (seconds, string), config JSON, batch JSON[, account].
"""

SCRIPT = r"""
local op, P, now = ARGV[1], ARGV[2], ARGV[3]
local cfg = cjson.decode(ARGV[4])
local batch = cjson.decode(ARGV[5])
local nowf = tonumber(now)
local SEP = '\31'

local FAIL = {failed=true, undeliverable=true, expired=true, rejected=true, deleted=true, unknown=true}
local FINAL = {delivered=true, failed=true, undeliverable=true, expired=true, rejected=true,
               deleted=true, unknown=true}

local KT, KC = P .. 'track:', P .. 'corr:'
local function mkey(id) return KT .. id end
local function ckey(acct, c) return KC .. acct .. ':' .. c end
local function ekey(acct, c) return P .. 'early:' .. acct .. ':' .. c end
local IDX = P .. 'early-idx'
local EV, EVK, EVMAX = cfg.ev, cfg.events, cfg.events_max
local STATS = P .. 'tracking:stats'

-- Campaign counters move once per batch, not once per message: a batch of 500
-- messages of one campaign costs a handful of HINCRBY instead of a thousand.
local camp_delta = {}
local function camp_add(camp, st, n)
  if not camp or camp == '' then return end
  local d = camp_delta[camp]
  if not d then d = {}; camp_delta[camp] = d end
  d[st] = (d[st] or 0) + n
end
local function flush_camps()
  for camp, d in pairs(camp_delta) do
    local ck = P .. 'campaign:' .. camp .. ':states'
    for st, n in pairs(d) do
      if n ~= 0 then redis.call('HINCRBY', ck, st, n) end
    end
    redis.call('PEXPIRE', ck, cfg.ttl)
  end
end

-- Field names of a part, built once per part number and batch: string building is a
-- visible share of the script's time at 20,000 messages/s.
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

-- The record fields every update reads, in one HMGET.
local function load(mk, part)
  local pf = pfs(part)
  return redis.call('HMGET', mk, 'state', 'parts', 'fail', 'campaign', 'h', pf.st, pf.n)
end

-- Aggregated state; the rules are in engine/tracking/__init__.py. `pstate` is the
-- new state of `part`; the other parts are read only for a multi-part message.
local function aggregate(mk, parts, fail, part, pstate)
  if fail then return fail end
  if parts == 1 then  -- the common case: no other part to read
    if pstate == 'delivered' or pstate == 'outcome_unknown' then return pstate end
    if pstate and pstate ~= 'queued' then return 'submitted' end
    return 'queued'
  end
  local fields, k = {}, 0
  for i = 1, parts do
    if i ~= part then k = k + 1; fields[k] = pfs(i).st end
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

-- Write the part's fields and, when the message state changes, its state, time,
-- history, campaign counters and one status event. `cur` is load()'s result.
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
    local h = cur[5]
    if not h then h = new .. '@' .. now
    elseif #h < cfg.hist_max then h = h .. ';' .. new .. '@' .. now end
    f[k + 1] = 'state'; f[k + 2] = new
    f[k + 3] = 't.' .. new; f[k + 4] = now
    f[k + 5] = 'h'; f[k + 6] = h
  end
  redis.call('HSET', mk, unpack(f))
  if created then redis.call('PEXPIRE', mk, cfg.ttl) end
  if old ~= new then
    local camp = cur[4]
    if camp and camp ~= '' and not created then
      camp_add(camp, old, -1)
      camp_add(camp, new, 1)
    end
    if not EV[new] then return end
    local ev, e = {'msg_id', id, 'state', new, 'ts', now, 'part', part}, 8
    if camp and camp ~= '' then ev[e + 1] = 'campaign'; ev[e + 2] = camp; e = e + 2 end
    if smsc_id and smsc_id ~= '' then ev[e + 1] = 'smsc_id'; ev[e + 2] = smsc_id; e = e + 2 end
    if err and err ~= '' then ev[e + 1] = 'err'; ev[e + 2] = err end
    redis.call('XADD', EVK, 'MAXLEN', '~', EVMAX, '*', unpack(ev))
  end
end

-- load() for submit-side updates, creating the record of a message the tracker has
-- not seen queued. Returns cur, the field list to extend, created.
local function load_or_create(mk, part, parts, acct)
  local cur = load(mk, part)
  if cur[1] then return cur, {}, false end
  local f = {'parts', parts, 'account', acct, 't.queued', now}
  return {'queued', parts, false, false, 'queued@' .. now, false, false}, f, true
end

-- A receipt (state, err, raw stat) for part `part` of message `id`.
-- Returns 'ok', 'dup' (the part was already final) or 'gone' (record expired).
local function apply_to_part(id, part, state, err, stat, corr, shortened)
  local mk = mkey(id)
  local cur = load(mk, part)
  if not cur[1] then return 'gone' end
  if cur[6] and FINAL[cur[6]] then return 'dup' end
  local pf = pfs(part)
  local f = {pf.st, state, pf.dt, now, pf.err, err, pf.stat, stat}
  if FINAL[state] and not shortened then
    -- Keep the entry a little longer so that a duplicate receipt is recognised as a
    -- duplicate, not counted as unmatched.
    redis.call('PEXPIRE', corr, cfg.dup_ms)
  end
  commit(mk, id, part, cur, state, f, nil, err, false)
  return 'ok'
end

-- Held receipt `member` (JSON) is now matched or swept: drop its keys.
local function drop_held(h, member)
  for _, c in ipairs(h.c) do
    local k = ekey(h.a, c)
    if redis.call('GET', k) == member then redis.call('DEL', k) end
  end
  redis.call('ZREM', IDX, member)
end

local function to_unmatched(acct, raw, state, err, stat, received, reason)
  redis.call('XADD', P .. 'unmatched', 'MAXLEN', '~', cfg.unmatched_max, '*',
    'account', acct, 'id', raw, 'state', state, 'err', err, 'stat', stat,
    'received', received, 'reason', reason, 'at', now)
end

local function sweep(limit)
  local due = redis.call('ZRANGEBYSCORE', IDX, '-inf', nowf, 'LIMIT', 0, limit)
  for _, m in ipairs(due) do
    local h = cjson.decode(m)
    drop_held(h, m)
    to_unmatched(h.a, h.r, h.s, h.e, h.x, h.t, 'no submit_sm_resp with this id')
  end
  if #due > 0 then redis.call('HINCRBY', STATS, 'unmatched', #due) end
  return #due
end

if op == 'queued' then
  local new, dup = 0, 0
  for _, it in ipairs(batch) do
    local id, parts, camp, acct = it[1], it[2], it[3], it[4]
    local mk = mkey(id)
    if redis.call('HSETNX', mk, 'state', 'queued') == 1 then
      redis.call('HSET', mk, 'parts', parts, 'campaign', camp, 'account', acct,
        't.queued', now, 'h', 'queued@' .. now)
      redis.call('PEXPIRE', mk, cfg.ttl)
      camp_add(camp, 'queued', 1)
      camp_add(camp, 'total', 1)
      camp_add(camp, 'segments', parts)
      new = new + 1
    else
      dup = dup + 1
    end
  end
  flush_camps()
  return {new, dup}

elseif op == 'submitted' then
  local late, skipped = {}, 0
  -- Held receipts are rare: skip the per-message lookup when there are none.
  local any_held = redis.call('ZCARD', IDX) > 0
  for _, it in ipairs(batch) do
    local id, part, parts, raw, canon, acct, bind = it[1], it[2], it[3], it[4], it[5], it[6], it[7]
    local mk = mkey(id)
    local cur, f, created = load_or_create(mk, part, parts, acct)
    if cur[6] and FINAL[cur[6]] then
      skipped = skipped + 1
    else
      local pf = pfs(part)
      local k = #f
      f[k + 1] = pf.st; f[k + 2] = 'submitted'
      f[k + 3] = pf.id; f[k + 4] = raw
      f[k + 5] = pf.b; f[k + 6] = bind
      f[k + 7] = pf.ts; f[k + 8] = now
      f[k + 9] = pf.n; f[k + 10] = (tonumber(cur[7]) or 0) + 1
      -- The intake may not know the SMSC account; the submit does.
      if not created then f[k + 11] = 'account'; f[k + 12] = acct end
      local corr = ckey(acct, canon)
      redis.call('SET', corr, id .. SEP .. part .. SEP .. now, 'PX', cfg.corr_ttl)
      commit(mk, id, part, cur, 'submitted', f, raw, nil, created)
      if any_held then
        local held = redis.call('GET', ekey(acct, canon))
        if held then
          local h = cjson.decode(held)
          drop_held(h, held)
          local r = apply_to_part(id, part, h.s, h.e, h.x, corr, false)
          late[#late + 1] = {id, part, h.s, h.t, r}
        end
      end
    end
  end
  flush_camps()
  if #late > 0 then redis.call('HINCRBY', STATS, 'held_applied', #late) end
  return cjson.encode({late = late, skipped = skipped})

elseif op == 'failed' then
  local n = 0
  for _, it in ipairs(batch) do
    local id, part, parts, cs, acct, bind = it[1], it[2], it[3], it[4], it[5], it[6]
    local mk = mkey(id)
    local cur, f, created = load_or_create(mk, part, parts, acct)
    if not (cur[6] and FINAL[cur[6]]) then
      local pf = pfs(part)
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
  local n = 0
  for _, it in ipairs(batch) do
    local id, part, parts, acct, bind = it[1], it[2], it[3], it[4], it[5]
    local mk = mkey(id)
    local cur, f, created = load_or_create(mk, part, parts, acct)
    if not (cur[6] and FINAL[cur[6]]) then
      local pf = pfs(part)
      local k = #f
      f[k + 1] = pf.st; f[k + 2] = 'outcome_unknown'
      f[k + 3] = pf.uk; f[k + 4] = now
      f[k + 5] = pf.b; f[k + 6] = bind
      f[k + 7] = pf.n; f[k + 8] = (tonumber(cur[7]) or 0) + 1
      redis.call('HINCRBY', mk, 'n.unknown', 1)
      commit(mk, id, part, cur, 'outcome_unknown', f, nil, nil, created)
      n = n + 1
    end
  end
  flush_camps()
  return n

elseif op == 'receipts' then
  local acct = ARGV[6]
  local matched, held, dups, gone = {}, 0, 0, 0
  local kinds = {}
  for _, it in ipairs(batch) do
    local cands, state, err, raw, stat = it[1], it[2], it[3], it[4], it[5]
    local hit = false
    -- A final receipt ends the correlation: GETEX reads the entry and shortens its
    -- life to the duplicate window in one call (Redis >= 6.2).
    local final = FINAL[state]
    for _, c in ipairs(cands) do
      local corr = ckey(acct, c[1])
      local v
      if final then v = redis.call('GETEX', corr, 'PX', cfg.dup_ms) else v = redis.call('GET', corr) end
      if v then
        local s1 = string.find(v, SEP, 1, true)
        local s2 = string.find(v, SEP, s1 + 1, true)
        local id = string.sub(v, 1, s1 - 1)
        local part = string.sub(v, s1 + 1, s2 - 1)
        local subts = string.sub(v, s2 + 1)
        local r = apply_to_part(id, part, state, err, stat, corr, final)
        if r == 'ok' then
          kinds[c[2]] = (kinds[c[2]] or 0) + 1
          matched[#matched + 1] = {id, tonumber(part), state, subts, c[2]}
          hit = true
        elseif r == 'dup' then
          dups = dups + 1
          hit = true
        else
          -- The correlation outlived the message record (ttl < correlation_ttl is
          -- refused by the tracker, so only a manual DEL gets here): keep the receipt.
          to_unmatched(acct, raw, state, err, stat, now, 'message record gone')
          gone = gone + 1
          hit = true
        end
        break
      end
    end
    if not hit and #cands > 0 then
      -- Not (yet) submitted as far as Redis knows: hold it until the response lands
      -- or the hold time passes, then it goes to the unmatched stream.
      local cs = {}
      for i, c in ipairs(cands) do cs[i] = c[1] end
      local member = cjson.encode({a = acct, c = cs, s = state, e = err, r = raw, x = stat, t = now})
      -- The same receipt sent again replaces the held one. Another receipt may
      -- share a candidate key (hex "10" is decimal "16"): that one stays held.
      local old = redis.call('GET', ekey(acct, cs[1]))
      if old and cjson.decode(old).r == raw then redis.call('ZREM', IDX, old) end
      for _, c in ipairs(cs) do
        redis.call('SET', ekey(acct, c), member, 'PX', cfg.early_key_ms)
      end
      redis.call('ZADD', IDX, nowf + cfg.hold, member)
      held = held + 1
    elseif not hit then
      -- An empty id can never match: straight to the unmatched stream.
      to_unmatched(acct, raw, state, err, stat, now, 'empty message id')
      gone = gone + 1
    end
  end
  flush_camps()
  local fk = P .. 'idfmt:' .. acct
  for k, n in pairs(kinds) do redis.call('HINCRBY', fk, k, n) end
  redis.call('HINCRBY', STATS, 'receipts', #batch)
  if #matched > 0 then redis.call('HINCRBY', STATS, 'matched', #matched) end
  if held > 0 then redis.call('HINCRBY', STATS, 'held', held) end
  if dups > 0 then redis.call('HINCRBY', STATS, 'duplicates', dups) end
  if gone > 0 then redis.call('HINCRBY', STATS, 'unmatched', gone) end
  local swept = sweep(cfg.sweep_max)
  return cjson.encode({matched = matched, held = held, dups = dups, swept = swept, unmatched = gone})

elseif op == 'sweep' then
  return sweep(cfg.sweep_max)
end
return redis.error_reply('tracking: unknown op ' .. tostring(op))
"""
