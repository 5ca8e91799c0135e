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

-- Variadic commands over a list of items, in chunks: Lua's unpack() stops at a few thousand values.
local CHUNK = 4000
local function call_many(command, key, head, items)
  for i = 1, #items, CHUNK do
    local j = math.min(i + CHUNK - 1, #items)
    if head then
      redis.call(command, key, head, unpack(items, i, j))
    else
      redis.call(command, key, unpack(items, i, j))
    end
  end
end

-- Decide what to do with a batch of delivered entries ({entry_id, fields} each; fields false when the
-- entry was trimmed while pending). Appends {entry_id, fields, deliveries, member, runnable} to out for each
-- entry whose handler must run; acknowledges at once what is already processed or aimed at another group;
-- leaves pending what another live consumer holds a lease on.
-- The whole batch costs one ZMSCORE, one HMGET, one HSET and one XACK rather than three or four calls per
-- entry: each redis.call is about a microsecond of server time, and the server is the consumer's partner on
-- the same machine (docs/benchmarks.md, Event bus).
local function admit_all(group, consumer, entries, deliveries, lease_ms, paths, out, stats)
  local acks, candidates, ids = {}, {}, {}
  for _, entry in ipairs(entries) do
    local entry_id, fields = entry[1], entry[2]
    local target = fields and field(fields, 'g')
    if not fields or (target and target ~= group) then
      acks[#acks + 1] = entry_id  -- deleted (trimmed) while pending, or a replay aimed at another group
    else
      local event_id = field(fields, 'i')
      candidates[#candidates + 1] = {entry_id, fields, event_id}
      if event_id then ids[#ids + 1] = event_id end
    end
  end
  local done, leased = {}, {}
  if #ids > 0 then
    done = redis.call('ZMSCORE', processed, unpack(ids))
    leased = redis.call('HMGET', leases, unpack(ids))
  end
  -- Two copies of one event in a batch see the same state and get the same answer, as they would one by one
  -- (the first one's lease is ours, which does not stop the second).
  local claims, k, lease = {}, 0, consumer .. '|' .. (now + lease_ms)
  for _, c in ipairs(candidates) do
    local entry_id, fields, event_id = c[1], c[2], c[3]
    local run = true
    if event_id then
      k = k + 1
      if done[k] then
        acks[#acks + 1] = entry_id
        stats[1] = stats[1] + 1
        run = false
      elseif leased[k] then
        local owner, expiry = string.match(leased[k], '^(.*)|(%d+)$')
        if owner ~= consumer and tonumber(expiry) > now then
          stats[2] = stats[2] + 1
          run = false
        end
      end
      if run then
        claims[#claims + 1] = event_id
        claims[#claims + 1] = lease
      end
    end
    if run then
      local member, runnable = '', 1
      if paths and event_id then
        local key = ordering_key(fields, paths)
        if key then
          member = order_member(key, entry_id)
          redis.call('ZADD', order, 0, member)
          runnable = is_head(group, member)
        end
      end
      local count = deliveries
      if count == nil then
        local info = redis.call('XPENDING', stream, group, entry_id, entry_id, 1)[1]
        count = info and info[4] or 1
      end
      out[#out + 1] = {entry_id, fields, count, member, runnable}
    end
  end
  call_many('HSET', leases, nil, claims)
  call_many('XACK', stream, group, acks)
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
-- Settling marks the event processed, drops its lease, acknowledges the entry and leaves its ordering key:
-- four variadic calls for the whole batch.
local function settle_packed(group, packed, pos, ttl_ms, max_ids)
  local marks, events, entries, members = {}, {}, {}, {}
  for entry_id, event_id, flag in string.gmatch(packed, '([^ \n]+) ([^ \n]*) ([01])\n') do
    if flag == '1' then
      members[#members + 1] = ARGV[pos]
      pos = pos + 1
    end
    if event_id ~= '' then
      marks[#marks + 1] = now
      marks[#marks + 1] = event_id
      events[#events + 1] = event_id
    end
    entries[#entries + 1] = entry_id
  end
  if #entries > 0 then
    call_many('ZADD', processed, nil, marks)
    call_many('HDEL', leases, nil, events)
    call_many('XACK', stream, group, entries)
    call_many('ZREM', order, nil, members)
    trim_processed(ttl_ms, max_ids)
  end
  return pos
end
