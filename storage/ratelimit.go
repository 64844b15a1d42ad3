package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
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
