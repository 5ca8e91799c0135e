-- Take over entries that another consumer left pending longer than the visibility timeout.
-- ARGV: group, consumer, min_idle_ms, cursor, count, lease_ms, ordering paths JSON or ''.
-- Returns {admitted, next cursor, duplicates, leased elsewhere}.
local group, consumer, min_idle, cursor, count = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local lease_ms = tonumber(ARGV[6])
local paths = nil
if ARGV[7] ~= '' then paths = cjson.decode(ARGV[7]) end
local reply = redis.call('XAUTOCLAIM', stream, group, consumer, min_idle, cursor, 'COUNT', count)
local out, stats = {}, {0, 0}
-- XAUTOCLAIM counted this delivery; admit_all() reads the count back from the pending entry.
admit_all(group, consumer, reply[2], nil, lease_ms, paths, out, stats)
return {out, reply[1], stats[1], stats[2]}
