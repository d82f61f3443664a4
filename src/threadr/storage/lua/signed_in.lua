-- A signed-in request for a thread (limits/admission.py): the session lookup of sessions.lua's
-- `touch` (lib/session.lua), then the rate limit of the account's tier with the cache read, as
-- tier.lua does it (lib/gcra_pair.lua), in one call, so that a signed-in cache hit costs one
-- round trip as an anonymous one does. A session that is not live consumes nothing.
--
-- KEYS[1..3]  the session, the account's premium, its saved threads' index (its hash tag)
-- KEYS[4], KEYS[5]  the state of the identity's free and premium tiers (the identity's tag)
-- KEYS[6]  optional: a cache key to GET in the same call
-- ARGV[1], ARGV[2]  the session's ttl and refresh (ms), ARGV[3] the account id the token names
-- ARGV[4]  "1" to consume, "0" to only look
-- ARGV[5]  now in µs from the app's clock, or "" for the Redis clock (the session's is Redis's)
-- ARGV[6..9], ARGV[10..13]  the free and the premium tier's policies, as tier.lua's ARGV[3..6]
--
-- Returns false for a session that is not live (or not the token's account); else the session
-- (lib/session.lua's 11 fields), 1 when its premium tier was used (else 0), then tier.lua's
-- reply: {allowed, remaining_1, next_1, full_1, remaining_2, next_2, full_2[, cached]}.
--
-- Keys of three hash tags: a single Redis only (on a cluster the caller makes the two calls).

local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = touch_session(KEYS[1], KEYS[2], KEYS[3], ms, tonumber(ARGV[1]), tonumber(ARGV[2]))
if not s or s[2] ~= ARGV[3] then return false end

local premium = (tonumber(s[9]) or 0) > ms
local state, spec = KEYS[4], 6
if premium then state, spec = KEYS[5], 10 end
local now = tonumber(ARGV[5]) or tonumber(t[1]) * 1000000 + tonumber(t[2])
local values
if KEYS[6] then
  values = redis.call('MGET', state, KEYS[6])
else
  values = redis.call('MGET', state)
end
local out = gcra_pair(state, values[1], now, ARGV[4] == '1', tonumber(ARGV[spec]),
  tonumber(ARGV[spec + 1]), tonumber(ARGV[spec + 2]), tonumber(ARGV[spec + 3]))
s[12] = premium and 1 or 0
for i = 1, 7 do s[12 + i] = out[i] end
s[20] = values[2]
return s
