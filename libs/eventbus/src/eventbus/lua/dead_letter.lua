-- Move one entry to the group's dead letters and acknowledge it, atomically: it is never both lost and
-- still pending. The processed set is left alone so that a replay after the fix runs the handler.
-- KEYS: stream, leases, order, dead letters.
-- ARGV: group, entry_id, event_id, member, maxlen, then field/value pairs of the dead letter.
local stream, leases, order, dlq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, entry_id, event_id, member, maxlen = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local args = {'XADD', dlq, 'MAXLEN', '~', maxlen, '*'}
for i = 6, #ARGV do args[#args + 1] = ARGV[i] end
local dead_id = redis.call(unpack(args))
redis.call('XACK', stream, group, entry_id)
if event_id ~= '' then redis.call('HDEL', leases, event_id) end
if member ~= '' then redis.call('ZREM', order, member) end
return dead_id
