package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// testTimeout is the command timeout of the failure tests' clients.
const testTimeout = 100 * time.Millisecond

// stallBound bounds the wait for a call made while Redis is down or
// stalled, which stays so until the call has returned: a call that waits
// on Redis without a deadline never returns, and the test fails at the
// bound instead of hanging. A call that works has returned long before
// (within its command timeout, testTimeout); nothing is measured, so a
// busy machine cannot fail it.
const stallBound = 30 * time.Second

// propagationBound bounds the wait for a change made through one client to
// be seen through another ("within seconds"); the delays are logged, the
// bound only keeps a lost change from hanging the test.
const propagationBound = 10 * time.Second

// bounded runs f, which must return while Redis is still unreachable.
// f may report with t.Errorf (it runs on another goroutine).
func bounded(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(stallBound):
		t.Fatalf("%s did not return while Redis was down: it waits on Redis without a deadline", what)
	}
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRedisDown kills Redis under two replicas and brings it back (empty,
// as after a crash without persistence):
//   - while down, checks answer at once from what each replica knows: its
//     own revocations, and revocations it had read from Redis;
//   - Healthy reports the outage, rate limits fall back per replica,
//     sessions fail fast;
//   - revocations made while down are queued; once Redis is back everything
//     recovers without a restart, the queue is written, and NeedsRebuild
//     asks for the lost entries.
func TestRedisDown(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	opts := Options{Timeout: testTimeout, Prefix: "authd:"}
	ca, cb := openClient(t, srv.url(), opts), openClient(t, srv.url(), opts)
	a, b := newRevocationSet(t, ca), newRevocationSet(t, cb)
	limiter, sessions := NewRateLimiter(cb), NewSessions(cb)
	if err := a.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	a.Add(revocation(storage.RevokeToken, "by-a", now, time.Hour))
	mustFlush(t, a)
	b.Add(revocation(storage.RevokeToken, "by-b", now, time.Hour))
	mustFlush(t, b)
	byA, byB, live := storage.TokenRef{JTI: "by-a"}, storage.TokenRef{JTI: "by-b"}, storage.TokenRef{JTI: "live", Subject: "alice"}
	if !b.Revoked(byA, time.Now()) || !b.Revoked(byB, time.Now()) || b.Revoked(live, time.Now()) {
		t.Fatal("before the outage: wrong answers")
	}
	limit := storage.Limit{Rate: 0.001, Burst: 2}
	if d, err := limiter.Allow(ctx, "k", limit); err != nil || !d.Allowed || d.Remaining != 1 {
		t.Fatalf("Allow before the outage = %+v, %v", d, err)
	}

	srv.kill()

	// The first check after the crash finds out; none waits past the
	// timeout, and none changes its answer.
	for i := range 20 {
		bounded(t, "Revoked", func() {
			if !b.Revoked(byA, time.Now()) {
				t.Errorf("check %d: a revocation read from Redis before the outage was forgotten", i)
			}
			if !b.Revoked(byB, time.Now()) {
				t.Errorf("check %d: this replica's own revocation was forgotten", i)
			}
			if b.Revoked(live, time.Now()) {
				t.Errorf("check %d: a live token became revoked", i)
			}
		})
	}
	waitFor(t, "b.Healthy reports the outage", time.Second, func() bool {
		b.Revoked(live, time.Now())
		return b.Healthy() != nil
	})
	t.Logf("b.Healthy while down: %v", b.Healthy())
	b.Revoked(live, time.Now()) // known down: answered by the mirror alone
	if st := b.Stats(); st.Degraded == 0 {
		t.Errorf("no check was answered in degraded mode: %+v", st)
	}

	// Revocations made while down count at once in their replica, and are
	// queued.
	b.Add(revocation(storage.RevokeSubject, "alice", time.Now(), time.Hour))
	if !b.Revoked(storage.TokenRef{JTI: "x", Subject: "alice", IssuedAtMs: now.UnixMilli()}, time.Now()) {
		t.Fatal("a revocation made while Redis is down does not count in its replica")
	}
	if err := b.Flush(ctx); err == nil {
		t.Error("Flush while Redis is down: no error")
	}
	if st := b.Stats(); st.Pending != 1 {
		t.Errorf("pending while down = %d, want 1", st.Pending)
	}

	// Rate limits hold per replica.
	bounded(t, "Allow", func() {
		for i, want := range []bool{true, true, false} {
			d, err := limiter.Allow(ctx, "k", limit)
			if err != nil || d.Allowed != want {
				t.Errorf("Allow %d while down = %+v, %v; want allowed=%v from the local limiter", i, d, err, want)
			}
		}
	})
	if err := limiter.Healthy(); err == nil {
		t.Error("limiter.Healthy while down = nil")
	}

	// Sessions fail, fast.
	bounded(t, "GetSession", func() {
		if _, err := sessions.GetSession(ctx, "sid"); err == nil || errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetSession while down = %v, want an outage error", err)
		}
	})
	if a.NeedsRebuild(ctx) {
		t.Error("NeedsRebuild while Redis is unreachable = true, want false (cannot tell)")
	}

	srv.start()

	waitFor(t, "both replicas recover", 3*time.Second, func() bool {
		a.Revoked(live, time.Now())
		b.Revoked(live, time.Now())
		return a.Healthy() == nil && b.Healthy() == nil && limiter.Healthy() == nil
	})
	// b's queue is written on recovery: a sees alice's revocation through
	// Redis.
	waitFor(t, "a revocation made during the outage reaches the other replica", 2*time.Second, func() bool {
		return a.Revoked(storage.TokenRef{JTI: "y", Subject: "alice", IssuedAtMs: now.UnixMilli()}, time.Now())
	})
	if st := b.Stats(); st.Pending != 0 {
		t.Errorf("still pending after recovery: %d", st.Pending)
	}
	// Redis came back empty: the epoch says so, and a rebuild from the
	// database restores what was lost.
	if !a.NeedsRebuild(ctx) {
		t.Fatal("NeedsRebuild after Redis came back empty = false")
	}
	c := newRevocationSet(t, openClient(t, srv.url(), opts)) // a replica started after the outage
	if c.Revoked(byA, time.Now()) {
		t.Fatal("by-a in Redis before the rebuild?")
	}
	if err := a.Rebuild(ctx, []storage.Revocation{revocation(storage.RevokeToken, "by-a", now, time.Hour),
		revocation(storage.RevokeToken, "by-b", now, time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if !c.Revoked(byA, time.Now()) || !c.Revoked(byB, time.Now()) {
		t.Fatal("after Rebuild: entries missing")
	}
	// New revocations flow between replicas again.
	a.Add(revocation(storage.RevokeSession, "sid-after", time.Now(), time.Hour))
	waitFor(t, "a new revocation reaches the other replica after recovery", time.Second, func() bool {
		return b.Revoked(storage.TokenRef{SessionID: "sid-after"}, time.Now())
	})
	if _, err := sessions.GetSession(ctx, "sid"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetSession after recovery = %v, want ErrNotFound", err)
	}
}

// TestRedisStall freezes Redis (SIGSTOP): connections stay open and
// nothing answers. No check waits past the timeout, and the cached and
// own revocations still count.
func TestRedisStall(t *testing.T) {
	srv := startServer(t)
	opts := Options{Timeout: testTimeout}
	ca, cb := openClient(t, srv.url(), opts), openClient(t, srv.url(), opts)
	a, b := newRevocationSet(t, ca), newRevocationSet(t, cb)
	a.Add(revocation(storage.RevokeGrant, "g", time.Now(), time.Hour))
	mustFlush(t, a)
	tok := storage.TokenRef{JTI: "j", GrantID: "g"}
	fresh := storage.TokenRef{JTI: "fresh", Subject: "bob"}
	if !b.Revoked(tok, time.Now()) || b.Revoked(fresh, time.Now()) {
		t.Fatal("before the stall: wrong answers")
	}

	srv.pause()
	bounded(t, "50 checks during the stall", func() {
		for range 50 {
			if !b.Revoked(tok, time.Now()) {
				t.Errorf("a revocation read before the stall was forgotten")
				return
			}
			if b.Revoked(storage.TokenRef{JTI: "other", Subject: "carol"}, time.Now()) {
				t.Errorf("an unknown token is revoked during the stall")
				return
			}
		}
	})
	if b.Healthy() == nil {
		t.Error("Healthy during the stall = nil")
	}

	srv.resume()
	waitFor(t, "recovery after the stall", 3*time.Second, func() bool {
		b.Revoked(fresh, time.Now())
		return b.Healthy() == nil
	})
	a.Add(revocation(storage.RevokeToken, "fresh", time.Now(), time.Hour))
	waitFor(t, "a revocation after the stall reaches the other replica", time.Second, func() bool {
		return b.Revoked(fresh, time.Now())
	})
}
