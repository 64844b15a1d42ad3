package redis

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/storagetest"
)

func revocation(kind storage.RevocationKind, value string, at time.Time, life time.Duration) storage.Revocation {
	at = at.Truncate(time.Millisecond)
	return storage.Revocation{Kind: kind, Value: value, RevokedAt: at, ExpiresAt: at.Add(life)}
}

func mustFlush(t testing.TB, s *RevocationSet) {
	t.Helper()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// replicas returns two revocation sets on one prefix of the shared Redis,
// as two replicas of one deployment would have.
func replicas(t *testing.T) (a, b *RevocationSet) {
	t.Helper()
	prefix := newPrefix(t)
	return newRevocationSet(t, sharedClient(t, prefix)), newRevocationSet(t, sharedClient(t, prefix))
}

// TestRevocationSetMatches runs the revocation-set contract with the
// entries written by one replica and checked by another (which has them
// only in Redis), then checks expiry in Redis.
func TestRevocationSetMatches(t *testing.T) {
	var b *RevocationSet
	storagetest.RunRevocationSetTests(t, func(t *testing.T) (w, r storagetest.RevocationSet, publish func()) {
		a, rb := replicas(t)
		b = rb
		return a, rb, func() { mustFlush(t, a) }
	})
	if st := b.Stats(); st.Lookups == 0 || st.Errors != 0 || st.Untrusted != 0 {
		t.Errorf("b.Stats = %+v, want lookups and no errors", st)
	}

	prefix := newPrefix(t)
	admin := adminClient(t, testURL())
	a, b := newRevocationSet(t, sharedClient(t, prefix)), newRevocationSet(t, sharedClient(t, prefix))
	now := time.Now().Truncate(time.Millisecond)
	r := revocation(storage.RevokeToken, "jti-short", now, time.Minute)
	a.Add(r)
	a.Add(revocation("bogus", "x", now, time.Hour))
	mustFlush(t, a)
	if n := a.Len(); n != 1 {
		t.Errorf("a.Len = %d, want 1 (unknown kinds are dropped)", n)
	}
	tok := storage.TokenRef{JTI: "jti-short"}
	if !b.Revoked(tok, time.Now()) {
		t.Fatal("jti-short not revoked before it expires")
	}

	// Redis expires the entry itself, when the entry says: its expiry
	// time is the entry's ExpiresAt. The entry is written with a relative
	// PX computed from our clock, so Redis's expiry time may be later by
	// the milliseconds that passed before Redis ran the write (a
	// millisecond boundary alone made an exact comparison fail about one
	// run in twelve); a second bounds that on a busy machine.
	ctx := context.Background()
	key := prefix + "rev:jti:jti-short"
	at, err := admin.Do(ctx, admin.B().Pexpiretime().Key(key).Build()).AsInt64()
	if want := r.ExpiresAt.UnixMilli(); err != nil || at < want || at > want+1000 {
		t.Fatalf("PEXPIRETIME %s = %d, %v; want %d (to %d)", key, at, err, want, want+1000)
	}
	// Once it has expired there (made so now, rather than waited for),
	// no replica holds it: the mirrors forget it at ExpiresAt, and the
	// client-side caches are invalidated (asynchronously: polled).
	if err := admin.Do(ctx, admin.B().Pexpireat().Key(key).MillisecondsTimestamp(1).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	after := r.ExpiresAt.Add(time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range []*RevocationSet{a, b} {
		for s.Revoked(tok, after) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if s.Revoked(tok, after) {
			t.Error("jti-short still revoked after it expired")
		}
	}
	if n := b.Sweep(after); n != 1 {
		t.Errorf("b.Sweep forgot %d learned entries, want 1 (jti-short)", n)
	}
}

// TestRevocationSetLaterWins: replicas adding the same entry keep the later
// cut-off and the longer life, in Redis as in memory.
func TestRevocationSetLaterWins(t *testing.T) {
	prefix := newPrefix(t)
	admin := adminClient(t, testURL())
	a, b := newRevocationSet(t, sharedClient(t, prefix)), newRevocationSet(t, sharedClient(t, prefix))
	t0 := time.Now().Truncate(time.Millisecond)
	a.Add(revocation(storage.RevokeSubject, "a", t0.Add(time.Second), time.Hour))
	mustFlush(t, a)
	b.Add(revocation(storage.RevokeSubject, "a", t0, time.Minute)) // older, shorter
	mustFlush(t, b)

	ctx := context.Background()
	key := prefix + "rev:subject:a"
	v, err := admin.Do(ctx, admin.B().Get().Key(key).Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.FormatInt(t0.Add(time.Second).UnixMilli(), 10); v != want {
		t.Errorf("stored RevokedAt %s, want the later %s", v, want)
	}
	pttl, err := admin.Do(ctx, admin.B().Pttl().Key(key).Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	if pttl < int64(59*time.Minute/time.Millisecond) {
		t.Errorf("stored PTTL %d ms, want the longer life (about an hour)", pttl)
	}
	c := newRevocationSet(t, sharedClient(t, prefix))
	if !c.Revoked(storage.TokenRef{Subject: "a", IssuedAtMs: t0.Add(time.Second).UnixMilli()}, time.Now()) {
		t.Fatal("an older duplicate entry shortened the revocation")
	}

	// A later cut-off replaces an earlier one.
	b.Add(revocation(storage.RevokeSubject, "a", t0.Add(2*time.Second), time.Minute))
	mustFlush(t, b)
	v, _ = admin.Do(ctx, admin.B().Get().Key(key).Build()).ToString()
	if want := strconv.FormatInt(t0.Add(2*time.Second).UnixMilli(), 10); v != want {
		t.Errorf("stored RevokedAt %s after a later add, want %s", v, want)
	}
}

// TestRevocationSetWritesOnce: adding an entry again (as the database poll
// does for a few seconds) writes nothing more.
func TestRevocationSetWritesOnce(t *testing.T) {
	a, _ := replicas(t)
	r := revocation(storage.RevokeToken, "j", time.Now(), time.Hour)
	for range 100 {
		a.Add(r)
		mustFlush(t, a)
	}
	if st := a.Stats(); st.Writes != 1 {
		t.Fatalf("100 adds of one entry made %d writes, want 1", st.Writes)
	}
	r.RevokedAt = r.RevokedAt.Add(time.Second)
	a.Add(r)
	mustFlush(t, a)
	if st := a.Stats(); st.Writes != 2 {
		t.Fatalf("a later entry made %d writes in all, want 2", st.Writes)
	}
	// Expired entries are not written at all.
	a.Add(revocation(storage.RevokeToken, "old", time.Now().Add(-time.Hour), time.Minute))
	mustFlush(t, a)
	if st := a.Stats(); st.Writes != 2 || st.Pending != 0 {
		t.Fatalf("an expired entry: stats %+v, want 2 writes and nothing pending", st)
	}
}

// TestRevocationCacheNoRoundTrips: once warm, checking a token makes no
// round trip to Redis; a revocation by another replica still shows at
// once, through Redis's invalidation.
func TestRevocationCacheNoRoundTrips(t *testing.T) {
	a, b := replicas(t)
	tok := storage.TokenRef{JTI: "jti", GrantID: "grant", SessionID: "sid", Subject: "alice", ClientID: "app", IssuedAtMs: time.Now().UnixMilli()}
	if b.Revoked(tok, time.Now()) {
		t.Fatal("revoked before anything was added")
	}
	warm := b.Stats()
	if warm.RoundTrips != 1 || warm.CacheMisses != 5 {
		t.Fatalf("first check: %+v, want 1 round trip for 5 entries", warm)
	}
	for range 1000 {
		if b.Revoked(tok, time.Now()) {
			t.Fatal("revoked while nothing was added")
		}
	}
	st := b.Stats()
	if st.Lookups-warm.Lookups != 1000 || st.RoundTrips != warm.RoundTrips || st.CacheMisses != warm.CacheMisses {
		t.Fatalf("1000 warm checks: %d lookups, %d round trips, %d cache misses; want 1000, 0, 0",
			st.Lookups-warm.Lookups, st.RoundTrips-warm.RoundTrips, st.CacheMisses-warm.CacheMisses)
	}
	t.Logf("1000 warm checks of one token: %d round trips, %d cache misses", st.RoundTrips-warm.RoundTrips, st.CacheMisses-warm.CacheMisses)

	a.Add(revocation(storage.RevokeGrant, "grant", time.Now(), time.Hour))
	deadline := time.Now().Add(propagationBound)
	for !b.Revoked(tok, time.Now()) {
		if time.Now().After(deadline) {
			t.Fatalf("a revocation by another replica not seen within %v", propagationBound)
		}
		time.Sleep(100 * time.Microsecond)
	}
	// Seen once, the revocation is answered in process.
	before := b.Stats()
	for range 100 {
		if !b.Revoked(tok, time.Now()) {
			t.Fatal("revocation forgotten")
		}
	}
	if after := b.Stats(); after.Lookups != before.Lookups {
		t.Fatalf("checks of a known-revoked token made %d lookups, want 0", after.Lookups-before.Lookups)
	}
}

// TestRevocationPropagation measures how long a revocation written through
// one replica takes to be seen by another that had the token's entries
// cached as absent.
func TestRevocationPropagation(t *testing.T) {
	a, b := replicas(t)
	const n = 200
	delays := make([]time.Duration, 0, n)
	for i := range n {
		tok := storage.TokenRef{JTI: fmt.Sprint("jti-", i), Subject: "alice", IssuedAtMs: time.Now().UnixMilli()}
		if b.Revoked(tok, time.Now()) {
			t.Fatalf("token %d revoked before its revocation", i)
		}
		start := time.Now()
		a.Add(revocation(storage.RevokeToken, tok.JTI, start, time.Hour))
		for !b.Revoked(tok, time.Now()) {
			if time.Since(start) > propagationBound {
				t.Fatalf("revocation %d not seen by the other replica within %v", i, propagationBound)
			}
			time.Sleep(20 * time.Microsecond)
		}
		delays = append(delays, time.Since(start))
	}
	slices.Sort(delays)
	pct := func(p float64) time.Duration { return delays[int(p*float64(len(delays)-1))] }
	t.Logf("propagation of %d revocations between replicas: p50 %v, p90 %v, p99 %v, max %v",
		n, pct(0.5), pct(0.9), pct(0.99), delays[len(delays)-1])
}

// TestRevocationUntrusted: values authd could not have written are
// treated as absent, never panic, and are overwritten by a real entry.
func TestRevocationUntrusted(t *testing.T) {
	prefix := newPrefix(t)
	admin := adminClient(t, testURL())
	ctx := context.Background()
	garbage := map[string]string{
		"not-a-number": "not-a-number",
		"huge":         "99999999999999999999999999",
		"far-future":   "99999999999999",
		"negative":     "-5",
		"float":        "1.5e12",
		"empty":        "",
		"nan":          "nan",
	}
	for subject, v := range garbage {
		admin.Do(ctx, admin.B().Set().Key(prefix+"rev:subject:"+subject).Value(v).Px(time.Minute).Build())
	}
	admin.Do(ctx, admin.B().Set().Key(prefix+"rev:jti:garbage").Value("garbage").Px(time.Minute).Build())
	admin.Do(ctx, admin.B().Hset().Key(prefix+"rev:grant:a-hash").FieldValue().FieldValue("f", "v").Build())

	b := newRevocationSet(t, sharedClient(t, prefix))
	now := time.Now()
	for subject := range garbage {
		if b.Revoked(storage.TokenRef{Subject: subject, IssuedAtMs: 1}, now) {
			t.Errorf("subject %s with value %q: revoked, want absent", subject, garbage[subject])
		}
	}
	if b.Revoked(storage.TokenRef{JTI: "garbage"}, now) {
		t.Error("jti with a garbage value: revoked, want absent")
	}
	if b.Revoked(storage.TokenRef{GrantID: "a-hash"}, now) {
		t.Error("grant key holding a hash: revoked, want absent")
	}
	st := b.Stats()
	if want := uint64(len(garbage) + 1); st.Untrusted != want {
		t.Errorf("Untrusted = %d, want %d (the garbage values; the hash is a WRONGTYPE error)", st.Untrusted, want)
	}
	if st.Errors != 1 {
		t.Errorf("Errors = %d, want 1 (the grant key holding a hash)", st.Errors)
	}
	if err := b.Healthy(); err != nil {
		t.Errorf("garbage made the set unhealthy: %v", err)
	}

	// Real entries replace the garbage.
	a := newRevocationSet(t, sharedClient(t, prefix))
	at := time.Now()
	for subject := range garbage {
		a.Add(revocation(storage.RevokeSubject, subject, at, time.Hour))
	}
	a.Add(revocation(storage.RevokeToken, "garbage", at, time.Hour))
	a.Add(revocation(storage.RevokeGrant, "a-hash", at, time.Hour))
	mustFlush(t, a)
	c := newRevocationSet(t, sharedClient(t, prefix))
	for subject := range garbage {
		if !c.Revoked(storage.TokenRef{Subject: subject, IssuedAtMs: at.UnixMilli() - 1}, time.Now()) {
			t.Errorf("subject %s: not revoked after a real entry replaced the garbage", subject)
		}
		if c.Revoked(storage.TokenRef{Subject: subject, IssuedAtMs: at.UnixMilli() + 1}, time.Now()) {
			t.Errorf("subject %s: the garbage cut-off survived", subject)
		}
	}
	if !c.Revoked(storage.TokenRef{JTI: "garbage"}, time.Now()) || !c.Revoked(storage.TokenRef{GrantID: "a-hash"}, time.Now()) {
		t.Error("jti or grant not revoked after real entries replaced the garbage")
	}
}

// TestRevocationRebuild: a flushed Redis is detected through the epoch
// key and rebuilt from the durable copy.
func TestRevocationRebuild(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	a := newRevocationSet(t, openClient(t, srv.url(), Options{}))
	if !a.NeedsRebuild(ctx) {
		t.Fatal("NeedsRebuild on an empty Redis = false")
	}
	now := time.Now()
	durable := []storage.Revocation{
		revocation(storage.RevokeToken, "j1", now, time.Hour),
		revocation(storage.RevokeSubject, "alice", now, time.Hour),
		revocation(storage.RevokeSubject, "alice", now.Add(-time.Minute), 2*time.Hour),
		revocation(storage.RevokeToken, "expired", now.Add(-time.Hour), time.Minute),
	}
	if err := a.Rebuild(ctx, durable); err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	if a.NeedsRebuild(ctx) {
		t.Fatal("NeedsRebuild after Rebuild = true")
	}
	check := func(when string) {
		t.Helper()
		c := newRevocationSet(t, openClient(t, srv.url(), Options{})) // a replica that knows nothing
		if !c.Revoked(storage.TokenRef{JTI: "j1"}, time.Now()) || !c.Revoked(storage.TokenRef{Subject: "alice", IssuedAtMs: now.UnixMilli()}, time.Now()) {
			t.Fatalf("%s: rebuilt entries not in Redis", when)
		}
		if c.Revoked(storage.TokenRef{JTI: "expired"}, time.Now()) {
			t.Fatalf("%s: an expired entry was rebuilt", when)
		}
	}
	check("after the first rebuild")

	redisCLI(t, "-p", fmt.Sprint(srv.port), "flushall")
	deadline := time.Now().Add(propagationBound)
	for !a.NeedsRebuild(ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("NeedsRebuild still false %v after FLUSHALL", propagationBound)
		}
		time.Sleep(time.Millisecond)
	}
	if err := a.Rebuild(ctx, durable); err != nil {
		t.Fatalf("Rebuild after the flush: %v", err)
	}
	if a.NeedsRebuild(ctx) {
		t.Fatal("NeedsRebuild after the second Rebuild = true")
	}
	check("after the rebuild that followed FLUSHALL")
}

// TestRevocationReAddNoWrite: a replica adding an entry Redis already
// covers (as every replica does when its database poll brings another's
// revocation) causes no write, so no invalidation reaches the others.
func TestRevocationReAddNoWrite(t *testing.T) {
	srv := startServer(t)
	a := newRevocationSet(t, openClient(t, srv.url(), Options{}))
	b := newRevocationSet(t, openClient(t, srv.url(), Options{}))
	sets := func() string {
		for _, line := range strings.Split(redisCLI(t, "-p", fmt.Sprint(srv.port), "info", "commandstats"), "\n") {
			if strings.HasPrefix(line, "cmdstat_set:") {
				calls, _, _ := strings.Cut(strings.TrimPrefix(line, "cmdstat_set:calls="), ",")
				return calls
			}
		}
		return "0"
	}
	r := revocation(storage.RevokeGrant, "g", time.Now(), time.Hour)
	a.Add(r)
	mustFlush(t, a)
	if got := sets(); got != "1" {
		t.Fatalf("SET calls after the first add = %s, want 1", got)
	}
	b.Add(r)
	mustFlush(t, b)
	if got := sets(); got != "1" {
		t.Fatalf("SET calls after another replica re-added the entry = %s, want still 1", got)
	}
	r.RevokedAt = r.RevokedAt.Add(time.Second)
	b.Add(r)
	mustFlush(t, b)
	if got := sets(); got != "2" {
		t.Fatalf("SET calls after a later entry = %s, want 2", got)
	}
}
