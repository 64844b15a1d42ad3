package memory

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// Limit is a rate limit: Rate requests per second on average, and at most
// Burst at once.
type Limit struct {
	// Rate is the sustained rate, in requests per second. Must be positive.
	Rate float64
	// Burst is how many requests may be made at once after a quiet
	// period. Must be at least 1.
	Burst int
}

// Validate reports whether l can be enforced.
func (l Limit) Validate() error {
	var errs []error
	if !(l.Rate > 0) || math.IsInf(l.Rate, 0) {
		errs = append(errs, fmt.Errorf("rate limit: rate must be a positive number of requests per second, got %v", l.Rate))
	}
	if l.Burst < 1 {
		errs = append(errs, fmt.Errorf("rate limit: burst must be at least 1, got %d", l.Burst))
	}
	return errors.Join(errs...)
}

// Interval is the emission interval: the time one request "costs". It is
// at least a nanosecond. l must be valid.
func (l Limit) Interval() time.Duration {
	return max(time.Duration(float64(time.Second)/l.Rate), 1)
}

// Tolerance is how far ahead of now a key's theoretical arrival time may
// run: Burst intervals, capped so that sums with Unix times do not
// overflow. l must be valid.
func (l Limit) Tolerance() time.Duration {
	t := l.Interval()
	if int64(l.Burst) > maxTolerance/int64(t) {
		return maxTolerance
	}
	return t * time.Duration(l.Burst)
}

// maxTolerance keeps TAT arithmetic far from overflow (about 146 years).
const maxTolerance = math.MaxInt64 / 2

// Decision is the answer to one request.
type Decision struct {
	// Allowed says whether the request may proceed; a denied request
	// consumed nothing.
	Allowed bool
	// RetryAfter is, when denied, how long until one request would be
	// allowed (HTTP Retry-After). Zero when allowed.
	RetryAfter time.Duration
	// Remaining is how many more requests would be allowed right now.
	Remaining int
}

// Limiter decides whether a request under key may proceed. Implementations
// use the generic cell rate algorithm (GCRA): per key they keep only the
// theoretical arrival time of the next request, and forget keys whose
// bucket is full again.
type Limiter interface {
	// Allow records one request under key if limit permits it. It returns
	// an error only for an invalid limit or when the caller's context
	// ends; a limiter that depends on a remote store falls back rather
	// than failing.
	Allow(ctx context.Context, key string, limit Limit) (Decision, error)
}

// GCRA applies one request at now to a key whose theoretical arrival time
// is tat (zero for a key not seen), and returns the new tat and the
// decision. A denied request leaves tat as it was. Times are Unix
// nanoseconds; limit must be valid.
func GCRA(tat, now int64, limit Limit) (int64, Decision) {
	interval, tolerance := int64(limit.Interval()), int64(limit.Tolerance())
	if tat < now || tat > now+tolerance {
		// A full bucket; or a state no valid limit leaves (a clock that
		// stepped back, a key used with a different limit): start afresh.
		tat = now
	}
	next := tat + interval
	if allowAt := next - tolerance; now < allowAt {
		return tat, Decision{RetryAfter: time.Duration(allowAt - now)}
	}
	return next, Decision{Allowed: true, Remaining: int((tolerance - (next - now)) / interval)}
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

var _ Limiter = (*RateLimiter)(nil)

// Allow implements Limiter.
func (l *RateLimiter) Allow(ctx context.Context, key string, limit Limit) (Decision, error) {
	if err := limit.Validate(); err != nil {
		return Decision{}, err
	}
	if err := ctx.Err(); err != nil {
		return Decision{}, err
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
