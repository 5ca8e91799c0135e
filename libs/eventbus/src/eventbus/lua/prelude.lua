-- Shared by the consumer scripts (read, reclaim, heads). KEYS: stream, processed, leases, order.
-- Stream entries carry i (event id), t (type), v (version), e (envelope JSON) and, for a replay aimed at
-- one group, g (that group).
local stream, processed, leases, order = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

-- Ordering members sort by stream position within a key: "<key>\0<padded ms>-<padded seq>\0<entry id>".
local function order_member(key, entry_id)
  local ms, seq = string.match(entry_id, '^(%d+)-(%d+)$')
  return key .. '\0' .. string.rep('0', 16 - #ms) .. ms .. '-' .. string.rep('0', 20 - #seq) .. seq
    .. '\0' .. entry_id
end

-- An entry may run when it is the oldest registered entry of its key. A head that is no longer pending in
-- the group (trimmed, or left behind by a crash between ack and cleanup) is stale and removed.
local function is_head(group, member)
  local key = string.match(member, '^(.*)%z[^%z]*%z[^%z]*$')
  while true do
    local first = redis.call('ZRANGEBYLEX', order, '[' .. key .. '\0', '[' .. key .. '\0\255', 'LIMIT', 0, 1)[1]
    if first == nil or first == member then return 1 end
    local first_id = string.match(first, '%z([^%z]+)$')
    if #redis.call('XPENDING', stream, group, first_id, first_id, 1) == 0 then
      redis.call('ZREM', order, first)
    else
      return 0
    end
  end
end

local function ordering_key(fields, paths)
  local ok, doc = pcall(cjson.decode, field(fields, 'e') or '')
  if not ok or type(doc) ~= 'table' then return nil end
  local parts = {}
  for _, path in ipairs(paths) do
    local node = doc
    for step in string.gmatch(path, '[^.]+') do
      if type(node) ~= 'table' then node = nil break end
      node = node[step]
    end
    if node == nil or type(node) == 'table' then return nil end
    parts[#parts + 1] = tostring(node)
  end
  return table.concat(parts, '|')
end

-- Decide what to do with one delivered entry. Appends {entry_id, fields, deliveries, member, runnable} to
-- out when the handler must run; acknowledges at once what is already processed or aimed at another group;
-- leaves pending what another live consumer holds a lease on.
local function admit(group, consumer, entry_id, fields, deliveries, lease_ms, paths, out, stats)
  if not fields then
    -- deleted (trimmed) while pending: nothing left to handle
    redis.call('XACK', stream, group, entry_id)
    return
  end
  local target = field(fields, 'g')
  if target and target ~= group then
    redis.call('XACK', stream, group, entry_id)
    return
  end
  local event_id = field(fields, 'i')
  if event_id then
    if redis.call('ZSCORE', processed, event_id) then
      redis.call('XACK', stream, group, entry_id)
      stats[1] = stats[1] + 1
      return
    end
    local lease = redis.call('HGET', leases, event_id)
    if lease then
      local owner, expiry = string.match(lease, '^(.*)|(%d+)$')
      if owner ~= consumer and tonumber(expiry) > now then
        stats[2] = stats[2] + 1
        return
      end
    end
    redis.call('HSET', leases, event_id, consumer .. '|' .. (now + lease_ms))
  end
  local member, runnable = '', 1
  if paths and event_id then
    local key = ordering_key(fields, paths)
    if key then
      member = order_member(key, entry_id)
      redis.call('ZADD', order, 0, member)
      runnable = is_head(group, member)
    end
  end
  if deliveries == nil then
    local info = redis.call('XPENDING', stream, group, entry_id, entry_id, 1)[1]
    deliveries = info and info[4] or 1
  end
  out[#out + 1] = {entry_id, fields, deliveries, member, runnable}
end

local function settle(group, entry_id, event_id, member)
  if event_id ~= '' then
    redis.call('ZADD', processed, now, event_id)
    redis.call('HDEL', leases, event_id)
  end
  redis.call('XACK', stream, group, entry_id)
  if member ~= '' then redis.call('ZREM', order, member) end
end

-- Bounded retention of processed ids: by age, and by count so that a flood cannot grow the set without
-- limit. Both bounds outlive the stream's own (settings.py checks it), so anything the stream can still
-- redeliver is still recognised.
local function trim_processed(ttl_ms, max_ids)
  redis.call('ZREMRANGEBYSCORE', processed, '-inf', '(' .. (now - ttl_ms))
  if max_ids > 0 and redis.call('ZCARD', processed) > max_ids then
    redis.call('ZREMRANGEBYRANK', processed, 0, -(max_ids + 1))
  end
end

-- Settle the acknowledgements packed in one argument, "<entry id> <event id> <0|1>\n" each (one argument
-- rather than three per entry: packing hundreds of arguments is a measurable share of the client's CPU). A
-- 1 says the entry's ordering member follows in ARGV from pos on. Returns the position after the members.
local function settle_packed(group, packed, pos, ttl_ms, max_ids)
  local n = 0
  for entry_id, event_id, flag in string.gmatch(packed, '([^ \n]+) ([^ \n]*) ([01])\n') do
    local member = ''
    if flag == '1' then
      member = ARGV[pos]
      pos = pos + 1
    end
    settle(group, entry_id, event_id, member)
    n = n + 1
  end
  if n > 0 then trim_processed(ttl_ms, max_ids) end
  return pos
end
