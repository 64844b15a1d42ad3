package memory

import (
	"context"
	"time"

	"github.com/authd/authd/storage"
)

// OneTimeUses is the in-process storage.OneTimeUses: replays are detected
// within this process only. Memory holds what was used within the expiry
// window (bounded by the rate limits in front of it); expired keys are
// swept. Safe for concurrent use.
type OneTimeUses struct {
	now func() time.Time
	expiring
}

var _ storage.OneTimeUses = (*OneTimeUses)(nil)

// NewOneTimeUses returns an empty set reading the time from now (time.Now
// when nil).
func NewOneTimeUses(now func() time.Time) *OneTimeUses {
	if now == nil {
		now = time.Now
	}
	o := &OneTimeUses{now: now}
	o.init()
	return o
}

// Use implements storage.OneTimeUses; it fails only when ctx has ended.
func (o *OneTimeUses) Use(ctx context.Context, key string, exp time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := o.now().UnixNano()
	sh := o.lock(key, now)
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok && e > now {
		return false, nil
	}
	sh.m[key] = exp.UnixNano()
	return true, nil
}
