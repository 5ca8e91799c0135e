-- A token bucket per API key, shared by every replica: one atomic step, on the server's clock.
-- KEYS[1]: the bucket; ARGV[1]: refill rate (tokens per ms); ARGV[2]: capacity (the burst).
-- Returns {allowed (0/1), tokens left (floor), ms until full, ms until the next token when refused}.
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
local full_in = math.ceil((capacity - tokens) / rate)
redis.call('PEXPIRE', KEYS[1], full_in + 1000)
local retry_in = 0
if allowed == 0 then
  retry_in = math.ceil((1 - tokens) / rate)
end
return {allowed, math.floor(tokens), full_in, retry_in}
