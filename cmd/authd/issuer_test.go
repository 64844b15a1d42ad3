package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesHTTPIssuer: serve will not start with an http issuer on
// a host other than loopback, names the key, and opens no listener.
func TestServeRefusesHTTPIssuer(t *testing.T) {
	t.Parallel()
	for _, issuer := range []string{"http://auth.example.com", "http://10.0.0.5:8080", "http://[2001:db8::1]:8080"} {
		t.Run(issuer, func(t *testing.T) {
			t.Parallel()
			addr := freeAddr(t)
			env := append(sqliteEnv(t), "AUTHD_HTTP_ADDR="+addr, "AUTHD_ISSUER="+issuer)
			mustFail(t, env, 1, []string{"issuer", "https", "dev.insecure_http"}, "serve")
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("http.addr %s was opened by the refused serve: %v", addr, err)
			}
			l.Close()
		})
	}
}

// TestLoopbackHTTPIssuers: http stays allowed on every loopback form.
func TestLoopbackHTTPIssuers(t *testing.T) {
	t.Parallel()
	for _, issuer := range []string{"http://127.0.0.1:8080", "http://127.10.0.1", "http://[::1]:8080", "http://localhost:8080", "http://LOCALHOST"} {
		t.Run(issuer, func(t *testing.T) {
			t.Parallel()
			mustRun(t, append(sqliteEnv(t), "AUTHD_ISSUER="+issuer), "keys", "list")
		})
	}
}

// TestDevInsecureHTTP: dev.insecure_http lets an http issuer on any host
// start, and serve says so at WARN every time it starts.
func TestDevInsecureHTTP(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	env := append(sqliteEnv(t), "AUTHD_HTTP_ADDR="+addr, "AUTHD_ISSUER=http://auth.example.test:8080",
		"AUTHD_DEV_INSECURE_HTTP=true", "AUTHD_LOG_FORMAT=text")
	for start := range 2 {
		stderr := &syncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"serve"}, slices.Clip(env), io.Discard, stderr) }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case err := <-done:
				cancel()
				t.Fatalf("start %d: serve with dev.insecure_http returned: %v\nstderr:\n%s", start, err, stderr)
			default:
			}
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("start %d: serve not ready after 30s\nstderr:\n%s", start, stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("start %d: serve: %v", start, err)
		}
		if out := stderr.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "dev.insecure_http") {
			t.Errorf("start %d: no WARN naming dev.insecure_http:\n%s", start, out)
		}
	}
}
