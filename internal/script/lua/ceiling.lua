-- ceiling: the cheapest script there is; benchmarks measure it as the upper bound for one script round trip.
-- KEYS[1] any key of the caller's namespace; it only routes the call to a cluster node
-- Returns 1.
return 1
