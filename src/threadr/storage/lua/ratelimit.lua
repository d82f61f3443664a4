-- GCRA (generic cell rate algorithm) over several policies at once: every policy is checked,
-- and the request is consumed from all of them or, if any policy denies, from none.
--
-- KEYS[i]            policy i's theoretical arrival time (TAT), integer µs since the epoch;
--                    a missing key means the policy is full (nothing borrowed).
-- KEYS[n+1]          optional: a cache key to GET in the same call (its value is appended).
-- ARGV[1]            "1" to consume, "0" to only look (peek).
-- ARGV[2]            now in µs from the app's clock, or "" to read the Redis clock (TIME).
-- ARGV[2i+1], [2i+2] policy i: emission interval in µs (window / limit, an integer), limit.
--
-- Returns {allowed, remaining_1, next_1, full_1, remaining_2, ...}: the units still available,
-- µs until the next unit is paid back (0 when full) and µs until the policy is full again.
--
-- The arithmetic: each request borrows one interval; borrowing is paid back in real time.
-- "debt" = TAT - now. A request fits when the debt after it stays within limit * interval,
-- i.e. `limit` back-to-back requests from full, then one per interval. All values are
-- integers below 2^53, so Lua's doubles compute them exactly.

local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local n = (#ARGV - 2) / 2  -- policies; a key after theirs is a cache entry to read along
local tats = {}
local allowed = 1
for i = 1, n do
  local interval = tonumber(ARGV[2 * i + 1])
  local limit = tonumber(ARGV[2 * i + 2])
  local raw = redis.call('GET', KEYS[i])
  local tat = raw and tonumber(raw) or now
  -- A TAT in the past means the debt is paid off; time spent idle is not banked.
  if tat < now then tat = now end
  if tat - now + interval > limit * interval then allowed = 0 end
  tats[i] = tat
end

local consume = allowed == 1 and ARGV[1] == '1'
local out = {allowed}
for i = 1, n do
  local interval = tonumber(ARGV[2 * i + 1])
  local limit = tonumber(ARGV[2 * i + 2])
  local tat = tats[i]
  if consume then
    tat = tat + interval
    -- The key lives exactly as long as there is debt: a full policy needs no state at all.
    redis.call('SET', KEYS[i], string.format('%.0f', tat),
      'PX', string.format('%.0f', math.ceil((tat - now) / 1000)))
  end
  local debt = tat - now
  -- Units not yet paid back; can exceed `limit` only if the limit was lowered since.
  local used = math.ceil(debt / interval)
  local nxt = 0
  if used > 0 then
    -- Paying back one more unit (or, when over the limit, reaching a fitting debt).
    nxt = debt - (math.min(used, limit) - 1) * interval
  end
  out[#out + 1] = math.max(limit - used, 0)
  out[#out + 1] = nxt
  out[#out + 1] = debt
end
if #KEYS > n then
  -- The cache read rides along, so a cache hit costs one round trip in all. A wrong-type
  -- key is a miss, not a limiter failure.
  local cached = redis.pcall('GET', KEYS[n + 1])
  if type(cached) == 'table' then cached = false end
  out[#out + 1] = cached
end
return out
