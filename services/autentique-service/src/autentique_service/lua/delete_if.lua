-- Deletes a key only while it still holds the caller's value: a lock's token, a deal's contract.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
