// Package redisx is the only code of the module that talks rueidis: it
// connects by URL ([Connect]), builds and validates key names ([Namespace],
// [ValidateName], [ValidateMember]), lists the namespaces under a prefix
// from those key names ([ScanNamespaces], behind redisallocator.Discover),
// checks cluster slots ([SameSlot]) and
// runs the Lua scripts of package script with a span each ([Runner]),
// mapping their error codes to the feature packages' sentinel errors.
//
// Feature packages (lock, pool, task, health) build one Runner with their
// own error table and never build rueidis commands for state changes
// themselves. The root package re-exports Connect and the shared errors for
// users, who cannot import internal packages. The embedded miniredis lives
// in the subpackage embedded, so that nothing here links it.
package redisx
