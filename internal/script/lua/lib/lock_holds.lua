-- Hold counts of the reentrant lock_* scripts, expanded where a script includes "lock_holds".
-- @include common

-- hold_count reads the hold count at key: it is stored only above one, so
-- absent means one hold; anything but a whole number is hostile state.
local function hold_count(key)
  local v = checked('GET', key)
  if not v then return 1 end
  if not string.match(v, '^%d+$') or #v > 18 then corrupt(key, 'holds no hold count') end
  return tonumber(v)
end
