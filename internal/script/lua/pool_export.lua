-- pool_export: read every member with its priority, expiry and encoded value at one instant, for export.
-- KEYS[1] free set
-- KEYS[2] holders
-- KEYS[3] unhealthy
-- KEYS[4] timers
-- KEYS[5] priorities
-- KEYS[6] values
-- KEYS[7] fence counter
-- KEYS[8] bindings
-- KEYS[9] binding index
-- KEYS[10] wake-up list
-- KEYS[11] waiter count
-- KEYS[12] session index
-- KEYS[13] allocation counter
-- Returns {now ms, free members, held members each followed by 1 when its expiry passed while held else 0, quarantined members, priorities (member, priority)..., timers (entry, ms)..., values (member, value)...}.
-- Errors: CORRUPT
-- Read-only.
-- @include pool
return {
  now_ms(),
  checked('ZRANGE', FREE, 0, -1),
  (function()
    local out = {}
    local h = checked('HGETALL', HOLDERS)
    for i = 1, #h, 2 do
      out[#out + 1] = h[i]
      out[#out + 1] = parse_lease(h[i], h[i + 1]).expired == '1' and '1' or '0'
    end
    return out
  end)(),
  checked('HKEYS', UNHEALTHY),
  checked('HGETALL', PRIO),
  checked('ZRANGE', TIMERS, 0, -1, 'WITHSCORES'),
  checked('HGETALL', VALUES),
}
