-- The pool's records and free score, expanded where a script (or lib/pool.lua) includes
-- "pool_record": no key roles here, so the scripts that take fewer than the thirteen keys
-- (pool_malloc_fast, pool_free_fast) share them too.
-- @include common

-- A free score is (2047 - priority) * 2^41 + (ms since 2024): lowest first
-- means highest priority first, then the member freed longest ago. It stays
-- an exact integer in a double until 2093.
local SPAN = 2199023255552
local EPOCH = 1704067200000

local function free_score(prio, now)
  return fmt((2047 - prio) * SPAN + (now - EPOCH))
end

-- A lease record (the holders hash's value) is "token fence deadline session
-- mark expired": the holder's token, its fence, when the lease ends in ms (0
-- never), the worker session or '-', the quarantine in ms its holder asked
-- for on release (0 none), and '1' when the member's expiry passed while
-- held, else '0'.
-- lease_record builds a lease record, the only place one is built: new
-- leases in pool_malloc, pool_malloc_many and pool_malloc_fast, and a parsed lease l that
-- changed, stored as lease_record(l.token, l.fence, ...) (no store helper:
-- fire_timers would use it, so every malloc would pay for its closure). The
-- fence is text, as parse_lease keeps it (fmt a counter value); deadline
-- and mark are numbers. New leases have mark 0, which skips a format on the
-- hot path.
local function lease_record(token, fence, deadline, session, mark, expired)
  if mark == 0 then mark = '0' else mark = fmt(mark) end
  return token .. ' ' .. fence .. ' ' .. fmt(deadline) .. ' ' .. session .. ' ' .. mark .. ' ' .. expired
end
