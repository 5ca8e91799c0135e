-- Settle finished entries, then admit entries that a blocking XREADGROUP (not allowed inside scripts) has
-- just delivered to us. Settling first matters: a copy of an event we just finished must find it processed.
-- ARGV: group, consumer, lease_ms, ordering paths JSON or '', processed_ttl_ms,
--       n_acks, then n_acks triples (entry_id, event_id, member), then the delivered entry ids.
-- Returns {admitted, duplicates, leased elsewhere}.
local group, consumer, lease_ms = ARGV[1], ARGV[2], tonumber(ARGV[3])
local paths = nil
if ARGV[4] ~= '' then paths = cjson.decode(ARGV[4]) end
local processed_ttl, n_acks = tonumber(ARGV[5]), tonumber(ARGV[6])
local pos = 7
for _ = 1, n_acks do
  settle(group, ARGV[pos], ARGV[pos + 1], ARGV[pos + 2])
  pos = pos + 3
end
if n_acks > 0 then
  redis.call('ZREMRANGEBYSCORE', processed, '-inf', '(' .. (now - processed_ttl))
end
local out, stats = {}, {0, 0}
for i = pos, #ARGV do
  local entry = redis.call('XRANGE', stream, ARGV[i], ARGV[i])[1]
  local fields = false
  if entry then fields = entry[2] end
  admit(group, consumer, ARGV[i], fields, 1, lease_ms, paths, out, stats)
end
return {out, stats[1], stats[2]}
