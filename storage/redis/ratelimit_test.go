package redis

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/memory"
	"github.com/authd/authd/storage/storagetest"
)

// TestRateLimiterGCRA runs the limiter contract on the Redis limiter and
// on memory's, on the real clock: the same decisions from both.
func TestRateLimiterGCRA(t *testing.T) {
	prefix := newPrefix(t)
	for name, l := range map[string]storage.Limiter{
		"redis":  NewRateLimiter(sharedClient(t, prefix)),
		"memory": memory.NewRateLimiter(nil),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			storagetest.RunLimiterTests(t, l)
		})
	}
}

// TestRateLimiterShared: the limit holds across replicas, atomically.
func TestRateLimiterShared(t *testing.T) {
	prefix := newPrefix(t)
	limiters := []*RateLimiter{NewRateLimiter(sharedClient(t, prefix)), NewRateLimiter(sharedClient(t, prefix))}
	limit := storage.Limit{Rate: 0.001, Burst: 25}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 10 {
		l := limiters[i%2]
		wg.Go(func() {
			for range 10 {
				d, err := l.Allow(context.Background(), "shared", limit)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 25 {
		t.Fatalf("%d of 100 requests through two replicas allowed, want exactly the burst (25)", n)
	}
	for _, l := range limiters {
		if err := l.Healthy(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRateLimiterExpiry: a key disappears from Redis once its bucket is
// full again; garbage in it is treated as absent.
func TestRateLimiterExpiry(t *testing.T) {
	prefix := newPrefix(t)
	admin := adminClient(t, testURL())
	l := NewRateLimiter(sharedClient(t, prefix))
	ctx := context.Background()
	if _, err := l.Allow(ctx, "k", storage.Limit{Rate: 10, Burst: 5}); err != nil {
		t.Fatal(err)
	}
	pttl, err := admin.Do(ctx, admin.B().Pttl().Key(prefix+"rl:k").Build()).AsInt64()
	if err != nil || pttl <= 0 || pttl > 100 {
		t.Fatalf("PTTL of a key one request into its bucket = %d, %v; want (0, 100] ms", pttl, err)
	}
	for name, v := range map[string]string{"text": "garbage", "future": "99999999999999999999", "negative": "-1"} {
		admin.Do(ctx, admin.B().Set().Key(prefix+"rl:"+name).Value(v).Build())
		if d, err := l.Allow(ctx, name, storage.Limit{Rate: 1, Burst: 2}); err != nil || !d.Allowed || d.Remaining != 1 {
			t.Errorf("key holding %q: %+v, %v; want a fresh bucket", v, d, err)
		}
	}
	admin.Do(ctx, admin.B().Hset().Key(prefix+"rl:hash").FieldValue().FieldValue("f", "v").Build())
	if d, err := l.Allow(ctx, "hash", storage.Limit{Rate: 1, Burst: 2}); err != nil || !d.Allowed || d.Remaining != 1 {
		t.Errorf("key holding a hash: %+v, %v; want a fresh bucket", d, err)
	}
	if err := l.Healthy(); err != nil {
		t.Errorf("garbage made the limiter unhealthy: %v", err)
	}
}
