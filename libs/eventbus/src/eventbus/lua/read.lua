-- Mark-and-acknowledge the previous batch, report which waiting entries became runnable, then read and
-- admit the next batch: one round trip per batch under load.
-- ARGV: group, consumer, start ('>' or a cursor into our own pending entries), count, lease_ms,
--       processed_ttl_ms|processed_max, ordering paths as JSON ('' for none),
--       the packed acknowledgements (see settle_packed), then their ordering members,
--       n_waiting, then n_waiting members.
-- Returns {admitted, runnable members, last entry id read ('' if none), duplicates, leased elsewhere,
--          the stream's newest entry id when nothing was read ('' otherwise): where a blocking wait resumes}.
local group, consumer, start, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local lease_ms = tonumber(ARGV[5])
local processed_ttl, processed_max = string.match(ARGV[6], '^(%d+)|(%d+)$')
processed_ttl, processed_max = tonumber(processed_ttl), tonumber(processed_max)
local paths = nil
if ARGV[7] ~= '' then paths = cjson.decode(ARGV[7]) end

local pos = settle_packed(group, ARGV[8], 9, processed_ttl, processed_max)

local n_waiting = tonumber(ARGV[pos])
pos = pos + 1
local runnable = {}
for i = 1, n_waiting do
  local member = ARGV[pos + i - 1]
  if is_head(group, member) == 1 then runnable[#runnable + 1] = member end
end

local out, stats, last = {}, {0, 0}, ''
if count > 0 then
  local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, start)
  if reply then
    local entries = reply[1][2]
    local deliveries = nil
    if start == '>' then deliveries = 1 end
    admit_all(group, consumer, entries, deliveries, lease_ms, paths, out, stats)
    if #entries > 0 then last = entries[#entries][1] end
  end
end
local top = ''
if last == '' then
  local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if newest[1] then top = newest[1][1] else top = '0-0' end
end
return {out, runnable, last, stats[1], stats[2], top}
