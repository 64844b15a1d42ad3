package memory

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/authd/authd/storage"
)

// OneTimeUses is the in-process storage.OneTimeUses: replays are detected
// within this process only. Keys are spread over independently locked
// shards; each shard forgets expired keys once a minute, during a call
// that finds the time has come, so memory holds what was used within the
// expiry window (bounded by the rate limits in front of it). Safe for
// concurrent use.
type OneTimeUses struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [rateShards]onceShard
}

type onceShard struct {
	mu sync.Mutex
	// exp maps a key to when it expires (Unix ns). Guarded by mu.
	exp       map[string]int64
	nextSweep int64
}

var _ storage.OneTimeUses = (*OneTimeUses)(nil)

// NewOneTimeUses returns an empty set reading the time from now (time.Now
// when nil).
func NewOneTimeUses(now func() time.Time) *OneTimeUses {
	if now == nil {
		now = time.Now
	}
	o := &OneTimeUses{now: now, seed: maphash.MakeSeed()}
	for i := range o.shards {
		o.shards[i].exp = map[string]int64{}
	}
	return o
}

// Use implements storage.OneTimeUses; it fails only when ctx has ended.
func (o *OneTimeUses) Use(ctx context.Context, key string, exp time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := o.now().UnixNano()
	sh := &o.shards[maphash.String(o.seed, key)&(rateShards-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now >= sh.nextSweep {
		sh.sweep(now)
		sh.nextSweep = now + int64(rateSweepEvery)
	}
	if e, ok := sh.exp[key]; ok && e > now {
		return false, nil
	}
	sh.exp[key] = exp.UnixNano()
	return true, nil
}

// sweep forgets keys expired at now. Requires mu.
func (sh *onceShard) sweep(now int64) int {
	n := 0
	for k, e := range sh.exp {
		if e <= now {
			delete(sh.exp, k)
			n++
		}
	}
	return n
}

// Sweep forgets every key expired at now and returns how many; Use sweeps
// each shard once a minute anyway.
func (o *OneTimeUses) Sweep(now time.Time) int {
	n := 0
	for i := range o.shards {
		sh := &o.shards[i]
		sh.mu.Lock()
		n += sh.sweep(now.UnixNano())
		sh.mu.Unlock()
	}
	return n
}

// Len returns how many keys are remembered (expired ones not yet swept
// included).
func (o *OneTimeUses) Len() int {
	n := 0
	for i := range o.shards {
		sh := &o.shards[i]
		sh.mu.Lock()
		n += len(sh.exp)
		sh.mu.Unlock()
	}
	return n
}
