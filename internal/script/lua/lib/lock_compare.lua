-- Number parsing and the comparison of the lock_compare_* scripts.
-- A stored value is a number only in plain decimal notation (optional sign,
-- digits, fraction, exponent) and finite: no hex, no inf or nan, no spaces.
local function decimal(s)
  if not (string.match(s, '^[+%-]?%d+%.?%d*$') or string.match(s, '^[+%-]?%d*%.%d+$')
      or string.match(s, '^[+%-]?%d+%.?%d*[eE][+%-]?%d+$') or string.match(s, '^[+%-]?%d*%.%d+[eE][+%-]?%d+$')) then
    return nil
  end
  -- miniredis's tonumber reads only strings with a dot as floats (and
  -- refuses "1e6" and integers beyond 64 bits); with a dot both servers
  -- parse the same, correctly rounded.
  if not string.find(s, '.', 1, true) then
    local e = string.find(s, '[eE]')
    if e then
      s = string.sub(s, 1, e - 1) .. '.' .. string.sub(s, e)
    else
      s = s .. '.'
    end
  end
  local n = tonumber(s)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then
    return nil
  end
  return n
end

local function holds(op, v, cur, eps)
  if op == 'gt' then return v > cur end
  if op == 'lt' then return v < cur end
  if op == 'ge' then return v >= cur - eps end
  if op == 'le' then return v <= cur + eps end
  if op == 'eq' then return math.abs(v - cur) < eps end
  return math.abs(v - cur) > eps
end

local op = ARGV[1]
if op ~= 'gt' and op ~= 'lt' and op ~= 'ge' and op ~= 'le' and op ~= 'eq' and op ~= 'ne' then
  return redis.error_reply('INVALID unknown operator')
end
local v, eps = decimal(ARGV[2]), decimal(ARGV[3])
if v == nil or eps == nil or eps < 0 then
  return redis.error_reply('INVALID operand and epsilon must be finite decimal numbers')
end
