package redis

import (
	"context"
	"time"

	"github.com/redis/rueidis"

	"github.com/authd/authd/internal/telemetry"
)

// timedClient times every command sent through Do, DoMulti, DoCache and
// DoMultiCache (scripts included: they are EVALSHA through Do) into
// authd_redis_command_duration_seconds. A Redis nil is an answer, not an
// error.
type timedClient struct {
	rueidis.Client
	m *telemetry.Metrics
}

// instrument returns rc timing its commands into m; rc itself when m is
// nil.
func instrument(rc rueidis.Client, m *telemetry.Metrics) rueidis.Client {
	if m == nil || rc == nil {
		return rc
	}
	return timedClient{Client: rc, m: m}
}

func commandFailed(err error) bool { return err != nil && !rueidis.IsRedisNil(err) }

func (t timedClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	start := time.Now()
	r := t.Client.Do(ctx, cmd)
	t.m.RedisCommand(time.Since(start), commandFailed(r.Error()))
	return r
}

func (t timedClient) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	start := time.Now()
	r := t.Client.DoCache(ctx, cmd, ttl)
	t.m.RedisCommand(time.Since(start), commandFailed(r.Error()))
	return r
}

func (t timedClient) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	start := time.Now()
	rs := t.Client.DoMulti(ctx, cmds...)
	t.m.RedisCommand(time.Since(start), anyFailed(rs))
	return rs
}

func (t timedClient) DoMultiCache(ctx context.Context, multi ...rueidis.CacheableTTL) []rueidis.RedisResult {
	start := time.Now()
	rs := t.Client.DoMultiCache(ctx, multi...)
	t.m.RedisCommand(time.Since(start), anyFailed(rs))
	return rs
}

func anyFailed(rs []rueidis.RedisResult) bool {
	for _, r := range rs {
		if commandFailed(r.Error()) {
			return true
		}
	}
	return false
}

// fellBack counts an operation of store that the fallback answered
// because Redis was down or failed (authd_redis_fallbacks_total).
func (c *Client) fellBack(store string) { c.metrics.RedisFallback(store) }
