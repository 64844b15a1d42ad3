package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	fakeClientID     = "bench client/é"
	fakeClientSecret = "s3:cr&t+=%x"
)

// fakeOP is a tiny stand-in for authd: discovery, JWKS, token
// (client_credentials), introspection and revocation, with knobs to inject
// failures. Counters count requests served.
type fakeOP struct {
	t   *testing.T
	srv *httptest.Server

	// knobs, set before the run
	failTokenEvery   int64         // every Nth token request gets a 503
	inactiveEvery    int64         // every Nth introspection of a live token says active=false
	ignoreRevocation bool          // revocation "succeeds" but does nothing
	discoverySleep   time.Duration // delay on discovery responses
	jwksURI          string        // override jwks_uri in discovery

	discovery, jwks, token, introspect, revoke atomic.Int64
	served503, servedInactive                  atomic.Int64
	badAuth                                    atomic.Int64

	mu     sync.Mutex
	tokens map[string]bool // token -> revoked
}

func newFakeOP(t *testing.T) *fakeOP {
	t.Helper()
	f := &fakeOP{t: t, tokens: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", f.handleDiscovery)
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		f.jwks.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1"}]}`)
	})
	mux.HandleFunc("POST /oauth2/token", f.handleToken)
	mux.HandleFunc("POST /oauth2/introspect", f.handleIntrospect)
	mux.HandleFunc("POST /oauth2/revoke", f.handleRevoke)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOP) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	f.discovery.Add(1)
	if f.discoverySleep > 0 {
		time.Sleep(f.discoverySleep)
	}
	base := f.srv.URL
	jwks := base + "/jwks.json"
	if f.jwksURI != "" {
		jwks = f.jwksURI
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":                 base,
		"token_endpoint":         base + "/oauth2/token",
		"jwks_uri":               jwks,
		"introspection_endpoint": base + "/oauth2/introspect",
		"revocation_endpoint":    base + "/oauth2/revoke",
	})
}

// authenticated checks HTTP Basic client auth with form-urlencoded
// credentials (RFC 6749 §2.3.1).
func (f *fakeOP) authenticated(w http.ResponseWriter, r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if ok {
		u, err1 := url.QueryUnescape(user)
		p, err2 := url.QueryUnescape(pass)
		if err1 == nil && err2 == nil && u == fakeClientID && p == fakeClientSecret {
			return true
		}
	}
	f.badAuth.Add(1)
	w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprint(w, `{"error":"invalid_client"}`)
	return false
}

func (f *fakeOP) handleToken(w http.ResponseWriter, r *http.Request) {
	n := f.token.Add(1)
	if f.failTokenEvery > 0 && n%f.failTokenEvery == 0 {
		f.served503.Add(1)
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
		return
	}
	if !f.authenticated(w, r) {
		return
	}
	if r.PostFormValue("grant_type") != "client_credentials" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	tok := fmt.Sprintf("tok-%d", n)
	f.mu.Lock()
	f.tokens[tok] = false
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": 3600, "scope": r.PostFormValue("scope"),
	})
}

func (f *fakeOP) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	n := f.introspect.Add(1)
	if !f.authenticated(w, r) {
		return
	}
	f.mu.Lock()
	revoked, known := f.tokens[r.PostFormValue("token")]
	f.mu.Unlock()
	active := known && !revoked
	if active && f.inactiveEvery > 0 && n%f.inactiveEvery == 0 {
		active = false
		f.servedInactive.Add(1)
	}
	w.Header().Set("Content-Type", "application/json")
	if active {
		fmt.Fprint(w, `{"active":true,"client_id":"x","token_type":"Bearer"}`)
	} else {
		fmt.Fprint(w, `{"active":false}`)
	}
}

func (f *fakeOP) handleRevoke(w http.ResponseWriter, r *http.Request) {
	f.revoke.Add(1)
	if !f.authenticated(w, r) {
		return
	}
	if !f.ignoreRevocation {
		f.mu.Lock()
		if _, ok := f.tokens[r.PostFormValue("token")]; ok {
			f.tokens[r.PostFormValue("token")] = true
		}
		f.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

// cfg is a quick run against the fake: no warm-up, capped at n iterations,
// with a generous duration that the cap normally ends long before.
func (f *fakeOP) cfg(scenario string, n int64) Config {
	return Config{
		Target:       f.srv.URL,
		Scenario:     scenario,
		ClientID:     fakeClientID,
		ClientSecret: fakeClientSecret,
		Scope:        "api",
		Conns:        4,
		Duration:     20 * time.Second,
		Timeout:      5 * time.Second,
		MaxRequests:  n,
	}
}
