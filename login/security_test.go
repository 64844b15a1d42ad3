package login

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authd/authd/internal/csrf"
	"github.com/authd/authd/internal/render"
)

// TestCSRF: every form refuses cross-site posts and posts without a token
// bound to the browser's cookie, with a readable page, changing nothing.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	ar := e.authRequest("ar-csrf", nil)
	good := url.Values{"ar": {ar}, "email": {"ada@example.com"}, "password": {"correct horse battery"}}

	victim := e.browser()
	victim.get("/login?ar=" + ar)
	attacker := e.browser()
	attacker.get("/login")
	attackerToken := csrfToken(attacker.page)

	for _, tc := range []struct {
		name    string
		form    url.Values
		headers map[string]string
	}{
		{"cross-site by Sec-Fetch-Site", good, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		{"cross-site by Origin", good, map[string]string{"Origin": "https://evil.example"}},
		{"same-site sibling", good, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://evil.sibling.example"}},
		{"missing token", url.Values{"ar": {ar}, "email": {"ada@example.com"}, "password": {"correct horse battery"}, csrf.FieldName: {""}}, nil},
		{"forged token", url.Values{"ar": {ar}, "email": {"ada@example.com"}, "password": {"correct horse battery"}, csrf.FieldName: {strings.Repeat("A", 64)}}, nil},
		{"token from another cookie", url.Values{"ar": {ar}, "email": {"ada@example.com"}, "password": {"correct horse battery"}, csrf.FieldName: {attackerToken}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.accounts.callLog())
			form := url.Values{}
			for k, v := range tc.form {
				form[k] = v
			}
			r := victim.postWith("/login", form, tc.headers)
			wantStatus(t, r, http.StatusForbidden)
			wantBody(t, r, "This form has expired", "request ID")
			if len(e.accounts.callLog()) != before {
				t.Error("the account service was called")
			}
			if victim.cookie("authd_session") != "" {
				t.Error("a session was started")
			}
			if got := e.getAuthRequest(ar); got.SessionID != "" {
				t.Error("the auth request changed")
			}
		})
	}

	// No cookie at all (cookies blocked, or a forged form from elsewhere).
	fresh := e.browser()
	fresh.page = victim.page
	wantStatus(t, fresh.post("/login", url.Values{"ar": {ar}, "email": {"ada@example.com"}, "password": {"x"}}), http.StatusForbidden)

	// Every POST route is protected, not only /login.
	for _, path := range []string{"/login", "/register", "/verify-email/resend", "/forgot-password", "/reset-password", "/consent",
		"/account/profile", "/account/password", "/account/sessions/end", "/account/sessions/end-all", "/account/consents/revoke"} {
		r := victim.postWith(path, url.Values{csrf.FieldName: {""}}, nil)
		if r.status != http.StatusForbidden {
			t.Errorf("POST %s without a token: %d, want 403", path, r.status)
		}
	}

	// A body over 64 KiB is refused before anything else.
	r := victim.post("/login", url.Values{"ar": {ar}, "email": {strings.Repeat("a", 70<<10)}, "password": {"x"}})
	wantStatus(t, r, http.StatusRequestEntityTooLarge)

	// The same-origin post goes through.
	wantRedirect(t, victim.post("/login", good), "/oauth2/authorize/resume?ar="+ar)
}

// TestPageHeaders: every page and redirect carries the policy; the
// policy does not restrict form-action (Chrome applies it to the redirect
// chain after the sign-in POST, which ends at the client).
func TestPageHeaders(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	ar := e.authRequest("ar-headers", nil)
	b := e.browser()
	var responses []response
	for _, path := range []string{"/login", "/login?ar=" + ar, "/login?ar=bad", "/register", "/verify-email?token=x",
		"/forgot-password", "/reset-password?token=x", "/consent?ar=" + ar, "/account", "/signed-out",
		"/device", "/device?user_code=bcdf-ghjk", "/device/done?result=approved"} {
		responses = append(responses, b.get(path))
	}
	b.get("/login?ar=" + ar)
	responses = append(responses, b.post("/login", url.Values{"ar": {ar}, "email": {"ada@example.com"}, "password": {"wrong"}}))
	responses = append(responses, b.post("/login", url.Values{"ar": {ar}, "email": {"ada@example.com"}, "password": {"correct horse battery"}}))
	responses = append(responses, b.get("/account"))

	for i, r := range responses {
		h := r.header
		csp := h.Get("Content-Security-Policy")
		if csp != render.ContentSecurityPolicy {
			t.Errorf("response %d (%d): CSP %q, want %q", i, r.status, csp, render.ContentSecurityPolicy)
		}
		for _, want := range []string{"default-src 'none'", "script-src 'self';", "style-src 'self'", "img-src 'self' data: https:", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "form-action") {
			t.Errorf("CSP %q restricts form-action", csp)
		}
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if got := h.Get(k); got != want {
				t.Errorf("response %d (%d): %s = %q, want %q", i, r.status, k, got, want)
			}
		}
	}

	// The stylesheet is served, cacheable under its versioned URL.
	r := b.get(staticPath(t, e.browser().get("/login").body))
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") || !strings.Contains(r.header.Get("Cache-Control"), "immutable") {
		t.Errorf("stylesheet: %d %q %q", r.status, r.header.Get("Content-Type"), r.header.Get("Cache-Control"))
	}
	if r := b.get("/static/nope.css"); r.status != http.StatusNotFound {
		t.Errorf("missing asset: %d, want 404", r.status)
	}
}

func staticPath(t *testing.T, page string) string {
	t.Helper()
	for _, n := range elements(parse(t, page)) {
		if n.Data == "link" && attr(n, "rel") == "stylesheet" {
			return attr(n, "href")
		}
	}
	t.Fatal("no stylesheet link")
	return ""
}

// TestBasePath: with an issuer under a path, links, forms and redirects
// carry it (the proxy in front strips it before the mux sees the request).
func TestBasePath(t *testing.T) {
	e := newEnv(t, func(_ *Config, o *render.Options) { o.BasePath = "/auth" })
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	ar := e.authRequest("ar-base", nil)
	b := e.browser()
	r := b.get("/login?ar=" + ar)
	wantBody(t, r, `action="/auth/login"`, `href="/auth/register?ar=ar-base"`, `href="/auth/static/style.css?v=`)
	wantRedirect(t, b.post("/login", url.Values{"ar": {ar}, "email": {"ada@example.com"}, "password": {"correct horse battery"}}),
		"/auth/oauth2/authorize/resume?ar="+ar)
	wantRedirect(t, e.browser().get("/account"), "/auth/login?return_to=%2Faccount")
}
