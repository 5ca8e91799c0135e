-- KEYS: answered (the lead's marks), then the answer keys to cut down. ARGV: answer TTL ms, then the event
-- ids of those answers, in KEYS' order. Each answer's events are all published: the stream holds them, and
-- the answer becomes a mark (marks.lua) that a re-run of its message finds (and publishes nothing).
cut_down(KEYS[1], 2, 0, ARGV[1])
