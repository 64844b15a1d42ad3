package redis

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/storagetest"
)

// TestCluster runs the revocation set, sessions and rate limits on a
// three-master Redis Cluster started on loopback ports.
func TestCluster(t *testing.T) {
	nodes := startCluster(t, 3)
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.addr()
	}
	url := "redis-cluster://" + strings.Join(addrs, ",")
	open := func(t *testing.T) *Client { return openClient(t, url, Options{}) }

	t.Run("Revocations", func(t *testing.T) {
		a, b := newRevocationSet(t, open(t)), newRevocationSet(t, open(t))
		now := time.Now()
		// Many entries, so that they spread over every shard.
		for i := range 100 {
			a.Add(revocation(storage.RevokeToken, fmt.Sprint("jti-", i), now, time.Hour))
		}
		a.Add(revocation(storage.RevokeSubject, "alice", now, time.Hour))
		mustFlush(t, a)
		for i := range 100 {
			if !b.Revoked(storage.TokenRef{JTI: fmt.Sprint("jti-", i)}, time.Now()) {
				t.Fatalf("jti-%d not revoked on the cluster", i)
			}
		}
		tok := storage.TokenRef{JTI: "j", GrantID: "g", SessionID: "s", Subject: "bob", ClientID: "app", IssuedAtMs: now.UnixMilli()}
		b.Revoked(tok, time.Now())
		warm := b.Stats()
		for range 1000 {
			if b.Revoked(tok, time.Now()) {
				t.Fatal("revoked")
			}
		}
		if st := b.Stats(); st.RoundTrips != warm.RoundTrips {
			t.Fatalf("1000 warm checks on the cluster made %d round trips, want 0", st.RoundTrips-warm.RoundTrips)
		}
		a.Add(revocation(storage.RevokeSession, "s", time.Now(), time.Hour))
		waitFor(t, "a revocation reaches the other replica through the cluster", time.Second, func() bool {
			return b.Revoked(tok, time.Now())
		})
		ctx := context.Background()
		if !a.NeedsRebuild(ctx) {
			t.Fatal("NeedsRebuild on a fresh cluster = false")
		}
		if err := a.Rebuild(ctx, []storage.Revocation{revocation(storage.RevokeGrant, "g2", now, time.Hour)}); err != nil {
			t.Fatalf("Rebuild on the cluster: %v", err)
		}
		if a.NeedsRebuild(ctx) || !b.Revoked(storage.TokenRef{GrantID: "g2"}, time.Now()) {
			t.Fatal("Rebuild on the cluster did not take")
		}
	})

	t.Run("Sessions", func(t *testing.T) {
		storagetest.RunSessionTests(t, func(t *testing.T) storage.Sessions {
			return NewSessions(openClient(t, url, Options{Prefix: "t" + randomHex(4) + ":"}))
		})
	})

	t.Run("Attempts", func(t *testing.T) {
		storagetest.RunAttemptTests(t, func(t *testing.T) storage.Attempts {
			return NewAttempts(openClient(t, url, Options{Prefix: "t" + randomHex(4) + ":"}), sqlAttempts(t))
		})
	})

	t.Run("RateLimits", func(t *testing.T) {
		l1, l2 := NewRateLimiter(open(t)), NewRateLimiter(open(t))
		limit := storage.Limit{Rate: 0.001, Burst: 3}
		for i := range 20 {
			key := fmt.Sprint("k", i) // spread over the shards
			n := 0
			for j := range 5 {
				l := l1
				if j%2 == 1 {
					l = l2
				}
				d, err := l.Allow(context.Background(), key, limit)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					n++
				}
			}
			if n != 3 {
				t.Fatalf("key %s: %d of 5 allowed through two replicas, want 3", key, n)
			}
		}
	})
}

// TestSentinel connects through a sentinel to the primary it names.
func TestSentinel(t *testing.T) {
	primary := startServer(t)
	sentinel := startSentinel(t, primary, "authd-primary")
	c := openClient(t, fmt.Sprintf("redis-sentinel://%s/authd-primary", sentinel.addr()), Options{})
	a := newRevocationSet(t, c)
	a.Add(revocation(storage.RevokeToken, "via-sentinel", time.Now(), time.Hour))
	mustFlush(t, a)
	admin := adminClient(t, primary.url())
	if n, err := admin.Do(context.Background(), admin.B().Exists().Key("authd:rev:jti:via-sentinel").Build()).AsInt64(); err != nil || n != 1 {
		t.Fatalf("the entry written through the sentinel is not on the primary: %d, %v", n, err)
	}
	b := newRevocationSet(t, openClient(t, fmt.Sprintf("redis-sentinel://%s/authd-primary", sentinel.addr()), Options{}))
	if !b.Revoked(storage.TokenRef{JTI: "via-sentinel"}, time.Now()) {
		t.Fatal("not revoked through the sentinel")
	}
	tok := storage.TokenRef{JTI: "other"}
	b.Revoked(tok, time.Now())
	warm := b.Stats()
	for range 100 {
		b.Revoked(tok, time.Now())
	}
	if st := b.Stats(); st.RoundTrips != warm.RoundTrips {
		t.Fatalf("client-side caching off through the sentinel: %d round trips", st.RoundTrips-warm.RoundTrips)
	}
	if _, err := Open(context.Background(), fmt.Sprintf("redis-sentinel://%s/no-such-master", sentinel.addr()), Options{DialTimeout: time.Second}); err == nil {
		t.Fatal("Open of an unknown master: no error")
	}
}
