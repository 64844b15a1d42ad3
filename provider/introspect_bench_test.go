package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/secrets"
	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/cache"
	"github.com/authd/authd/storage/memory"
	"github.com/authd/authd/storage/redis"
	storesql "github.com/authd/authd/storage/sql"
)

// BenchmarkIntrospect introspects live access tokens through the real
// handler (client authentication, signature check or the verified-token
// cache, revocation set; no network) with the revocation set in process
// and in Redis (AUTHD_TEST_REDIS_URL, default redis://127.0.0.1:6379),
// once each set holds 10 000 entries and its cache is warm. For Redis it
// reports the round trips per introspection (the set's Stats): near zero
// at steady state, as client-side caching answers.
//
//	go test ./provider -run '^$' -bench Introspect -benchtime 3s
//
// "handler" calls the handler directly; "http" goes through a loopback
// HTTP server with keep-alive connections, as resource servers do.
func BenchmarkIntrospect(b *testing.B) {
	for _, kind := range []string{"memory", "redis"} {
		for _, transport := range []string{"handler", "http"} {
			b.Run(kind+"/"+transport, func(b *testing.B) { benchIntrospect(b, kind, transport) })
		}
	}
}

func benchIntrospect(b *testing.B, kind, transport string) {
	{
		{
			var set RevocationSet = memory.NewRevocationSet()
			var rs *redis.RevocationSet
			if kind == "redis" {
				rs = benchRedisSet(b)
				set = rs
			}
			h, id, secret := benchProvider(b, set)
			now := time.Now()
			for i := range 10_000 {
				set.Add(storage.Revocation{Kind: storage.RevokeToken, Value: fmt.Sprint("other-", i), RevokedAt: now, ExpiresAt: now.Add(time.Hour)})
			}
			if rs != nil {
				if err := rs.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			tokens := make([]string, 1000)
			for i := range tokens {
				tokens[i] = benchPost(b, h, PathToken, url.Values{"grant_type": {"client_credentials"}}, id, secret)["access_token"].(string)
			}
			for _, tok := range tokens { // warm: verified-token cache, client-side cache
				if benchPost(b, h, PathIntrospect, url.Values{"token": {tok}}, id, secret)["active"] != true {
					b.Fatal("inactive")
				}
			}
			var before redis.RevocationStats
			if rs != nil {
				before = rs.Stats()
			}
			auth := "Basic " + basic(id, secret)
			var srv *httptest.Server
			if transport == "http" {
				srv = httptest.NewServer(h)
				defer srv.Close()
				srv.Client().Transport.(*http.Transport).MaxIdleConnsPerHost = 64
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					body := strings.NewReader("token=" + tokens[i%len(tokens)])
					i++
					if srv != nil {
						req, _ := http.NewRequest(http.MethodPost, srv.URL+PathIntrospect, body)
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						req.Header.Set("Authorization", auth)
						resp, err := srv.Client().Do(req)
						if err != nil || resp.StatusCode != http.StatusOK {
							b.Errorf("introspect: %v %v", resp, err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						continue
					}
					req := httptest.NewRequest(http.MethodPost, PathIntrospect, body)
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Authorization", auth)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Errorf("introspect: %d", w.Code)
						return
					}
				}
			})
			b.StopTimer()
			if rs != nil {
				st := rs.Stats()
				b.ReportMetric(float64(st.RoundTrips-before.RoundTrips)/float64(b.N), "roundtrips/op")
			}
		}
	}
}

func basic(id, secret string) string {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func benchRedisSet(b *testing.B) *redis.RevocationSet {
	s := redis.NewRevocationSet(benchRedis(b))
	b.Cleanup(s.Close)
	return s
}

// benchRedis connects to AUTHD_TEST_REDIS_URL (default
// redis://127.0.0.1:6379) under a prefix of its own.
func benchRedis(b *testing.B) *redis.Client {
	u := os.Getenv("AUTHD_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379"
	}
	prefix := fmt.Sprintf("authdbench:%d:", time.Now().UnixNano())
	c, err := redis.Open(context.Background(), u, redis.Options{Prefix: prefix})
	if err == nil {
		err = c.Healthy() // Open starts degraded on a Redis that does not answer
	}
	if err != nil {
		b.Fatalf("Redis is required for this benchmark: %v", err)
	}
	b.Cleanup(c.Close)
	return c
}

// benchProvider builds a provider on SQLite with set, and a
// client_credentials client; opts change its Options.
func benchProvider(b *testing.B, set RevocationSet, opts ...func(*Options)) (http.Handler, string, string) {
	ctx := context.Background()
	store, err := storesql.Open(testdb.SQLite(b), storesql.Options{OnRevoke: set.Add})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(ctx, nil); err != nil {
		b.Fatal(err)
	}
	kr := newTestKeyring(b)
	cfg := DefaultConfig()
	clients := cache.NewClients(store, cfg.Cache.ClientSize, cfg.Cache.ClientTTL)
	o := Options{Logger: testLogger(b), Store: store.WithClientLookup(clients.GetStoredClient), Clients: clients,
		Keyring: kr, Revoked: set}
	for _, f := range opts {
		f(&o)
	}
	p, err := New(ctx, cfg, o)
	if err != nil {
		b.Fatal(err)
	}
	c, secret, err := NewClient(ctx, ClientSpec{Name: "bench", GrantTypes: []string{"client_credentials"}},
		secrets.ClientSecretHasher{Keyring: kr}, 24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateClient(ctx, c); err != nil {
		b.Fatal(err)
	}
	return p.Handler(nil), c.ID, secret
}

func benchPost(b *testing.B, h http.Handler, path string, form url.Values, id, secret string) map[string]any {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || w.Code != http.StatusOK {
		b.Fatalf("%s: %d %s", path, w.Code, w.Body)
	}
	return m
}
