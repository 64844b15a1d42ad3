package memory

import (
	"hash/maphash"
	"sync"
	"time"
)

const (
	shardCount = 64 // a power of two
	// sweepEvery is how often each shard forgets its expired keys, during
	// a call that finds the time has come.
	sweepEvery = time.Minute
)

// expiring maps keys to a time (Unix ns) at or after which they are
// forgotten: the theoretical arrival time of a full rate-limit bucket, the
// expiry of a one-time value. Keys are spread over independently locked
// shards, each swept of its expired keys once every sweepEvery.
type expiring struct {
	seed   maphash.Seed
	shards [shardCount]expiringShard
}

type expiringShard struct {
	mu sync.Mutex
	// m maps a key to its time. Guarded by mu.
	m map[string]int64
	// nextSweep is when the shard is next swept (Unix ns). Guarded by mu.
	nextSweep int64
}

// init makes the shards' maps; call it once, before use.
func (e *expiring) init() {
	e.seed = maphash.MakeSeed()
	for i := range e.shards {
		e.shards[i].m = map[string]int64{}
	}
}

// lock returns key's shard locked, swept first when its time has come at
// now; the caller unlocks it.
func (e *expiring) lock(key string, now int64) *expiringShard {
	sh := &e.shards[maphash.String(e.seed, key)&(shardCount-1)]
	sh.mu.Lock()
	if now >= sh.nextSweep {
		sh.sweep(now)
		sh.nextSweep = now + int64(sweepEvery)
	}
	return sh
}

// sweep forgets keys whose time is at or before now. Requires mu.
func (sh *expiringShard) sweep(now int64) int {
	n := 0
	for k, t := range sh.m {
		if t <= now {
			delete(sh.m, k)
			n++
		}
	}
	return n
}

// Sweep forgets every key expired at now and returns how many; the
// shards sweep themselves once a minute anyway.
func (e *expiring) Sweep(now time.Time) int {
	n := 0
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		n += sh.sweep(now.UnixNano())
		sh.mu.Unlock()
	}
	return n
}

// Len returns how many keys are remembered (expired ones not yet swept
// included).
func (e *expiring) Len() int {
	n := 0
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
