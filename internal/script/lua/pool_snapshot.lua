-- pool_snapshot: read every structure of the pool at one instant, for invariant checks and diagnostics.
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
-- Returns {now ms, fence, free (member, score)..., holders (member, record)..., unhealthy (member, until)..., timers (entry, ms)..., priorities (member, priority)..., members with values, bindings (name, record)..., binding index entries, waiters, session index entries}.
-- Read-only.
-- @include pool
return {
  now_ms(),
  redis.call('GET', FENCE) or '0',
  redis.call('ZRANGE', FREE, 0, -1, 'WITHSCORES'),
  redis.call('HGETALL', HOLDERS),
  redis.call('HGETALL', UNHEALTHY),
  redis.call('ZRANGE', TIMERS, 0, -1, 'WITHSCORES'),
  redis.call('HGETALL', PRIO),
  redis.call('HKEYS', VALUES),
  redis.call('HGETALL', BIND),
  redis.call('ZRANGE', BINDIDX, 0, -1),
  redis.call('ZCARD', WAITING),
  redis.call('ZRANGE', SESIDX, 0, -1),
}
