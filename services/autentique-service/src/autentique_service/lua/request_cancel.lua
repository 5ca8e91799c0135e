-- An operator's cancel, exclusive with a signature as supersede.lua is: refused once a webhook fixed signed_at
-- ('signed'); a contract without a document yet is still being created ('creating'). Repeats keep the first
-- time.
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HEXISTS', KEYS[1], 'signed_at') == 1 then return 'signed' end
if redis.call('HEXISTS', KEYS[1], 'document_id') == 0 then return 'creating' end
redis.call('HSETNX', KEYS[1], 'cancel_requested_at', ARGV[1])
return 'ok'
