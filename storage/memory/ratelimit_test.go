package memory

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/storagetest"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestLimitValidate(t *testing.T) {
	for _, tc := range []struct {
		limit storage.Limit
		ok    bool
	}{
		{storage.Limit{Rate: 1, Burst: 1}, true},
		{storage.Limit{Rate: 0.001, Burst: 100}, true},
		{storage.Limit{Rate: 1e12, Burst: math.MaxInt}, true},
		{storage.Limit{Rate: 0, Burst: 1}, false},
		{storage.Limit{Rate: -1, Burst: 1}, false},
		{storage.Limit{Rate: math.NaN(), Burst: 1}, false},
		{storage.Limit{Rate: math.Inf(1), Burst: 1}, false},
		{storage.Limit{Rate: 1, Burst: 0}, false},
	} {
		if err := tc.limit.Validate(); (err == nil) != tc.ok {
			t.Errorf("Limit%+v.Validate() = %v, want ok=%v", tc.limit, err, tc.ok)
		}
	}
	if _, err := NewRateLimiter(nil).Allow(context.Background(), "k", storage.Limit{Rate: 1}); err == nil {
		t.Error("Allow with burst 0: no error")
	}
}

func TestRateLimiterGCRA(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := NewRateLimiter(clock.Now)
	ctx := context.Background()
	limit := storage.Limit{Rate: 10, Burst: 3} // one request per 100 ms, three at once

	type step struct {
		advance time.Duration
		want    storage.Decision
	}
	steps := []step{
		{0, storage.Decision{Allowed: true, Remaining: 2}},
		{0, storage.Decision{Allowed: true, Remaining: 1}},
		{0, storage.Decision{Allowed: true, Remaining: 0}},
		{0, storage.Decision{RetryAfter: 100 * time.Millisecond}},
		{40 * time.Millisecond, storage.Decision{RetryAfter: 60 * time.Millisecond}},
		{60 * time.Millisecond, storage.Decision{Allowed: true, Remaining: 0}},
		{0, storage.Decision{RetryAfter: 100 * time.Millisecond}},
		{250 * time.Millisecond, storage.Decision{Allowed: true, Remaining: 1}},
		{time.Hour, storage.Decision{Allowed: true, Remaining: 2}},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		got, err := l.Allow(ctx, "login:alice", limit)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got != s.want {
			t.Fatalf("step %d (after +%v): got %+v, want %+v", i, s.advance, got, s.want)
		}
	}
	// Another key has its own bucket.
	if d, _ := l.Allow(ctx, "login:bob", limit); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("fresh key: got %+v", d)
	}
}

func TestRateLimiterSweep(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := NewRateLimiter(clock.Now)
	for i := range 100 {
		if _, err := l.Allow(context.Background(), fmt.Sprint("k", i), storage.Limit{Rate: 1, Burst: 5}); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.Len(); n != 100 {
		t.Fatalf("Len = %d, want 100", n)
	}
	if n := l.Sweep(clock.Now()); n != 0 {
		t.Fatalf("Sweep before the buckets refill removed %d", n)
	}
	clock.Advance(time.Second)
	if n := l.Sweep(clock.Now()); n != 100 || l.Len() != 0 {
		t.Fatalf("Sweep after a second removed %d, Len %d; want 100, 0", n, l.Len())
	}
	// Allow sweeps by itself once a minute.
	for i := range 100 {
		l.Allow(context.Background(), fmt.Sprint("k", i), storage.Limit{Rate: 1, Burst: 5})
	}
	clock.Advance(2 * rateSweepEvery)
	for i := range 10 * rateShards {
		l.Allow(context.Background(), fmt.Sprint("x", i), storage.Limit{Rate: 1000, Burst: 5})
	}
	if n := l.Len(); n != 10*rateShards {
		t.Fatalf("Len after lazy sweeps = %d, want %d", n, 10*rateShards)
	}
}

func TestRateLimiterConcurrent(t *testing.T) {
	l := NewRateLimiter(nil)
	limit := storage.Limit{Rate: 0.001, Burst: 50}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 20 {
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
	if n := allowed.Load(); n != 50 {
		t.Fatalf("%d of 400 concurrent requests allowed, want exactly the burst (50)", n)
	}
}

func TestRateLimiterCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewRateLimiter(nil).Allow(ctx, "k", storage.Limit{Rate: 1, Burst: 1}); err == nil {
		t.Fatal("Allow with a canceled context: no error")
	}
}

func BenchmarkRateLimiter(b *testing.B) {
	l := NewRateLimiter(nil)
	limit := storage.Limit{Rate: 1e9, Burst: 1000}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(context.Background(), fmt.Sprint(i%1000), limit)
			i++
		}
	})
}

func TestRateLimiterContract(t *testing.T) {
	storagetest.RunLimiterTests(t, NewRateLimiter(nil))
}

func TestOneTimeUses(t *testing.T) {
	storagetest.RunOneTimeUsesTests(t, NewOneTimeUses(nil))
}

// TestOneTimeUsesSweep: expired keys are forgotten by a sweep, live ones
// kept.
func TestOneTimeUsesSweep(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	o := NewOneTimeUses(clock.Now)
	ctx := context.Background()
	for i := range 100 {
		exp := clock.Now().Add(time.Minute)
		if i%2 == 0 {
			exp = clock.Now().Add(time.Hour)
		}
		if first, _ := o.Use(ctx, fmt.Sprint(i), exp); !first {
			t.Fatalf("key %d: not first", i)
		}
	}
	clock.Advance(2 * time.Minute)
	if n := o.Sweep(clock.Now()); n != 50 {
		t.Fatalf("Sweep = %d, want the 50 expired keys", n)
	}
	if n := o.Len(); n != 50 {
		t.Fatalf("Len = %d after the sweep, want 50", n)
	}
	if first, _ := o.Use(ctx, "0", clock.Now().Add(time.Hour)); first {
		t.Fatal("a live key was forgotten")
	}
}
