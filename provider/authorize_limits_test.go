package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/authd/authd/internal/testdb"
	"github.com/authd/authd/storage"
)

// authorizeURL is a valid authorization request of r's client, with extra
// parameters.
func (r *rp) authorizeURL(extra url.Values) string {
	u, _ := url.Parse(r.cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	q := u.Query()
	for k, vs := range extra {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// pendingRequests counts the stored authorization requests.
func (e *env) pendingRequests() int64 {
	e.t.Helper()
	var n int64
	if err := e.store.Gorm().Table("auth_requests").Count(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	return n
}

// storedRequest follows a redirect to the login page and reads the stored
// request back.
func (be *browserEnv) storedRequest(resp *http.Response) *storage.AuthRequest {
	be.t.Helper()
	u := expectRedirect(be.t, resp, be.issuer+PathLogin)
	ar, err := be.store.GetAuthRequest(context.Background(), u.Query().Get("ar"), time.Now())
	if err != nil {
		be.t.Fatalf("stored request: %v", err)
	}
	return ar
}

// TestAuthorizeStoresOnlyWhatItUses: a request padded with unknown
// parameters (the review's 60 KB junk parameter, sent as a POST body) is
// stored with the parameters authd reads only; a known parameter over its
// cap or sent twice is refused to the client as invalid_request, and
// nothing is stored.
func TestAuthorizeStoresOnlyWhatItUses(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		be := newBrowserEnv(t, withDB(dbURL))
		r := be.newRP(ClientSpec{})
		u, _ := url.Parse(r.authorizeURL(url.Values{"ui_locales": {"en"}}))
		form := u.Query()
		form.Set("junk", strings.Repeat("A", 60<<10))
		form.Set("x-other", "y")
		req, _ := http.NewRequest(http.MethodPost, be.issuer+PathAuthorize, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := be.browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ar := be.storedRequest(resp)
		if ar.Form.Has("junk") || ar.Form.Has("x-other") || ar.Form.Get("ui_locales") != "en" || ar.Form.Get("state") != "state-0123456789" {
			t.Fatalf("stored form keys %v", keys(ar.Form))
		}
		if n := len(ar.Form.Encode()); n > 4096 {
			t.Fatalf("stored form is %d bytes", n)
		}
		if ar.ClientAddr != "127.0.0.1" {
			t.Fatalf("stored client address %q", ar.ClientAddr)
		}

		before := be.pendingRequests()
		for name, extra := range map[string]url.Values{
			"state over its cap":    {"state": {strings.Repeat("s", 2049)}},
			"nonce over its cap":    {"nonce": {strings.Repeat("n", 513)}},
			"login_hint too long":   {"login_hint": {strings.Repeat("a", 321)}},
			"prompt sent twice":     {"prompt": {"login", "consent"}},
			"ui_locales sent twice": {"ui_locales": {"en", "de"}},
		} {
			t.Run(name, func(t *testing.T) {
				cb := expectRedirect(t, be.get(r.authorizeURL(extra)), r.cfg.RedirectURL)
				if cb.Query().Get("error") != "invalid_request" || cb.Query().Get("iss") != be.issuer {
					t.Fatalf("callback %v, want invalid_request with iss", cb)
				}
			})
		}
		if n := be.pendingRequests(); n != before {
			t.Fatalf("refused requests stored %d rows", n-before)
		}
	})
}

func keys(v url.Values) []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	return out
}

// TestAuthorizePendingBound: the requests waiting from one address are
// bounded; a new one past the bound drops that address's oldest, and
// another address's are untouched.
func TestAuthorizePendingBound(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dbURL string) {
		// Each request a second after the last: "oldest" is then one
		// request, not a tie within a millisecond broken by random ids.
		clock := &testClock{t: time.Now()}
		be := newBrowserEnv(t, withDB(dbURL), withClock(clock), withConfig(func(c *Config) { c.Authorize.MaxPendingPerAddress = 3 }))
		r := be.newRP(ClientSpec{})
		ctx := context.Background()
		other := &storage.AuthRequest{ID: "from-elsewhere", ClientID: r.client.ID, Form: url.Values{}, ClientAddr: "192.0.2.7",
			CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if err := be.store.CreateAuthRequest(ctx, other, 3); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for range 5 {
			clock.Advance(time.Second)
			ids = append(ids, be.storedRequest(be.get(r.authorizeURL(nil))).ID)
		}
		if n := be.pendingRequests(); n != 4 {
			t.Fatalf("%d stored requests, want 3 from this address and 1 from elsewhere", n)
		}
		for i, id := range ids {
			_, err := be.store.GetAuthRequest(ctx, id, time.Now())
			if kept := err == nil; kept != (i >= 2) {
				t.Errorf("request %d kept=%v (%v), want only the newest three kept", i, kept, err)
			}
		}
		if _, err := be.store.GetAuthRequest(ctx, other.ID, time.Now()); err != nil {
			t.Errorf("another address's request: %v", err)
		}
	})
}

// TestAuthorizePendingTTL: a request nobody acts on is forgotten after
// authorize.pending_ttl; one the person signed in on lives until
// storage.AuthRequestMaxTTL after it was made.
func TestAuthorizePendingTTL(t *testing.T) {
	clock := &testClock{t: time.Now()}
	be := newBrowserEnv(t, withClock(clock), withConfig(func(c *Config) { c.Authorize.PendingTTL = 5 * time.Minute }))
	r := be.newRP(ClientSpec{})
	ctx := context.Background()
	idle := be.storedRequest(be.get(r.authorizeURL(nil)))
	engaged := be.storedRequest(be.get(r.authorizeURL(nil)))
	if want := idle.CreatedAt.Add(5 * time.Minute); !idle.ExpiresAt.Equal(want) {
		t.Fatalf("pending request expires at %v, want %v", idle.ExpiresAt, want)
	}
	engaged.LoginAt, engaged.SessionID = clock.Now(), "sid"
	if err := be.store.UpdateAuthRequest(ctx, engaged); err != nil {
		t.Fatal(err)
	}
	at := clock.Now().Add(6 * time.Minute)
	if _, err := be.store.GetAuthRequest(ctx, idle.ID, at); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("untouched request after pending_ttl: %v, want not found", err)
	}
	if _, err := be.store.GetAuthRequest(ctx, engaged.ID, at); err != nil {
		t.Fatalf("request with progress after pending_ttl: %v", err)
	}
	if _, err := be.store.GetAuthRequest(ctx, engaged.ID, engaged.CreatedAt.Add(storage.AuthRequestMaxTTL+time.Second)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("request with progress after the longest life: %v, want not found", err)
	}
}

// TestAuthorizeRateLimit: past the per-address limit the endpoint answers
// 429 with Retry-After and an error page, before parsing or storing.
func TestAuthorizeRateLimit(t *testing.T) {
	left := 2
	lim := &fakeLimiter{ipLeft: 100, clientLeft: 100, authorizeLeft: &left}
	be := newBrowserEnv(t, withLimiter(lim))
	r := be.newRP(ClientSpec{})
	for range 2 {
		be.storedRequest(be.get(r.authorizeURL(nil)))
	}
	stored := be.pendingRequests()
	resp := be.get(r.authorizeURL(nil))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" || resp.Header.Get("Location") != "" {
		t.Fatalf("past the limit: %d Retry-After %q Location %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Location"))
	}
	if be.errors.last() == "" {
		t.Fatal("no error page")
	}
	if n := be.pendingRequests(); n != stored {
		t.Fatalf("a rate-limited request stored %d rows", n-stored)
	}
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if len(lim.authorizeIPs) != 3 || lim.authorizeIPs[0] != "127.0.0.1" {
		t.Fatalf("limiter asked for %v", lim.authorizeIPs)
	}
}
