-- Premium of one holder (an account or a paid email): a hash with `until` (epoch ms) and a
-- field `g:<reference>` per grant, holding its record. A reference is applied once: a replay
-- (a Stripe retry, an admin's repeated call) changes nothing and returns the current expiry.
--
-- KEYS[1]  the holder's hash.
-- ARGV[1]  "extend" | "revoke" | "end" | "absorb" | "drop"
--   extend  ARGV[2] reference, ARGV[3] ms to add, ARGV[4] days, ARGV[5] source (JSON string)
--           the expiry becomes max(until, now) + ms: a grant extends what is left, never
--           replaces it.
--   revoke  ARGV[2] reference, ARGV[3] the reference of the grant to take back, ARGV[4] source
--           (JSON string): takes back what is left of that one grant (below), never more than
--           it added and never below now; other grants keep their time. The grant's record is
--           marked revoked (a second revoke of it takes nothing); a grant not yet applied (its
--           event comes later, out of order) gets a `revoked` record under its reference, so
--           that its extend, when it comes, is a replay that applies nothing.
--   end     ARGV[2] reference, ARGV[3] source: the expiry becomes min(until, now) — every
--           grant's time ends (an operator's stop; payments revoke their own grant only).
--   absorb  ARGV[2] reference, ARGV[3] an expiry (ms) to take over, then pairs of field and
--           record to copy (a paid email's grants, claimed by its new account): the time left
--           on that expiry is added as by extend.
--   drop    ARGV[2] the expiry a claim moved to the account: delete the hash if `until` still
--           equals it; if a grant raised it since, keep only that grant's time.
-- Returns {applied (1/0), until}; revoke adds the ms it took back. Time is Redis's (TIME), the
-- same for every instance.
--
-- What is left of a grant: grants stack, each starting where the one before ends, so a grant's
-- time runs until the `until` its record noted — earlier by what was taken back since from
-- grants before it (each revoke record notes the `until` of the grant it revoked). Left:
-- min(its days, that end - now, until - now), at least 0. A grant whose time has passed (a
-- subscription cancelled at its period's end) has nothing left; a purchase refunded on top of
-- an admin's year loses its own days, not the year. (Grants claimed from an email keep their
-- records' times: what is left of them can only be counted short — to the holder's favour.)

local DAY_MS = 86400000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op = ARGV[1]
local current = tonumber(redis.call('HGET', KEYS[1], 'until') or '0') or 0

if op == 'drop' then
  local moved = tonumber(ARGV[2])
  if current == moved then
    redis.call('DEL', KEYS[1])
  elseif current > moved then
    -- A grant came in after the claim read `moved`: keep on the email only the time that
    -- grant added beyond what the account took, for the next claim to move.
    local left = current - math.max(moved, now)
    redis.call('HSET', KEYS[1], 'until', string.format('%.0f', now + math.max(left, 0)))
  end
  return {1, current}
end

local field = 'g:' .. ARGV[2]
if redis.call('HEXISTS', KEYS[1], field) == 1 then
  return {0, current}
end

-- The time taken back from grants that ran before `grant` (their `until` earlier than its),
-- by revokes made after it was recorded: its end moved earlier by as much.
local function taken_before(grant)
  local total = 0
  local fields = redis.call('HGETALL', KEYS[1])
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'g:' then
      local record = cjson.decode(fields[i + 1])
      if record.kind == 'revoke' and record.at > grant.at and record.of_until < grant['until'] then
        total = total + record.taken
      end
    end
  end
  return total
end

local new, record
local taken = 0
if op == 'extend' then
  new = math.max(current, now) + tonumber(ARGV[3])
  record = string.format('{"kind":"grant","days":%d,"source":%s,"at":%.0f,"until":%.0f}',
    tonumber(ARGV[4]), ARGV[5], now, new)
elseif op == 'revoke' then
  local of_field = 'g:' .. ARGV[3]
  local raw = redis.call('HGET', KEYS[1], of_field)
  local of_until = 0
  if not raw then
    redis.call('HSET', KEYS[1], of_field,
      string.format('{"kind":"revoked","by":%s,"at":%.0f}', cjson.encode(ARGV[2]), now))
  else
    local grant = cjson.decode(raw)
    if grant.kind == 'grant' and not grant.revoked_by then
      of_until = grant['until']
      local ends = of_until - taken_before(grant)
      taken = math.max(0, math.min(grant.days * DAY_MS, ends - now, current - now))
      -- The record as it was, with the revoking reference in front.
      redis.call('HSET', KEYS[1], of_field,
        '{"revoked_by":' .. cjson.encode(ARGV[2]) .. ',' .. string.sub(raw, 2))
    end
  end
  new = current - taken
  record = string.format(
    '{"kind":"revoke","of":%s,"of_until":%.0f,"taken":%.0f,"source":%s,"at":%.0f,"until":%.0f}',
    cjson.encode(ARGV[3]), of_until, taken, ARGV[4], now, new)
elseif op == 'end' then
  new = math.min(current, now)
  record = string.format('{"kind":"end","source":%s,"at":%.0f,"until":%.0f}', ARGV[3], now, new)
elseif op == 'absorb' then
  new = math.max(current, now) + math.max(tonumber(ARGV[3]) - now, 0)
  record = string.format('{"kind":"claim","at":%.0f,"until":%.0f}', now, new)
  for i = 4, #ARGV, 2 do
    redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  end
else
  return redis.error_reply('unknown premium operation')
end
if new > 0 then
  redis.call('HSET', KEYS[1], 'until', string.format('%.0f', new), field, record)
else
  -- A revoke or an end before any grant: no expiry to write (a holder without `until` never
  -- had premium).
  redis.call('HSET', KEYS[1], field, record)
end
return {1, new, taken}
