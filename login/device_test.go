package login

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/ratelimit"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/memory"
)

// pendingDevice stores a client with the device grant and a device's
// pending request with user code BCDFGHJK, as the provider would.
func (e *env) pendingDevice() {
	e.t.Helper()
	ctx := context.Background()
	if err := e.store.CreateClient(ctx, &storage.Client{ID: "tv", Name: "Living Room TV", Public: true,
		GrantTypes: []string{"urn:ietf:params:oauth:grant-type:device_code"}, Scopes: []string{"openid", "profile"},
		TokenEndpointAuthMethod: storage.AuthMethodNone}); err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	if err := e.store.CreateDeviceCode(ctx, &storage.DeviceCode{Signature: "sig", UserCode: "BCDFGHJK", ClientID: "tv",
		Scopes: []string{"openid", "profile"}, Interval: 5 * time.Second, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}); err != nil {
		e.t.Fatal(err)
	}
}

// TestDeviceVerification: the page labelled "Device code" / "Continue"
// takes the code in any spelling and hands a stored request to the
// provider; a bad code is refused with one message and stores nothing.
func TestDeviceVerification(t *testing.T) {
	e := newEnv(t)
	e.pendingDevice()
	b := e.browser()

	r := b.get("/device?user_code=bcdf-ghjk")
	wantStatus(t, r, http.StatusOK)
	wantLabels(t, r.body, []string{"Device code"}, []string{"Continue"}, nil)
	wantBody(t, r, `value="BCDF-GHJK"`)
	golden(t, "device", r.body)
	if r := b.get("/device?user_code=<script>"); strings.Contains(r.body, "<script>") || strings.Contains(r.body, "&lt;script") {
		t.Errorf("a malformed user_code is echoed:\n%s", r.body)
	}

	for _, typed := range []string{"", "BCDF-GHJ", "BCDF-GHJA", "ZZZZ-ZZZZ", strings.Repeat("B", 100)} {
		r := b.post("/device", url.Values{"user_code": {typed}})
		wantStatus(t, r, http.StatusBadRequest)
		wantBody(t, r, "That code is not valid.")
		wantLabels(t, r.body, []string{"Device code"}, []string{"Continue"}, nil)
	}
	wantStatus(t, b.post("/device", url.Values{"user_code": {"BCDF-GHJK", "BCDF-GHJK"}}), http.StatusBadRequest)
	// Without the CSRF token: refused, nothing stored.
	wantStatus(t, b.post("/device", url.Values{"user_code": {"BCDF-GHJK"}, "csrf_token": {"forged"}}), http.StatusForbidden)

	r = b.post("/device", url.Values{"user_code": {" bcdf ghjk "}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/oauth2/authorize/resume?ar="+storage.DeviceAuthRequestPrefix) {
		t.Fatalf("valid code: %d %q", r.status, r.location)
	}
	id := strings.TrimPrefix(r.location, "/oauth2/authorize/resume?ar=")
	ar := e.getAuthRequest(id)
	if ar.ClientID != "tv" || ar.Form.Get("user_code") != "BCDFGHJK" || ar.Form.Get("scope") != "openid profile" {
		t.Fatalf("stored request: %+v", ar)
	}

	// The consent page names the device's code.
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	s := signedInFlow(t, e, id)
	r = s.get("/consent?ar=" + id)
	wantStatus(t, r, http.StatusOK)
	wantBody(t, r, "Living Room TV", "BCDF-GHJK")

	// How it ended.
	wantBody(t, b.get("/device/done?result=approved"), "You may return to your device.")
	wantBody(t, b.get("/device/done?result=denied"), "You denied the device access")
	wantRedirect(t, b.get("/device/done?result=other"), "/device")
}

// TestDeviceRateLimit: past the limit POST /device answers 429 before any
// lookup, even for a valid code.
func TestDeviceRateLimit(t *testing.T) {
	one := ratelimit.Rule{PerMinute: 1, Burst: 1}
	e := newEnv(t, depsOption(func(d *Deps) {
		d.Limiter = ratelimit.New(ratelimit.Config{DevicePerIP: one}, memory.NewRateLimiter(nil), nil)
	}))
	e.pendingDevice()
	b := e.browser()
	b.get("/device")
	wantStatus(t, b.post("/device", url.Values{"user_code": {"ZZZZ-ZZZZ"}}), http.StatusBadRequest)
	r := b.post("/device", url.Values{"user_code": {"BCDF-GHJK"}})
	wantStatus(t, r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}
