-- KEYS: answered (the lead's marks), then the answer keys to cut down. ARGV: answer TTL ms, then the event
-- ids of those answers, in KEYS' order. Each answer's events are all published: the stream holds them, and
-- the answer becomes a mark (marks.lua) that a re-run of its message finds (and publishes nothing).
local ids = {}
for i = 2, #KEYS do
  redis.call('DEL', KEYS[i])
  ids[#ids + 1] = ARGV[i]
end
mark(KEYS[1], ids, ARGV[1])
