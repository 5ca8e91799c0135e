-- One page of an index with each member's JSON document (and an extra per member), in one round trip.
-- KEYS[1]: a lexicographic index (members "<16-digit ms>:<id>"); ARGV: upper bound, lower bound, count,
-- the key prefix of the documents (the id is appended), the hash field holding the document, and a hash of
-- extras by id (the handoff mirror; "" for none).
-- Returns {member, document, extra, member, document, extra, …}; a missing document or extra is "".
local members = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'BYLEX', 'REV', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, member in ipairs(members) do
  out[#out + 1] = member
  local id = string.sub(member, 18)
  out[#out + 1] = redis.call('HGET', ARGV[4] .. id, ARGV[5]) or ''
  out[#out + 1] = ARGV[6] ~= '' and redis.call('HGET', ARGV[6], id) or ''
end
return out
