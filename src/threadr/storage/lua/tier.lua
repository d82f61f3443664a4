-- The rate limit of a generation tier (limits/ratelimit.py): its two policies, `burst` and
-- `hourly`, checked and consumed together in one key (lib/gcra_pair.lua), with the cache entry
-- the request asks for read along.
--
-- Why not ratelimit.lua, which takes any policies: this is the one command of every cache hit.
-- Redis spends ~2 µs on each redis.call when busy, several times that when idle between
-- requests, and Lua tables and loops cost it about as much again (docs/performance.md has the
-- measurements): ratelimit.lua's way, a key per policy (TIME, a GET and a SET each, the cache
-- GET), cost Redis ~24 µs a hit when busy and ~40 µs when not; this, one MGET for the state
-- and the cache entry, one SET and TIME, and no table but the reply, ~16 and ~31 µs.
--
-- KEYS[1]  the tier's state: both policies' theoretical arrival times (TAT, integer µs since the
--          epoch) as "tat1 tat2". Missing, of another type, or a TAT that is no number: full.
-- KEYS[2]  optional: a cache key to GET in the same call (its value is appended; a key of
--          another type reads as a miss).
-- ARGV[1]  "1" to consume, "0" to only look (peek).
-- ARGV[2]  now in µs from the app's clock, or "" to read the Redis clock (TIME).
-- ARGV[3], ARGV[4]  the first policy's emission interval in µs and its limit; ARGV[5], ARGV[6]
--          the second's.
--
-- Returns {allowed, remaining_1, next_1, full_1, remaining_2, next_2, full_2[, cached]}.

local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
-- One read for the state and the cache entry alike (MGET answers nil for another type).
local values = redis.call('MGET', unpack(KEYS))
local out = gcra_pair(KEYS[1], values[1], now, ARGV[1] == '1', tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
-- values[2] is nil without a cache key (the reply ends before it), false for a miss.
out[8] = values[2]
return out
