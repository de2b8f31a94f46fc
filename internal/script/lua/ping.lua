-- ping: read the server clock through the script path; used to check that scripts run and to read Redis time.
-- KEYS[1] any key of the caller's namespace; it only routes the call to a cluster node
-- Returns {seconds, microseconds} of the server clock as integers.
-- Read-only.
local t = redis.call('TIME')
return {tonumber(t[1]), tonumber(t[2])}
