-- Shared by commit_answer.lua and cut.lua (prepended): a lead's answered messages as fields of one hash, the
-- time of marking (s) each, the hash living the answer TTL past its last mark. A small hash is a listpack in
-- Redis (~40 B a mark, where a key of its own cost ~240 B); a lead with very many marks has the old ones
-- dropped every 64 marks past 256, so the scan costs a few field reads a mark.
local function mark(answered, ids, ttl_ms)
  if #ids == 0 then return end
  local now = tonumber(redis.call('TIME')[1])
  for _, id in ipairs(ids) do redis.call('HSET', answered, id, now) end
  redis.call('PEXPIRE', answered, ttl_ms)
  local count = redis.call('HLEN', answered)
  if count > 256 and count % 64 < #ids then
    local oldest = now - math.floor(tonumber(ttl_ms) / 1000)
    local all = redis.call('HGETALL', answered)
    for i = 1, #all, 2 do
      if tonumber(all[i + 1]) < oldest then redis.call('HDEL', answered, all[i]) end
    end
  end
end

-- Cut answers down to marks: delete KEYS[from ..] (the answers' keys) and mark their event ids, each at
-- ARGV[its key's index + offset]. Shared by commit_answer.lua (the lead's earlier answers) and cut.lua.
local function cut_down(answered, from, offset, ttl_ms)
  local ids = {}
  for i = from, #KEYS do
    redis.call('DEL', KEYS[i])
    ids[#ids + 1] = ARGV[i + offset]
  end
  mark(answered, ids, ttl_ms)
end
