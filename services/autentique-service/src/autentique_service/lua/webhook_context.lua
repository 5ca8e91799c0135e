-- A webhook's reads in one round trip, once the document's pointer named the contract: was the event
-- applied already, and the contract.
if redis.call('EXISTS', KEYS[1]) == 1 then return {1} end
return {0, redis.call('HGETALL', KEYS[2])}
