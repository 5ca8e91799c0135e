-- Forget what a group processed: every bucket its index names, then the index, the count and the sorted set,
-- in one step so that a settle running meanwhile cannot leave a bucket the index no longer names (nothing would
-- ever trim it). UNLINK frees large buckets off the main thread.
-- KEYS: processed (the sorted set), the buckets' index, the count. Returns the number of buckets dropped.
local processed, index, count = KEYS[1], KEYS[2], KEYS[3]
local buckets = redis.call('ZRANGE', index, 0, -1)
for i = 1, #buckets, 1000 do
  local keys = {}
  for j = i, math.min(i + 999, #buckets) do keys[#keys + 1] = processed .. ':' .. buckets[j] end
  redis.call('UNLINK', unpack(keys))
end
redis.call('UNLINK', processed, index, count)
return #buckets
