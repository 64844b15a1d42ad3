package memory

import (
	"context"
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
	now func() time.Time
	// expiring holds each key's theoretical arrival time: its bucket is
	// full again then.
	expiring
}

// NewRateLimiter returns an empty limiter reading the time from now
// (time.Now when nil).
func NewRateLimiter(now func() time.Time) *RateLimiter {
	if now == nil {
		now = time.Now
	}
	l := &RateLimiter{now: now}
	l.init()
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
	sh := l.lock(key, now)
	defer sh.mu.Unlock()
	tat, d := GCRA(sh.m[key], now, limit)
	if d.Allowed {
		sh.m[key] = tat
	}
	return d, nil
}
