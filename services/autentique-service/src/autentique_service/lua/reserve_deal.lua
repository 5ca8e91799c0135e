-- Moves the deal to the caller's new contract only if the deal's contract is still the one the caller saw:
-- two concurrent requests cannot both reserve the deal.
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return current or '' end
redis.call('SET', KEYS[1], ARGV[2])
return ARGV[2]
