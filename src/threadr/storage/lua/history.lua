-- Saved threads of one account (history/store.py): a sorted set of thread ids scored by
-- saved_at (epoch ms), and one msgpack record per thread at `<record prefix><id>`.
--
-- KEYS[1]  the account's index (sorted set)
-- KEYS[2]  the record of the thread the operation names ("save", "delete")
-- ARGV[1]  the operation; its arguments follow:
--   "save" id score record keep  -> the number of threads evicted. Stores the record, indexes
--                                   it, then evicts the oldest beyond the newest `keep`
--                                   (index entry and record) in the same atomic call.
--   "delete" id                  -> 1 when the thread was there, 0 when not
--   "page" max after count       -> {id, score, …}: the next `count` entries, newest first,
--                                   after the entry (max, after) of the order (score, id)
--                                   descending; max "+inf" and after "" start at the newest.
--                                   Reads KEYS[1] only.
--
-- Evicted records are the one set of keys not in KEYS[]: which ones is only known once the
-- index is read inside the script (reading it first from the caller would let a concurrent
-- save trim between the two calls, leaving records behind). Their names are KEYS[2] with its
-- id replaced, so they carry the account's hash tag `{u:<id>}`, which comes before the id: the
-- same cluster slot as KEYS[1] and KEYS[2], so the script stays correct on Redis Cluster (the
-- node that owns the slot of the declared keys owns these too). No name comes from ARGV.

local op = ARGV[1]


if op == 'save' then
  local id, keep = ARGV[2], tonumber(ARGV[5])
  local prefix = string.sub(KEYS[2], 1, #KEYS[2] - #id)
  if prefix .. id ~= KEYS[2] then
    return redis.error_reply('the record key does not end with the thread id')
  end
  redis.call('SET', KEYS[2], ARGV[4])
  redis.call('ZADD', KEYS[1], ARGV[3], id)
  local over = redis.call('ZCARD', KEYS[1]) - keep
  if over <= 0 then
    return 0
  end
  -- The oldest first (lowest score; ties by id, as the pages order them).
  local evicted = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  for _, old in ipairs(evicted) do
    redis.call('DEL', prefix .. old)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
  return #evicted
end

if op == 'delete' then
  redis.call('DEL', KEYS[2])
  return redis.call('ZREM', KEYS[1], ARGV[2])
end

if op == 'page' then
  -- Entries scored `max` sort by id, descending; those from `after` up were sent already.
  -- Skipping them by comparison (not by an offset) stays right when threads are saved or
  -- deleted between pages. Ties are rare (same millisecond), so this loops once.
  local max, after, count = ARGV[2], ARGV[3], tonumber(ARGV[4])
  local ceiling = tonumber(max)
  local batch = count + 1 -- the entry of the cursor itself comes back first: skipped
  local reply, offset = {}, 0
  while #reply < count * 2 do
    local rows = redis.call('ZREVRANGEBYSCORE', KEYS[1], max, '-inf', 'WITHSCORES',
      'LIMIT', offset, batch)
    for i = 1, #rows, 2 do
      local id, score = rows[i], rows[i + 1]
      if after == '' or tonumber(score) < ceiling or bytes_lt(id, after) then
        if #reply < count * 2 then
          reply[#reply + 1] = id
          reply[#reply + 1] = score
        end
      end
    end
    if #rows < batch * 2 then
      break
    end
    offset = offset + batch
  end
  return reply
end

return redis.error_reply('unknown history operation ' .. tostring(op))
