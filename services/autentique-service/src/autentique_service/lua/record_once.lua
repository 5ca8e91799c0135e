-- Write-once fields, optionally the webhook event's marker, and the contract read back: one reply to parse
-- (a MULTI pipeline answers QUEUED per command).
for i = 2, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
if KEYS[2] then redis.call('SET', KEYS[2], 1, 'EX', ARGV[1]) end
return redis.call('HGETALL', KEYS[1])
