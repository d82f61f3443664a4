-- A signed-in request's session lookup (Script(..., needs=("session.lua",)): sessions.lua's
-- `touch`, and signed_in.lua, which folds it into the rate limit's call).
--
-- Returns false when the session is gone or past its cap (deleting it then); else its fields
-- (SESSION_FIELDS, in order), with its expiry slid forward (at most once per `refresh` ms, to
-- spare writes), then [9] the account's premium expiry, [10] and [11] the id and score
-- (saved_at ms) of its most recently saved thread (false when none: history/store.py skips
-- saving a thread that is already the newest). `now` and the durations are in ms.

local SESSION_FIELDS = {'sid', 'user_id', 'email', 'created_at', 'last_seen', 'ip', 'user_agent', 'max_until'}

local function touch_session(session, premium, saved, now, ttl, refresh)
  local s = redis.call('HMGET', session, unpack(SESSION_FIELDS))
  if not s[1] then return false end
  local max_until = tonumber(s[8]) or 0
  if max_until <= now then
    redis.call('DEL', session)
    return false
  end
  if now - (tonumber(s[5]) or 0) >= refresh then
    s[5] = string.format('%.0f', now)
    redis.call('HSET', session, 'last_seen', s[5])
    redis.call('PEXPIRE', session, math.min(ttl, max_until - now))
  end
  s[9] = redis.call('HGET', premium, 'until') or false
  local newest = redis.call('ZREVRANGE', saved, 0, 0, 'WITHSCORES')
  s[10] = newest[1] or false
  s[11] = newest[2] or false
  return s
end
