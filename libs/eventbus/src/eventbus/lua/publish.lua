-- Append an envelope to its channel's stream and announce it live, in one atomic step.
-- KEYS[1] stream, KEYS[2] (optional) producer idempotency key; both carry the channel's hash tag.
-- ARGV: event_id, type, version, envelope, live_channel, maxlen, max_age_ms, dedupe_ttl_ms, publish_cmd
-- Returns {1, event_id, entry_id} when appended, {0, first_event_id, ''} for a repeated idempotency key.
local event_id, etype, version, envelope = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local live, maxlen, max_age, dedupe_ttl, publish_cmd = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]),
  tonumber(ARGV[8]), ARGV[9]

if KEYS[2] then
  local first = redis.call('GET', KEYS[2])
  if first then return {0, first, ''} end
end

local entry_id
if maxlen > 0 then
  entry_id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'i', event_id, 't', etype, 'v', version,
    'e', envelope)
else
  entry_id = redis.call('XADD', KEYS[1], '*', 'i', event_id, 't', etype, 'v', version, 'e', envelope)
end
if max_age > 0 then
  -- Age-based retention; approximate trimming only drops whole radix-tree nodes, so this is O(1) mostly.
  local ms = tonumber(string.match(entry_id, '^(%d+)-'))
  redis.call('XTRIM', KEYS[1], 'MINID', '~', tostring(ms - max_age))
end
if KEYS[2] then
  redis.call('SET', KEYS[2], event_id, 'PX', dedupe_ttl)
end
if publish_cmd ~= '' then
  redis.call(publish_cmd, live, envelope)
end
return {1, event_id, entry_id}
