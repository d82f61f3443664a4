-- Two GCRA policies checked and consumed together, their state in one key as "tat1 tat2"
-- (Script(..., needs=("gcra_pair.lua",)): tier.lua, signed_in.lua). The arithmetic is
-- ratelimit.lua's, whose comments explain it, and gives the same numbers; this is the form
-- every cache hit runs, so it does it in as few steps as Redis allows (tier.lua says why).
--
-- `raw` is the key's value as read (false when missing; a TAT that is no number counts as
-- full), `now` in µs, (i1, l1) and (i2, l2) each policy's emission interval in µs and limit.
-- Writes the new state when `consume` and both policies allow; returns the reply's numbers
-- {allowed, remaining_1, next_1, full_1, remaining_2, next_2, full_2}.

local function gcra_pair(key, raw, now, consume, i1, l1, i2, l2)
  local a, b = now, now
  if raw then
    local space = string.find(raw, ' ', 1, true)
    if space then
      a = tonumber(string.sub(raw, 1, space - 1)) or now
      b = tonumber(string.sub(raw, space + 1)) or now
    end
  end
  -- A TAT in the past means the debt is paid off; time spent idle is not banked. (Written so
  -- that a NaN counts as full too.)
  if not (a >= now) then a = now end
  if not (b >= now) then b = now end
  local allowed = 0
  if a - now + i1 <= l1 * i1 and b - now + i2 <= l2 * i2 then allowed = 1 end
  if allowed == 1 and consume then
    a = a + i1
    b = b + i2
    -- The key lives exactly as long as either policy has debt: a full pair needs no state.
    local last = a > b and a or b
    redis.call('SET', key, string.format('%d %d', a, b), 'PX', math.ceil((last - now) / 1000))
  end
  local d1, d2 = a - now, b - now
  local u1, u2 = math.ceil(d1 / i1), math.ceil(d2 / i2)
  local n1, n2 = 0, 0
  if u1 > 0 then n1 = d1 - ((u1 < l1 and u1 or l1) - 1) * i1 end
  if u2 > 0 then n2 = d2 - ((u2 < l2 and u2 or l2) - 1) * i2 end
  return {allowed, u1 < l1 and l1 - u1 or 0, n1, d1, u2 < l2 and l2 - u2 or 0, n2, d2}
end
