-- Compare-and-set of one deal, with its index memberships, atomically (optimistic concurrency: the caller read
-- the deal, decided the change — transition rules, If-Match — and writes it only if nobody wrote meanwhile).
-- KEYS[1]: the deal; KEYS[2 .. 1 + ARGV[4]]: indexes to leave; the rest: indexes to join. The caller knows
-- every index from the version it read, which this script checks, so all are declared (one slot: the company).
-- ARGV[1]: the version read ("" for a new deal: the key must not exist); ARGV[2]: the new document (JSON);
-- ARGV[3]: the index member; ARGV[4]: how many KEYS after the deal are indexes to leave.
-- Returns 1 when written, 0 when the deal changed (or exists, for a new one) since it was read, -1 when gone.
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if current then return 0 end
else
  if not current then return -1 end
  -- deals written before versions existed count as version 1
  if tostring(cjson.decode(current)['version'] or 1) ~= ARGV[1] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2])
local leave = tonumber(ARGV[4])
for i = 2, 1 + leave do
  redis.call('ZREM', KEYS[i], ARGV[3])
end
for i = 2 + leave, #KEYS do
  redis.call('ZADD', KEYS[i], 0, ARGV[3])
end
return 1
