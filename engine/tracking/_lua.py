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

local function mkey(id) return P .. 'track:' .. id end
local function ckey(acct, c) return P .. 'corr:' .. acct .. ':' .. c end
local function ekey(acct, c) return P .. 'early:' .. acct .. ':' .. c end
local IDX = P .. 'early-idx'
local STATS = P .. 'tracking:stats'

-- Aggregated state from the parts; the rules are in engine/tracking/__init__.py.
local function aggregate(mk, parts, fail, ...)
  if fail then return fail end
  local fields = {}
  for i = 1, parts do fields[i] = 'p' .. i .. '.st' end
  local sts = redis.call('HMGET', mk, unpack(fields))
  local ndlv, unk, sub = 0, false, false
  for i = 1, parts do
    local s = sts[i]
    if s == 'delivered' then ndlv = ndlv + 1; sub = true
    elseif s == 'outcome_unknown' then unk = true
    elseif s then sub = true end
  end
  if ndlv == parts then return 'delivered' end
  if unk then return 'outcome_unknown' end
  if sub then return 'submitted' end
  return 'queued'
end

-- Recompute the message state after a part changed; on a change: history, campaign
-- counters and one event on the status stream.
local function settle(mk, id, part, smsc_id, err)
  local cur = redis.call('HMGET', mk, 'state', 'parts', 'fail', 'campaign', 'h')
  local old, camp, h = cur[1], cur[4], cur[5]
  local new = aggregate(mk, tonumber(cur[2]) or 1, cur[3])
  if old == new then return end
  if h and #h < cfg.hist_max then h = h .. ';' .. new .. '@' .. now
  elseif not h then h = new .. '@' .. now end
  redis.call('HSET', mk, 'state', new, 't.' .. new, now, 'h', h)
  if camp and camp ~= '' then
    local ck = P .. 'campaign:' .. camp .. ':states'
    if old then redis.call('HINCRBY', ck, old, -1) end
    redis.call('HINCRBY', ck, new, 1)
  end
  local ev = {'msg_id', id, 'state', new, 'ts', now, 'part', part}
  if camp and camp ~= '' then ev[#ev + 1] = 'campaign'; ev[#ev + 1] = camp end
  if smsc_id and smsc_id ~= '' then ev[#ev + 1] = 'smsc_id'; ev[#ev + 1] = smsc_id end
  if err and err ~= '' then ev[#ev + 1] = 'err'; ev[#ev + 1] = err end
  redis.call('XADD', cfg.events, 'MAXLEN', '~', cfg.events_max, '*', unpack(ev))
end

-- Create the record of a message the tracker has not seen queued.
local function ensure(mk, parts, acct)
  if redis.call('HSETNX', mk, 'state', 'queued') == 1 then
    redis.call('HSET', mk, 'parts', parts, 'account', acct, 't.queued', now, 'h', 'queued@' .. now)
    redis.call('PEXPIRE', mk, cfg.ttl)
  end
end

-- A receipt (state, err, raw stat) for part `part` of message `id`.
-- Returns 'ok', 'dup' (the part was already final) or 'gone' (record expired).
local function apply_to_part(id, part, state, err, stat, corr)
  local mk = mkey(id)
  local pf = 'p' .. part .. '.'
  local prev = redis.call('HGET', mk, pf .. 'st')
  if not prev then
    if redis.call('EXISTS', mk) == 0 then return 'gone' end
  elseif FINAL[prev] then
    return 'dup'
  end
  redis.call('HSET', mk, pf .. 'st', state, pf .. 'dt', now, pf .. 'err', err, pf .. 'stat', stat)
  if FINAL[state] then
    if FAIL[state] then
      redis.call('HSETNX', mk, 'fail', state)
      if err ~= '' then redis.call('HSETNX', mk, 'err', err) end
    end
    -- Keep the entry a little longer so that a duplicate receipt is recognised as a
    -- duplicate, not counted as unmatched.
    redis.call('PEXPIRE', corr, cfg.dup_ms)
  end
  settle(mk, id, part, nil, err)
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
      if camp ~= '' then
        local ck = P .. 'campaign:' .. camp .. ':states'
        redis.call('HINCRBY', ck, 'queued', 1)
        redis.call('HINCRBY', ck, 'total', 1)
        redis.call('HINCRBY', ck, 'segments', parts)
        redis.call('PEXPIRE', ck, cfg.ttl)
      end
      new = new + 1
    else
      dup = dup + 1
    end
  end
  return {new, dup}

elseif op == 'submitted' then
  local late, skipped = {}, 0
  for _, it in ipairs(batch) do
    local id, part, parts, raw, canon, acct, bind = it[1], it[2], it[3], it[4], it[5], it[6], it[7]
    local mk = mkey(id)
    ensure(mk, parts, acct)
    local pf = 'p' .. part .. '.'
    local prev = redis.call('HGET', mk, pf .. 'st')
    if prev and FINAL[prev] then
      skipped = skipped + 1
    else
      redis.call('HSET', mk, pf .. 'st', 'submitted', pf .. 'id', raw, pf .. 'b', bind, pf .. 'ts', now)
      redis.call('HINCRBY', mk, pf .. 'n', 1)
      local corr = ckey(acct, canon)
      redis.call('SET', corr, id .. SEP .. part .. SEP .. now, 'PX', cfg.corr_ttl)
      settle(mk, id, part, raw, nil)
      local held = redis.call('GET', ekey(acct, canon))
      if held then
        local h = cjson.decode(held)
        drop_held(h, held)
        local r = apply_to_part(id, part, h.s, h.e, h.x, corr)
        late[#late + 1] = {id, part, h.s, h.t, r}
      end
    end
  end
  if #late > 0 then redis.call('HINCRBY', STATS, 'held_applied', #late) end
  return cjson.encode({late = late, skipped = skipped})

elseif op == 'failed' then
  local n = 0
  for _, it in ipairs(batch) do
    local id, part, parts, cs, acct, bind = it[1], it[2], it[3], it[4], it[5], it[6]
    local mk = mkey(id)
    ensure(mk, parts, acct)
    local pf = 'p' .. part .. '.'
    local prev = redis.call('HGET', mk, pf .. 'st')
    if not (prev and FINAL[prev]) then
      redis.call('HSET', mk, pf .. 'st', 'failed', pf .. 'cs', cs, pf .. 'b', bind, pf .. 'dt', now)
      redis.call('HSETNX', mk, 'fail', 'failed')
      redis.call('HSETNX', mk, 'err', cs)
      settle(mk, id, part, nil, cs)
      n = n + 1
    end
  end
  return n

elseif op == 'unknown' then
  local n = 0
  for _, it in ipairs(batch) do
    local id, part, parts, acct, bind = it[1], it[2], it[3], it[4], it[5]
    local mk = mkey(id)
    ensure(mk, parts, acct)
    local pf = 'p' .. part .. '.'
    local prev = redis.call('HGET', mk, pf .. 'st')
    if not (prev and FINAL[prev]) then
      redis.call('HSET', mk, pf .. 'st', 'outcome_unknown', pf .. 'uk', now, pf .. 'b', bind)
      redis.call('HINCRBY', mk, 'n.unknown', 1)
      redis.call('HINCRBY', mk, pf .. 'n', 1)
      settle(mk, id, part, nil, nil)
      n = n + 1
    end
  end
  return n

elseif op == 'receipts' then
  local acct = ARGV[6]
  local fk = P .. 'idfmt:' .. acct
  local matched, held, dups, gone = {}, 0, 0, 0
  for _, it in ipairs(batch) do
    local cands, state, err, raw, stat = it[1], it[2], it[3], it[4], it[5]
    local hit = false
    for _, c in ipairs(cands) do
      local corr = ckey(acct, c[1])
      local v = redis.call('GET', corr)
      if v then
        local s1 = string.find(v, SEP, 1, true)
        local s2 = string.find(v, SEP, s1 + 1, true)
        local id = string.sub(v, 1, s1 - 1)
        local part = string.sub(v, s1 + 1, s2 - 1)
        local subts = string.sub(v, s2 + 1)
        local r = apply_to_part(id, part, state, err, stat, corr)
        if r == 'ok' then
          redis.call('HINCRBY', fk, c[2], 1)
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
