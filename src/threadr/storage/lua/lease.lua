-- Generation leases (storage/leases.py): which instance writes the entry of a cache key now.
--
-- KEYS[1]  the cache entry's key
-- KEYS[2]  its lease (hash-tagged with the entry's key: one cluster slot)
-- ARGV[1]  "take" | "renew" | "release"
-- ARGV[2]  the caller's token (random, one per lease)
-- ARGV[3]  the lease's time to live, ms (take, renew)
-- ARGV[4]  the channel that announces a release (release)
--
--   take     {1, entry, its pttl} when the entry is there (whoever holds the lease);
--            {2} when the lease is now the caller's: it was free, or expired (a take-over);
--            {0} when someone else holds it.
--   renew    {1} when the lease is still the caller's (its TTL set to ARGV[3] again), {0} when
--            it expired and may be someone else's now.
--   release  {1} when it was the caller's: deleted, and ARGV[4] told (the waiters look now);
--            {0} when it was not (expired, maybe taken over): nothing done.

local op = ARGV[1]

if op == 'take' then
  local entry = redis.call('GET', KEYS[1])
  if entry then
    return {1, entry, redis.call('PTTL', KEYS[1])}
  end
  if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
    return {2}
  end
  return {0}
end

if redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return {0}
end
if op == 'renew' then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return {1}
end
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[4], '1')
return {1}
