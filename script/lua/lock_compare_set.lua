-- lock_compare_set: write a number when the key is absent or the caller's number compares as asked with the stored one.
-- KEYS[1] lock key
-- KEYS[2] hold count of the lock
-- ARGV[1] operator: gt, lt, ge, le, eq or ne (the caller's number is the left operand)
-- ARGV[2] the caller's number
-- ARGV[3] epsilon for ge, le, eq and ne
-- ARGV[4] value to store
-- ARGV[5] expiry: ttl in milliseconds, 0 for none (an existing ttl is removed), or keep
-- Returns 1 when the value was written, 0 when the comparison failed and nothing changed.
-- Errors: INVALID, NOT_NUMBER

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
if ARGV[5] ~= 'keep' and not string.match(ARGV[5], '^%d+$') then
  return redis.error_reply('INVALID expiry must be milliseconds or keep')
end
local stored = redis.call('GET', KEYS[1])
if stored then
  local cur = decimal(stored)
  if cur == nil then
    return redis.error_reply('NOT_NUMBER the stored value is not a number')
  end
  if not holds(op, v, cur, eps) then
    return 0
  end
end
if ARGV[5] == 'keep' then
  redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
elseif ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
redis.call('DEL', KEYS[2])
return 1
