-- Fencing numbers, the one rule for every fencing counter (pool leases, lock
-- leases, scaler claims), expanded where a script includes "fence".
-- @include common

-- first_fence is the rule itself: the first fence after counter value cur
-- at server clock µs clock. Callers that order their writes themselves
-- (pool_malloc_fast) take it and store the counter as next_fences does.
local function first_fence(cur, clock)
  return math.max(cur + 1, clock)
end

-- next_fences takes k (at least 1) fencing numbers from the counter at key
-- and returns the first; they run first .. first + k - 1, and the counter
-- then holds the last. The first is max(counter + 1, the server clock in
-- microseconds): always above the counter, and above every number this or
-- an earlier server handed out before it, even one that lost the counter's
-- last writes (an AOF tail lost in a crash, a failover to a lagging
-- replica), as long as the clock did not step back by more than the time
-- since the lost numbers went out. Above one number per microsecond on
-- average the counter runs ahead of the clock: still strictly increasing,
-- but across such a stretch a loss is covered only once the clock has
-- caught up. Microseconds since 1970 stay below 2^53 (exact in a Lua double)
-- until the year 2255; fmt keeps them whole when stored. cur is the counter
-- as read_counter read it before the script's first write (scripts check
-- their keys first); without it the counter is read (and checked) here.
local function next_fences(key, k, cur)
  local t = redis.call('TIME')
  local first = first_fence(cur or read_counter(key), tonumber(t[1]) * 1000000 + tonumber(t[2]))
  redis.call('SET', key, fmt(first + k - 1))
  return first
end
