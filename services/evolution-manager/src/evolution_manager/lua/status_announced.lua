local announced = tonumber(redis.call('HGET', KEYS[1], 'announced_seq') or '0')
if tonumber(ARGV[1]) > announced then redis.call('HSET', KEYS[1], 'announced_seq', ARGV[1]) end
return 1
