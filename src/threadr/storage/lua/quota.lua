-- Free-tier counters of one identity, checked and changed atomically.
--
-- KEYS[1]  a day's count, KEYS[2] a month's count (one hash tag, so one cluster slot): for a
--          reservation today's and this month's, for a refund the reservation's own, which
--          may be yesterday's by then.
-- ARGV[1]  "reserve" or "refund"; only a reservation has the rest:
-- ARGV[2]  daily limit, ARGV[3] monthly limit
-- ARGV[4]  seconds today's key should live, ARGV[5] the same for the month's key
--          (each to the end of its UTC period plus a margin, computed by the app).
--
-- Returns {ok, daily_usage, monthly_usage}. A refused reservation changes nothing, so a user
-- at their daily limit does not also lose monthly allowance.

-- A count is what this script writes: decimal digits (few enough for a double to hold them
-- exactly). Anything else under the key (corrupt, hand-edited, another type) counts as 0, and
-- the next reservation writes a real count over it; a refund leaves it alone. limits/quota.py
-- reads counts the same way.
local function count(key)
  local value = redis.pcall('GET', key)
  if type(value) == 'string' and #value <= 15 and string.match(value, '^%d+$') then
    return tonumber(value)
  end
  return 0
end

local day = count(KEYS[1])
local month = count(KEYS[2])

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
