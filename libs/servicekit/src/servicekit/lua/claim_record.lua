-- KEYS: the record; ARGV: claim value, ttl ms → nil when claimed now, else the record's value.
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
