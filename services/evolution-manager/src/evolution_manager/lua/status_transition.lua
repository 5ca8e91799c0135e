-- Compare-and-set of the status: returns 0 when nothing is to be announced, else the sequence number of
-- the transition to announce (a new one, or a pending one whose publish failed), -1 for an unknown instance.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local current = redis.call('HGET', KEYS[1], 'status')
local seq = tonumber(redis.call('HGET', KEYS[1], 'status_seq') or '0')
local announced = tonumber(redis.call('HGET', KEYS[1], 'announced_seq') or '0')
if current == ARGV[1] then
  if announced >= seq then return 0 end
  return seq
end
seq = redis.call('HINCRBY', KEYS[1], 'status_seq', 1)
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'status_details', ARGV[2], 'status_at', ARGV[3])
return seq
