-- One projection step, applied at most once per event id, atomically.
-- KEYS[1]: the event's own applied marker (a string); KEYS[2]: the set of its minute's applied events
-- (KEYS[1] again when ARGV[3] is ''); KEYS[3..]: every other key the ops touch, the company's lead indexes
-- included when a lead is re-indexed (one company: one hash tag, one Redis Cluster slot).
-- ARGV[1]: marker TTL (ms); ARGV[2]: JSON list of ops, each [name, key, args…]; ARGV[3]: the event's member
-- of the minute's set, or '' for an event id without a ULID (it gets a marker of its own).
-- Every op is order-independent (first/earliest wins, newest wins, set union, counter increments guarded by
-- the marker), so applying a company's events in any order yields the same read models.
local marker, minute, member = KEYS[1], KEYS[2], ARGV[3] or ''
-- The marker is read whatever the event: until 2026-12-16 (8 days after the sets replaced them) markers of
-- ULID events written before still stand for their events.
if redis.call('EXISTS', marker) == 1 then
  return 0
end
if member ~= '' and redis.call('SISMEMBER', minute, member) == 1 then
  return 0
end

-- Redis Cluster routes a script by its KEYS; a key it reaches by name alone may sit elsewhere while its slot
-- migrates. Refusing undeclared keys here makes a single server catch what a cluster would get wrong.
local declared = {}
for _, name in ipairs(KEYS) do
  declared[name] = true
end
local function checked(name)
  if not declared[name] then
    error('projection touches an undeclared key: ' .. tostring(name))
  end
  return name
end

local function index_keys(view, status, source)
  return {
    checked(view .. ':leads:*:*'),
    checked(view .. ':leads:' .. status .. ':*'),
    checked(view .. ':leads:*:' .. source),
    checked(view .. ':leads:' .. status .. ':' .. source),
  }
end

-- The lead as one JSON string (sorted keys, so the bytes depend on the facts only, not on arrival order):
-- a page of leads is then one bulk reply per lead instead of a few dozen fields to parse.
local function refresh_doc(lead_key)
  local flat = redis.call('HGETALL', lead_key)
  local names, values = {}, {}
  for i = 1, #flat, 2 do
    local name = flat[i]
    if name ~= 'doc' and string.sub(name, 1, 4) ~= 'idx_' then
      names[#names + 1] = name
      values[name] = flat[i + 1]
    end
  end
  table.sort(names)
  local parts = {}
  for _, name in ipairs(names) do
    parts[#parts + 1] = cjson.encode(name) .. ':' .. cjson.encode(values[name])
  end
  redis.call('HSET', lead_key, 'doc', '{' .. table.concat(parts, ',') .. '}')
end

-- A lead's status follows from the facts it holds, whatever order they arrived in.
local function reindex(lead_key, view)
  local f = redis.call('HMGET', lead_key, 'member', 'qualified_at', 'contract_sent_at', 'won_at', 'source',
    'idx_member', 'idx_status', 'idx_source')
  local member = f[1]
  if not member then
    return -- not created yet: it joins the indexes when lead.created arrives
  end
  local status = 'new'
  if f[4] then status = 'won' elseif f[3] then status = 'contract_sent' elseif f[2] then status = 'qualified' end
  local source = f[5] or 'unknown'
  if f[6] == member and f[7] == status and f[8] == source then
    return
  end
  if f[6] then
    for _, key in ipairs(index_keys(view, f[7], f[8])) do
      redis.call('ZREM', key, f[6])
    end
  end
  for _, key in ipairs(index_keys(view, status, source)) do
    redis.call('ZADD', key, 0, member)
  end
  redis.call('HSET', lead_key, 'status', status, 'idx_member', member, 'idx_status', status, 'idx_source', source)
end

local ops = cjson.decode(ARGV[2])
for _, op in ipairs(ops) do
  local name, key = op[1], checked(op[2])
  if name == 'hset' then
    redis.call('HSET', key, unpack(op, 3))
  elseif name == 'hsetnx' then
    for i = 3, #op, 2 do
      redis.call('HSETNX', key, op[i], op[i + 1])
    end
  elseif name == 'hmin' then
    -- [hmin, key, field, number, extra field, value, …]: the earliest fact wins, with its companions.
    local current = tonumber(redis.call('HGET', key, op[3]))
    local value = tonumber(op[4])
    if current == nil or value < current then
      redis.call('HSET', key, op[3], op[4], unpack(op, 5))
    end
  elseif name == 'hnewest' then
    -- [hnewest, key, field, at ms, json]: keep the JSON whose "at" is the newest.
    local current = redis.call('HGET', key, op[3])
    if not current or tonumber(cjson.decode(current)['at']) < tonumber(op[4]) then
      redis.call('HSET', key, op[3], op[5])
    end
  elseif name == 'hincrby' then
    redis.call('HINCRBY', key, op[3], op[4])
  elseif name == 'zadd' then
    redis.call('ZADD', key, op[3], op[4])
  elseif name == 'zcap' then
    -- keep the newest N members of a time-scored set
    redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(op[3]) + 1))
  elseif name == 'pexpire' then
    redis.call('PEXPIRE', key, op[3])
  elseif name == 'reindex' then
    reindex(key, op[3])
    refresh_doc(key)
  else
    return redis.error_reply('unknown projection op ' .. tostring(name))
  end
end
if member ~= '' then
  -- The set lives a TTL past its last member: each member at least a TTL after it was applied.
  redis.call('SADD', minute, member)
  redis.call('PEXPIRE', minute, ARGV[1])
else
  redis.call('SET', marker, '1', 'PX', ARGV[1])
end
return 1
