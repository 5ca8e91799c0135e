-- Admit entries that a blocking XREADGROUP (not allowed inside scripts) has just delivered to us.
-- ARGV: group, consumer, lease_ms, ordering paths JSON or '', then entry ids.
-- Returns {admitted, duplicates, leased elsewhere}.
local group, consumer, lease_ms = ARGV[1], ARGV[2], tonumber(ARGV[3])
local paths = nil
if ARGV[4] ~= '' then paths = cjson.decode(ARGV[4]) end
local out, stats = {}, {0, 0}
for i = 5, #ARGV do
  local entry = redis.call('XRANGE', stream, ARGV[i], ARGV[i])[1]
  local fields = false
  if entry then fields = entry[2] end
  admit(group, consumer, ARGV[i], fields, 1, lease_ms, paths, out, stats)
end
return {out, stats[1], stats[2]}
