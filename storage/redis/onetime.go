package redis

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/memory"
)

// OneTimeUses is a storage.OneTimeUses shared by every replica: one
// SET NX PXAT per use, keyed <prefix>once:<SHA-256 of the key>, which
// expires by itself when the value could no longer be presented.
//
// While Redis is unreachable it falls back to an in-process set, so a
// replay is then caught only by the replica that saw the first use, and
// Healthy says so.
//
// Safe for concurrent use.
type OneTimeUses struct {
	c     *Client
	local *memory.OneTimeUses
}

var _ storage.OneTimeUses = (*OneTimeUses)(nil)

// NewOneTimeUses returns the set kept in c's Redis.
func NewOneTimeUses(c *Client) *OneTimeUses {
	return &OneTimeUses{c: c, local: memory.NewOneTimeUses(nil)}
}

// Use implements storage.OneTimeUses. It returns an error only when ctx
// ends.
func (o *OneTimeUses) Use(ctx context.Context, key string, exp time.Time) (bool, error) {
	if !o.c.available() {
		o.c.fellBack("one_time_uses")
		return o.local.Use(ctx, key, exp)
	}
	sum := sha256.Sum256([]byte(key)) // keys are caller-chosen: bound their length
	k := o.c.key("once", base64.RawURLEncoding.EncodeToString(sum[:]))
	cctx, cancel := o.c.cmdContext(ctx)
	defer cancel()
	err := o.c.rc.Do(cctx, o.c.rc.B().Set().Key(k).Value("1").Nx().Pxat(exp).Build()).Error()
	switch {
	case err == nil:
		return true, nil
	case rueidis.IsRedisNil(err): // NX: the key exists
		return false, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	}
	o.c.failed(ctx, err)
	o.c.fellBack("one_time_uses")
	return o.local.Use(ctx, key, exp)
}

// Healthy returns nil while uses are recorded in Redis, and otherwise why
// they are recorded per replica.
func (o *OneTimeUses) Healthy() error {
	if err := o.c.Healthy(); err != nil {
		return fmt.Errorf("replay detection degraded: per replica: %w", err)
	}
	return nil
}
