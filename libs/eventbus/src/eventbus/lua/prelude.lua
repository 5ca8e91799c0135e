-- Shared by the consumer scripts (read, admit, reclaim). KEYS: stream, processed (the sorted set), leases,
-- order, the processed buckets' index, the count of marks in buckets (eventbus.keys, eventbus.idempotency).
-- Stream entries carry i (event id), t (type), v (version), e (envelope JSON) and, for a replay aimed at
-- one group, g (that group).
local stream, processed, leases, order = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local bucket_index, bucket_marks = KEYS[5], KEYS[6]
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

-- Processed marks (eventbus.idempotency). An event id that is a ULID (evt_<ULID> or bare) is marked in the
-- SET of its time bucket, the ULID's first 7 characters (32^3 ms = 32.768 s), key processed .. ':' .. bucket:
-- a SET member costs ~80 B against ~128 B in the sorted set. The bucket comes from the id alone, so a replay,
-- a producer's second append or a dead letter's replay finds the mark. The sorted set keeps everything else,
-- scored by the time of marking as before: ids that are not ULIDs (other producers' UUIDs), ids handled more
-- than SKEW_MS away from their own time (a lagging group, a dead letter replayed days later, a producer's
-- skewed clock: their bucket's age says nothing about when they were handled), and the marks written before
-- buckets existed. Admission reads both. The index (a sorted set: bucket -> its start in ms) and the count of
-- marks in buckets let the trim drop whole buckets, oldest first, by age and by count.
local BUCKET_MS, SKEW_MS = 32768, 300000
-- The digits looked up in the alphabet, not a table of them: the script's top level runs on every call, and
-- filling a 32-entry table cost ~3 µs of server time per call, more than decoding the few buckets a call sees.
local CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
local bucket_starts = {}  -- bucket -> its start in ms, or false: not a ULID's time (one script call)

-- The bucket of an event id and the bucket's start in ms (35 bits of time in units of BUCKET_MS, exact in a
-- Lua number), or nil when the id is not a ULID, evt_<ULID> or bare. Only the length and the first 7
-- characters are read, decoded once per bucket: this runs for every id twice per batch (admission, settle),
-- and the rest of the id is only a member. A first character above 7 is no ULID (its time would pass 48 bits).
local function bucket_of(event_id)
  local from, n = 1, #event_id
  if n == 30 and string.sub(event_id, 1, 4) == 'evt_' then
    from = 5
  elseif n ~= 26 then
    return nil
  end
  local bucket = string.sub(event_id, from, from + 6)
  local start = bucket_starts[bucket]
  if start == nil then
    start = 0
    for i = 1, 7 do
      local at = string.find(CROCKFORD, string.sub(bucket, i, i), 1, true)  -- plain: no pattern
      if not at or (i == 1 and at > 8) then
        start = nil
        break
      end
      start = start * 32 + at - 1
    end
    start = start and start * BUCKET_MS or false
    bucket_starts[bucket] = start
  end
  if start then return bucket, start end
  return nil
end

-- For each id, a truthy value when the group has marked it processed: SMISMEMBER on each bucket the ids
-- fall in (a batch usually touches one or two), then one ZMSCORE for the ids no bucket holds.
local function processed_marks(ids)
  local done, buckets, names, rest, rest_at = {}, {}, {}, {}, {}
  for k, id in ipairs(ids) do
    local bucket = bucket_of(id)
    if bucket then
      local slots = buckets[bucket]
      if not slots then
        slots = {ids = {}, at = {}}
        buckets[bucket] = slots
        names[#names + 1] = bucket
      end
      slots.ids[#slots.ids + 1] = id
      slots.at[#slots.at + 1] = k
    else
      rest[#rest + 1] = id
      rest_at[#rest_at + 1] = k
    end
  end
  for _, bucket in ipairs(names) do
    local slots = buckets[bucket]
    local found = redis.call('SMISMEMBER', processed .. ':' .. bucket, unpack(slots.ids))
    for j, hit in ipairs(found) do
      if hit == 1 then
        done[slots.at[j]] = true
      else
        rest[#rest + 1] = slots.ids[j]
        rest_at[#rest_at + 1] = slots.at[j]
      end
    end
  end
  if #rest > 0 then
    local scores = redis.call('ZMSCORE', processed, unpack(rest))
    for j = 1, #rest do
      if scores[j] then done[rest_at[j]] = true end
    end
  end
  return done
end

-- Bounded retention of processed ids: by age, and by count so that a flood cannot grow them without limit.
-- Both bounds outlive the stream's own (settings.py checks it), so anything the stream can still redeliver
-- is still recognised. The sorted set is trimmed as it always was. Buckets go whole, oldest first: by age
-- once their last millisecond is older than the retention plus SKEW_MS (a mark went to a bucket only when
-- handled within SKEW_MS of its id's time, so it is kept at least the retention after it was handled), and
-- by count while the buckets left would still hold max_ids marks: never fewer than max_ids (which the
-- stream's length bound relies on), more by at most the oldest bucket and the newest (mark_processed trims
-- when a bucket begins: ~66 s of traffic, 0.1 % of the default bound at 20 msg/s).
local function trim_processed(ttl_ms, max_ids)
  redis.call('ZREMRANGEBYSCORE', processed, '-inf', '(' .. (now - ttl_ms))
  if max_ids > 0 and redis.call('ZCARD', processed) > max_ids then
    redis.call('ZREMRANGEBYRANK', processed, 0, -(max_ids + 1))
  end
  local count = tonumber(redis.call('GET', bucket_marks) or '0')
  local gone, dropped = {}, 0
  local cutoff = '(' .. (now - ttl_ms - SKEW_MS - BUCKET_MS)
  local old = redis.call('ZRANGEBYSCORE', bucket_index, '-inf', cutoff)
  for _, bucket in ipairs(old) do
    local key = processed .. ':' .. bucket
    dropped = dropped + redis.call('SCARD', key)
    gone[#gone + 1] = key
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', bucket_index, '-inf', cutoff) end
  count = count - dropped
  while max_ids > 0 and count > max_ids do
    local oldest = redis.call('ZRANGE', bucket_index, 0, 0)[1]
    if not oldest then break end
    local key = processed .. ':' .. oldest
    local size = redis.call('SCARD', key)
    if count - size < max_ids then break end
    redis.call('ZREM', bucket_index, oldest)
    gone[#gone + 1] = key
    count = count - size
  end
  if #gone > 0 then
    -- UNLINK: a large bucket is freed off the main thread
    for i = 1, #gone, CHUNK do redis.call('UNLINK', unpack(gone, i, math.min(i + CHUNK - 1, #gone))) end
    if count > 0 then redis.call('SET', bucket_marks, count) else redis.call('DEL', bucket_marks) end
  end
end

-- Mark event ids processed: SADD per bucket, one ZADD to the index (its start as the score) and an INCRBY of
-- the count by what SADD added; ids outside SKEW_MS or not ULIDs go to the sorted set. The trim runs when a
-- bucket is new to the index (every 32.8 s under steady traffic) or the sorted set was written, not on every
-- batch: each redis.call costs server time, and dropping the oldest bucket a bucket later only keeps more.
local function mark_processed(event_ids, ttl_ms, max_ids)
  local buckets, names, late = {}, {}, {}
  for _, id in ipairs(event_ids) do
    local bucket, start = bucket_of(id)
    if start and start + BUCKET_MS + SKEW_MS > now and start <= now + SKEW_MS then
      if not buckets[bucket] then
        buckets[bucket] = {}
        names[#names + 1] = bucket
      end
      buckets[bucket][#buckets[bucket] + 1] = id
    else
      late[#late + 1] = now
      late[#late + 1] = id
    end
  end
  local added, index = 0, {}
  for _, bucket in ipairs(names) do
    local ids = buckets[bucket]
    for i = 1, #ids, CHUNK do
      local j = math.min(i + CHUNK - 1, #ids)
      added = added + redis.call('SADD', processed .. ':' .. bucket, unpack(ids, i, j))
    end
    index[#index + 1] = bucket_starts[bucket]
    index[#index + 1] = bucket
  end
  local new = 0
  if #index > 0 then new = redis.call('ZADD', bucket_index, unpack(index)) end
  if added > 0 then redis.call('INCRBY', bucket_marks, added) end
  call_many('ZADD', processed, nil, late)
  if new > 0 or #late > 0 then trim_processed(ttl_ms, max_ids) end
end

-- Decide what to do with a batch of delivered entries ({entry_id, fields} each; fields false when the
-- entry was trimmed while pending). Appends {entry_id, fields, deliveries, member, runnable} to out for each
-- entry whose handler must run; acknowledges at once what is already processed or aimed at another group;
-- leaves pending what another live consumer holds a lease on.
-- The whole batch costs one SMISMEMBER per bucket touched (usually one) and one ZMSCORE (processed_marks),
-- one HMGET, one HSET and one XACK rather than three or four calls per entry: each redis.call is about a
-- microsecond of server time, and the server is the consumer's partner on the same machine
-- (docs/benchmarks.md, Event bus).
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
    done = processed_marks(ids)
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

-- Settle the acknowledgements packed in one argument, "<entry id> <event id> <0|1>\n" each (one argument
-- rather than three per entry: packing hundreds of arguments is a measurable share of the client's CPU). A
-- 1 says the entry's ordering member follows in ARGV from pos on. Returns the position after the members.
-- Settling marks the event processed (mark_processed), drops its lease, acknowledges the entry and leaves
-- its ordering key: a handful of variadic calls for the whole batch.
local function settle_packed(group, packed, pos, ttl_ms, max_ids)
  local events, entries, members = {}, {}, {}
  for entry_id, event_id, flag in string.gmatch(packed, '([^ \n]+) ([^ \n]*) ([01])\n') do
    if flag == '1' then
      members[#members + 1] = ARGV[pos]
      pos = pos + 1
    end
    if event_id ~= '' then
      events[#events + 1] = event_id
    end
    entries[#entries + 1] = entry_id
  end
  if #entries > 0 then
    mark_processed(events, ttl_ms, max_ids)
    call_many('HDEL', leases, nil, events)
    call_many('XACK', stream, group, entries)
    call_many('ZREM', order, nil, members)
  end
  return pos
end
