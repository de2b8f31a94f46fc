-- pool_scale: the pool scaler's steps, each checked against its claim so a stale scaler cannot act.
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
-- KEYS[14] scaler claim: "token fence" while a scaler holds it
-- KEYS[15] scaler fence counter
-- ARGV[1] op: claim, add, retire or release
-- ARGV[2] scaler token
-- ARGV[3] claim: ttl in ms; add, retire: the fence the claim returned; release: ignored
-- ARGV[4] retire: at most this many members
-- ARGV[5] retire: only members free at least this long, in ms
-- ARGV[6] retire: keep at least this many members in the pool
-- ARGV[7] retire: scan at most this many free members, least valuable first
-- ARGV... add: member entries from ARGV[8] on, 5 each (member, priority, expiry ttl, has value, value)
-- Returns claim: the fence, or 0 when another scaler holds the claim; add: members added; retire: the members removed; release: 1 when the claim was ours.
-- Errors: NOT_HELD, INVALID, CORRUPT
-- @include pool
-- @include pool_write
-- @include pool_members
-- @include fence
local CLAIM, SFENCE = KEYS[14], KEYS[15]
-- ARGV[3] is the claim ttl (claim) or the claim's fence (add, retire, release).
local op, token, ttl_or_fence = ARGV[1], ARGV[2], ARGV[3]
if token == '' then return redis.error_reply('INVALID empty scaler token') end
local cur = checked('GET', CLAIM)
if cur and not string.match(cur, '^%S+ %d+$') then corrupt(CLAIM, 'holds no scaler claim') end
if op == 'claim' then
  local ttl = tonumber(ttl_or_fence)
  if not ttl or ttl < 1 then return redis.error_reply('INVALID claim ttl') end
  if cur then
    local t, f = string.match(cur, '^(%S+) (%S+)$')
    if t ~= token then return 0 end
    redis.call('PEXPIRE', CLAIM, ttl_or_fence)
    return tonumber(f)
  end
  local f = next_fences(SFENCE, 1)
  redis.call('SET', CLAIM, token .. ' ' .. fmt(f), 'PX', ttl_or_fence)
  return f
elseif op == 'release' then
  if cur == token .. ' ' .. ttl_or_fence or (cur and string.match(cur, '^(%S+) ') == token) then
    redis.call('DEL', CLAIM)
    return 1
  end
  return 0
end
if cur ~= token .. ' ' .. ttl_or_fence then return redis.error_reply('NOT_HELD the scaler claim is not ours') end
local now = now_ms()
if op == 'add' then
  if not check_members(8) then return redis.error_reply('INVALID malformed member arguments') end
  check_state(8)
  local added = 0
  for i = 8, #ARGV, 5 do
    added = added + apply_member(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], now, true)
  end
  return added
elseif op == 'retire' then
  local maxn, idle, keep, scan = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
  if not maxn or not idle or not keep or not scan or maxn < 0 or idle < 0 or keep < 0 or scan < 1 then
    return redis.error_reply('INVALID malformed retire arguments')
  end
  check_pool()
  local total = redis.call('ZCARD', FREE) + redis.call('HLEN', HOLDERS) + redis.call('HLEN', UNHEALTHY)
  local room = math.min(maxn, total - keep)
  local out = {}
  if room <= 0 then return out end
  -- From the end of the free order: lowest priority, then most recently
  -- freed; only members free for at least idle ms are taken.
  local cand = redis.call('ZREVRANGE', FREE, 0, scan - 1, 'WITHSCORES')
  for i = 1, #cand, 2 do
    local s = tonumber(cand[i + 1])
    local freed = EPOCH + (s - math.floor(s / SPAN) * SPAN)
    if now - freed >= idle then
      forget(cand[i])
      out[#out + 1] = cand[i]
      if #out >= room then break end
    end
  end
  return out
end
return redis.error_reply('INVALID unknown scale op')
