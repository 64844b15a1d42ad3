package provider

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/internal/dpoptest"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/memory"
	"github.com/authd/authd/storage/redis"
)

// BenchmarkClientCredentialsDPoP issues client_credentials tokens through
// the token handler (no network), as bearer tokens and DPoP-bound with
// an ES256 proof, its jti recorded in process or in Redis
// (AUTHD_TEST_REDIS_URL). Proofs are made before the timer starts, so
// the benchmark measures the server's side: one more signature
// verification and a thumbprint per request, against one RSA signature.
// 8 goroutines per CPU send, as concurrent clients would.
//
//	go test ./provider -run '^$' -bench ClientCredentialsDPoP -cpu 2
func BenchmarkClientCredentialsDPoP(b *testing.B) {
	for _, kind := range []string{"bearer", "dpop/memory", "dpop/redis"} {
		b.Run(kind, func(b *testing.B) {
			var once storage.OneTimeUses = memory.NewOneTimeUses(nil)
			if kind == "dpop/redis" {
				once = redis.NewOneTimeUses(benchRedis(b))
			}
			h, id, secret := benchProvider(b, memory.NewRevocationSet(), func(o *Options) { o.OneTimeUses = once })
			var proofs []string
			if kind != "bearer" {
				dc := dpoptest.New(b, jose.ES256, nil)
				proofs = make([]string, b.N)
				for i := range proofs {
					proofs[i] = dc.Proof(http.MethodPost, DefaultConfig().Issuer+PathToken, "")
				}
			}
			body := url.Values{"grant_type": {"client_credentials"}}.Encode()
			auth := "Basic " + basic(id, secret)
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(8) // concurrent clients, as a server has: a Redis round trip waits, it does not spin
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, PathToken, strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Authorization", auth)
					if proofs != nil {
						req.Header.Set("DPoP", proofs[next.Add(1)-1])
					}
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}
