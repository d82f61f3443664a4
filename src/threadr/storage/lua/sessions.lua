-- Server-side sessions of one account. A session is a hash under the SHA-256 of its token;
-- the account's index is a sorted set of `<session id>:<token hash>` by sign-in time (ms).
-- Every key shares the account's hash tag. Time is Redis's (TIME).
--
-- ARGV[1] the operation:
--   open   KEYS: session, index. ARGV: member, user id, email, ip, user agent, ttl ms, max ms.
--          Creates the session; returns the index's members beyond the newest ARGV[9] (the
--          caller revokes them: an account keeps at most SESSIONS_PER_ACCOUNT sessions).
--   touch  KEYS: session, premium, saved threads' index. ARGV: ttl ms, refresh ms. A
--          signed-in request's lookup (lib/session.lua says what it returns; signed_in.lua
--          folds it into the rate limit's call for POST /api/generate).
--   close  KEYS: session, index. ARGV: member. Deletes the session and its index entry.
--   list   KEYS: index, then the session of each member in ARGV[2..]. Returns each live
--          session's fields (false for a gone one, whose member is removed).

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op = ARGV[1]

if op == 'touch' then
  return touch_session(KEYS[1], KEYS[2], KEYS[3], now, tonumber(ARGV[2]), tonumber(ARGV[3]))
end

if op == 'open' then
  local member, ttl, max = ARGV[2], tonumber(ARGV[7]), tonumber(ARGV[8])
  local stamp = string.format('%.0f', now)
  local sid = string.match(member, '^[^:]+')
  redis.call('HSET', KEYS[1], 'sid', sid, 'user_id', ARGV[3], 'email', ARGV[4],
    'created_at', stamp, 'last_seen', stamp, 'ip', ARGV[5], 'user_agent', ARGV[6],
    'max_until', string.format('%.0f', now + max))
  redis.call('PEXPIRE', KEYS[1], math.min(ttl, max))
  redis.call('ZADD', KEYS[2], now, member)
  -- The index lives as long as the longest session could.
  redis.call('PEXPIRE', KEYS[2], max)
  local keep = tonumber(ARGV[9])
  local count = redis.call('ZCARD', KEYS[2])
  local evict = {}
  if count > keep then
    -- The oldest, never the one just opened (a sign-in in the same ms as another ties with it).
    for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, count - keep)) do
      if old ~= member and #evict < count - keep then evict[#evict + 1] = old end
    end
  end
  return evict
end

if op == 'close' then
  redis.call('DEL', KEYS[1])
  return redis.call('ZREM', KEYS[2], ARGV[2])
end

if op == 'list' then
  local out = {}
  for i = 2, #KEYS do
    local s = redis.call('HMGET', KEYS[i], unpack(SESSION_FIELDS))
    if s[1] and (tonumber(s[8]) or 0) > now then
      out[#out + 1] = s
    else
      redis.call('ZREM', KEYS[1], ARGV[i])
      out[#out + 1] = false
    end
  end
  return out
end

return redis.error_reply('unknown sessions operation')
