package login

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/authd/authd/provider"
)

// sessionCookie is the session cookie's name on the test server (http).
func (e *env) sessionCookie() string { return e.sessions.CookieName() }

// TestLogoutConfirmation: without an id_token_hint naming the session, a
// person confirms with "Sign out"; a confirmation without its CSRF token
// ends nothing; after it the session is gone and the browser returns to
// the registered address with state.
func TestLogoutConfirmation(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	b := e.browser()
	b.signIn("ada@example.com", "correct horse battery")
	sid := b.cookie(e.sessionCookie())

	page := b.get(pathLogout + "?" + url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"https://app.example/bye"},
		"state": {"x"}}.Encode())
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "Example App", "Sign out", `name="confirm" value="yes"`, `name="state" value="x"`)
	if page.header.Get("Cache-Control") != "no-store" || page.header.Get("Content-Security-Policy") == "" {
		t.Fatalf("confirmation page headers: %v", page.header)
	}
	confirm := url.Values{"confirm": {"yes"}, "client_id": {"app"}, "post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"x"}}

	forged := url.Values{}
	for k, v := range confirm {
		forged[k] = v
	}
	forged.Set("csrf_token", "forged")
	wantStatus(t, b.post(pathLogout, forged), http.StatusForbidden)
	if b.cookie(e.sessionCookie()) != sid || e.currentSessions(t, "u1") != 1 {
		t.Fatal("a confirmation without its CSRF token ended the session")
	}

	wantRedirect(t, b.post(pathLogout, confirm), "https://app.example/bye?state=x")
	if e.currentSessions(t, "u1") != 0 {
		t.Fatal("the session survived logout")
	}
	if !slices.Contains(e.audit.types(), "logout") {
		t.Fatalf("audit events %v, want logout", e.audit.types())
	}
	// Signed out already: nothing to confirm, straight to the address.
	wantRedirect(t, b.get(pathLogout+"?"+url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"https://app.example/bye"}}.Encode()),
		"https://app.example/bye")
}

// TestLogoutWithHint: an id_token_hint naming the current session ends it
// at once (the RP's own sign-out button), also as a cross-site POST; a
// hint for another session asks first.
func TestLogoutWithHint(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	b := e.browser()
	b.signIn("ada@example.com", "correct horse battery")
	s, err := e.sessions.Current(b.request(t))
	if err != nil || s == nil {
		t.Fatalf("session: %v %v", s, err)
	}
	e.hints.add("id-token-this-session", &provider.IDTokenHint{Subject: "u1", SID: s.ID, ClientID: "app"})
	e.hints.add("id-token-other-session", &provider.IDTokenHint{Subject: "u1", SID: "another", ClientID: "app"})

	other := b.get(pathLogout + "?id_token_hint=id-token-other-session")
	wantStatus(t, other, http.StatusOK)
	wantBody(t, other, "Sign out", "Example App")

	r := b.postWith(pathLogout, url.Values{"id_token_hint": {"id-token-this-session"}, "post_logout_redirect_uri": {"https://app.example/bye"},
		"state": {"s1"}}, map[string]string{"Origin": "https://app.example", "Sec-Fetch-Site": "cross-site"})
	wantRedirect(t, r, "https://app.example/bye?state=s1")
	if e.currentSessions(t, "u1") != 0 {
		t.Fatal("the session survived a logout with its own ID token as hint")
	}
}

// TestLogoutErrors: a request that names an unknown client, a foreign or
// non-ID token as hint, a hint of another client, or a return address not
// registered for the client, gets a 400 error page and no redirect; the
// session stays.
func TestLogoutErrors(t *testing.T) {
	e := newEnv(t)
	e.accounts.add("u1", "ada@example.com", "correct horse battery", true)
	e.hints.add("id-token-app", &provider.IDTokenHint{Subject: "u1", SID: "s", ClientID: "app"})
	b := e.browser()
	b.signIn("ada@example.com", "correct horse battery")
	for name, q := range map[string]url.Values{
		"unregistered post-logout URI":   {"client_id": {"app"}, "post_logout_redirect_uri": {"https://evil.example/"}},
		"post-logout URI without client": {"post_logout_redirect_uri": {"https://app.example/bye"}},
		"forged hint":                    {"id_token_hint": {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0."}},
		"hint of another client":         {"id_token_hint": {"id-token-app"}, "client_id": {"other"}},
		"unknown client":                 {"client_id": {"nope"}},
		"other client's return address":  {"client_id": {"other"}, "post_logout_redirect_uri": {"https://app.example/bye"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := b.get(pathLogout + "?" + q.Encode())
			if r.status != http.StatusBadRequest || r.location != "" {
				t.Fatalf("%d Location %q, want a 400 error page", r.status, r.location)
			}
			wantBody(t, r, "The sign-out request is invalid")
		})
	}
	if e.currentSessions(t, "u1") != 1 {
		t.Fatal("a refused sign-out request ended the session")
	}
	// Without a session and without a return address: the signed-out page.
	wantRedirect(t, e.browser().get(pathLogout), pathSignedOut)
	// An oversized body is refused before anything is read from it.
	big := e.browser().postWith(pathLogout, url.Values{"state": {strings.Repeat("x", 70<<10)}}, nil)
	wantStatus(t, big, http.StatusBadRequest)
	wantBody(t, big, "Unreadable sign-out request")
}

// currentSessions counts userID's live sessions.
func (e *env) currentSessions(t *testing.T, userID string) int {
	t.Helper()
	ss, err := e.store.ListUserSessions(context.Background(), userID, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return len(ss)
}

// request is a request carrying the browser's cookies, to read its
// session with the manager.
func (b *browser) request(t *testing.T) *http.Request {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, b.e.srv.URL+"/", nil)
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	return req
}
