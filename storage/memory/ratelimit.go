package memory

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/authd/authd/storage"
)

// GCRA applies one request at now to a key whose theoretical arrival time
// is tat (zero for a key not seen), and returns the new tat and the
// decision. A denied request leaves tat as it was. Times are Unix
// nanoseconds; limit must be valid.
func GCRA(tat, now int64, limit storage.Limit) (int64, storage.Decision) {
	interval, tolerance := int64(limit.Interval()), int64(limit.Tolerance())
	if tat < now || tat > now+tolerance {
		// A full bucket; or a state no valid limit leaves (a clock that
		// stepped back, a key used with a different limit): start afresh.
		tat = now
	}
	next := tat + interval
	if allowAt := next - tolerance; now < allowAt {
		return tat, storage.Decision{RetryAfter: time.Duration(allowAt - now)}
	}
	return next, storage.Decision{Allowed: true, Remaining: int((tolerance - (next - now)) / interval)}
}

// RateLimiter is the in-process Limiter: limits hold per process. Safe for
// concurrent use; keys are spread over independently locked shards, and
// keys whose bucket is full again are forgotten.
type RateLimiter struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [rateShards]rateShard
}

const (
	rateShards = 64 // a power of two
	// rateSweepEvery is how often each shard forgets keys that are full
	// again, during a call that finds the time has come.
	rateSweepEvery = time.Minute
)

type rateShard struct {
	mu sync.Mutex
	// tats maps a key to its theoretical arrival time (Unix ns). Guarded
	// by mu.
	tats map[string]int64
	// nextSweep is when the shard is next swept (Unix ns). Guarded by mu.
	nextSweep int64
}

// NewRateLimiter returns an empty limiter reading the time from now
// (time.Now when nil).
func NewRateLimiter(now func() time.Time) *RateLimiter {
	if now == nil {
		now = time.Now
	}
	l := &RateLimiter{now: now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].tats = map[string]int64{}
	}
	return l
}

var _ storage.Limiter = (*RateLimiter)(nil)

// Allow implements Limiter.
func (l *RateLimiter) Allow(ctx context.Context, key string, limit storage.Limit) (storage.Decision, error) {
	if err := limit.Validate(); err != nil {
		return storage.Decision{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Decision{}, err
	}
	now := l.now().UnixNano()
	sh := &l.shards[maphash.String(l.seed, key)&(rateShards-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now >= sh.nextSweep {
		sh.sweep(now)
		sh.nextSweep = now + int64(rateSweepEvery)
	}
	tat, d := GCRA(sh.tats[key], now, limit)
	if d.Allowed {
		sh.tats[key] = tat
	}
	return d, nil
}

// sweep forgets keys whose bucket is full at now. Requires mu.
func (sh *rateShard) sweep(now int64) int {
	n := 0
	for k, tat := range sh.tats {
		if tat <= now {
			delete(sh.tats, k)
			n++
		}
	}
	return n
}

// Sweep forgets every key whose bucket is full at now and returns how
// many. Allow sweeps each shard once a minute anyway.
func (l *RateLimiter) Sweep(now time.Time) int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += sh.sweep(now.UnixNano())
		sh.mu.Unlock()
	}
	return n
}

// Len returns how many keys the limiter remembers.
func (l *RateLimiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.tats)
		sh.mu.Unlock()
	}
	return n
}
