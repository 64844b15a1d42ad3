package storage

import (
	"context"
	"time"
)

// Backoff says how long a key is locked after its consecutive failures:
// not at all below Threshold failures, Base after the Threshold-th,
// doubling with each further failure, capped at Max.
type Backoff struct {
	Threshold int
	Base      time.Duration
	Max       time.Duration
	// Window is how long failures are remembered after the last one (and
	// after a lock ends): a key with no failure for Window starts from
	// zero again.
	Window time.Duration
}

// Delay returns the lock after failures consecutive failures.
func (b Backoff) Delay(failures int) time.Duration {
	if b.Threshold <= 0 || failures < b.Threshold || b.Base <= 0 {
		return 0
	}
	d := b.Base
	for i := b.Threshold; i < failures && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// AttemptState is what is known about one key's recent failures.
type AttemptState struct {
	// Failures counts consecutive failures within the window.
	Failures    int
	LastFailure time.Time
	// LockedUntil is when the lock from the last failure ends; zero or
	// past when the key is not locked.
	LockedUntil time.Time
}

// Locked reports whether the key is locked at now and for how long still.
func (s AttemptState) Locked(now time.Time) (bool, time.Duration) {
	if now.Before(s.LockedUntil) {
		return true, s.LockedUntil.Sub(now)
	}
	return false, 0
}

// Attempts records failed attempts per key ("account:<id>", "ip:<addr>")
// for brute-force lockout. Implementations: storage/sql, and the Redis
// store. Times are UTC, millisecond precision.
type Attempts interface {
	// GetAttempts returns key's state at now: the zero state if it has
	// none or it has expired.
	GetAttempts(ctx context.Context, key string, now time.Time) (AttemptState, error)
	// RecordFailure counts one failure against key at now, unless key is
	// locked at now: then it changes nothing and returns the state and
	// false. Otherwise Failures grows by one (from zero when the state has
	// expired), LastFailure becomes now and LockedUntil now +
	// b.Delay(Failures); the state expires b.Window after the later of
	// now and LockedUntil. It returns the new state and true. The check
	// and the update are one atomic step: of concurrent calls on a key at
	// its threshold, one records and locks, the others see the lock.
	RecordFailure(ctx context.Context, key string, now time.Time, b Backoff) (AttemptState, bool, error)
	// ResetAttempts forgets key (after a success); no error if absent.
	ResetAttempts(ctx context.Context, key string) error
	// DeleteExpiredAttempts removes states expired at now and returns how
	// many.
	DeleteExpiredAttempts(ctx context.Context, now time.Time) (int64, error)
}
