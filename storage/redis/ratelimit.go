package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/memory"
)

// RateLimiter is a storage.Limiter whose limits hold across every replica:
// one atomic Lua script (GCRA on the Redis server's clock, one round trip)
// per request, keyed <prefix>rl:<key> and expiring when the key's bucket
// is full again.
//
// While Redis is unreachable it falls back to an in-process limiter, so
// limits then hold per replica (N replicas allow up to N times the rate),
// and Healthy says so. Back on Redis, each key continues from its Redis
// state.
//
// Safe for concurrent use.
type RateLimiter struct {
	c     *Client
	local *memory.RateLimiter
}

var _ storage.Limiter = (*RateLimiter)(nil)

// NewRateLimiter returns the limiter kept in c's Redis.
func NewRateLimiter(c *Client) *RateLimiter {
	return &RateLimiter{c: c, local: memory.NewRateLimiter(nil)}
}

// Allow implements storage.Limiter. It returns an error only for an
// invalid limit or when ctx ends.
func (l *RateLimiter) Allow(ctx context.Context, key string, limit storage.Limit) (storage.Decision, error) {
	if err := limit.Validate(); err != nil {
		return storage.Decision{}, err
	}
	if !l.c.available() {
		l.c.fellBack("rate_limits")
		return l.local.Allow(ctx, key, limit)
	}
	interval := max(limit.Interval().Microseconds(), 1)
	tolerance := max(limit.Tolerance().Microseconds(), interval)
	cctx, cancel := l.c.cmdContext(ctx)
	defer cancel()
	r := gcraScript.exec(cctx, l.c.rc, []string{l.c.prefix + "rl:" + key},
		[]string{strconv.FormatInt(interval, 10), strconv.FormatInt(tolerance, 10)})
	v, err := r.AsIntSlice()
	if err == nil && len(v) != 3 {
		err = fmt.Errorf("unexpected reply %v", v)
	}
	if err != nil {
		if ctx.Err() != nil {
			return storage.Decision{}, ctx.Err()
		}
		l.c.failed(ctx, err)
		l.c.fellBack("rate_limits")
		// Whatever went wrong, a request is not refused (nor waved through
		// unlimited) because Redis could not be asked.
		return l.local.Allow(ctx, key, limit)
	}
	return storage.Decision{Allowed: v[0] == 1, RetryAfter: time.Duration(v[1]) * time.Microsecond, Remaining: int(v[2])}, nil
}

// Healthy returns nil while limits are enforced in Redis, and otherwise
// why they are enforced per replica.
func (l *RateLimiter) Healthy() error {
	if err := l.c.Healthy(); err != nil {
		return fmt.Errorf("rate limits degraded: enforced per replica: %w", err)
	}
	return nil
}
