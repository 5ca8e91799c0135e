-- Keep what this consumer still holds: reset the pending entries' idle time (so nobody reclaims them)
-- and extend the leases, but only for entries still ours: a reclaimed entry is not stolen back.
-- KEYS: stream, leases. ARGV: group, consumer, lease_ms, then pairs (entry_id, event_id).
-- Returns the entry ids no longer ours.
local stream, leases = KEYS[1], KEYS[2]
local group, consumer, lease_ms = ARGV[1], ARGV[2], tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local lost = {}
for i = 4, #ARGV, 2 do
  local entry_id, event_id = ARGV[i], ARGV[i + 1]
  local info = redis.call('XPENDING', stream, group, entry_id, entry_id, 1)[1]
  if info and info[2] == consumer then
    redis.call('XCLAIM', stream, group, consumer, 0, entry_id, 'JUSTID')
    if event_id ~= '' then
      local lease = redis.call('HGET', leases, event_id)
      if lease == false or string.match(lease, '^(.*)|') == consumer then
        redis.call('HSET', leases, event_id, consumer .. '|' .. (now + lease_ms))
      end
    end
  else
    lost[#lost + 1] = entry_id
  end
end
return lost
