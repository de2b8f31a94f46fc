// Package script lists the Lua scripts redisallocator runs, for operators.
//
// Every state change of the module (take a lock, allocate a member, claim a
// task) is exactly one Lua script that Redis runs atomically. The module
// loads them itself: it sends EVALSHA and falls back to EVAL when a server
// does not know a script yet, so nothing needs preloading. Operators who
// preload anyway (SCRIPT LOAD on every node of a cluster, or a proxy that
// allows only known SHA1s) get the name, the SHA1 and the source of each
// script from [All]:
//
//	for _, s := range script.All() {
//		sha, err := client.Do(ctx, client.B().ScriptLoad().Script(s.Source).Build()).ToString()
//		...
//	}
//
// The scripts' contracts (keys, arguments, replies) are internal: they
// change between versions without notice, and only the module calls them.
package script
