-- Append an envelope to its channel's stream and announce it live, in one atomic step; then trim what every
-- consumer group is done with.
-- KEYS[1] stream, KEYS[2] the channel's retention hash (the groups' floor, cached, and what each group lost past
-- the ceiling), KEYS[3] (optional) producer idempotency key; all carry the channel's hash tag. The retention
-- hash never expires: while a slot is half moved to another shard, a script whose keys all exist on the old
-- node still runs there, as a publish did before it had this key.
-- ARGV: event_id, type, version, envelope, live_channel, maxlen, max_age_ms, dedupe_ttl_ms, publish_cmd, ceiling,
--       exact_channel: on a cluster, the catalog's own channel name for a classic PUBLISH beside the sharded one
--       ('' for none); a classic channel is no key, so any node may publish it, and the cluster forwards it
--       to every node.
-- Returns {1, event_id, entry_id} when appended, {0, first_event_id, ''} for a repeated idempotency key.
local stream, retention, dedupe = KEYS[1], KEYS[2], KEYS[3]
local event_id, etype, version, envelope = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local live, maxlen, max_age, dedupe_ttl, publish_cmd = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]),
  tonumber(ARGV[8]), ARGV[9]
local ceiling = tonumber(ARGV[10])
local exact = ARGV[11] or ''
-- Length trimming runs once this many entries past a bound, not on every publish: each run reads the entries
-- it drops (to stop at the floor, and to count what groups lose), so one run per slack publishes. 1% of the
-- bound, at most 100.
local function slack(bound) return math.max(1, math.min(100, math.floor(bound / 100))) end
-- At most this many entries dropped per publish: a stream far over a bound comes down over a few publishes.
local CHUNK = 1000

if dedupe then
  local first = redis.call('GET', dedupe)
  if first then return {0, first, ''} end
end

local entry_id = redis.call('XADD', stream, '*', 'i', event_id, 't', etype, 'v', version, 'e', envelope)
local now_ms = tonumber(string.match(entry_id, '^(%d+)-'))  -- the server's clock, as XADD read it

local function parse_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

local function id_lt(a, b)
  local ams, aseq = parse_id(a)
  local bms, bseq = parse_id(b)
  return ams < bms or (ams == bms and aseq < bseq)
end

local function after(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms .. '-' .. (tonumber(seq) + 1)
end

local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

-- The oldest entry any group still needs: its oldest pending entry (delivered, not acknowledged) or, after
-- its last delivered entry, the undelivered ones. '' when the channel has no group (nothing is held back).
-- Cached for a second: XINFO GROUPS and XPENDING per group on every publish would cost more than the XADD.
-- A cached floor is never above the true one (groups only move forward; creating a group or moving one back
-- for a replay drops the cache).
local function floor()
  local cached = redis.call('HMGET', retention, 'floor', 'floor_until')
  if cached[1] and tonumber(cached[2]) > now_ms then return cached[1] end
  local lowest = nil
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local need = field(group, 'last-delivered-id')
    if tonumber(field(group, 'pending')) > 0 then
      local oldest = redis.call('XPENDING', stream, field(group, 'name'))[2]
      if oldest and id_lt(oldest, need) then need = oldest end
    end
    if lowest == nil or id_lt(need, lowest) then lowest = need end
  end
  lowest = lowest or ''
  redis.call('HSET', retention, 'floor', lowest, 'floor_until', now_ms + 1000)
  return lowest
end

-- Past the hard ceiling, the oldest entries go even if a group has not read them: each group's loss is counted
-- (entries it had not been delivered, or held pending) so that it is never silent.
local function enforce_ceiling(len)
  local doomed = redis.call('XRANGE', stream, '-', '+', 'COUNT', math.min(len - ceiling + slack(ceiling) - 1, CHUNK))
  if #doomed == 0 then return end
  local first, last = doomed[1][1], doomed[#doomed][1]
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local name, delivered = field(group, 'name'), field(group, 'last-delivered-id')
    local lost = 0
    for _, entry in ipairs(doomed) do
      if id_lt(delivered, entry[1]) then lost = lost + 1 end
    end
    if tonumber(field(group, 'pending')) > 0 then
      lost = lost + #redis.call('XPENDING', stream, name, first, last, #doomed)
    end
    if lost > 0 then
      redis.call('HINCRBY', retention, 'dropped:' .. name, lost)
      redis.call('HSET', retention, 'dropped_at:' .. name, now_ms)
    end
  end
  redis.call('XTRIM', stream, 'MINID', after(last))
  redis.call('HSET', retention, 'floor_until', 0)
end

if redis.call('EXISTS', retention) == 0 then  -- created with the stream, kept with it (see KEYS above)
  redis.call('HSET', retention, 'floor_until', 0)
end

local len = nil
if ceiling > 0 then
  len = redis.call('XLEN', stream)
  if len > ceiling then enforce_ceiling(len) end
end

-- Below the ceiling, only what every group is done with is trimmed: entries older than the age bound, and the
-- oldest entries past the length bound, in both cases up to the floor and no further.
local held = nil
if max_age > 0 then
  local cut = (now_ms - max_age) .. '-0'
  held = floor()
  if held ~= '' and id_lt(held, cut) then cut = held end
  -- Approximate trimming only drops whole radix-tree nodes, so this is O(1) mostly.
  redis.call('XTRIM', stream, 'MINID', '~', cut)
end
if maxlen > 0 then
  len = redis.call('XLEN', stream)
  if len >= maxlen + slack(maxlen) then
    held = held or floor()
    local top = '+'
    if held ~= '' then top = '(' .. held end
    if held ~= '0-0' then
      local over = redis.call('XRANGE', stream, '-', top, 'COUNT', math.min(len - maxlen, CHUNK))
      if #over > 0 then redis.call('XTRIM', stream, 'MINID', after(over[#over][1])) end
    end
  end
end

if dedupe then
  redis.call('SET', dedupe, event_id, 'PX', dedupe_ttl)
end
if publish_cmd ~= '' then
  redis.call(publish_cmd, live, envelope)
end
if exact ~= '' then
  redis.call('PUBLISH', exact, envelope)
end
return {1, event_id, entry_id}
