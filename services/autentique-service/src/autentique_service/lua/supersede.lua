-- Marks a contract superseded by the caller's new one, in one step with the checks that make a re-issue and a
-- signature exclusive: refused (0) once a webhook fixed its signed_at (the sale is decided; tracking.py writes
-- it before publishing) or another re-issue marked it. A contract that is gone (a deal may point at one it
-- cannot read) is left alone (1): a bare mark would make a hash that is no contract.
if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
if redis.call('HEXISTS', KEYS[1], 'signed_at') == 1 then return 0 end
local by = redis.call('HGET', KEYS[1], 'superseded_by')
if by and by ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'superseded_by', ARGV[1])
return 1
