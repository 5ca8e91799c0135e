-- Forgets a reservation that never became a document; one that did is kept whatever happens.
if redis.call('HEXISTS', KEYS[1], 'document_id') == 0 then return redis.call('DEL', KEYS[1]) end
return 0
