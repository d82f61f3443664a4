-- The email list (subscribers/store.py), changed and read atomically.
--
-- KEYS[1]  hash: address -> record (msgspec JSON: {"subscribed_at", "source"})
-- KEYS[2]  sorted set: address scored by subscribed_at (ms since the epoch): the index that
--          counts, dates and pages the list (never SCAN)
-- KEYS[3]  hash: source -> number of addresses that came from it
-- All three share one hash tag, so one cluster slot.
-- ARGV[1]  the operation; its arguments follow:
--   "add" address record score source  -> 1 when added, 0 when already there (unchanged)
--   "remove" address                     -> 1 when removed, 0 when it was not there
--   "stats" since                        -> {total, added since `since` (ms), source, n, …}
--   "page" after_score after_address count
--                                        -> {address, score, record, …}: the next `count`
--                                           entries after (after_score, after_address) in
--                                           the index's order (score, then address)

local op = ARGV[1]


if op == 'add' then
  -- HSETNX is the "once": of 50 concurrent adds of one address, one writes, 49 see it there.
  if redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[3]) == 0 then
    return 0
  end
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
  redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
  return 1
end

if op == 'remove' then
  local record = redis.call('HGET', KEYS[1], ARGV[2])
  if not record then
    return 0
  end
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
  local ok, decoded = pcall(cjson.decode, record)
  if ok and type(decoded) == 'table' and type(decoded['source']) == 'string' then
    -- A source whose last address leaves is dropped, so by_source lists live sources only.
    if redis.call('HINCRBY', KEYS[3], decoded['source'], -1) <= 0 then
      redis.call('HDEL', KEYS[3], decoded['source'])
    end
  end
  return 1
end

if op == 'stats' then
  local reply = {redis.call('ZCARD', KEYS[2]), redis.call('ZCOUNT', KEYS[2], ARGV[2], '+inf')}
  for _, value in ipairs(redis.call('HGETALL', KEYS[3])) do
    reply[#reply + 1] = value
  end
  return reply
end

if op == 'page' then
  -- Entries sharing `after_score` sort by address; those up to `after_address` were sent
  -- already. Skipping them by comparison (not by an offset) stays right when addresses are
  -- added or removed between pages. Ties are rare (same millisecond), so this loops once.
  local after_score, after, count = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
  local reply, offset = {}, 0
  while #reply < count * 3 do
    local rows = redis.call('ZRANGEBYSCORE', KEYS[2], after_score, '+inf', 'WITHSCORES',
      'LIMIT', offset, count)
    for i = 1, #rows, 2 do
      local address, score = rows[i], rows[i + 1]
      if (tonumber(score) > after_score or bytes_lt(after, address)) and #reply < count * 3 then
        local record = redis.call('HGET', KEYS[1], address)
        if record then
          reply[#reply + 1] = address
          reply[#reply + 1] = score
          reply[#reply + 1] = record
        end
      end
    end
    if #rows < count * 2 then
      break
    end
    offset = offset + count
  end
  return reply
end

return redis.error_reply('unknown operation ' .. tostring(op))
