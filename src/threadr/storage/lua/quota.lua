-- Free-tier counters of one identity, checked and changed atomically.
--
-- KEYS[1]  today's count, KEYS[2] this month's count (one hash tag, so one cluster slot).
-- ARGV[1]  "reserve" or "refund"
-- ARGV[2]  daily limit, ARGV[3] monthly limit
-- ARGV[4]  seconds today's key should live, ARGV[5] the same for the month's key
--          (each to the end of its UTC period plus a margin, computed by the app).
--
-- Returns {ok, daily_usage, monthly_usage}. A refused reservation changes nothing, so a user
-- at their daily limit does not also lose monthly allowance.

local day = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local month = tonumber(redis.call('GET', KEYS[2]) or '0') or 0

if ARGV[1] == 'refund' then
  -- DECR keeps the key's TTL; never going below zero means a stray refund cannot mint credit.
  if day > 0 then day = redis.call('DECR', KEYS[1]) end
  if month > 0 then month = redis.call('DECR', KEYS[2]) end
  return {1, day, month}
end

if day >= tonumber(ARGV[2]) or month >= tonumber(ARGV[3]) then
  return {0, day, month}
end
day = day + 1
month = month + 1
redis.call('SET', KEYS[1], string.format('%d', day), 'EX', ARGV[4])
redis.call('SET', KEYS[2], string.format('%d', month), 'EX', ARGV[5])
return {1, day, month}
