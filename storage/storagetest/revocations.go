package storagetest

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// RevocationSet is what introspection consults: storage/memory's in-process
// set and storage/redis's shared one.
type RevocationSet interface {
	Add(r storage.Revocation)
	Revoked(t storage.TokenRef, now time.Time) bool
}

// RevocationSets returns two views of one fresh, empty revocation set: the
// one entries are added to, and the one they are checked in (the same set
// in process; two replicas for a shared backend). publish makes what was
// added visible to the reader (a flush for a set that writes behind).
type RevocationSets func(t *testing.T) (writer, reader RevocationSet, publish func())

// RunRevocationSetTests runs the revocation-set contract: which entries
// match which tokens (storage.Matches, including the issued-at cut-off of
// session, subject and client-subject entries), that a later entry wins
// over an earlier one, and that unknown kinds and empty ids match nothing.
// Entries live an hour from the wall clock, so a set that expires them by
// the wall clock keeps them for the whole test.
func RunRevocationSetTests(t *testing.T, open RevocationSets) {
	t.Run("Matches", func(t *testing.T) { revocationMatches(t, open) })
	t.Run("LaterWins", func(t *testing.T) { revocationLaterWins(t, open) })
}

func revocationMatches(t *testing.T, open RevocationSets) {
	w, r, publish := open(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	add := func(kind storage.RevocationKind, value string) {
		w.Add(storage.Revocation{Kind: kind, Value: value, RevokedAt: now, ExpiresAt: now.Add(time.Hour)})
	}
	add(storage.RevokeToken, "jti-1")
	add(storage.RevokeGrant, "grant-1")
	add(storage.RevokeSession, "sid-1")
	add(storage.RevokeSubject, "alice")
	add(storage.RevokeClientSubject, storage.ClientSubjectKey("app", "bob"))
	add("bogus", "x")
	publish()

	cut := now.UnixMilli()
	for _, tc := range []struct {
		name string
		tok  storage.TokenRef
		want bool
	}{
		{"revoked jti", storage.TokenRef{JTI: "jti-1"}, true},
		{"revoked jti, issued after the entry", storage.TokenRef{JTI: "jti-1", IssuedAtMs: cut + 1}, true},
		{"other jti", storage.TokenRef{JTI: "jti-2", Subject: "carol"}, false},
		{"revoked grant", storage.TokenRef{JTI: "x", GrantID: "grant-1"}, true},
		{"revoked grant, issued after the entry", storage.TokenRef{JTI: "x", GrantID: "grant-1", IssuedAtMs: cut + 1}, true},
		{"session, issued before", storage.TokenRef{JTI: "x", SessionID: "sid-1", IssuedAtMs: cut - 1}, true},
		{"session, issued at cut-off", storage.TokenRef{JTI: "x", SessionID: "sid-1", IssuedAtMs: cut}, true},
		{"session, issued after (a refresh token that outlived the session)", storage.TokenRef{JTI: "x", SessionID: "sid-1", IssuedAtMs: cut + 1}, false},
		{"subject, issued before", storage.TokenRef{JTI: "x", Subject: "alice", IssuedAtMs: cut - 1}, true},
		{"subject, issued at cut-off", storage.TokenRef{JTI: "x", Subject: "alice", IssuedAtMs: cut}, true},
		{"subject, issued after", storage.TokenRef{JTI: "x", Subject: "alice", IssuedAtMs: cut + 1}, false},
		{"client subject, issued before", storage.TokenRef{JTI: "x", Subject: "bob", ClientID: "app", IssuedAtMs: cut - 1}, true},
		{"client subject, issued after", storage.TokenRef{JTI: "x", Subject: "bob", ClientID: "app", IssuedAtMs: cut + 1}, false},
		{"client subject, other client", storage.TokenRef{JTI: "x", Subject: "bob", ClientID: "other", IssuedAtMs: cut - 1}, false},
		{"client subject, no client", storage.TokenRef{JTI: "x", Subject: "bob", IssuedAtMs: cut - 1}, false},
		{"unknown kind matches nothing", storage.TokenRef{JTI: "x", Subject: "x"}, false},
		{"empty ids match nothing", storage.TokenRef{IssuedAtMs: math.MinInt64}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Revoked(tc.tok, time.Now()); got != tc.want {
				t.Fatalf("Revoked(%+v) = %v, want %v", tc.tok, got, tc.want)
			}
		})
	}
	// A set that expires entries by the time it is given (in process, not
	// Redis, which expires them itself) forgets them once they expire.
	if w == r && r.Revoked(storage.TokenRef{JTI: "jti-1"}, now.Add(2*time.Hour)) {
		t.Error("an entry still matches after it expired")
	}
}

func revocationLaterWins(t *testing.T, open RevocationSets) {
	w, r, publish := open(t)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	w.Add(storage.Revocation{Kind: storage.RevokeSubject, Value: "a", RevokedAt: t0.Add(time.Second), ExpiresAt: t0.Add(time.Hour)})
	w.Add(storage.Revocation{Kind: storage.RevokeSubject, Value: "a", RevokedAt: t0, ExpiresAt: t0.Add(time.Minute)})
	w.Add(storage.Revocation{Kind: storage.RevokeSession, Value: "s", RevokedAt: t0.Add(time.Second), ExpiresAt: t0.Add(time.Hour)})
	w.Add(storage.Revocation{Kind: storage.RevokeSession, Value: "s", RevokedAt: t0, ExpiresAt: t0.Add(time.Minute)})
	publish()
	issued := t0.Add(time.Second).UnixMilli()
	if !r.Revoked(storage.TokenRef{Subject: "a", IssuedAtMs: issued}, time.Now()) {
		t.Error("an older duplicate subject entry moved the cut-off back")
	}
	if !r.Revoked(storage.TokenRef{SessionID: "s", IssuedAtMs: issued}, time.Now()) {
		t.Error("an older duplicate session entry moved the cut-off back")
	}
}

// RunLimiterTests runs the storage.Limiter contract on l, on the real
// clock: GCRA decisions for one key, a fresh bucket for another, and an
// error for an invalid limit or an ended context.
func RunLimiterTests(t *testing.T, l storage.Limiter) {
	ctx := context.Background()
	key := "login:" + t.Name()
	limit := storage.Limit{Rate: 10, Burst: 3} // one per 100 ms, three at once
	for i, want := range []int{2, 1, 0} {
		d, err := l.Allow(ctx, key, limit)
		if err != nil || !d.Allowed || d.Remaining != want || d.RetryAfter != 0 {
			t.Fatalf("request %d = %+v, %v; want allowed with %d remaining", i, d, err, want)
		}
	}
	d, err := l.Allow(ctx, key, limit)
	if err != nil || d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > 100*time.Millisecond {
		t.Fatalf("4th request = %+v, %v; want denied, retry within 100 ms", d, err)
	}
	if d2, _ := l.Allow(ctx, key+":other", limit); !d2.Allowed || d2.Remaining != 2 {
		t.Fatalf("another key = %+v, want its own full bucket", d2)
	}
	// Waiting longer than RetryAfter (a busy machine only waits longer)
	// frees one request.
	time.Sleep(d.RetryAfter + 2*time.Millisecond)
	if d, err := l.Allow(ctx, key, limit); err != nil || !d.Allowed {
		t.Fatalf("after RetryAfter = %+v, %v; want allowed", d, err)
	}
	for _, bad := range []storage.Limit{{Rate: 0, Burst: 1}, {Rate: 1, Burst: 0}, {Rate: math.NaN(), Burst: 1}} {
		if _, err := l.Allow(ctx, key, bad); err == nil {
			t.Errorf("invalid limit %+v: no error", bad)
		}
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Allow(ended, key+":ended", limit); err == nil {
		t.Error("Allow with an ended context: no error")
	}
}

// RunOneTimeUsesTests runs the storage.OneTimeUses contract on o, on the
// real clock: a key is used once until it expires, keys are independent,
// an expired record does not count, and of concurrent uses exactly one is
// the first.
func RunOneTimeUsesTests(t *testing.T, o storage.OneTimeUses) {
	ctx := context.Background()
	key := "dpop:" + t.Name()
	later := time.Now().Add(time.Minute)
	if first, err := o.Use(ctx, key, later); err != nil || !first {
		t.Fatalf("first use = %v, %v; want true", first, err)
	}
	if first, err := o.Use(ctx, key, later); err != nil || first {
		t.Fatalf("second use = %v, %v; want false (a replay)", first, err)
	}
	if first, _ := o.Use(ctx, key+":other", later); !first {
		t.Fatal("another key counted as used")
	}
	past := key + ":expired"
	if first, err := o.Use(ctx, past, time.Now().Add(-time.Second)); err != nil || !first {
		t.Fatalf("use with a past expiry = %v, %v; want true", first, err)
	}
	if first, _ := o.Use(ctx, past, later); !first {
		t.Fatal("an expired record still counted as a use")
	}
	var wg sync.WaitGroup
	var firsts atomic.Int32
	for range 16 {
		wg.Go(func() {
			if first, err := o.Use(ctx, key+":race", later); err == nil && first {
				firsts.Add(1)
			}
		})
	}
	wg.Wait()
	if n := firsts.Load(); n != 1 {
		t.Fatalf("16 concurrent uses: %d were first, want exactly 1", n)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := o.Use(ended, key+":ended", later); err == nil {
		t.Error("Use with an ended context: no error")
	}
}
