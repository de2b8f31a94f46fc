-- Hold counts of the reentrant lock_* scripts, expanded where a script includes "lock_holds".

-- hold_count reads a stored hold count: it is stored only above one, so
-- absent (or unreadable) means one hold.
local function hold_count(v)
  return (v and tonumber(v)) or 1
end
