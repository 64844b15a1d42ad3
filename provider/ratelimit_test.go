package provider

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// fakeLimiter allows a fixed number of token requests per IP and per
// client, and records what it was asked.
type fakeLimiter struct {
	mu           sync.Mutex
	ipLeft       int
	clientLeft   int
	ips, clients []string
	// authorizeLeft, when set, is how many authorization requests pass.
	authorizeLeft *int
	authorizeIPs  []string
}

// AuthorizeByIP allows every authorization request unless authorizeLeft
// was set and is used up.
func (f *fakeLimiter) AuthorizeByIP(_ context.Context, ip string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authorizeIPs = append(f.authorizeIPs, ip)
	if f.authorizeLeft == nil {
		return 0, true
	}
	*f.authorizeLeft--
	return 2500 * time.Millisecond, *f.authorizeLeft >= 0
}

func (f *fakeLimiter) TokenByIP(_ context.Context, ip string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ips = append(f.ips, ip)
	f.ipLeft--
	return 1500 * time.Millisecond, f.ipLeft >= 0
}

func (f *fakeLimiter) TokenByClient(_ context.Context, id string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clients = append(f.clients, id)
	f.clientLeft--
	return 30 * time.Second, f.clientLeft >= 0
}

// TestTokenRateLimit: past a limit the token endpoint answers 429 with
// Retry-After and temporarily_unavailable; the per-client limit counts
// only authenticated clients.
func TestTokenRateLimit(t *testing.T) {
	lim := &fakeLimiter{ipLeft: 3, clientLeft: 1}
	e := newEnv(t, withLimiter(lim))
	c, secret := e.ccClient()
	form := url.Values{"grant_type": {"client_credentials"}}

	if resp := e.post(PathToken, form, c.ID, secret); resp.StatusCode != http.StatusOK {
		t.Fatalf("first token request: %d", resp.StatusCode)
	}
	// A wrong secret is refused by authentication, not counted per client.
	if resp := e.post(PathToken, form, c.ID, "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", resp.StatusCode)
	}
	resp := e.post(PathToken, form, c.ID, secret)
	m := decode(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests || m["error"] != "temporarily_unavailable" || resp.Header.Get("Retry-After") != "30" {
		t.Fatalf("past the client limit: %d Retry-After %q %v", resp.StatusCode, resp.Header.Get("Retry-After"), m)
	}
	resp = e.post(PathToken, form, c.ID, secret)
	m = decode(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" || m["error_description"] == nil {
		t.Fatalf("past the IP limit: %d Retry-After %q %v", resp.StatusCode, resp.Header.Get("Retry-After"), m)
	}
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if len(lim.clients) != 2 || lim.clients[0] != c.ID || len(lim.ips) != 4 || lim.ips[0] != "127.0.0.1" {
		t.Fatalf("limiter asked for clients %v and IPs %v", lim.clients, lim.ips)
	}
}
