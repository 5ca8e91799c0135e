-- The documents of one page of an index, with an extra per document, in one round trip.
-- KEYS: the documents' hashes, then a hash of extras by id (the handoff mirror). Every key is declared, so
-- the index's range is read before (its members name the documents); all are in the company's slot.
-- ARGV[1]: the hash field holding the document; ARGV[2..]: the ids, in the order of KEYS.
-- Returns {document, extra, document, extra, …}; a missing document or extra is "".
local extras = KEYS[#KEYS]
local out = {}
for i = 1, #KEYS - 1 do
  out[#out + 1] = redis.call('HGET', KEYS[i], ARGV[1]) or ''
  out[#out + 1] = redis.call('HGET', extras, ARGV[i + 1]) or ''
end
return out
