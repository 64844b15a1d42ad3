package redis

import (
	"fmt"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/memory"
)

// revocationChecker is what the provider needs of a revocation set.
type revocationChecker interface {
	Add(storage.Revocation)
	Revoked(storage.TokenRef, time.Time) bool
}

var (
	_ revocationChecker = (*memory.RevocationSet)(nil)
	_ revocationChecker = (*RevocationSet)(nil)
)

// BenchmarkRevoked checks live tokens (the common case: nothing matches)
// against a set holding 10 000 entries: the in-process set, and the Redis
// set once its client-side cache is warm (the tokens' entries cached as
// absent). "one" checks the same token over and over; "1k" cycles through
// 1000 tokens.
func BenchmarkRevoked(b *testing.B) {
	prefix := newPrefix(b)
	sets := []struct {
		name string
		set  revocationChecker
	}{
		{"memory", memory.NewRevocationSet()},
		{"redis-cached", newRevocationSet(b, sharedClient(b, prefix))},
	}
	now := time.Now()
	tokens := make([]storage.TokenRef, 1000)
	for i := range tokens {
		tokens[i] = storage.TokenRef{JTI: fmt.Sprint("live-", i), GrantID: fmt.Sprint("grant-", i%100), SessionID: fmt.Sprint("sid-", i%300),
			Subject: fmt.Sprint("user-", i%200), ClientID: "app", IssuedAtMs: now.UnixMilli()}
	}
	for _, s := range sets {
		for i := range 10_000 {
			s.set.Add(revocation(storage.RevokeToken, fmt.Sprint("revoked-", i), now, time.Hour))
		}
		if rs, ok := s.set.(*RevocationSet); ok {
			mustFlush(b, rs)
		}
		for _, tok := range tokens { // warm the cache
			s.set.Revoked(tok, now)
		}
	}
	for _, s := range sets {
		for _, n := range []int{1, 1000} {
			name := "one"
			if n > 1 {
				name = "1k"
			}
			b.Run(s.name+"/"+name, func(b *testing.B) {
				var before RevocationStats
				rs, isRedis := s.set.(*RevocationSet)
				if isRedis {
					before = rs.Stats()
				}
				b.ResetTimer()
				for i := range b.N {
					if s.set.Revoked(tokens[i%n], now) {
						b.Fatal("a live token is revoked")
					}
				}
				b.StopTimer()
				if isRedis {
					st := rs.Stats()
					b.ReportMetric(float64(st.RoundTrips-before.RoundTrips)/float64(b.N), "roundtrips/op")
				}
			})
		}
	}
	b.Run("redis-cached/parallel", func(b *testing.B) {
		rs := sets[1].set
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				rs.Revoked(tokens[i%1000], now)
				i++
			}
		})
	})
	b.Run("memory/parallel", func(b *testing.B) {
		ms := sets[0].set
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				ms.Revoked(tokens[i%1000], now)
				i++
			}
		})
	})
}
