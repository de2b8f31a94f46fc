package lock

import (
	"github.com/redisallocator/redisallocator/internal/redisx"
)

// Key layout. A Locker gives every lock its own namespace, so different
// locks spread over the nodes of a cluster while the keys of one lock share
// a slot:
//
//	<prefix>:{lock:<name>}:lock    string: the owner (or lease token)
//	<prefix>:{lock:<name>}:holds   string: hold count, only while above 1
//	<prefix>:{lock:<name>}:fence   string: fencing counter (Mutex), no TTL
//
// A Pool keeps its member set and the locks of its members in the pool's
// namespace:
//
//	<prefix>:{lockpool:<pool>}:members         set of member names
//	<prefix>:{lockpool:<pool>}:lock:<member>   as above, per member
//	<prefix>:{lockpool:<pool>}:holds:<member>
//	<prefix>:{lockpool:<pool>}:fence:<member>
const (
	kindLock = "lock"
	kindPool = "lockpool"
)

// lockKeys are the keys of one lock, in the argument orders the scripts
// take. The slices are shared and never modified.
type lockKeys struct {
	lock    string
	pair    []string // lock, holds
	acquire []string // lock, fence
	release []string // lock
	fence   []string // fence
}

func newLockKeys(lock, holds, fence string) lockKeys {
	return lockKeys{
		lock:    lock,
		pair:    []string{lock, holds},
		acquire: []string{lock, fence},
		release: []string{lock},
		fence:   []string{fence},
	}
}

// space turns lock names into keys: either one namespace per name (Locker)
// or one namespace for all members of a pool.
type space struct {
	prefix string
	pool   *redisx.Namespace
}

func (s space) keys(name string) (lockKeys, error) {
	if s.pool != nil {
		if err := redisx.ValidateMember("member", name); err != nil {
			return lockKeys{}, keyError(err)
		}
		return newLockKeys(s.pool.Key("lock:"+name), s.pool.Key("holds:"+name), s.pool.Key("fence:"+name)), nil
	}
	ns, err := redisx.NewNamespace(s.prefix, kindLock, name)
	if err != nil {
		return lockKeys{}, keyError(err)
	}
	return newLockKeys(ns.Key("lock"), ns.Key("holds"), ns.Key("fence")), nil
}
