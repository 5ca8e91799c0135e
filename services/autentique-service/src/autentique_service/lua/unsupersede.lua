-- Undoes a reservation's mark on the contract it was to supersede, unless another one superseded it since.
if redis.call('HGET', KEYS[1], 'superseded_by') == ARGV[1] then return redis.call('HDEL', KEYS[1], 'superseded_by') end
return 0
