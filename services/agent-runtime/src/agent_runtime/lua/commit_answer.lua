-- KEYS: answer, conversation, handoff, qualified, lead (the last two expire with the lead: ARGV[11]),
--       answered (the lead's marks), then the answer keys of earlier messages to cut down (cut.lua).
-- ARGV: answer, answer TTL ms, conversation, conversation TTL ms, expected version, handoff or '',
--       '1' to qualify, the announced lead record or '', '1' to refuse while a handoff is active,
--       the event that made the expected state or '' (checked when given: a version alone repeats after
--       the conversation expired or was lost), the lead's TTL ms, this message's event id, then the event
--       ids of those earlier messages, in KEYS' order. An answer of '' has no events (silent): its mark is
--       stored at once.
-- Returns {1, 1 to extend the lead's reference or 0} when this answer was stored, {0, earlier answer} when
-- the message was answered already, {2} when the conversation moved under us, {3} when the lead was qualified
-- already, {4} when a person took the lead over.
-- Earlier answers of this lead whose events this process published since: a mark each (store.py). Done
-- whatever this commit's own outcome: it is about other messages.
cut_down(KEYS[6], 7, 6, ARGV[2])
if ARGV[8] ~= '' then redis.call('SET', KEYS[5], ARGV[8], 'PX', ARGV[11]) end
local done = redis.call('GET', KEYS[1])
if done then return {0, done} end
if redis.call('HEXISTS', KEYS[6], ARGV[12]) == 1 then return {0, '{"events":[]}'} end
local current = redis.call('GET', KEYS[2])
local version, made_by = 0, ''
if current then
  local state = cjson.decode(current)
  version = tonumber(state['version']) or 0
  if type(state['made_by']) == 'string' then made_by = state['made_by'] end
end
if version ~= tonumber(ARGV[5]) then return {2} end
if ARGV[10] ~= '' and made_by ~= ARGV[10] then return {2} end
if ARGV[9] == '1' then
  local handoff = redis.call('GET', KEYS[3])
  if handoff and cjson.decode(handoff)['active'] == true then return {4} end
end
if ARGV[7] == '1' and not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[11]) then return {3} end
if ARGV[1] == '' then mark(KEYS[6], {ARGV[12]}, ARGV[2]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
-- The lead's record and its qualified flag live ARGV[11] (AGENT_LEAD_TTL) past the lead's last answer.
-- The lead's reference by id (another slot) lives a day longer and is extended by the caller when this says
-- so: once the record has less than a day of that left, so at most once a day per lead (a record without TTL,
-- written before, says so too).
local refresh_ref = redis.call('PTTL', KEYS[5]) < tonumber(ARGV[11]) - 86400000
redis.call('PEXPIRE', KEYS[5], ARGV[11])
redis.call('PEXPIRE', KEYS[4], ARGV[11])
if ARGV[6] ~= '' then redis.call('SET', KEYS[3], ARGV[6]) end
if refresh_ref then return {1, 1} end
return {1, 0}
