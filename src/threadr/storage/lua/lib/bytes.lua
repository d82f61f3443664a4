-- Shared by scripts that page through a sorted set (Script(..., needs=("bytes.lua",))).
-- a < b byte by byte, as Redis orders members of equal score (Lua's `<` follows the locale).
local function bytes_lt(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x < y
    end
  end
  return #a < #b
end

