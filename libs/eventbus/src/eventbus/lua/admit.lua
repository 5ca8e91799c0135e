-- Settle finished entries, then admit entries that a blocking XREADGROUP (not allowed inside scripts) has
-- just delivered to us. Settling first matters: a copy of an event we just finished must find it processed.
-- ARGV: group, consumer, lease_ms, ordering paths JSON or '', processed_ttl_ms|processed_max,
--       the packed acknowledgements (see settle_packed), their ordering members, then the delivered entry ids.
-- Returns {admitted, duplicates, leased elsewhere}.
local group, consumer, lease_ms = ARGV[1], ARGV[2], tonumber(ARGV[3])
local paths = nil
if ARGV[4] ~= '' then paths = cjson.decode(ARGV[4]) end
local processed_ttl, processed_max = string.match(ARGV[5], '^(%d+)|(%d+)$')
processed_ttl, processed_max = tonumber(processed_ttl), tonumber(processed_max)
local pos = settle_packed(group, ARGV[6], 7, processed_ttl, processed_max)
local out, stats = {}, {0, 0}
local entries = {}
for i = pos, #ARGV do
  local entry = redis.call('XRANGE', stream, ARGV[i], ARGV[i])[1]
  entries[#entries + 1] = {ARGV[i], entry and entry[2] or false}
end
admit_all(group, consumer, entries, 1, lease_ms, paths, out, stats)
return {out, stats[1], stats[2]}
